"""The one protocol of a metric source (a tracker's files a trial writes), and what the
sources share: the points they return and how their steps are ordered."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Protocol

__all__ = ["MAX_SCAN", "Point", "Source", "StepOrder", "walk_files"]

log = logging.getLogger("hypersweep")

#: One metric value: ``(name, value, step)``; ``step`` ``None`` means "the next one".
Point = tuple[str, float, "int | None"]

#: Directory entries one scan of a trial's folder for tracker files looks at, at most.
MAX_SCAN = 20_000


class Source(Protocol):
    """Where a trial's metrics are read from, incrementally.

    :meth:`poll` returns the points written since the last call, oldest first, and
    never blocks (a partial record waits for the next call). ``final``: the trial has
    ended, read everything that is there.
    """

    name: str

    def poll(self, final: bool = False) -> list[Point]: ...

    def close(self) -> None: ...


class StepOrder:
    """Steps per metric as a tracker logs them: a value logged again at the same or an
    earlier step than that metric's last counts as the next step (``mlflow.log_metric``
    and ``add_scalar`` without a step log every value at step 0).

    Example:
        >>> order = StepOrder()
        >>> [order.step("loss", s) for s in (0, 0, 0)], order.step("acc", 0)
        ([0, 1, 2], 0)
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def step(self, name: str, step: int) -> int:
        last = self._last.get(name)
        if last is not None and step <= last:
            step = last + 1
        self._last[name] = step
        return step


def walk_files(root: str, limit: int = MAX_SCAN) -> Iterator[tuple[str, list[str]]]:
    """``(directory, file names)`` under ``root`` (symbolic links not followed), looking at
    ``limit`` entries at most."""
    seen = 0
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        seen += len(entries)
        files = []
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    files.append(e.name)
            except OSError:
                continue
        yield d, files
        if seen >= limit:
            log.debug("%s: stopped scanning after %d entries", root, seen)
            return
