"""Fencing: a trial re-queued after its worker was lost and claimed again refuses the
old attempt's late reports and results, on every backend."""

from __future__ import annotations

import pytest

from hypersweep.errors import TrialNotRunning
from hypersweep.storage import open_storage
from hypersweep.trial import Objective, TrialState


def test_a_reclaimed_trial_refuses_the_old_attempts_report_and_tell(storage_url: str) -> None:
    s = open_storage(storage_url)
    try:
        sid = s.create_study("fenced", [Objective("loss")], None).id
        old = s.create_trial(sid, {"x": 1.0}, worker_id="host:1:a")
        s.report(sid, old.id, 0, {"loss": 3.0}, attempt=old.attempt)
        s.requeue_trial(sid, old.id, "worker lost", attempt=old.attempt)
        new = s.claim_trial(sid, "host:2:b")
        assert new is not None and new.number == old.number
        assert new.attempt == old.attempt + 1
        with pytest.raises(TrialNotRunning, match="attempt"):
            s.report(sid, old.id, 1, {"loss": 2.0}, attempt=old.attempt)
        with pytest.raises(TrialNotRunning, match="attempt"):
            s.finish_trial(sid, old.id, TrialState.COMPLETED, values=[2.0], attempt=old.attempt)
        s.report(sid, new.id, 0, {"loss": 1.0}, attempt=new.attempt)
        done = s.finish_trial(sid, new.id, TrialState.COMPLETED, values=[1.0], attempt=new.attempt)
        assert done.state == TrialState.COMPLETED and done.values == (1.0,)
        reports = s.sync(sid, 0).reports
        # the old attempt's report before the re-queue stays; the late one is not stored
        assert sorted((r.step, r.metrics["loss"]) for r in reports) == [(0, 1.0), (0, 3.0)]
    finally:
        s.close()
