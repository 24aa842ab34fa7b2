"""A study's incremental copy of its storage: the :class:`~hypersweep.history.History`
its sampler and policy read, and the watermarks that keep it current.

Only what changed since the last read is fetched (:meth:`TrialCache.sync`); the report
path reads only the new reports (:meth:`TrialCache.read_reports`). After a bulk load
without reports, the older reports are read once, when first needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypersweep.errors import StorageError
from hypersweep.history import QUEUED, History
from hypersweep.storage import Storage
from hypersweep.storage.base import group_reports
from hypersweep.trial import Trial

__all__ = ["TrialCache"]


class TrialCache:
    """The cached trials of study ``study_id`` in ``storage``.

    Args:
        history: the empty history to fill.
        bulk: the first sync may read every trial as columns.
        bulk_reports: a bulk load reads the reports too (the policy or sampler needs them).
        constraint_metrics: the metrics of the study's constraints: a bulk load without
            reports reads each one's last reported value, and a trial that changes later
            has its reports completed first (a constraint metric may be in a report the
            bulk load left out).
    """

    def __init__(
        self,
        storage: Storage,
        study_id: int,
        history: History,
        *,
        bulk: bool = True,
        bulk_reports: bool = False,
        constraint_metrics: Sequence[str] = (),
    ) -> None:
        self.storage = storage
        self.study_id = study_id
        self.history = history
        self.bulk = bulk
        self.bulk_reports = bulk_reports
        self.constraint_metrics = list(constraint_metrics)
        self.watermark = 0
        self.reports_mark = 0  # reports up to here are cached (see read_reports)
        # after a bulk load without reports: reports with seq <= this are not in the cache
        self.reports_until: int | None = None
        self.loaded_n = 0
        self.completed: set[int] = set()  # trials whose reports complete() read

    def sync(self) -> dict[str, Any]:
        """Fetch what changed in the storage since the last sync; return the study's
        attributes as of now."""
        if self.watermark == 0 and self.history.n == 0 and self.bulk:
            attrs = self._bulk_load()
            if attrs is not None:
                return attrs  # incremental from here
        res = self.storage.sync(self.study_id, self.watermark)
        if not res.trials and not res.reports:
            self.watermark = res.watermark
            return res.attrs
        cached = self.history.trials
        merged: dict[int, Trial] = {}
        for fresh in res.trials:
            old = cached[fresh.number] if fresh.number < len(cached) else None
            if old is not None and old.reports:  # a row carries no reports: keep them
                fresh = fresh.with_(reports=old.reports)
            merged[fresh.number] = fresh
        for r in res.reports:
            t: Trial | None = merged.get(r.number)
            if t is None:
                t = cached[r.number] if r.number < len(cached) else None
                if t is None:  # the contract (one snapshot per sync) rules this out
                    raise StorageError(
                        f"storage: {self.storage.url} returned a report of trial {r.number} "
                        "before the trial itself; its sync is not one consistent snapshot"
                    )
            reps = dict(t.reports)
            reps[r.step] = {**reps.get(r.step, {}), **r.metrics}
            merged[r.number] = t.with_(reports=reps)
        if self.constraint_metrics:
            merged = {number: self.complete(t) for number, t in merged.items()}
        self.history.update(merged.values())
        self.watermark = res.watermark
        return res.attrs

    def look(self, head_only: bool, reports: bool) -> tuple[dict[str, Any], int | None, bool]:
        """What an ask reads first: ``(study attributes, position of the next proposal,
        whether a trial is QUEUED)``. ``head_only``: from the study's head alone
        (:meth:`Storage.head <hypersweep.storage.base.Storage.head>`; the position is its
        trial count); else after a sync, with the reports a bulk load left out when
        ``reports``, and the position ``None``: the history's length."""
        if head_only:
            h = self.storage.head(self.study_id)
            return h.attrs, h.n_trials, h.queued
        attrs = self.sync()
        if reports:
            self.load_reports()
        return attrs, None, bool((self.history.state == QUEUED).any())

    def _bulk_load(self) -> dict[str, Any] | None:
        """Read every trial as columns (reports only when ``bulk_reports``; of the
        constraint metrics, the last reported value) into the empty history (see
        :mod:`hypersweep.bulkload`); ``None`` when the storage has no bulk path, else the
        study's attributes."""
        metrics = self.constraint_metrics
        extra = {"last_reported": metrics} if metrics else {}  # older backends lack it
        cols = self.storage.load_history(self.study_id, reports=self.bulk_reports, **extra)
        if cols is None or (metrics and cols.reports is None and cols.last_reported is None):
            return None
        reps = (
            None
            if cols.reports is None
            else group_reports((r.number, r.step, r.metrics) for r in cols.reports)
        )
        self.history.load_columns(cols, reps)
        self.loaded_n = self.history.n
        self.reports_until = cols.watermark if reps is None and cols.numbers else None
        self.watermark = cols.watermark
        return cols.attrs

    def load_reports(self) -> None:
        """Add the reports a bulk load left out (older than any the cache holds)."""
        if self.reports_until is None:
            return
        reps = self.storage.reports_until(self.study_id, self.reports_until)
        trials = self.history.trials
        for number, older in group_reports((r.number, r.step, r.metrics) for r in reps).items():
            t = trials[number]
            for step, m in t.reports.items():
                older[step] = {**older.get(step, {}), **m}
            trials[number] = t.with_(reports=older)
        self.reports_until = None
        self.history.version += 1

    def complete(self, t: Trial) -> Trial:
        """``t`` with all its reports (one read when a bulk load left them out)."""
        if self.reports_until is None or t.number >= self.loaded_n or t.number in self.completed:
            return t
        self.completed.add(t.number)
        full = self.storage.get_trial(self.study_id, t.number)
        reps = dict(full.reports)
        for step, m in t.reports.items():
            reps[step] = {**reps.get(step, {}), **m}
        t = t.with_(reports=reps)
        self.history.trials[t.number] = t
        return t

    def absorb(self, trial: Trial) -> Trial:
        """Put a trial the storage returned into the cache (keeping its cached reports)."""
        cached = self.history.trials
        if trial.number < len(cached) and cached[trial.number] is not None and not trial.reports:
            trial = trial.with_(reports=cached[trial.number].reports)
        self.history.update([trial])
        return trial

    def add_report(self, t: Trial, step: int, metrics: dict[str, float]) -> Trial:
        """Cache a report of ``t`` that this process stored."""
        reps = dict(t.reports)
        reps[step] = {**reps.get(step, {}), **metrics}
        t = self.history.trials[t.number] = t.with_(reports=reps)
        self.history.version += 1
        return t

    def read_reports(self) -> None:
        """Add the reports stored since the last read to the cached trials (a report of a
        trial not cached yet waits for the next :meth:`sync`, which returns it again)."""
        mark = max(self.watermark, self.reports_mark)
        rows, self.reports_mark = self.storage.reports_since(self.study_id, mark)
        if not rows:
            return
        trials = self.history.trials
        changed = False
        for number, new in group_reports((r.number, r.step, r.metrics) for r in rows).items():
            t = trials[number] if number < len(trials) else None
            if t is None or _holds(t.reports, new):  # e.g. this process's own reports
                continue
            reps = dict(t.reports)
            for step, m in new.items():
                reps[step] = {**reps.get(step, {}), **m}
            trials[number] = t.with_(reports=reps)
            changed = True
        if changed:
            self.history.version += 1


def _holds(have: dict[int, dict[str, float]], new: dict[int, dict[str, float]]) -> bool:
    """Whether the cached reports ``have`` already hold every metric of ``new``."""
    for step, m in new.items():
        h = have.get(step)
        if h is None or not h.items() >= m.items():
            return False
    return True
