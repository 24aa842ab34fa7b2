"""The storage contract suite: every :class:`~hypersweep.storage.Storage` must pass it.

Use it for a new backend by subclassing with a ``storage`` fixture::

    import pytest
    from hypersweep.testing.storage import StorageContract

    class TestMyStorage(StorageContract):
        @pytest.fixture
        def storage(self):
            s = MyStorage(...)
            yield s
            s.close()
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hypersweep.errors import (
    DuplicateTrialError,
    MaxTrialsReached,
    StudyNotFound,
    TrialNotRunning,
)
from hypersweep.storage.base import Storage
from hypersweep.testing.storage_reads import AggregateReadsContract
from hypersweep.trial import Objective, Trial, TrialState

__all__ = ["Replica", "StorageContract", "interleave"]

OBJ = (Objective("loss", "minimize"),)


@contextlib.contextmanager
def interleave(storage: Storage, write: Callable[[], None], at: int) -> Iterator[list[bool]]:
    """Run ``write`` (another handle's write) in the middle of ``storage``'s next call.

    For a SQL storage, ``write`` runs just before the ``at``-th SQL statement (1-based)
    that ``storage`` sends inside the ``with`` block, once. The yielded list holds one
    ``True`` once it has run, so a test can walk ``at`` = 1, 2, ... until the call has no
    statement left. A storage whose operations are atomic in-process (memory) has no
    statement boundaries: ``write`` never runs inside, and the list stays empty.
    """
    fired: list[bool] = []
    engine = getattr(storage, "_engine", None)
    if engine is None:
        yield fired
        return
    import sqlalchemy as sa

    count = [0]

    def before(*_args: Any) -> None:
        count[0] += 1
        if count[0] == at and not fired:
            fired.append(True)
            write()

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield fired
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


class Replica:
    """What an incremental reader (a :class:`~hypersweep.study.Study`) builds from
    :meth:`Storage.sync`: every trial seen so far, and its reports merged by step.

    :meth:`sync` checks what a reader relies on: a report always belongs to a trial that
    this sync or an earlier one returned, and the watermark never goes back.
    """

    def __init__(self, storage: Storage, study_id: int) -> None:
        self.storage, self.study_id = storage, study_id
        self.trials: dict[int, Trial] = {}
        self.reports: dict[int, dict[int, dict[str, float]]] = {}
        self.watermark = 0

    def sync(self) -> None:
        res = self.storage.sync(self.study_id, self.watermark)
        assert res.watermark >= self.watermark, "the watermark went back"
        for t in res.trials:
            self.trials[t.number] = t
        for r in res.reports:
            assert r.number in self.trials, (
                f"sync returned a report of trial {r.number}, which no sync has returned"
            )
            self.reports.setdefault(r.number, {}).setdefault(r.step, {}).update(r.metrics)
        self.watermark = res.watermark

    def assert_matches(self) -> None:
        """After a sync with no write in flight, the replica equals the stored study."""
        stored = {t.number: t for t in self.storage.get_trials(self.study_id)}
        assert sorted(self.trials) == sorted(stored)
        for n, t in stored.items():
            mine = self.trials[n]
            assert (mine.state, mine.values, mine.error) == (t.state, t.values, t.error), n
            assert self.reports.get(n, {}) == t.reports, n


class StorageContract(AggregateReadsContract):
    """Behaviour every storage backend guarantees (see :mod:`hypersweep.storage.base`)."""

    @pytest.fixture
    def storage(self) -> Storage:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    @pytest.fixture
    def peer(self, storage: Storage) -> Iterator[Storage]:
        """A second handle on the same data, as another process opens it (override for a
        backend whose URL cannot be reopened)."""
        if storage.url == "memory":
            yield storage
            return
        from hypersweep.storage import open_storage

        other = open_storage(storage.url)
        yield other
        other.close()

    @pytest.fixture
    def sid(self, storage: Storage) -> int:
        return storage.create_study("s", OBJ, {"x": {"type": "float", "low": 0, "high": 1}}).id

    # --- studies ----------------------------------------------------------------------
    def test_create_study_is_idempotent(self, storage: Storage) -> None:
        a = storage.create_study("same", OBJ, None, attrs={"seed": 1})
        b = storage.create_study("same", (Objective("acc", "maximize"),), None, attrs={"seed": 2})
        assert a.id == b.id
        assert b.objectives == OBJ and b.attrs == {"seed": 1}
        assert [s.name for s in storage.list_studies()].count("same") == 1

    def test_get_unknown_study_raises(self, storage: Storage) -> None:
        with pytest.raises(StudyNotFound):
            storage.get_study("nope")

    def test_study_roundtrip_and_update(self, storage: Storage) -> None:
        objs = (Objective("a", "maximize"), Objective("b", "minimize"))
        rec = storage.create_study("multi", objs, {"x": 1}, attrs={"k": "v"})
        got = storage.get_study("multi")
        assert got.objectives == objs and got.space == {"x": 1} and got.attrs == {"k": "v"}
        rec2 = storage.update_study(rec.id, attrs={"stop_requested": "yes"}, space={"y": 2})
        assert rec2.attrs == {"k": "v", "stop_requested": "yes"} and rec2.space == {"y": 2}
        assert storage.sync(rec.id, 0).attrs["stop_requested"] == "yes"

    def test_delete_study(self, storage: Storage, sid: int) -> None:
        t = storage.create_trial(sid, {"x": 0.5})
        storage.report(sid, t.id, 0, {"loss": 1.0})
        storage.delete_study("s")
        with pytest.raises(StudyNotFound):
            storage.get_study("s")
        with pytest.raises(StudyNotFound):
            storage.delete_study("s")

    # --- trials -----------------------------------------------------------------------
    def test_numbers_are_dense_and_params_roundtrip(self, storage: Storage, sid: int) -> None:
        params: dict[str, Any] = {
            "f": 0.1 + 0.2,
            "i": 3,
            "s": "a b;$(x)",
            "b": True,
            "n": None,
            "tiny": 5e-324,
            "big": 1.7976931348623157e308,
        }
        made = [storage.create_trial(sid, params) for _ in range(5)]
        assert [t.number for t in made] == [0, 1, 2, 3, 4]
        got = storage.get_trials(sid)
        assert [t.number for t in got] == [0, 1, 2, 3, 4]
        for t in got:
            assert t.params == params
            assert type(t.params["i"]) is int and type(t.params["b"]) is bool
            assert t.state == TrialState.RUNNING and t.started_at and t.heartbeat_at

    def test_queued_trials_are_claimed_in_order_once(self, storage: Storage, sid: int) -> None:
        q = [storage.create_trial(sid, {"x": i / 10}, state=TrialState.QUEUED) for i in range(3)]
        assert all(t.state == TrialState.QUEUED and t.started_at is None for t in q)
        a = storage.claim_trial(sid, "w1")
        b = storage.claim_trial(sid, "w2")
        assert a is not None and b is not None
        assert (a.number, b.number) == (0, 1)
        assert a.state == TrialState.RUNNING and a.worker_id == "w1"
        c = storage.claim_trial(sid, "w3")
        assert c is not None and c.number == 2
        assert storage.claim_trial(sid, "w4") is None

    def test_dedup_key(self, storage: Storage, sid: int) -> None:
        storage.create_trial(sid, {"x": 0.1}, key="grid:1")
        with pytest.raises(DuplicateTrialError):
            storage.create_trial(sid, {"x": 0.1}, key="grid:1")
        storage.create_trial(sid, {"x": 0.2}, key="grid:2")
        storage.create_trial(sid, {"x": 0.3})
        storage.create_trial(sid, {"x": 0.3})  # no key: never a conflict
        nums = [t.number for t in storage.get_trials(sid)]
        assert nums == [0, 1, 2, 3]  # a refused trial does not consume a number
        assert storage.get_trials(sid)[0].system_attrs["key"] == "grid:1"

    def test_max_trials_is_checked_with_the_numbering(self, storage: Storage, sid: int) -> None:
        storage.create_trial(sid, {"x": 0.1}, state=TrialState.QUEUED)  # queued ones count
        storage.create_trial(sid, {"x": 0.2}, max_trials=3)
        storage.create_trial(sid, {"x": 0.3}, max_trials=3)
        with pytest.raises(MaxTrialsReached):
            storage.create_trial(sid, {"x": 0.4}, max_trials=3)
        with pytest.raises(MaxTrialsReached):
            storage.create_trial(sid, {"x": 0.4}, state=TrialState.QUEUED, max_trials=3)
        assert [t.number for t in storage.get_trials(sid)] == [0, 1, 2]  # nothing consumed
        storage.create_trial(sid, {"x": 0.5}, state=TrialState.QUEUED)  # no budget: number 3
        claimed = storage.claim_trial(sid, "w", max_trials=3)
        assert claimed is not None and claimed.number == 0
        assert storage.claim_trial(sid, "w", max_trials=3) is None  # 3 is beyond the budget
        assert storage.create_trial(sid, {"x": 0.6}, max_trials=5).number == 4
        late = storage.claim_trial(sid, "w", max_trials=5)
        assert late is not None and late.number == 3

    def test_finish_and_immutability(self, storage: Storage, sid: int) -> None:
        t = storage.create_trial(sid, {"x": 0.5})
        done = storage.finish_trial(
            sid,
            t.id,
            TrialState.COMPLETED,
            values=[0.1 + 0.2],
            metrics={"loss": 0.30000000000000004, "acc": 0.9},
        )
        assert done.values == (0.30000000000000004,) and done.finished_at is not None
        assert t.state == TrialState.RUNNING  # the earlier snapshot did not change
        with pytest.raises(TrialNotRunning):
            storage.finish_trial(sid, t.id, TrialState.FAILED, error="x")
        with pytest.raises(TrialNotRunning):
            storage.report(sid, t.id, 1, {"loss": 1.0})
        got = storage.get_trial(sid, t.number)
        assert got.state == TrialState.COMPLETED and got.metrics["acc"] == 0.9

    def test_failed_keeps_error_and_stopped_keeps_values(self, storage: Storage, sid: int) -> None:
        a = storage.create_trial(sid, {"x": 0.1})
        b = storage.create_trial(sid, {"x": 0.2})
        storage.finish_trial(sid, a.id, TrialState.FAILED, error="Traceback...\nValueError: x")
        storage.finish_trial(sid, b.id, TrialState.STOPPED, values=[0.7])
        got = {t.number: t for t in storage.get_trials(sid)}
        assert got[0].state == TrialState.FAILED and (got[0].error or "").endswith("ValueError: x")
        assert got[0].values is None
        assert got[1].state == TrialState.STOPPED and got[1].values == (0.7,)

    def test_reports_merge_by_step(self, storage: Storage, sid: int) -> None:
        t = storage.create_trial(sid, {"x": 0.5})
        storage.report(sid, t.id, 0, {"loss": 1.0})
        storage.report(sid, t.id, 1, {"loss": 0.5})
        storage.report(sid, t.id, 1, {"acc": 0.8})
        got = storage.get_trial(sid, t.number)
        assert got.reports == {0: {"loss": 1.0}, 1: {"loss": 0.5, "acc": 0.8}}
        assert storage.get_trials(sid)[0].reports == got.reports

    def test_states_filter_and_counts(self, storage: Storage, sid: int) -> None:
        a = storage.create_trial(sid, {"x": 0.1})
        storage.create_trial(sid, {"x": 0.2})
        storage.create_trial(sid, {"x": 0.3}, state=TrialState.QUEUED)
        storage.finish_trial(sid, a.id, TrialState.COMPLETED, values=[1.0])
        assert [t.number for t in storage.get_trials(sid, [TrialState.RUNNING])] == [1]
        counts = storage.count_trials(sid)
        assert counts[TrialState.COMPLETED] == 1 and counts[TrialState.RUNNING] == 1
        assert counts[TrialState.QUEUED] == 1 and counts[TrialState.FAILED] == 0

    def test_attrs_merge(self, storage: Storage, sid: int) -> None:
        t = storage.create_trial(sid, {"x": 0.5}, user_attrs={"a": 1}, system_attrs={"b": 2})
        t2 = storage.set_trial_attrs(sid, t.id, user={"c": [1, 2]}, system={"b": 3})
        assert t2.user_attrs == {"a": 1, "c": [1, 2]} and t2.system_attrs == {"b": 3}
        assert storage.get_trial(sid, 0).user_attrs == {"a": 1, "c": [1, 2]}

    def test_set_trial_params_replaces_them_and_is_synced(
        self, storage: Storage, sid: int
    ) -> None:
        t = storage.create_trial(sid, {"x": 0.5, "y": 2})
        mark = storage.sync(sid, 0).watermark
        t2 = storage.set_trial_params(sid, t.id, {"x": 0.5, "z": "a"})
        assert t2.params == {"x": 0.5, "z": "a"} and t2.state == TrialState.RUNNING
        assert storage.get_trial(sid, 0).params == {"x": 0.5, "z": "a"}
        assert [u.params for u in storage.sync(sid, mark).trials] == [{"x": 0.5, "z": "a"}]

    def test_budget_and_resume_from_are_kept_by_every_read_and_write(
        self, storage: Storage, sid: int
    ) -> None:
        made = storage.create_trial(sid, {"x": 0.5}, budget=10.0, resume_from=0)
        assert (made.budget, made.resume_from) == (10, 0) and type(made.budget) is int
        assert made.system_attrs == {}  # typed fields, not attribute keys
        storage.create_trial(sid, {"x": 0.6}, state=TrialState.QUEUED, budget=2.5)
        plain = storage.create_trial(sid, {"x": 0.7})
        assert (plain.budget, plain.resume_from) == (None, None)
        claimed = storage.claim_trial(sid, "w")
        assert claimed is not None and (claimed.number, claimed.budget) == (1, 2.5)
        again = storage.requeue_trial(sid, made.id, "worker lost")
        assert (again.attempt, again.budget, again.resume_from) == (2, 10, 0)
        retry = storage.claim_trial(sid, "w")
        assert retry is not None and (retry.budget, retry.resume_from) == (10, 0)
        done = storage.finish_trial(sid, retry.id, TrialState.STOPPED, values=[1.0])
        assert (done.budget, done.resume_from) == (10, 0)
        facts = [(t.budget, t.resume_from) for t in storage.get_trials(sid)]
        assert facts == [(10, 0), (2.5, None), (None, None)]
        assert [(t.budget, t.resume_from) for t in storage.sync(sid, 0).trials] == facts
        assert storage.get_trial(sid, 0) == storage.get_trials(sid)[0]

    def test_head_counts_trials_and_sees_queued_ones_and_attrs(
        self, storage: Storage, peer: Storage, sid: int
    ) -> None:
        """An ask whose sampler reads no history trusts the head alone: the next trial's
        number, whether a trial waits in the queue (enqueued, or re-queued by a retry),
        and the stop request, as another process left them."""
        h = storage.head(sid)
        assert (h.n_trials, h.queued) == (0, False)
        a = peer.create_trial(sid, {"x": 0.1})
        peer.create_trial(sid, {"x": 0.2}, state=TrialState.QUEUED)
        assert (storage.head(sid).n_trials, storage.head(sid).queued) == (2, True)
        claimed = peer.claim_trial(sid, "w")
        assert claimed is not None and not storage.head(sid).queued
        peer.requeue_trial(sid, a.id, "worker lost")
        assert storage.head(sid).queued
        again = peer.claim_trial(sid, "w")
        assert again is not None and again.number == 0
        peer.finish_trial(sid, again.id, TrialState.COMPLETED, values=[1.0])
        peer.update_study(sid, attrs={"stop_requested": True})
        h = storage.head(sid)
        assert (h.n_trials, h.queued) == (2, False)
        assert h.attrs.get("stop_requested") is True
        assert h.attrs == storage.sync(sid, 0).attrs
        with pytest.raises(StudyNotFound):
            storage.head(10_000_000)

    # --- incremental sync -------------------------------------------------------------
    def test_sync_is_incremental(self, storage: Storage, sid: int) -> None:
        first = storage.sync(sid, 0)
        assert first.trials == [] and first.reports == []
        a = storage.create_trial(sid, {"x": 0.1})
        b = storage.create_trial(sid, {"x": 0.2})
        r1 = storage.sync(sid, first.watermark)
        assert [t.number for t in r1.trials] == [0, 1]
        r2 = storage.sync(sid, r1.watermark)
        assert r2.trials == [] and r2.reports == [] and r2.watermark == r1.watermark
        storage.report(sid, a.id, 0, {"loss": 2.0})
        storage.finish_trial(sid, b.id, TrialState.COMPLETED, values=[1.0])
        r3 = storage.sync(sid, r2.watermark)
        assert [t.number for t in r3.trials] == [1]
        assert r3.trials[0].state == TrialState.COMPLETED
        assert [(r.number, r.step, r.metrics) for r in r3.reports] == [(0, 0, {"loss": 2.0})]
        assert r3.watermark > r2.watermark

    def test_sync_is_one_snapshot_under_interleaved_writes(
        self, storage: Storage, peer: Storage, sid: int
    ) -> None:
        """Another process's write landing in the middle of a sync never yields a report
        of a trial the reader has not been given, and never loses a change.

        Each write a peer can make (create, report, claim, finish, fail) is run once at
        every statement boundary of the reader's sync in turn.
        """

        def scenarios() -> Iterator[tuple[str, Callable[[], Callable[[], Any]]]]:
            # (name, setup before the sync returning the write that lands inside it)
            def finish_reported() -> Callable[[], Any]:
                t = peer.create_trial(sid, {"x": 0.5})
                peer.report(sid, t.id, 0, {"loss": 0.5})
                return lambda: peer.finish_trial(sid, t.id, TrialState.COMPLETED, values=[0.25])

            def report_new() -> Callable[[], None]:
                t = peer.create_trial(sid, {"x": 0.1})
                return lambda: peer.report(sid, t.id, 3, {"loss": 0.7})

            def create_and_report() -> Callable[[], None]:
                def w() -> None:
                    t = peer.create_trial(sid, {"x": 0.2})
                    peer.report(sid, t.id, 0, {"loss": 0.9})

                return w

            def claim_queued() -> Callable[[], None]:
                peer.create_trial(sid, {"x": 0.3}, state=TrialState.QUEUED)
                return lambda: (peer.claim_trial(sid, "w2"), None)[1]

            def fail_reported() -> Callable[[], None]:
                t = peer.create_trial(sid, {"x": 0.4}, worker_id="h:1:x", now=1.0)
                peer.report(sid, t.id, 0, {"loss": 0.1}, now=1.0)
                return lambda: (peer.fail_stale_trials(sid, 2.0, now=3.0), None)[1]

            yield from (
                ("finish", finish_reported),
                ("report", report_new),
                ("create+report", create_and_report),
                ("claim", claim_queued),
                ("fail", fail_reported),
            )

        for name, setup in scenarios():
            at = 1
            while True:
                reader = Replica(storage, sid)
                reader.sync()
                write = setup()
                with interleave(storage, write, at) as fired:
                    reader.sync()
                if not fired:  # the sync had fewer statements: this scenario is covered
                    write()
                reader.sync()
                reader.assert_matches()
                if not fired:
                    break
                at += 1
                assert at < 50, f"{name}: the sync never ends"

    def test_heartbeat_does_not_advance_sync(self, storage: Storage, sid: int) -> None:
        t = storage.create_trial(sid, {"x": 0.1}, now=1000.0)
        w = storage.sync(sid, 0).watermark
        storage.heartbeat(sid, [t.id], now=2000.0)
        assert storage.sync(sid, w).trials == []
        assert storage.get_trial(sid, 0).heartbeat_at == 2000.0

    # --- liveness ---------------------------------------------------------------------
    def test_stale_and_dead_workers_are_failed(self, storage: Storage, sid: int) -> None:
        now = time.time()
        old = storage.create_trial(sid, {"x": 0.1}, worker_id="h:1:a", now=now - 600)
        fresh = storage.create_trial(sid, {"x": 0.2}, worker_id="h:2:b", now=now)
        dead = storage.create_trial(sid, {"x": 0.3}, worker_id="h:3:c", now=now)
        done = storage.create_trial(sid, {"x": 0.4}, worker_id="h:1:a", now=now - 600)
        storage.finish_trial(sid, done.id, TrialState.COMPLETED, values=[1.0])
        lost = storage.fail_stale_trials(sid, now - 60, dead_workers=["h:3:c"])
        assert sorted(lost) == [old.number, dead.number]
        got = {t.number: t for t in storage.get_trials(sid)}
        assert got[old.number].state == TrialState.FAILED
        assert got[old.number].error == "worker lost"
        assert got[fresh.number].state == TrialState.RUNNING
        assert got[done.number].state == TrialState.COMPLETED
        assert storage.fail_stale_trials(sid, now - 60) == []

    # --- retries ----------------------------------------------------------------------
    def test_requeue_keeps_number_and_params_and_records_the_attempt(
        self, storage: Storage, sid: int
    ) -> None:
        t = storage.create_trial(sid, {"x": 0.5}, worker_id="h:1:a", now=100.0)
        assert t.attempt == 1
        w = storage.sync(sid, 0).watermark
        q = storage.requeue_trial(sid, t.id, "interrupted (Ctrl-C)", now=105.0)
        assert (q.number, q.params, q.state, q.attempt) == (0, {"x": 0.5}, TrialState.QUEUED, 2)
        assert q.started_at is None and q.worker_id is None
        assert q.system_attrs["attempts"] == [
            {
                "attempt": 1,
                "error": "interrupted (Ctrl-C)",
                "worker_id": "h:1:a",
                "started_at": 100.0,
                "ended_at": 105.0,
            }
        ]
        assert [x.number for x in storage.sync(sid, w).trials] == [0]  # a change
        with pytest.raises(TrialNotRunning):
            storage.requeue_trial(sid, t.id, "again")  # not RUNNING
        c = storage.claim_trial(sid, "h:2:b", now=110.0)
        assert c is not None and (c.number, c.attempt, c.started_at) == (0, 2, 110.0)
        with pytest.raises(TrialNotRunning):  # the first attempt's late write
            storage.finish_trial(sid, t.id, TrialState.COMPLETED, values=[1.0], attempt=1)
        done = storage.finish_trial(
            sid, t.id, TrialState.COMPLETED, values=[2.0], attempt=2, started_at=111.0, now=112.0
        )
        assert (done.attempt, done.started_at, done.duration) == (2, 111.0, 1.0)
        assert storage.get_trial(sid, 0).started_at == 111.0
        assert len(storage.get_trials(sid)) == 1

    def test_recover_requeues_lost_trials_with_retries_left(
        self, storage: Storage, sid: int
    ) -> None:
        now = time.time()
        old = storage.create_trial(sid, {"x": 0.1}, worker_id="h:1:a", now=now - 600)
        dead = storage.create_trial(sid, {"x": 0.3}, worker_id="h:3:c", now=now)
        fresh = storage.create_trial(sid, {"x": 0.2}, worker_id="h:2:b", now=now)
        requeued, failed = storage.recover_stale_trials(sid, now - 60, ["h:3:c"], retries=1)
        assert (sorted(requeued), failed) == (sorted([old.number, dead.number]), [])
        got = {t.number: t for t in storage.get_trials(sid)}
        assert [got[n].state for n in (old.number, dead.number, fresh.number)] == [
            TrialState.QUEUED,
            TrialState.QUEUED,
            TrialState.RUNNING,
        ]
        assert got[old.number].system_attrs["attempts"][0]["error"] == "worker lost"
        again = storage.claim_trial(sid, "h:4:d", now=now - 600)  # and lost again
        assert again is not None and again.attempt == 2
        assert storage.recover_stale_trials(sid, now - 60, retries=1) == ([], [again.number])
        t = storage.get_trial(sid, again.number)
        assert (t.state, t.error, t.attempt) == (TrialState.FAILED, "worker lost", 2)
        assert storage.recover_stale_trials(sid, now - 60, retries=1) == ([], [])
