"""Trial snapshots: ``with_`` copies, never changes the original, and keeps the rules."""

from __future__ import annotations

import pytest

from hypersweep.trial import Trial, TrialState


def test_with_copies_the_snapshot_and_leaves_the_original_alone() -> None:
    t = Trial(3, TrialState.RUNNING, {"x": 1.0}, reports={0: {"loss": 1.0}}, attempt=2)
    u = t.with_(reports={0: {"loss": 1.0}, 1: {"loss": 0.5}}, heartbeat_at=5.0)
    assert u is not t and u == t.with_(reports=u.reports, heartbeat_at=5.0)
    assert (u.number, u.state, u.params, u.attempt) == (3, TrialState.RUNNING, {"x": 1.0}, 2)
    assert u.reports == {0: {"loss": 1.0}, 1: {"loss": 0.5}} and u.heartbeat_at == 5.0
    assert t.reports == {0: {"loss": 1.0}} and t.heartbeat_at is None
    with pytest.raises(AttributeError):
        u.number = 4  # type: ignore[misc]  # still frozen


def test_with_normalizes_an_integral_budget_and_refuses_unknown_fields() -> None:
    t = Trial(0, TrialState.QUEUED, {})
    assert type(t.with_(budget=9.0).budget) is int and t.with_(budget=9.5).budget == 9.5
    with pytest.raises(TypeError, match="bugdet"):
        t.with_(bugdet=3)
