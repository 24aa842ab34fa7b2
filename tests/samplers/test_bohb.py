"""BOHB: per-budget views of the history, level choice, and BOHB + Hyperband end to end."""

from __future__ import annotations

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.errors import SpecError
from hypersweep.history import History
from hypersweep.samplers.bohb import BOHBSampler
from hypersweep.space import Float, Space
from hypersweep.trial import Objective, Trial, TrialState

SPACE = Space({"x": Float(0, 1), "y": Float(0, 1)})
OBJ = (Objective("loss", "minimize"),)


def _trial(i: int, state: TrialState, reports: dict[int, float]) -> Trial:
    return Trial(
        i, state, {"x": i / 100, "y": 0.5}, reports={s: {"loss": v} for s, v in reports.items()}
    )


def test_levels_follow_hyperband_rungs() -> None:
    assert BOHBSampler(min_resource=1, max_resource=27, reduction_factor=3).levels(0) == [
        1,
        3,
        9,
        27,
    ]
    assert BOHBSampler(min_resource=2, reduction_factor=2).levels(10) == [2, 4, 8]


def test_level_view_uses_first_report_at_or_past_the_level() -> None:
    h = History(SPACE, OBJ)
    h.update(
        [
            _trial(0, TrialState.COMPLETED, {0: 5.0, 2: 4.0, 3: 3.0, 9: 1.0}),
            _trial(1, TrialState.STOPPED, {0: 6.0, 1: 5.5}),  # stopped below level 3
            _trial(2, TrialState.RUNNING, {0: 7.0}),  # still going: pending
            _trial(3, TrialState.RUNNING, {0: 7.0, 4: 2.0}),  # passed 3 at step 4
            _trial(4, TrialState.FAILED, {}),
        ]
    )
    view = BOHBSampler().level_history(SPACE, h, 3)
    observed = sorted(float(y) for y in view.observed()[1][:, 0])
    assert observed == [2.0, 3.0]
    assert view.mask(TrialState.RUNNING).sum() == 1


def test_model_is_fit_on_the_largest_level_with_enough_points(monkeypatch) -> None:
    s = BOHBSampler(
        min_resource=1,
        max_resource=9,
        reduction_factor=3,
        min_points=3,
        random_fraction=0.0,
        seed=0,
    )
    h = History(SPACE, OBJ)
    trials = [_trial(i, TrialState.STOPPED, {0: 1.0, 1: 1.0 - i / 10}) for i in range(6)]
    trials += [_trial(6 + i, TrialState.COMPLETED, {0: 1.0, 3: 0.5, 9: 0.1}) for i in range(3)]
    h.update(trials)
    seen: list[int] = []
    real = s._tpe.propose

    def spy(space, view, rng, n):
        seen.append(view.n_observed)
        return real(space, view, rng, n)

    monkeypatch.setattr(s._tpe, "propose", spy)
    s.propose(SPACE, h, np.random.default_rng(0), 1)
    assert seen == [3]  # level 9 has exactly 3 observations: the largest level that qualifies


def test_random_fraction_draws_from_the_prior(monkeypatch) -> None:
    s = BOHBSampler(max_resource=3, min_points=2, random_fraction=0.5, seed=0)
    h = History(SPACE, OBJ)
    h.update([_trial(i, TrialState.COMPLETED, {3: float(i)}) for i in range(5)])
    calls = []
    monkeypatch.setattr(s._tpe, "propose", lambda sp, v, rng, n: calls.append(n) or [])
    out = s.propose(SPACE, h, np.random.default_rng(1), 400)
    assert 150 < 400 - sum(calls) < 250 and len(out) == 400 - sum(calls)


def test_bad_options_name_the_field() -> None:
    with pytest.raises(SpecError, match=r"sampler\.reduction_factor"):
        BOHBSampler(reduction_factor=1)
    with pytest.raises(SpecError, match=r"sampler\.max_resource"):
        BOHBSampler(min_resource=5, max_resource=2)
    with pytest.raises(SpecError, match=r"sampler\.random_fraction"):
        BOHBSampler(random_fraction=1.5)


def _curve(params: dict, trial) -> float:
    v = 0.0
    for step in range(27):
        v = (params["x"] - 0.3) ** 2 + (params["y"] - 0.7) ** 2 + 1.0 / (step + 1)
        trial.report(step=step, loss=v)
    return v


def test_bohb_with_hyperband_beats_random_with_hyperband() -> None:
    def best(sampler: object, seed: int) -> float:
        s = hs.Study(
            f"b{seed}",
            space={"x": hs.Float(0, 1), "y": hs.Float(0, 1)},
            objective="loss",
            storage="memory",
            sampler=sampler,
            seed=seed,
            policy={"policy": "hyperband", "max_resource": 27},
        )
        s.optimize(_curve, max_trials=60)
        done = [t.value for t in s.trials(["COMPLETED"])]
        return min(done) - 1.0 / 27

    bohb = np.mean([best({"name": "bohb", "max_resource": 27}, k) for k in range(5)])
    rand = np.mean([best("random", k) for k in range(5)])
    assert bohb < 0.75 * rand


def test_the_bohb_preset_builds_the_pair_from_one_set_of_numbers() -> None:
    def run(sampler: object, policy: object) -> list[dict]:
        s = hs.Study(
            "p",
            space={"x": hs.Float(0, 1), "y": hs.Float(0, 1)},
            objective="loss",
            storage="memory",
            sampler=sampler,
            policy=policy,
            seed=1,
        )
        s.optimize(_curve, max_trials=25)
        return [t.params for t in s.trials()]

    sampler, policy = hs.presets.bohb(max_resource=27, reduction_factor=3)
    by_hand = run(
        {"name": "bohb", "max_resource": 27, "reduction_factor": 3},
        {"policy": "hyperband", "max_resource": 27, "reduction_factor": 3},
    )
    assert run(sampler, policy) == by_hand
    with pytest.raises(hs.SpecError, match="reduction_factor"):
        hs.presets.bohb(max_resource=27, reduction_factor=1)
    with pytest.raises(hs.SpecError, match="random_fractoin"):
        hs.presets.bohb(max_resource=27, random_fractoin=0.2)
