"""A trial's duration as a metric (hypersweep.cost)."""

from __future__ import annotations

import hypersweep as hs
from hypersweep.cost import trial_seconds


def test_duration_can_be_an_objective_without_code():
    s = hs.Study(
        "c", space={"x": hs.Float(0, 1)}, objective=["loss", "duration"], storage="memory", seed=0
    )
    t = s.ask()
    done = s.tell(t, {"loss": 0.5}, started_at=100.0, finished_at=107.5)
    assert done.values == (0.5, 7.5) and done.metrics["duration"] == 7.5
    t = s.ask()
    assert s.tell(t, 0.25, started_at=10.0, finished_at=11.0).values == (0.25, 1.0)
    t = s.ask()  # a duration the trial reports itself wins
    assert s.tell(t, {"loss": 1.0, "duration": 3.0}, started_at=0, finished_at=9).values == (
        1.0,
        3.0,
    )


def test_duration_can_be_a_constraint_and_is_left_out_otherwise():
    s = hs.Study(
        "c",
        space={"x": hs.Float(0, 1)},
        storage="memory",
        seed=0,
        constraints=[{"metric": "duration", "max": 5}],
    )
    slow = s.tell(s.ask(), 0.1, started_at=0.0, finished_at=10.0)
    fast = s.tell(s.ask(), 0.2, started_at=0.0, finished_at=2.0)
    assert not s.feasible(slow) and s.feasible(fast)
    assert s.best_trial.number == fast.number
    plain = hs.Study("p", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    assert "duration" not in plain.tell(plain.ask(), 0.1).metrics


def test_status_counts_trial_seconds():
    s = hs.Study("c", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    s.tell(s.ask(), 0.1, started_at=0.0, finished_at=4.0)
    s.tell(s.ask(), 0.1, started_at=0.0, finished_at=2.5)
    assert s.summary()["trial_seconds"] == 6.5
    assert trial_seconds([]) == 0.0
