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
* The aggregate reads (:meth:`Storage.count_trials`, :meth:`Storage.best_trials`,
  :meth:`Storage.running_trials`, :meth:`Storage.last_trial`,
  :meth:`Storage.last_activity`) agree with what :meth:`Storage.get_trials` returns, and
  their cost does not grow with the number of trials on the SQL backends (indexed
  queries), so a status line never loads the history. :meth:`Storage.iter_trials` streams
  every trial in batches (constant memory), and :meth:`Storage.load_history` reads the
  columns a sampler needs in bulk.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypersweep.trial import Objective, Trial, TrialState

__all__ = [
    "HistoryColumns",
    "Report",
    "Storage",
    "StudyHead",
    "StudyRecord",
    "SyncResult",
    "running_rows",
]

#: The states whose values count for "best" (a STOPPED trial keeps its last value).
FINISHED_WITH_VALUE = (TrialState.COMPLETED, TrialState.STOPPED)

SCHEMA_VERSION = 4  # v3: hs_trials.attempt; v4: hs_trials.budget and resume_from


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


@dataclass(frozen=True)
class StudyHead:
    """What an ask needs of a study when its sampler reads no trials (:meth:`Storage.head`).

    Attributes:
        n_trials: the trials the study holds (the next trial's number).
        queued: whether any trial is QUEUED (enqueued, or re-queued for a retry).
        attrs: the study's system attributes now (stop requests, stop reason, ...).
    """

    n_trials: int
    queued: bool
    attrs: dict[str, Any]


@dataclass(frozen=True)
class HistoryColumns:
    """A study's trials as columns, read in bulk (:meth:`Storage.load_history`).

    Row ``i`` is trial ``numbers[i]`` (ascending, every trial up to the watermark).
    ``params``, ``values``, ``metrics``, ``user_attrs`` and ``system_attrs`` are the stored
    JSON texts (``None`` where empty), decoded only when a trial is looked at; ``reports``
    is ``None`` unless asked for. The snapshot is consistent: it is everything the storage
    held at sequence number ``watermark``, so a :meth:`Storage.sync` from ``watermark``
    continues it.
    """

    numbers: list[int]
    states: list[str]
    params: list[str]
    values: list[str | None]
    rest: list[tuple[Any, ...]]  # (id, metrics, started, finished, heartbeat, worker,
    #                     error, user_attrs, system_attrs, attempt, budget, resume_from)
    watermark: int
    attrs: dict[str, Any]
    reports: list[Report] | None = None
    #: ``number -> {metric: value}``: each asked-for metric's value in the trial's last
    #: report that has it (highest step, then latest), for the trials that reported it
    last_reported: dict[int, dict[str, Any]] | None = None


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
        self,
        study_id: int,
        *,
        attrs: Mapping[str, Any] | None = None,
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
        budget: float | None = None,
        resume_from: int | None = None,
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
            budget, resume_from: the trial's
                :attr:`~hypersweep.trial.Trial.budget` and
                :attr:`~hypersweep.trial.Trial.resume_from` (kept across retries).
        """

    @abc.abstractmethod
    def claim_trial(
        self,
        study_id: int,
        worker_id: str | None,
        now: float | None = None,
        max_trials: int | None = None,
    ) -> Trial | None:
        """Move the lowest-numbered QUEUED trial to RUNNING and return it (or ``None``).

        Two concurrent claims never get the same trial. With ``max_trials``, only a
        trial numbered below it is claimed (trials enqueued beyond a budget wait for a
        larger one).
        """

    @abc.abstractmethod
    def report(
        self,
        study_id: int,
        trial_id: int,
        step: int,
        metrics: Mapping[str, float],
        now: float | None = None,
        attempt: int | None = None,
    ) -> None:
        """Store an intermediate report (also refreshes the trial's heartbeat).

        With ``attempt``, a trial now at another attempt (re-queued after its worker
        was lost, then claimed again) refuses it with ``TrialNotRunning``: a fence
        against a late report of the old attempt."""

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
        self,
        study_id: int,
        trial_id: int,
        reason: str,
        *,
        attempt: int | None = None,
        now: float | None = None,
    ) -> Trial:
        """Put a RUNNING trial back in the queue for another attempt (same number and
        params, ``attempt`` + 1; ``reason`` recorded in ``system_attrs["attempts"]``).

        Raises:
            TrialNotRunning: it is not RUNNING (or not at ``attempt``).
        """

    @abc.abstractmethod
    def recover_stale_trials(
        self,
        study_id: int,
        stale_before: float,
        dead_workers: Iterable[str] = (),
        retries: int = 0,
        now: float | None = None,
    ) -> tuple[list[int], list[int]]:
        """Like :meth:`fail_stale_trials`, but a lost trial whose ``attempt`` is at most
        ``retries`` is re-queued ("worker lost" recorded) instead of FAILED.

        Returns:
            (numbers re-queued, numbers FAILED).
        """

    @abc.abstractmethod
    def set_trial_attrs(
        self,
        study_id: int,
        trial_id: int,
        *,
        user: Mapping[str, Any] | None = None,
        system: Mapping[str, Any] | None = None,
    ) -> Trial:
        """Merge user and/or system attributes into a trial."""

    @abc.abstractmethod
    def set_trial_params(self, study_id: int, trial_id: int, params: Mapping[str, Any]) -> Trial:
        """Replace a trial's parameters (a define-by-run trial's: exactly what it suggested,
        stored before it is finished)."""

    @abc.abstractmethod
    def heartbeat(self, study_id: int, trial_ids: Iterable[int], now: float | None = None) -> None:
        """Refresh the heartbeat of RUNNING trials (does not advance the sequence; the SQL
        backend on PostgreSQL commits it without waiting for the WAL flush, so a server
        crash may lose the last beats: their trials then look a few seconds older)."""

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

    def head(self, study_id: int) -> StudyHead:
        """The study's trial count, whether a trial is QUEUED, and its attributes, without
        reading its trials' rows: what an ask whose sampler reads no history needs (the
        SQL backends answer with one indexed statement)."""
        counts = self.count_trials(study_id)
        attrs = self.sync(study_id, watermark=2**62).attrs  # above every change: no rows
        return StudyHead(sum(counts.values()), counts[TrialState.QUEUED] > 0, attrs)

    @abc.abstractmethod
    def get_trials(self, study_id: int, states: Iterable[TrialState] | None = None) -> list[Trial]:
        """Full snapshots (reports included), by number."""

    def get_trial(self, study_id: int, number: int) -> Trial:
        """One full snapshot by number; raises ``KeyError`` if there is none."""
        for t in self.get_trials(study_id):
            if t.number == number:
                return t
        raise KeyError(number)

    # --- aggregate reads (backends override these with indexed queries) ---------------
    def _objectives_of(self, study_id: int) -> tuple[Objective, ...]:
        for rec in self.list_studies():
            if rec.id == study_id:
                return rec.objectives
        from hypersweep.errors import StudyNotFound

        raise StudyNotFound(f"no study with id {study_id}")

    def best_trials(self, study_id: int) -> list[Trial]:
        """The best finished trials, without their reports.

        One objective: a list of the single best COMPLETED or STOPPED trial with a value
        (ties go to the lower number), or ``[]``. Several objectives: the Pareto front
        (trials no other trial dominates), by number.
        """
        from hypersweep._best import best_of

        objs = self._objectives_of(study_id)
        done = [t.with_(reports={}) for t in self.get_trials(study_id, FINISHED_WITH_VALUE)]
        return best_of(done, objs)

    def running_trials(self, study_id: int, limit: int | None = None) -> list[Trial]:
        """RUNNING trials by number; each one's ``reports`` holds only its latest step
        (what ``hypersweep status`` shows: the current step and the latest values).

        Args:
            limit: at most this many (the lowest-numbered); ``None``: all of them. With a
                limit the read is bounded however many trials run (count them with
                :meth:`count_trials`).
        """
        out = []
        for t in self.get_trials(study_id, [TrialState.RUNNING])[:limit]:
            last = max(t.reports) if t.reports else None
            out.append(t.with_(reports={} if last is None else {last: t.reports[last]}))
        return out

    def last_trial(self, study_id: int, state: TrialState) -> Trial | None:
        """The highest-numbered trial in ``state`` (without reports), or ``None``."""
        got = self.get_trials(study_id, [state])
        return got[-1].with_(reports={}) if got else None

    def last_activity(self, study_id: int) -> float | None:
        """The UNIX time of the study's latest write (a trial started, finished, reported
        or sent a heartbeat), or ``None`` when it has no trial."""
        times = [
            x
            for t in self.get_trials(study_id)
            for x in (t.started_at, t.finished_at, t.heartbeat_at)
            if x is not None
        ]
        return max(times) if times else None

    def trial_seconds(self, study_id: int, now: float | None = None) -> float:
        """The trial time the study has spent (:func:`hypersweep.cost.trial_seconds`):
        finished trials' durations plus the running ones' time until ``now``."""
        from hypersweep.cost import trial_seconds

        return trial_seconds(self.get_trials(study_id), now)

    def iter_trials(
        self,
        study_id: int,
        *,
        reports: bool = True,
        batch_size: int = 1000,
    ) -> Iterator[Trial]:
        """Every trial by number, read ``batch_size`` at a time (constant memory).

        With ``reports=False`` the snapshots carry no reports (cheaper)."""
        for t in self.get_trials(study_id):
            yield t if reports else t.with_(reports={})

    def load_history(
        self, study_id: int, reports: bool = False, last_reported: Sequence[str] = ()
    ) -> HistoryColumns | None:
        """Every trial as columns of stored texts, plus the reports when asked (see
        :class:`HistoryColumns`): what a process opening a study for asking reads.
        ``last_reported``: metrics whose last reported value per trial to read (a
        study's constraint metrics, without reading every report).

        Optional: ``None`` (the default) means the backend has no bulk path, and a study
        then syncs from watermark 0 instead. A backend that returns ``reports=None``
        implements :meth:`reports_until`."""
        return None

    def reports_until(self, study_id: int, watermark: int) -> list[Report]:
        """The report rows with sequence numbers up to ``watermark``, in sequence order
        (what :meth:`load_history` left out when it returned ``reports=None``)."""
        raise NotImplementedError(
            f"{type(self).__name__}.load_history returned no reports, so it must implement "
            "reports_until"
        )

    def reports_since(self, study_id: int, watermark: int) -> tuple[list[Report], int]:
        """The report rows numbered after ``watermark``, in sequence order, and the
        highest sequence number among them (``watermark`` when there are none).

        The narrow read of the report path: a stopping policy needs the other trials'
        new reports, not a full :meth:`sync` (trials and attributes). A report of a
        trial that the reader has not synced yet may be among them. The default reads a
        :meth:`sync`; backends override it with one indexed query.
        """
        res = self.sync(study_id, watermark)
        return res.reports, (res.watermark if res.reports else watermark)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def twin(self) -> Storage:
        """Another handle on the same data whose reads do not queue behind this one's
        (a database storage: its own connections and lock). A reader that runs a long
        bulk read in one thread and short aggregate reads in others gives the bulk read
        a twin. The default is ``self`` (a storage held in memory has nothing to wait
        on)."""
        return self

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise :class:`~hypersweep.errors.StorageError` when the storage can no longer
        keep what is written to it (an SQLite file deleted or replaced while in use). Cheap
        (no query): the runner calls it at every turn of its loop."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: running trials a summary lists (``hypersweep status`` says how many more run)
SUMMARY_RUNNING = 20


def running_rows(storage: Storage, study_id: int) -> list[dict[str, Any]]:
    """The first :data:`SUMMARY_RUNNING` RUNNING trials as a summary lists them:
    ``{"number", "step" (the last reported), "latest" (that step's metrics),
    "started_at"}``. One bounded read (:meth:`Storage.running_trials` with a limit),
    however many trials the study holds."""
    out = []
    for t in storage.running_trials(study_id, limit=SUMMARY_RUNNING):
        step = t.last_step
        latest = dict(t.reports[step]) if step is not None else {}
        out.append(
            {"number": t.number, "step": step, "latest": latest, "started_at": t.started_at}
        )
    return out
