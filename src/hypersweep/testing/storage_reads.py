"""The storage contract's aggregate and bulk reads (status, best, ls, export, opening a
study): part of :class:`hypersweep.testing.storage.StorageContract`, whose fixtures
(``storage``, ``sid``) they use."""

from __future__ import annotations

import pytest

from hypersweep.storage.base import Storage
from hypersweep.trial import Objective, TrialState

__all__ = ["AggregateReadsContract"]


class AggregateReadsContract:
    """Aggregates agree with the full history; bulk reads return it as columns."""

    def _mixed_study(self, storage: Storage, goal: str) -> int:
        """Trials in every state, tied best values, a STOPPED trial without a value,
        repeated report steps and a trial still RUNNING with reports."""
        sid = storage.create_study(f"agg-{goal}", (Objective("loss", goal),), None).id
        values = [3.0, 1.0, 5.0, 1.0, 5.0, 2.0]
        for i, v in enumerate(values):
            t = storage.create_trial(sid, {"x": i / 10}, worker_id=f"w{i % 2}", now=1000.0 + i)
            storage.report(sid, t.id, 0, {"loss": v + 1}, now=1000.5 + i)
            storage.finish_trial(sid, t.id, TrialState.COMPLETED, values=[v], now=1001.0 + i)
        t = storage.create_trial(sid, {"x": 0.9})
        storage.finish_trial(sid, t.id, TrialState.FAILED, error="boom 1")
        t = storage.create_trial(sid, {"x": 0.8})
        storage.finish_trial(sid, t.id, TrialState.STOPPED)  # no value: never best
        t = storage.create_trial(sid, {"x": 0.7}, budget=5, resume_from=1)  # a PBT segment
        storage.finish_trial(
            sid, t.id, TrialState.STOPPED, values=[0.5 if goal == "minimize" else 6.0]
        )
        t = storage.create_trial(sid, {"x": 0.6})
        storage.finish_trial(sid, t.id, TrialState.FAILED, error="boom 2")
        run = storage.create_trial(sid, {"x": 0.5}, now=2000.0)
        storage.report(sid, run.id, 0, {"loss": 9.0}, now=2001.0)
        storage.report(sid, run.id, 2, {"loss": 8.0}, now=2002.0)
        storage.report(sid, run.id, 2, {"acc": 0.1}, now=2003.0)
        storage.report(sid, run.id, 1, {"loss": 8.5}, now=2004.0)
        storage.create_trial(sid, {"x": 0.4}, state=TrialState.QUEUED, budget=2.5)
        return sid

    @pytest.mark.parametrize("goal", ["minimize", "maximize"])
    def test_aggregates_agree_with_the_full_history(self, storage: Storage, goal: str) -> None:
        sid = self._mixed_study(storage, goal)
        full = storage.get_trials(sid)
        counts = storage.count_trials(sid)
        assert {s: sum(t.state == s for t in full) for s in TrialState} == counts
        sign = 1 if goal == "minimize" else -1
        done = [
            t
            for t in full
            if t.state in (TrialState.COMPLETED, TrialState.STOPPED) and t.values is not None
        ]
        expect = min(done, key=lambda t: (sign * (t.values or (0.0,))[0], t.number))
        best = storage.best_trials(sid)
        assert [t.number for t in best] == [expect.number] == [8]
        assert best[0].values == expect.values and best[0].params == expect.params
        running = storage.running_trials(sid)
        assert [t.number for t in running] == [10]
        assert running[0].reports == {2: {"loss": 8.0, "acc": 0.1}}  # the latest step only
        failed = storage.last_trial(sid, TrialState.FAILED)
        assert failed is not None and failed.number == 9 and failed.error == "boom 2"
        assert storage.last_trial(sid, TrialState.QUEUED).number == 11  # type: ignore[union-attr]
        times = [
            x for t in full for x in (t.started_at, t.finished_at, t.heartbeat_at) if x is not None
        ]
        assert storage.last_activity(sid) == max(times)

    def test_running_trials_with_a_limit_are_the_lowest_numbered(
        self, storage: Storage, sid: int
    ) -> None:
        made = [storage.create_trial(sid, {"x": i / 10}) for i in range(5)]
        storage.finish_trial(sid, made[1].id, TrialState.COMPLETED, values=[1.0])
        for step, t in enumerate(made):
            if t is not made[1]:
                storage.report(sid, t.id, step, {"loss": float(step)})
                storage.report(sid, t.id, step + 1, {"loss": step + 0.5})
        got = storage.running_trials(sid, limit=2)  # 0, 2, 3, 4 run
        assert [(t.number, t.reports) for t in got] == [
            (0, {1: {"loss": 0.5}}),
            (2, {3: {"loss": 2.5}}),
        ]
        assert [t.number for t in storage.running_trials(sid, limit=10)] == [0, 2, 3, 4]
        assert storage.running_trials(sid, limit=0) == []

    @pytest.mark.parametrize("goal", ["minimize", "maximize"])
    def test_best_ties_go_to_the_lower_number(self, storage: Storage, goal: str) -> None:
        sid = storage.create_study(f"ties-{goal}", (Objective("loss", goal),), None).id
        made = [storage.create_trial(sid, {"x": i}) for i in range(4)]
        best = 1.0 if goal == "minimize" else 3.0
        for t, v in zip(reversed(made), [best, 2.0, best, best]):  # 3, 1, 0 tie; 3 first
            storage.finish_trial(sid, t.id, TrialState.COMPLETED, values=[v])
        assert [t.number for t in storage.best_trials(sid)] == [0]

    def test_best_without_finished_values_is_empty(self, storage: Storage, sid: int) -> None:
        assert storage.best_trials(sid) == [] and storage.last_activity(sid) is None
        t = storage.create_trial(sid, {"x": 0.1})
        storage.finish_trial(sid, t.id, TrialState.FAILED, error="x")
        assert storage.best_trials(sid) == [] and storage.running_trials(sid) == []
        assert storage.last_trial(sid, TrialState.COMPLETED) is None

    def test_best_of_several_objectives_is_the_pareto_front(self, storage: Storage) -> None:
        objs = (Objective("a", "minimize"), Objective("b", "maximize"))
        sid = storage.create_study("pareto", objs, None).id
        pts = [(1.0, 1.0), (2.0, 3.0), (1.0, 1.0), (3.0, 3.0), (0.5, 0.0), (2.0, 2.0)]
        for i, v in enumerate(pts):
            t = storage.create_trial(sid, {"x": i})
            storage.finish_trial(sid, t.id, TrialState.COMPLETED, values=list(v))
        storage.create_trial(sid, {"x": 99})  # running: not on any front
        dominated = {
            i
            for i, (a, b) in enumerate(pts)
            for (c, d) in pts
            if c <= a and d >= b and (c < a or d > b)
        }
        assert (
            [t.number for t in storage.best_trials(sid)]
            == [i for i in range(len(pts)) if i not in dominated]
            == [0, 1, 2, 4]
        )

    def test_iter_trials_streams_what_get_trials_returns(self, storage: Storage) -> None:
        sid = self._mixed_study(storage, "minimize")
        full = storage.get_trials(sid)
        assert list(storage.iter_trials(sid, batch_size=3)) == full
        assert list(storage.iter_trials(sid, reports=False, batch_size=5)) == [
            t.with_(reports={}) for t in full
        ]

    def test_load_history_is_the_full_history_as_columns(self, storage: Storage) -> None:
        from hypersweep.bulkload import LazyTrials
        from hypersweep.storage.base import group_reports

        sid = self._mixed_study(storage, "minimize")
        full = storage.get_trials(sid)
        cols = storage.load_history(sid, reports=False)
        if cols is None:
            pytest.skip(f"{type(storage).__name__} has no bulk path (optional)")
        assert cols.watermark == storage.sync(sid, 0).watermark
        reps = cols.reports
        if reps is None:  # left out: the backend hands them out up to the watermark
            reps = storage.reports_until(sid, cols.watermark)
        grouped = group_reports((r.number, r.step, r.metrics) for r in reps)
        assert list(LazyTrials(cols, grouped)) == full
        with_reports = storage.load_history(sid, reports=True)
        assert with_reports is not None
        assert with_reports.reports == storage.sync(sid, 0).reports
