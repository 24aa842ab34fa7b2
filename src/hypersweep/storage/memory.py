"""An in-memory storage: fast, thread-safe, gone when the process ends."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypersweep.errors import (
    DuplicateTrialError,
    MaxTrialsReached,
    StudyNotFound,
    TrialNotRunning,
)
from hypersweep.storage.base import (
    Report,
    Storage,
    StudyHead,
    StudyRecord,
    SyncResult,
    group_reports,
)
from hypersweep.trial import Objective, Trial, TrialState

__all__ = ["InMemoryStorage"]


def attempt_record(t: Trial, reason: str, now: float) -> dict[str, Any]:
    """What ``system_attrs["attempts"]`` keeps of an attempt that ended in a retry."""
    return {
        "attempt": t.attempt,
        "error": reason,
        "worker_id": t.worker_id,
        "started_at": t.started_at,
        "ended_at": now,
    }


def _requeued(t: Trial, reason: str, now: float) -> Trial:
    attempts = [*t.system_attrs.get("attempts", []), attempt_record(t, reason, now)]
    return t.with_(
        state=TrialState.QUEUED,
        attempt=t.attempt + 1,
        started_at=None,
        heartbeat_at=None,
        worker_id=None,
        reports={},
        system_attrs={**t.system_attrs, "attempts": attempts},
    )


@dataclass
class _Study:
    record: StudyRecord
    trials: list[Trial] = field(default_factory=list)
    # change log: trial numbers in sequence order, with their sequence numbers (bisectable)
    changed: list[int] = field(default_factory=list)
    changed_seq: list[int] = field(default_factory=list)
    reports: list[tuple[int, Report]] = field(default_factory=list)  # (seq, report)
    keys: set[str] = field(default_factory=set)
    queued: set[int] = field(default_factory=set)  # numbers of the QUEUED trials
    seq: int = 0


class InMemoryStorage(Storage):
    """Studies in this process's memory (``storage="memory"``).

    Example:
        >>> s = InMemoryStorage()
        >>> s.create_study("demo", [Objective("loss")], None).name
        'demo'
    """

    url = "memory"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._studies: dict[str, _Study] = {}
        self._by_id: dict[int, _Study] = {}

    def _study(self, study_id: int) -> _Study:
        try:
            return self._by_id[study_id]
        except KeyError:
            raise StudyNotFound(f"no study with id {study_id}") from None

    def _bump(self, st: _Study) -> int:
        st.seq += 1
        return st.seq

    def _put(self, st: _Study, trial: Trial) -> Trial:
        seq = self._bump(st)
        if trial.number == len(st.trials):
            st.trials.append(trial)
        else:
            st.trials[trial.number] = trial
        if trial.state == TrialState.QUEUED:
            st.queued.add(trial.number)
        else:
            st.queued.discard(trial.number)
        st.changed.append(trial.number)
        st.changed_seq.append(seq)
        return trial

    def _trial(self, st: _Study, trial_id: int) -> Trial:
        if not 0 <= trial_id < len(st.trials):
            raise KeyError(f"no trial with id {trial_id}")
        return st.trials[trial_id]

    # --- studies ----------------------------------------------------------------------
    def create_study(
        self,
        name: str,
        objectives: Sequence[Objective],
        space: Mapping[str, Any] | None,
        attrs: Mapping[str, Any] | None = None,
    ) -> StudyRecord:
        with self._lock:
            if name in self._studies:
                return self._studies[name].record
            rec = StudyRecord(
                id=len(self._by_id) + 1,
                name=name,
                objectives=tuple(objectives),
                space=dict(space) if space is not None else None,
                attrs=dict(attrs or {}),
                created_at=time.time(),
            )
            st = _Study(rec)
            self._studies[name] = st
            self._by_id[rec.id] = st
            return rec

    def get_study(self, name: str) -> StudyRecord:
        with self._lock:
            if name not in self._studies:
                raise StudyNotFound(f"no study named {name!r}")
            return self._studies[name].record

    def list_studies(self) -> list[StudyRecord]:
        with self._lock:
            return [s.record for s in self._studies.values()]

    def delete_study(self, name: str) -> None:
        with self._lock:
            st = self._studies.pop(name, None)
            if st is None:
                raise StudyNotFound(f"no study named {name!r}")
            del self._by_id[st.record.id]

    def update_study(
        self,
        study_id: int,
        *,
        attrs: Mapping[str, Any] | None = None,
        space: Mapping[str, Any] | None = None,
    ) -> StudyRecord:
        with self._lock:
            st = self._study(study_id)
            rec = st.record
            new_attrs = {**rec.attrs, **(attrs or {})}
            st.record = StudyRecord(
                rec.id,
                rec.name,
                rec.objectives,
                dict(space) if space is not None else rec.space,
                new_attrs,
                rec.created_at,
            )
            return st.record

    def count_trials(self, study_id: int) -> dict[TrialState, int]:
        with self._lock:
            counts = dict.fromkeys(TrialState, 0)
            for t in self._study(study_id).trials:
                counts[t.state] += 1
            return counts

    # --- trials -----------------------------------------------------------------------
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
        if state not in (TrialState.QUEUED, TrialState.RUNNING):
            raise ValueError(f"a new trial is QUEUED or RUNNING, not {state}")
        now = time.time() if now is None else now
        with self._lock:
            st = self._study(study_id)
            if max_trials is not None and len(st.trials) >= max_trials:
                raise MaxTrialsReached(
                    f"the study holds {len(st.trials)} trials (max_trials {max_trials})"
                )
            if key is not None:
                if key in st.keys:
                    raise DuplicateTrialError(f"a trial with key {key!r} exists")
                st.keys.add(key)
            running = state == TrialState.RUNNING
            n = len(st.trials)
            sys_attrs = dict(system_attrs or {})
            if key is not None:
                sys_attrs["key"] = key
            t = Trial(
                number=n,
                state=state,
                params=dict(params),
                user_attrs=dict(user_attrs or {}),
                system_attrs=sys_attrs,
                started_at=now if running else None,
                heartbeat_at=now if running else None,
                worker_id=worker_id if running else None,
                id=n,
                budget=budget,
                resume_from=resume_from,
            )
            return self._put(st, t)

    def claim_trial(
        self,
        study_id: int,
        worker_id: str | None,
        now: float | None = None,
        max_trials: int | None = None,
    ) -> Trial | None:
        now = time.time() if now is None else now
        with self._lock:
            st = self._study(study_id)
            for t in st.trials[:max_trials]:
                if t.state == TrialState.QUEUED:
                    return self._put(
                        st,
                        t.with_(
                            state=TrialState.RUNNING,
                            started_at=now,
                            heartbeat_at=now,
                            worker_id=worker_id,
                            reports={},
                        ),
                    )
            return None

    def report(
        self,
        study_id: int,
        trial_id: int,
        step: int,
        metrics: Mapping[str, float],
        now: float | None = None,
        attempt: int | None = None,
    ) -> None:
        now = time.time() if now is None else now
        with self._lock:
            st = self._study(study_id)
            t = self._trial(st, trial_id)
            if t.state != TrialState.RUNNING:
                raise TrialNotRunning(f"trial {t.number} is {t.state}, cannot report")
            if attempt is not None and t.attempt != attempt:
                raise TrialNotRunning(f"trial {t.number} is at attempt {t.attempt}, not {attempt}")
            st.reports.append((self._bump(st), Report(t.number, int(step), dict(metrics))))
            st.trials[trial_id] = t.with_(heartbeat_at=now)

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
        if not state.is_finished:
            raise ValueError(f"finish_trial needs an end state, got {state}")
        now = time.time() if now is None else now
        with self._lock:
            st = self._study(study_id)
            t = self._trial(st, trial_id)
            if t.state.is_finished:
                raise TrialNotRunning(f"trial {t.number} is already {t.state}")
            if attempt is not None and t.attempt != attempt:
                raise TrialNotRunning(f"trial {t.number} is at attempt {t.attempt}, not {attempt}")
            return self._put(
                st,
                t.with_(
                    state=state,
                    values=tuple(values) if values is not None else None,
                    metrics=dict(metrics or {}),
                    error=error,
                    finished_at=now,
                    reports={},
                    started_at=started_at if started_at is not None else t.started_at,
                ),
            )

    def requeue_trial(
        self,
        study_id: int,
        trial_id: int,
        reason: str,
        *,
        attempt: int | None = None,
        now: float | None = None,
    ) -> Trial:
        now = time.time() if now is None else now
        with self._lock:
            st = self._study(study_id)
            t = self._trial(st, trial_id)
            if t.state != TrialState.RUNNING or (attempt is not None and t.attempt != attempt):
                raise TrialNotRunning(
                    f"trial {t.number} is {t.state} (attempt {t.attempt}), cannot re-queue"
                )
            return self._put(st, _requeued(t, reason, now))

    def recover_stale_trials(
        self,
        study_id: int,
        stale_before: float,
        dead_workers: Iterable[str] = (),
        retries: int = 0,
        now: float | None = None,
    ) -> tuple[list[int], list[int]]:
        now = time.time() if now is None else now
        dead = set(dead_workers)
        requeued: list[int] = []
        failed: list[int] = []
        with self._lock:
            st = self._study(study_id)
            for t in list(st.trials):
                if t.state != TrialState.RUNNING:
                    continue
                if (t.heartbeat_at or 0) < stale_before or t.worker_id in dead:
                    if t.attempt <= retries:
                        self._put(st, _requeued(t, "worker lost", now))
                        requeued.append(t.number)
                    else:
                        self._put(
                            st,
                            t.with_(
                                state=TrialState.FAILED,
                                error="worker lost",
                                finished_at=now,
                                reports={},
                            ),
                        )
                        failed.append(t.number)
        return requeued, failed

    def set_trial_attrs(
        self,
        study_id: int,
        trial_id: int,
        *,
        user: Mapping[str, Any] | None = None,
        system: Mapping[str, Any] | None = None,
    ) -> Trial:
        with self._lock:
            st = self._study(study_id)
            t = self._trial(st, trial_id)
            return self._put(
                st,
                t.with_(
                    user_attrs={**t.user_attrs, **(user or {})},
                    system_attrs={**t.system_attrs, **(system or {})},
                ),
            )

    def set_trial_params(self, study_id: int, trial_id: int, params: Mapping[str, Any]) -> Trial:
        with self._lock:
            st = self._study(study_id)
            return self._put(st, self._trial(st, trial_id).with_(params=dict(params)))

    def heartbeat(self, study_id: int, trial_ids: Iterable[int], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            st = self._study(study_id)
            for tid in trial_ids:
                t = self._trial(st, tid)
                if t.state == TrialState.RUNNING:
                    st.trials[tid] = t.with_(heartbeat_at=now)

    def fail_stale_trials(
        self,
        study_id: int,
        stale_before: float,
        dead_workers: Iterable[str] = (),
        now: float | None = None,
    ) -> list[int]:
        now = time.time() if now is None else now
        dead = set(dead_workers)
        out = []
        with self._lock:
            st = self._study(study_id)
            for t in list(st.trials):
                if t.state != TrialState.RUNNING:
                    continue
                if (t.heartbeat_at or 0) < stale_before or t.worker_id in dead:
                    self._put(
                        st,
                        t.with_(
                            state=TrialState.FAILED,
                            error="worker lost",
                            finished_at=now,
                            reports={},
                        ),
                    )
                    out.append(t.number)
        return out

    def sync(self, study_id: int, watermark: int = 0) -> SyncResult:
        with self._lock:
            st = self._study(study_id)
            start = bisect.bisect_right(st.changed_seq, watermark)
            trials = [st.trials[n] for n in sorted(set(st.changed[start:]))]
            # reports are appended in seq order: bisect would do, a scan from the end is enough
            reps: list[Report] = []
            for s, r in reversed(st.reports):
                if s <= watermark:
                    break
                reps.append(r)
            reps.reverse()
            return SyncResult(trials, reps, st.seq, dict(st.record.attrs))

    def head(self, study_id: int) -> StudyHead:
        with self._lock:
            st = self._study(study_id)
            return StudyHead(len(st.trials), bool(st.queued), dict(st.record.attrs))

    def get_trials(self, study_id: int, states: Iterable[TrialState] | None = None) -> list[Trial]:
        with self._lock:
            st = self._study(study_id)
            wanted = set(states) if states is not None else None
            by_trial = group_reports((r.number, r.step, r.metrics) for _, r in st.reports)
            return [
                t.with_(reports=by_trial.get(t.number, {}))
                for t in st.trials
                if wanted is None or t.state in wanted
            ]

    def reports_since(self, study_id: int, watermark: int) -> tuple[list[Report], int]:
        with self._lock:
            reports = self._study(study_id).reports
            start = bisect.bisect_right(reports, watermark, key=lambda sr: sr[0])
            new = reports[start:]
            return [r for _, r in new], (new[-1][0] if new else watermark)

    def reports_until(self, study_id: int, watermark: int) -> list[Report]:
        with self._lock:
            return [r for s, r in self._study(study_id).reports if s <= watermark]
