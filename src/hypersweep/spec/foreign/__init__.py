"""Sweep files of other tools, run as they are: Azure ML sweep jobs and W&B sweep configs.

:func:`translate` recognises the format of a composed file (:func:`detect`) and turns it
into the native sweep-file mapping, which the normal parser then checks like any native
file. What cannot be honoured without changing what runs stops the load, one
:class:`SweepFileError` per key (:class:`ForeignFileError`); what changes nothing that
runs (compute targets, environments, tags) is one warning per key. ``docs/foreign.md``
lists what maps to what.

Example:
    >>> t = translate({"program": "train.py", "method": "random",
    ...                "metric": {"name": "loss"},
    ...                "parameters": {"lr": {"distribution": "log_uniform_values",
    ...                                      "min": 1e-4, "max": 1e-1}}}, ".")
    >>> t.native["space"]
    {'lr': {'type': 'loguniform', 'low': 0.0001, 'high': 0.1}}
    >>> t.native["command"]
    ['/usr/bin/env', 'python', 'train.py', '--lr={lr}']
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypersweep.spec.foreign._common import Translation
from hypersweep.spec.foreign.detect import AZURE, WANDB, detect
from hypersweep.spec.model import SweepFileError

__all__ = ["ForeignFileError", "Translation", "detect", "translate"]


class ForeignFileError(SweepFileError):
    """A foreign file that cannot run as it is: one located error per key.

    ``str(error)`` is the first problem (one line); :attr:`problems` holds them all.
    """

    def __init__(self, problems: list[SweepFileError], source: str) -> None:
        first = problems[0]
        more = len(problems) - 1
        detail = first.detail + (f" (and {more} more problem{'s' * (more != 1)})" if more else "")
        super().__init__(first.file, first.line, first.path, detail)
        self.problems = tuple(problems)
        self.source = source


def translate(data: Any, base: str | os.PathLike[str]) -> Translation | None:
    """The translation of a composed foreign file, or ``None`` for a native one.

    ``base`` is the file's directory (``trial.code``, local data inputs start there).
    Problems are recorded in :attr:`Translation.problems`, never raised.
    """
    kind = detect(data)
    if kind is None:
        return None
    assert isinstance(data, Mapping)
    if kind == AZURE:
        from hypersweep.spec.foreign.azure import AzureTranslator

        az = AzureTranslator(data, Path(base))
        az.translate()
        return az.t
    assert kind == WANDB
    from hypersweep.spec.foreign.wandb import WandbTranslator

    wb = WandbTranslator(data)
    wb.translate()
    return wb.t


def load_foreign(
    data: Any, lines: Mapping[str, int], file: str, base: str | os.PathLike[str]
) -> tuple[Translation, dict[str, int]] | None:
    """The hook of the sweep-file loader: ``(translation, native lines)`` or ``None``.

    Raises:
        ForeignFileError: the file cannot run as it is (every problem, located).
    """
    t = translate(data, base)
    if t is None:
        return None
    if "name" not in t.native and not t.problems:
        stem = re.sub(r"[^A-Za-z0-9_.\-]+", "-", Path(file).stem).strip("-._") or "sweep"
        t.native = {"name": stem[:200], **t.native}
        t.notes.insert(0, f"name: not given -> {stem[:200]} (the file's name; --name overrides)")
    if t.problems:
        errors = [
            SweepFileError(file, _line(lines, path), path, f"{t.source}: {msg}")
            for path, msg in t.problems
        ]
        raise ForeignFileError(sorted(errors, key=lambda e: e.line), t.source)
    return t, t.lines(lines)


def summary(t: Translation, file: str, lines: Mapping[str, int]) -> tuple[list[str], list[str]]:
    """``(translated, warnings)``: the lines ``hypersweep run`` prints before it runs."""
    article = "an" if t.source[:1] in "AEIOU" else "a"
    head = f"{file}: read as {article} {t.source}, translated to a hypersweep sweep:"
    notes = [head, *(f"  {n}" for n in t.notes)]
    warns = [f"{file}:{_line(lines, p)} {p}: {msg}" for p, msg in t.warnings]
    return notes, warns


def _line(lines: Mapping[str, int], path: str) -> int:
    p = path
    while p:
        if p in lines:
            return lines[p]
        cut = max(p.rfind("."), p.rfind("["))
        p = p[:cut] if cut > 0 else ""
    return 1
