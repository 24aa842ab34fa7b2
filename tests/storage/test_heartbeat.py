"""Heartbeats are liveness, not trial state: they never make another process's
incremental sync re-read a trial, a stale trial is still found by its heartbeat, and on
PostgreSQL a heartbeat's commit does not wait for the WAL flush (only its own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hypersweep.storage import open_storage
from hypersweep.storage.sql import SQLStorage
from hypersweep.trial import Objective, TrialState


def test_a_heartbeat_does_not_make_other_syncs_reread_the_trial(storage_url: str) -> None:
    s = open_storage(storage_url)
    try:
        sid = s.create_study("hb", [Objective("loss")], None).id
        t = s.create_trial(sid, {"x": 1.0}, worker_id="host:1:a", now=100.0)
        first = s.sync(sid, 0)
        assert [x.number for x in first.trials] == [t.number]
        for k in range(3):
            s.heartbeat(sid, [t.id], now=110.0 + k)
        again = s.sync(sid, first.watermark)
        assert again.trials == [] and again.reports == []
        assert again.watermark == first.watermark
        # the beat is stored all the same: a full read sees it
        assert s.get_trials(sid)[0].heartbeat_at == 112.0
    finally:
        s.close()


def test_a_stale_trial_is_requeued_within_two_intervals_and_a_beating_one_is_not(
    storage_url: str,
) -> None:
    interval, stale_after = 5.0, 15.0  # the runner's default: stale after 3 intervals
    s = open_storage(storage_url)
    try:
        sid = s.create_study("stale", [Objective("loss")], None).id
        alive = s.create_trial(sid, {"x": 1.0}, worker_id="host:1:a", now=0.0)
        dead = s.create_trial(sid, {"x": 2.0}, worker_id="host:2:b", now=0.0)
        found_at = None
        now = 0.0
        while found_at is None and now < 10 * interval:
            now += interval
            s.heartbeat(sid, [alive.id], now=now)
            requeued, failed = s.recover_stale_trials(sid, now - stale_after, retries=1, now=now)
            assert alive.number not in requeued + failed
            if requeued:
                assert requeued == [dead.number] and failed == []
                found_at = now
        # its last beat (its start) at 0: stale from 15 s on, found by 20 s at the latest
        assert found_at is not None and found_at <= stale_after + 2 * interval
        states = {t.number: t.state for t in s.get_trials(sid)}
        assert states == {alive.number: TrialState.RUNNING, dead.number: TrialState.QUEUED}
    finally:
        s.close()


def test_postgres_heartbeat_commits_without_waiting_for_the_flush(postgres_url: str) -> None:
    s = open_storage(postgres_url)
    assert isinstance(s, SQLStorage)
    try:
        sid = s.create_study("async", [Objective("loss")], None).id
        t = s.create_trial(sid, {"x": 1.0}, worker_id="host:1:a", now=0.0)
        seen: list[str] = []
        write = s._write

        def inside(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            # run the heartbeat's statement in a transaction of our own and read the
            # setting before its end
            def probe(conn: Any) -> Any:
                out = fn(conn)
                seen.append(conn.exec_driver_sql("SHOW synchronous_commit").scalar())
                return out

            return write(probe, *args, **{**kwargs, "begin": True})

        s._write = inside  # type: ignore[method-assign]
        try:
            s.heartbeat(sid, [t.id], now=5.0)
        finally:
            del s._write
        assert seen == ["off"]
        assert s.get_trials(sid)[0].heartbeat_at == 5.0
        # the setting ends with the heartbeat's transaction: no pooled session keeps it
        for _ in range(3):
            s.heartbeat(sid, [t.id], now=6.0)
            assert s._read(lambda c: c.exec_driver_sql("SHOW synchronous_commit").scalar()) == (
                "on"
            )
    finally:
        s.close()


@pytest.mark.parametrize("state", [TrialState.COMPLETED, TrialState.QUEUED])
def test_a_heartbeat_leaves_a_trial_that_is_not_running_alone(
    storage_url: str, state: TrialState
) -> None:
    s = open_storage(storage_url)
    try:
        sid = s.create_study("done", [Objective("loss")], None).id
        t = s.create_trial(sid, {"x": 1.0}, worker_id="host:1:a", now=0.0)
        if state == TrialState.COMPLETED:
            s.finish_trial(sid, t.id, state, values=[1.0], now=1.0)
        else:
            s.requeue_trial(sid, t.id, "test", now=1.0)
        before = s.get_trials(sid)[0].heartbeat_at
        s.heartbeat(sid, [t.id], now=50.0)
        after = s.get_trials(sid)[0]
        assert after.state == state and after.heartbeat_at == before
    finally:
        s.close()
