"""The storage protocol: the single source of truth of every study.

Contract (every backend; run by :mod:`hypersweep.testing.storage`):

* Safe to use from several threads of one process (memory) or several processes and
  machines (SQL). Every state change is one transaction.
* Returned :class:`~hypersweep.trial.Trial` objects are snapshots; later writes never
  change them.
* Trial numbers are assigned 0, 1, 2, ... per study, unique, never reused.
* A trial moves QUEUED -> RUNNING -> (COMPLETED | STOPPED | FAILED); a finished trial is
  immutable: :meth:`Storage.report` and :meth:`Storage.finish_trial` on it raise
  :class:`~hypersweep.errors.TrialNotRunning`.
* Every change to a study's trials (creation, claim, finish, attributes) and every report
  gets a per-study, strictly increasing *sequence number*, assigned in commit order.
  :meth:`Storage.sync` returns everything after a watermark, so readers are incremental.
  Heartbeats do not advance the sequence.
* A sync result is one consistent snapshot: its trials, reports, attributes and
  watermark ``W`` are read as of the same commit, every change numbered ``<= W`` is in it
  or in an earlier result, and none numbered ``> W``. So a reader that applied every
  earlier result has seen each trial that a returned report belongs to, and a write
  landing during a sync shows up in the next one, never lost.
* :meth:`Storage.create_study` is idempotent and race-free: many processes creating the
  same study get one study.
* A RUNNING trial can go back to QUEUED (:meth:`Storage.requeue_trial`, a retry): same
  number and parameters, ``attempt`` + 1, the ended attempt appended to
  ``system_attrs["attempts"]``. Writes that name an older attempt are refused.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypersweep.trial import Objective, Trial, TrialState

__all__ = ["Report", "Storage", "StudyRecord", "SyncResult"]

SCHEMA_VERSION = 3  # v3: hs_trials.attempt


@dataclass(frozen=True)
class StudyRecord:
    """A study as stored: its identity, objectives, space and system attributes."""

    id: int
    name: str
    objectives: tuple[Objective, ...]
    space: dict[str, Any] | None
    attrs: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass(frozen=True)
class Report:
    """One intermediate report row: ``metrics`` of trial ``number`` at ``step``."""

    number: int
    step: int
    metrics: dict[str, float]


def group_reports(
    rows: Iterable[tuple[int, int, Mapping[str, float]]],
) -> dict[int, dict[int, dict[str, float]]]:
    """``{trial number: {step: metrics}}`` from ``(number, step, metrics)`` rows in seq order.

    A later report of the same step adds to (and overrides) the metrics of an earlier one,
    which is what :attr:`Trial.reports <hypersweep.trial.Trial.reports>` holds.
    """
    out: dict[int, dict[int, dict[str, float]]] = {}
    for number, step, metrics in rows:
        out.setdefault(number, {}).setdefault(step, {}).update(metrics)
    return out


@dataclass(frozen=True)
class SyncResult:
    """What changed in a study since a watermark.

    Attributes:
        trials: snapshots of trials created or changed (their ``reports`` are empty:
            intermediate reports come separately in ``reports``).
        reports: report rows added, in sequence order.
        watermark: pass it to the next :meth:`Storage.sync`.
        attrs: the study's system attributes now (stop requests, stop reason, ...).
    """

    trials: list[Trial]
    reports: list[Report]
    watermark: int
    attrs: dict[str, Any]


class Storage(abc.ABC):
    """Where studies and trials live. See the module docstring for the contract."""

    url: str = ""

    # --- studies ----------------------------------------------------------------------
    @abc.abstractmethod
    def create_study(
        self,
        name: str,
        objectives: Sequence[Objective],
        space: Mapping[str, Any] | None,
        attrs: Mapping[str, Any] | None = None,
    ) -> StudyRecord:
        """Create the study, or return the existing one of that name unchanged."""

    @abc.abstractmethod
    def get_study(self, name: str) -> StudyRecord:
        """The study of that name; raises :class:`~hypersweep.errors.StudyNotFound`."""

    @abc.abstractmethod
    def list_studies(self) -> list[StudyRecord]:
        """Every study, oldest first."""

    @abc.abstractmethod
    def delete_study(self, name: str) -> None:
        """Delete a study with its trials and reports."""

    @abc.abstractmethod
    def update_study(
        self, study_id: int, *, attrs: Mapping[str, Any] | None = None,
        space: Mapping[str, Any] | None = None,
    ) -> StudyRecord:
        """Merge ``attrs`` into the study's attributes and/or replace its space."""

    @abc.abstractmethod
    def count_trials(self, study_id: int) -> dict[TrialState, int]:
        """Number of trials per state."""

    # --- trials -----------------------------------------------------------------------
    @abc.abstractmethod
    def create_trial(
        self,
        study_id: int,
        params: Mapping[str, Any],
        *,
        state: TrialState = TrialState.RUNNING,
        worker_id: str | None = None,
        key: str | None = None,
        user_attrs: Mapping[str, Any] | None = None,
        system_attrs: Mapping[str, Any] | None = None,
        now: float | None = None,
        max_trials: int | None = None,
    ) -> Trial:
        """Create a QUEUED or RUNNING trial with the next number.

        Args:
            key: optional de-duplication key, unique per study (a grid cell, a Sobol
                index). A second trial with the same key raises
                :class:`~hypersweep.errors.DuplicateTrialError`.
            max_trials: the study's trial budget. When the study already holds this many
                trials (every state counts, QUEUED included) the trial is not created and
                :class:`~hypersweep.errors.MaxTrialsReached` is raised. The check and the
                numbering are one atomic step, so any number of processes sharing the
                budget leave exactly ``max_trials`` trials.
        """

    @abc.abstractmethod
    def claim_trial(
        self, study_id: int, worker_id: str | None, now: float | None = None,
        max_trials: int | None = None,
    ) -> Trial | None:
        """Move the lowest-numbered QUEUED trial to RUNNING and return it (or ``None``).

        Two concurrent claims never get the same trial. With ``max_trials``, only a
        trial numbered below it is claimed (trials enqueued beyond a budget wait for a
        larger one).
        """

    @abc.abstractmethod
    def report(
        self, study_id: int, trial_id: int, step: int, metrics: Mapping[str, float],
        now: float | None = None,
    ) -> None:
        """Store an intermediate report (also refreshes the trial's heartbeat)."""

    @abc.abstractmethod
    def finish_trial(
        self,
        study_id: int,
        trial_id: int,
        state: TrialState,
        *,
        values: Sequence[float] | None = None,
        metrics: Mapping[str, Any] | None = None,
        error: str | None = None,
        now: float | None = None,
        started_at: float | None = None,
        attempt: int | None = None,
    ) -> Trial:
        """Move a RUNNING (or QUEUED) trial to an end state; raises ``TrialNotRunning``.

        Args:
            started_at: when the trial's own code started (replaces the time it was
                handed out, so ``duration`` is the trial's own time).
            attempt: refuse (``TrialNotRunning``) unless the trial is at this attempt: a
                late write from a worker whose attempt was retried meanwhile.
        """

    @abc.abstractmethod
    def requeue_trial(
        self, study_id: int, trial_id: int, reason: str, *, attempt: int | None = None,
        now: float | None = None,
    ) -> Trial:
        """Put a RUNNING trial back in the queue for another attempt (same number and
        params, ``attempt`` + 1; ``reason`` recorded in ``system_attrs["attempts"]``).

        Raises:
            TrialNotRunning: it is not RUNNING (or not at ``attempt``).
        """

    @abc.abstractmethod
    def recover_stale_trials(
        self, study_id: int, stale_before: float, dead_workers: Iterable[str] = (),
        retries: int = 0, now: float | None = None,
    ) -> tuple[list[int], list[int]]:
        """Like :meth:`fail_stale_trials`, but a lost trial whose ``attempt`` is at most
        ``retries`` is re-queued ("worker lost" recorded) instead of FAILED.

        Returns:
            (numbers re-queued, numbers FAILED).
        """

    @abc.abstractmethod
    def set_trial_attrs(
        self, study_id: int, trial_id: int, *, user: Mapping[str, Any] | None = None,
        system: Mapping[str, Any] | None = None,
    ) -> Trial:
        """Merge user and/or system attributes into a trial."""

    @abc.abstractmethod
    def heartbeat(
        self, study_id: int, trial_ids: Iterable[int], now: float | None = None
    ) -> None:
        """Refresh the heartbeat of RUNNING trials (does not advance the sequence)."""

    @abc.abstractmethod
    def fail_stale_trials(
        self,
        study_id: int,
        stale_before: float,
        dead_workers: Iterable[str] = (),
        now: float | None = None,
    ) -> list[int]:
        """FAIL ("worker lost") RUNNING trials whose heartbeat is older than ``stale_before``
        or whose worker is in ``dead_workers``; return their numbers."""

    @abc.abstractmethod
    def sync(self, study_id: int, watermark: int = 0) -> SyncResult:
        """Everything that changed in the study after ``watermark`` (0: everything)."""

    @abc.abstractmethod
    def get_trials(
        self, study_id: int, states: Iterable[TrialState] | None = None
    ) -> list[Trial]:
        """Full snapshots (reports included), by number."""

    def get_trial(self, study_id: int, number: int) -> Trial:
        """One full snapshot by number; raises ``KeyError`` if there is none."""
        for t in self.get_trials(study_id):
            if t.number == number:
                return t
        raise KeyError(number)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
