"""A sync returns its changed trials by number, whatever order they changed in (the
PostgreSQL sync sorts them in the client, not in the server)."""

from __future__ import annotations

from hypersweep.storage import open_storage
from hypersweep.trial import Objective, TrialState


def test_a_sync_returns_the_changed_trials_by_number(storage_url: str) -> None:
    s = open_storage(storage_url)
    try:
        sid = s.create_study("order", [Objective("loss")], None).id
        made = [s.create_trial(sid, {"x": float(i)}, worker_id="host:1:a") for i in range(6)]
        mark = s.sync(sid, 0).watermark
        for i in (4, 1, 5, 0):  # changed out of number order
            s.finish_trial(sid, made[i].id, TrialState.COMPLETED, values=[float(i)])
        got = s.sync(sid, mark).trials
        assert [t.number for t in got] == [0, 1, 4, 5]
        assert [t.values for t in got] == [(0.0,), (1.0,), (4.0,), (5.0,)]
        assert [t.number for t in s.sync(sid, 0).trials] == list(range(6))
    finally:
        s.close()
