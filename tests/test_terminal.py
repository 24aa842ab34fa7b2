"""What the terminal shows while a sweep runs: the sampler in use (what ``auto`` chose and
why), the stopping policy, and the running trials' current step and latest value, in the
live display, the plain log and ``hypersweep status`` (from another process too)."""

from __future__ import annotations

from typing import Any

import pytest

import hypersweep as hs
from hypersweep.execution.runner import Limits, Runner
from hypersweep.samplers.auto import AutoSampler
from hypersweep.space import Choice, Float
from hypersweep.testing.executors import FakeClock, FakeExecutor, FakePlan


def _study(name: str, space: Any = None, **kw: Any) -> hs.Study:
    return hs.Study(name, space or {"x": Float(0, 1)}, storage="memory", seed=0, **kw)


@pytest.mark.parametrize(
    ("space", "objectives", "expect"),
    [
        (
            {"x": Float(0, 1), "y": Float(0, 1)},
            "loss",
            "auto -> gp (1 objective, 2 unconditional parameters, tpe from trial 300)",
        ),
        (
            {"opt": Choice({"adam": {"b1": Float(0.8, 0.99)}, "sgd": {}})},
            "loss",
            "auto -> tpe (conditional space)",
        ),
        ({"x": Float(0, 1)}, ["loss", "cost"], "auto -> tpe (2 objectives)"),
        (
            {"x": Float(0, 1), "act": Choice([f"a{i}" for i in range(20)])},
            "loss",
            "auto -> tpe ('act' has 20 options > max_gp_options 16)",
        ),
        (
            {f"x{i}": Float(0, 1) for i in range(41)},
            "loss",
            "auto -> tpe (41 parameters > max_gp_dim 40)",
        ),
    ],
)
def test_auto_says_which_sampler_it_uses_and_why(space: Any, objectives: Any, expect: str) -> None:
    study = hs.Study("auto", space, objectives, storage="memory")
    assert study.describe()["sampler"]["description"] == expect
    assert study.describe()["policy"] is None


def test_a_run_stores_the_sampler_and_policy_and_rewrites_them_when_auto_hands_over() -> None:
    study = _study(
        "handover",
        sampler=AutoSampler(max_gp_trials=3),
        policy={"policy": "median", "delay": 2},
    )
    writes: list[dict[str, Any]] = []
    set_attrs = study.set_attrs

    def spy(**attrs: Any) -> None:
        if "sampler" in attrs:
            writes.append(attrs)
        set_attrs(**attrs)

    study.set_attrs = spy  # type: ignore[method-assign]
    clock = FakeClock()
    ex = FakeExecutor(lambda t: FakePlan(duration=1.0, result=t.params["x"]), clock)
    runner = Runner(study, ex, Limits(max_trials=5), clock=clock)
    assert runner.run() == "max_trials (5) reached"
    # once at the start, once when trial 3 is the first that tpe proposes: not per trial
    assert [w["sampler"]["description"] for w in writes] == [
        "auto (max_gp_trials=3) -> gp (1 objective, 1 unconditional parameter, tpe from trial 3)",
        "auto (max_gp_trials=3) -> tpe (max_gp_trials 3 reached)",
    ]
    stored = hs.Study.load("handover", storage=study.storage).attrs
    assert stored["sampler"] == {
        "config": {"name": "auto", "seed": 0, "max_gp_trials": 3},
        "description": "auto (max_gp_trials=3) -> tpe (max_gp_trials 3 reached)",
    }
    assert stored["policy"]["description"] == "median (min_trials=1, interval=1, delay=2)"
    assert stored["policy"]["config"]["policy"] == "median"
    assert runner.described == {"sampler": stored["sampler"], "policy": stored["policy"]}
