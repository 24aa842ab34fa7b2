"""The executor protocol: runs trials and carries their reports back.

An executor knows nothing about sampling, the study or its policy. The runner pulls:

* :meth:`Executor.open` once, then :meth:`Executor.start` per trial (returns at once);
* :meth:`Executor.poll` returns *events*, in the order they happened: a
  :class:`~hypersweep.storage.base.Report` for each intermediate report (its ``step`` an
  integer >= 0, its ``metrics`` floats: checked where they entered) and an
  :class:`Outcome` when a trial ends (after its reports);
* the runner decides on each report and calls :meth:`Executor.stop` for a trial that must
  end (naming the report that decided it); the executor ends it gracefully
  (``"stopped"``), killing it after its grace period.

A trial that waits for the answer to a report (a Python function trial:
``trial.report`` returns or raises ``TrialStopped``) gets it at the next :meth:`poll`:
*stop* if :meth:`stop` was called for it meanwhile, else *continue*.

An executor that runs a trial in the caller's own thread (``isolation="inline"``) cannot
return while the trial runs; it alone calls the ``decide`` function passed to
:meth:`Executor.open` (the runner's decision on one report: True = stop) and never
returns reports from :meth:`poll`.

Per-trial time limits are the executor's job, enforced outside the trial's own process.
:mod:`hypersweep.testing.executors` holds the contract suite every executor passes.
"""

from __future__ import annotations

import abc
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hypersweep.storage.base import Report
from hypersweep.trial import Trial, TrialState

if TYPE_CHECKING:
    from hypersweep.history import History
    from hypersweep.stopping.base import Decision, Policy
    from hypersweep.trial import Objective

__all__ = [
    "SYSTEM_CLOCK",
    "Clock",
    "Decide",
    "Event",
    "Executor",
    "Outcome",
    "OutcomeStatus",
    "Report",
    "RunnerStudy",
    "StopCause",
]

#: ``decide(report) -> True`` when the trial must stop (see the module docstring)
Decide = Callable[[Report], bool]


class Clock(Protocol):
    """Where the loop reads the time: UNIX seconds and a monotonic counter."""

    def time(self) -> float: ...
    def monotonic(self) -> float: ...


class _SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


#: the real clock
SYSTEM_CLOCK: Clock = _SystemClock()


class OutcomeStatus(str, enum.Enum):
    """How a trial ended, as its executor saw it (a ``str``: equal to its value)."""

    COMPLETED = "completed"  # ran to its end
    STOPPED = "stopped"  # ended after a stop request
    FAILED = "failed"


class StopCause(str, enum.Enum):
    """Why the runner asked a trial to stop (it decides the trial's final state)."""

    STUDY = "study"  # the run is ending (timeout, a stop request, Ctrl-C): not the trial's doing
    POLICY = "policy"  # the early-stopping policy
    MAX_STEPS = "max_steps"  # the trial reached limits.max_steps


@dataclass(frozen=True)
class Outcome:
    """How one trial ended, as the executor saw it.

    Attributes:
        number: the trial number.
        status: an :class:`OutcomeStatus` (its value is accepted too and converted).
        result: what the trial produced (a number or a dict of metrics), if anything.
        error: why it failed.
        started_at: when the trial's own code started (UNIX time; its duration starts
            here, not when it was handed to the executor), if known.
        lost: it ended through no fault of its own (a worker process killed by a signal
            hypersweep did not send): the runner retries it like a lost worker's trial.
        cannot_start: the trial never ran (the program could not be executed).
        config_error: the trial ran, but what it reported does not fit the sweep (it
            exited 0 without its objective metric): every trial would fail alike, so the
            runner fails fast at the first one.
        system_attrs: facts about the run to keep on the trial (e.g. ``intake``: how
            many reports a flooding trial sent and how many were stored).
        suggested: what a define-by-run trial suggested (its parameters, the parameters
            new to the study, its user attributes), for ``Study.learn``.
    """

    number: int
    status: OutcomeStatus
    result: Any = None
    error: str | None = None
    started_at: float | None = None
    lost: bool = False
    cannot_start: bool = False
    config_error: bool = False
    system_attrs: dict[str, Any] | None = None
    suggested: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", OutcomeStatus(self.status))


#: what :meth:`Executor.poll` returns
Event = Report | Outcome


class Executor(abc.ABC):
    """Runs trials. ``capacity`` is how many may run at once."""

    capacity: int = 1

    @abc.abstractmethod
    def open(self, decide: Decide | None = None) -> None:
        """Prepare to run; ``decide`` is called only by an inline executor (see the
        module docstring)."""

    @abc.abstractmethod
    def start(self, trial: Trial, budget: float | None = None) -> None:
        """Start running ``trial`` (returns at once)."""

    @abc.abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Wait up to ``timeout`` seconds (less once an event is there); return the
        reports and outcomes since the last poll, in order."""

    @abc.abstractmethod
    def stop(self, number: int, at: Report | None = None) -> None:
        """Ask a running trial to stop; it ends (as ``"stopped"``) within the grace period.

        ``at``: the report (returned by the last :meth:`poll`) that led to the stop: what
        the trial reported after it does not count, for its final value either."""

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


class RunnerStudy(Protocol):
    """The study as the runner sees it: public verbs only (:class:`~hypersweep.Study`
    implements them)."""

    name: str
    objectives: tuple[Objective, ...]
    policy: Policy | None

    @property
    def history(self) -> History: ...
    @property
    def attrs(self) -> dict[str, Any]: ...
    def ask(self, n: int | None = None, *, max_trials: int | None = None) -> Any: ...
    def tell(
        self,
        trial: Trial | int,
        values: Any = None,
        *,
        state: TrialState | str | None = None,
        error: str | None = None,
        started_at: float | None = None,
        finished_at: float | None = None,
    ) -> Trial: ...
    def record(self, number: Trial | int, step: int, metrics: dict[str, float]) -> Decision: ...
    def requeue(self, trial: Trial | int, reason: str) -> Trial: ...
    def set_system_attrs(self, trial: Trial | int, attrs: dict[str, Any]) -> Trial: ...
    def learn(self, trial: Trial | int, suggested: dict[str, Any]) -> Trial: ...
    def recover(self, stale_after: float = 60.0, retries: int = 0) -> list[int]: ...
    def sync(self) -> None: ...
    def check(self) -> None: ...
    def heartbeat(self, trials: Sequence[Trial | int]) -> None: ...
    def clear_stop(self) -> None: ...
    def set_stop_reason(self, reason: str | None) -> None: ...
    def describe(self) -> dict[str, Any]: ...
    def set_attrs(self, **attrs: Any) -> None: ...
