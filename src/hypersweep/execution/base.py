"""The executor protocol: runs trials and carries their reports back.

An executor knows nothing about sampling. The runner calls :meth:`Executor.open` once
with a report handler, then :meth:`Executor.start` per trial, and :meth:`Executor.poll`
until trials finish. The executor calls the handler for every intermediate report and
acts on the :class:`~hypersweep.stopping.Decision` it returns (``STOP``: end the trial
gracefully). Per-trial time limits are the executor's job, enforced outside the trial's
own process.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypersweep.stopping.base import Decision
from hypersweep.trial import Trial

__all__ = ["Executor", "Outcome", "ReportHandler"]

#: ``handler(trial_number, step, metrics) -> Decision``
ReportHandler = Callable[[int, int, dict[str, float]], Decision]


@dataclass(frozen=True)
class Outcome:
    """How one trial ended, as the executor saw it.

    Attributes:
        number: the trial number.
        status: ``"completed"`` (ran to its end), ``"stopped"`` (ended after a stop
            request) or ``"failed"``.
        result: what the trial produced (a number or a dict of metrics), if anything.
        error: why it failed.
        started_at: when the trial's own code started (UNIX time; its duration starts
            here, not when it was handed to the executor), if known.
        lost: it ended through no fault of its own (a worker process killed by a signal
            hypersweep did not send): the runner retries it like a lost worker's trial.
        cannot_start: the trial never ran (the program could not be executed).
        system_attrs: facts about the run to keep on the trial (e.g. ``intake``: how
            many reports a flooding trial sent and how many were stored).
    """

    number: int
    status: str
    result: Any = None
    error: str | None = None
    started_at: float | None = None
    lost: bool = False
    cannot_start: bool = False
    system_attrs: dict[str, Any] | None = None


class Executor(abc.ABC):
    """Runs trials. ``capacity`` is how many may run at once."""

    capacity: int = 1

    @abc.abstractmethod
    def open(self, on_report: ReportHandler) -> None:
        """Prepare to run; ``on_report`` is called for every intermediate report."""

    @abc.abstractmethod
    def start(self, trial: Trial, budget: float | None = None) -> None:
        """Start running ``trial`` (returns at once)."""

    @abc.abstractmethod
    def poll(self, timeout: float) -> list[Outcome]:
        """Wait up to ``timeout`` seconds; return the trials that ended meanwhile."""

    @abc.abstractmethod
    def stop(self, number: int) -> None:
        """Ask a running trial to stop; it ends (as ``"stopped"``) within the grace period."""

    def started_at(self, number: int) -> float | None:
        """When running trial ``number``'s own code started (UNIX time), if known yet."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """End every running trial at once and release resources."""

    @property
    @abc.abstractmethod
    def running(self) -> set[int]:
        """Numbers of the trials running now."""
