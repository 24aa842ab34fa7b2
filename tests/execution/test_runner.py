"""The runner's limits and decisions on a fake executor and a fake clock: exact times,
no processes, no sleeping."""

from __future__ import annotations

from typing import Any

import pytest

import hypersweep as hs
from hypersweep.execution.runner import Runner
from hypersweep.limits import Limits
from hypersweep.space import Float
from hypersweep.testing.executors import FakeClock, FakeExecutor, FakePlan
from hypersweep.trial import Trial, TrialState


def _study(name: str = "fake", **kw: Any) -> hs.Study:
    return hs.Study(name, {"x": Float(0, 1)}, storage="memory", seed=0, **kw)


def _run(study: hs.Study, plan: Any, limits: Limits, **kw: Any) -> tuple[Runner, FakeExecutor]:
    clock = FakeClock()
    ex = FakeExecutor(plan, clock, max_concurrent=limits.max_concurrent, **kw)
    runner = Runner(study, ex, limits, clock=clock)
    runner.run()
    return runner, ex


def _states(study: hs.Study) -> list[TrialState]:
    return [t.state for t in study.trials()]


def test_timeout_stops_running_trials_at_the_deadline() -> None:
    s = _study()
    runner, _ = _run(s, lambda t: FakePlan(duration=10.0, result=1.0), Limits(timeout=25))
    assert runner.stop_reason == "timeout (25 s) reached"
    assert 25.0 <= runner.elapsed <= 25.5
    # trials 0 and 1 ran to their end; trial 2 was interrupted at 25 s and re-queued
    assert _states(s) == [TrialState.COMPLETED, TrialState.COMPLETED, TrialState.QUEUED]
    assert runner.retried == [2]
    assert [round(t.duration or 0, 6) for t in s.trials()[:2]] == [10.0, 10.0]


def test_max_trial_seconds_counts_finished_and_running_trials() -> None:
    s = _study()
    limits = Limits(max_trial_seconds=35, max_concurrent=2, retries=0)
    runner, _ = _run(s, lambda t: FakePlan(duration=10.0, result=1.0), limits)
    # two trials end at 10 s (20 s of trial time); two more run from 10 s: 35 s at 17.5 s
    assert runner.stop_reason is not None
    assert runner.stop_reason.startswith("max_trial_seconds (35 s) reached")
    assert 17.5 <= runner.elapsed <= 18.0
    assert _states(s) == [TrialState.COMPLETED] * 2 + [TrialState.FAILED] * 2
    assert {t.error for t in s.trials()[2:]} == {"interrupted (" + runner.stop_reason + ")"}
    assert s.attrs["stop_reason"] == runner.stop_reason


def test_trial_seconds_sums_finished_durations_and_running_elapsed() -> None:
    s = _study()
    clock = FakeClock()
    a, _running = s.ask(), s.ask()
    clock.advance(5.0)
    s.tell(a, 1.0, started_at=clock.time() - 5.0, finished_at=clock.time())
    clock.advance(5.0)
    runner = Runner(s, FakeExecutor(lambda t: FakePlan(), clock), Limits(), clock=clock)
    # a: 5 s finished; b: running since it was asked for (just before the clock started)
    assert runner.trial_seconds() == pytest.approx(15.0, abs=0.5)


def test_patience_counts_completed_trials_without_improvement() -> None:
    s = _study()
    runner, ex = _run(s, lambda t: FakePlan(duration=2.0, result=1.0), Limits(patience=3))
    assert runner.stop_reason == "no improvement in 3 completed trials"
    assert len(s.trials()) == 4 and len(ex.started) == 4
    assert runner.elapsed == pytest.approx(8.0)  # soft stop: no trial was cut short


def test_a_policy_stop_is_told_to_the_executor_and_later_reports_do_not_count() -> None:
    s = hs.Study(
        "policy",
        {"x": Float(0, 1)},
        hs.Objective("acc", "maximize"),
        storage="memory",
        seed=0,
        policy={"policy": "threshold", "threshold": 0.4},
    )
    plan = FakePlan([(1.0, {"acc": 0.1}), (2.0, {"acc": 0.9})], duration=3.0, result=0.9)
    runner, ex = _run(s, lambda t: plan, Limits(max_trials=2))
    assert ex.stop_requests == [0, 1]
    for t in s.trials():
        assert t.state == TrialState.STOPPED and t.reports == {0: {"acc": 0.1}}
    assert runner.elapsed == pytest.approx(2.0)  # each ended at its first report


def test_max_steps_stops_a_trial_after_that_many_reports() -> None:
    s = _study()
    plan = FakePlan([(i + 1.0, {"value": 1.0 / (i + 1)}) for i in range(5)], duration=9.0)
    _run(s, lambda t: plan, Limits(max_trials=1, max_steps=2))
    (t,) = s.trials()
    assert t.state == TrialState.STOPPED and sorted(t.reports) == [0, 1]
    assert t.value == 0.5  # its last reported value


def test_a_trial_past_its_timeout_fails_and_the_study_goes_on() -> None:
    s = _study()
    plans = {0: FakePlan(duration=None), 1: FakePlan(duration=1.0, result=0.5)}

    def plan(t: Trial) -> FakePlan:
        return plans[t.number]

    runner, _ = _run(s, plan, Limits(max_trials=2), trial_timeout=3.0)
    assert [(t.state, t.error) for t in s.trials()] == [
        (TrialState.FAILED, "timeout"),
        (TrialState.COMPLETED, None),
    ]
    assert runner.elapsed == pytest.approx(4.0)


def test_a_trial_re_queued_after_max_trials_was_reached_still_runs() -> None:
    """max_trials stops the creation of trials, not the retry of one already numbered:
    the runner that re-queues its last trial runs it again instead of exiting and leaving
    it QUEUED (seen as a lost trial in the chaos audit when no other process was left)."""
    s = _study()
    failed_once: set[int] = set()

    def plan(t: Trial) -> FakePlan:
        if t.number == 1 and t.number not in failed_once:
            failed_once.add(t.number)  # its first attempt fails after trial 0 was created
            return FakePlan(duration=5.0, error="killed by SIGKILL")
        return FakePlan(duration=1.0, result=float(t.number))

    limits = Limits(max_trials=2, max_concurrent=2, retries=1, retry_on=("failed",))
    runner, ex = _run(s, plan, limits)
    assert _states(s) == [TrialState.COMPLETED, TrialState.COMPLETED]
    assert runner.retried == [1]
    assert [t.number for t, _ in ex.started] == [0, 1, 1]
    assert runner.stop_reason == "max_trials (2) reached"
