"""Population based training: the sampler's exploit/explore, the segment policy, the
checkpoint hand-off for function and command trials, and PBT against fixed
hyperparameters on a non-stationary toy problem."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.errors import SpaceExhausted, SpecError
from hypersweep.execution.command import CommandExecutor
from hypersweep.execution.runner import Runner
from hypersweep.history import History
from hypersweep.limits import Limits
from hypersweep.samplers import make_sampler
from hypersweep.samplers.pbt import PBTSampler, lineage, perturb
from hypersweep.space import Bool, Choice, Float, Int, Space
from hypersweep.stopping import make_policy
from hypersweep.stopping.base import Decision
from hypersweep.stopping.pbt import PBTPolicy
from hypersweep.trial import Objective, Trial, TrialState


def _pbt_study(name: str, space: Any, *, seed: int = 0, **opts: Any) -> hs.Study:
    return hs.Study(
        name,
        space=space,
        objective={"metric": "score", "goal": "maximize"},
        storage="memory",
        seed=seed,
        sampler={"name": "pbt", **opts},
        policy="pbt",
    )


# ------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------
def test_registry_builds_the_sampler_and_the_policy_with_options() -> None:
    opts = {
        "population_size": 4,
        "perturbation_interval": 3,
        "quantile_fraction": 0.5,
        "resample_probability": 0.1,
        "max_steps": 30,
    }
    s = make_sampler({"name": "pbt", "seed": 1, **opts})
    assert isinstance(s, PBTSampler)
    assert s.config() == {"name": "pbt", "seed": 1, **opts}
    assert make_sampler(s.config()).config() == s.config()
    p = make_policy("pbt")
    assert isinstance(p, PBTPolicy)
    assert make_policy({"policy": "pbt"}).config() == {"policy": "pbt"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "opts,match",
    [
        ({"population_size": 1}, r"sampler\.population_size: must be an integer >= 2, got 1"),
        ({"perturbation_interval": 0}, r"sampler\.perturbation_interval: .*>= 1"),
        ({"quantile_fraction": 0.6}, r"sampler\.quantile_fraction: .*<= 0\.5, got 0\.6"),
        ({"quantile_fraction": 0}, r"sampler\.quantile_fraction: .*> 0"),
        ({"resample_probability": 1.5}, r"sampler\.resample_probability: .*got 1\.5"),
        ({"max_steps": 0}, r"sampler\.max_steps"),
        ({"perturbation_intervall": 5}, r"did you mean 'perturbation_interval'"),
    ],
)
def test_bad_options_name_the_option(opts: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        make_sampler({"name": "pbt", **opts})


def test_policy_has_no_options() -> None:
    with pytest.raises(SpecError, match=r"early_stopping\.perturbation_interval: pbt has no"):
        make_policy({"policy": "pbt", "perturbation_interval": 5})


# ------------------------------------------------------------------------------------------
# explore: perturbation factors and resampling
# ------------------------------------------------------------------------------------------
def test_numbers_are_multiplied_by_0_8_or_1_2_clipped_and_rounded() -> None:
    space = Space(
        {
            "lr": Float(1e-4, 1.0, log=True),
            "width": Float(0.5, 10.0),
            "units": Int(8, 512, log=True),
            "layers": Int(1, 4),
            "decay": Float(0.0, 1.0, step=0.25),
        }
    )
    base = {"lr": 0.01, "width": 10.0, "units": 100, "layers": 1, "decay": 0.5}
    rng = np.random.default_rng(0)
    seen: dict[str, list[Any]] = {k: [] for k in base}
    for _ in range(400):
        new = perturb(space, base, rng)
        assert space.validate(new) == new
        for k, v in new.items():
            seen[k].append(v)
    ratios = np.array(seen["lr"]) / 0.01
    assert np.all(np.isclose(ratios, 0.8, rtol=1e-9) | np.isclose(ratios, 1.2, rtol=1e-9))
    assert 0.4 < np.isclose(ratios, 1.2).mean() < 0.6  # each factor half of the time
    assert set(seen["width"]) == {8.0, 10.0}  # 12.0 is clipped to the upper bound
    assert set(seen["units"]) == {80, 120}
    assert all(type(v) is int for v in seen["units"] + seen["layers"])
    # 1 * 1.2 rounds back to 1: an integer moves one step instead; 0.8 cannot go below 1
    assert set(seen["layers"]) == {1, 2}
    assert set(seen["decay"]) == {0.25, 0.75}  # 0.4 and 0.6 round back: one step each way


def test_choices_are_resampled_with_probability_p() -> None:
    space = Space({"act": Choice(["a", "b", "c", "d"]), "bias": Bool()})
    base = {"act": "a", "bias": True}
    n = 4000
    for p in (0.0, 0.3, 1.0):
        rng = np.random.default_rng(1)
        news = [perturb(space, base, rng, resample_probability=p) for _ in range(n)]
        changed = np.mean([x["act"] != "a" for x in news])
        # a resample draws from the prior (uniform over 4 options): 3/4 of them change it
        assert abs(changed - p * 0.75) < 0.025, (p, changed)
        assert abs(np.mean([not x["bias"] for x in news]) - p * 0.5) < 0.025
        if p:
            assert set(x["act"] for x in news) == {"a", "b", "c", "d"}


def test_a_resampled_group_option_activates_its_parameters_from_the_prior() -> None:
    space = Space(
        {"opt": Choice({"adam": {"beta": Float(0.8, 0.99)}, "sgd": {"momentum": Float(0.0, 0.9)}})}
    )
    rng = np.random.default_rng(2)
    news = [
        perturb(space, {"opt": "adam", "beta": 0.9}, rng, resample_probability=1.0)
        for _ in range(200)
    ]
    for x in news:
        assert space.validate(x) == x
        if x["opt"] == "adam":  # kept (or resampled to itself): 0.9 * 0.8 or 1.2, clipped
            assert x["beta"] in (0.8, 0.99)
        else:
            assert set(x) == {"opt", "momentum"}
    assert {x["opt"] for x in news} == {"adam", "sgd"}


# ------------------------------------------------------------------------------------------
# the segment policy
# ------------------------------------------------------------------------------------------
def test_policy_stops_a_trial_at_its_budget_and_only_then() -> None:
    h = History(Space({"x": Float(0, 1)}), [Objective("loss")])
    pol = PBTPolicy()

    def trial(last: int, budget: float | None = None) -> Trial:
        return Trial(
            0,
            TrialState.RUNNING,
            {"x": 0.5},
            reports={s: {"loss": 1.0} for s in range(1, last + 1)},
            budget=budget,
        )

    assert pol.decide(trial(4, budget=5), h) == Decision.CONTINUE
    assert pol.decide(trial(5, budget=5), h) == Decision.STOP
    assert pol.decide(trial(7, budget=5), h) == Decision.STOP  # reported past it
    assert pol.decide(trial(50), h) == Decision.CONTINUE  # no budget: never stopped


# ------------------------------------------------------------------------------------------
# exploit: decisions on a hand-built history
# ------------------------------------------------------------------------------------------
def _segment(
    number: int,
    member: int,
    gen: int,
    lr: float,
    value: float | None,
    state: TrialState = TrialState.STOPPED,
    parent: int | None = None,
    start: int = 0,
    interval: int = 5,
) -> Trial:
    attrs: dict[str, Any] = {
        "pbt": {
            "member": member,
            "generation": gen,
            "parent": parent,
            "step": start,
            "exploit": False,
        },
    }
    reports = {
        s: {"score": value if value is not None else 0.0}
        for s in range(start + 1, start + interval + 1)
    }
    return Trial(
        number,
        state,
        {"lr": lr},
        values=None if value is None else (value,),
        reports=reports if state != TrialState.RUNNING else {},
        system_attrs=attrs,
        budget=start + interval,
        resume_from=parent,
    )


def test_the_worst_quantile_copies_a_top_member_and_the_rest_continue() -> None:
    space = Space({"lr": Float(1e-4, 1.0, log=True)})
    h = History(space, [Objective("score", "maximize")])
    values = [0.5, 0.9, 0.1, 0.7, 0.6, 0.2, 0.8, 0.3]  # member i = trial i
    h.update([_segment(i, i, 0, 0.01 * (i + 1), v) for i, v in enumerate(values)])
    sampler = PBTSampler(population_size=8, perturbation_interval=5, quantile_fraction=0.25)
    props = sampler.propose(space, h, np.random.default_rng(0), 8)
    assert [p.system_attrs["pbt"]["member"] for p in props] == list(range(8))
    assert len({p.key for p in props}) == 8
    top = {1, 6}  # the best quarter: 0.9 and 0.8
    for i, p in enumerate(props):
        lin = p.system_attrs["pbt"]
        assert lin["generation"] == 1 and lin["step"] == 5
        assert p.budget == 10
        assert p.resume_from == lin["parent"]
        if i in (2, 5):  # the worst quarter: 0.1 and 0.2
            assert lin["exploit"] is True and lin["parent"] in top
            ratio = p.params["lr"] / (0.01 * (lin["parent"] + 1))
            assert ratio == pytest.approx(0.8) or ratio == pytest.approx(1.2)
        else:
            assert lin == {"member": i, "generation": 1, "parent": i, "step": 5, "exploit": False}
            assert p.params == {"lr": 0.01 * (i + 1)}
    # the same history and seed give the same proposals (a pure function)
    again = PBTSampler(population_size=8, perturbation_interval=5).propose(
        space, h, np.random.default_rng(0), 8
    )
    assert again == props


def test_members_advance_lowest_generation_first_and_failed_ones_are_replaced() -> None:
    space = Space({"lr": Float(1e-4, 1.0, log=True)})
    h = History(space, [Objective("score", "maximize")])
    h.update(
        [
            _segment(0, 0, 0, 0.1, 0.5),
            _segment(1, 1, 0, 0.2, None, TrialState.FAILED),
            _segment(2, 0, 1, 0.1, 0.6, parent=0, start=5),
        ]
    )
    sampler = PBTSampler(population_size=2, perturbation_interval=5)
    (p,) = sampler.propose(space, h, np.random.default_rng(0), 1)
    lin = p.system_attrs["pbt"]
    # member 1 (generation 0) goes before member 0 (generation 1); it failed, so it is
    # replaced by a copy of the only member with a value at generation 0
    assert lin["member"] == 1 and lin["exploit"] and lin["parent"] == 0
    assert lin["generation"] == 1 and p.resume_from == 0


def test_population_grows_when_every_member_is_busy_and_waits_at_the_end() -> None:
    space = Space({"lr": Float(1e-4, 1.0, log=True)})
    h = History(space, [Objective("score", "maximize")])
    sampler = PBTSampler(population_size=2, perturbation_interval=5, max_steps=5)
    rng = np.random.default_rng(0)
    props = sampler.propose(space, h, rng, 3)  # three at once: a third member
    assert [p.system_attrs["pbt"]["member"] for p in props] == [0, 1, 2]
    h.update(
        [
            Trial(i, TrialState.RUNNING, p.params, system_attrs=p.system_attrs)
            for i, p in enumerate(props)
        ]
    )
    h.update([_segment(0, 0, 0, props[0].params["lr"], 0.5)])  # member 0 is done (step 5)
    with pytest.raises(SpaceExhausted, match="waiting for 2 running member"):
        sampler.propose(space, h, rng, 1)
    h.update([_segment(1, 1, 0, 0.2, 0.4), _segment(2, 2, 0, 0.3, 0.3)])
    with pytest.raises(SpaceExhausted, match="all 3 members have trained to max_steps=5"):
        sampler.propose(space, h, rng, 1)


# ------------------------------------------------------------------------------------------
# checkpoints and lineage through real function trials
# ------------------------------------------------------------------------------------------
def _train(params: dict[str, Any], trial: Any) -> float:
    """Trains to its budget; its state records who wrote it and at which step."""
    assert hs.checkpoint_dir() == trial.checkpoint_dir
    assert hs.restore_from() == trial.restore_from
    state = {"written_by": None, "step": 0, "score": 0.0}
    if trial.restore_from is not None:
        with open(os.path.join(trial.restore_from, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
    step, score = state["step"], state["score"]
    while step < trial.budget:
        step += 1
        score += 1.0 - (math.log10(params["lr"]) + 2.0) ** 2
        if step >= trial.budget:  # save before the report that ends the segment
            with open(
                os.path.join(trial.checkpoint_dir, "state.json"), "w", encoding="utf-8"
            ) as f:
                json.dump({"written_by": trial.number, "step": step, "score": score}, f)
        trial.report(
            step=step,
            score=score,
            restored=-1 if state["written_by"] is None else state["written_by"],
        )
    return score


def _check_checkpoint_hand_off(study: hs.Study, runs: Path, interval: int) -> None:
    trials = study.trials()
    by = {t.number: t for t in trials}
    assert all(t.state == TrialState.STOPPED for t in trials)
    for t in trials:
        lin = t.system_attrs["pbt"]
        assert (runs / study.name / str(t.number) / "checkpoint" / "state.json").is_file()
        first = min(t.reports)
        if lin["parent"] is None:
            assert t.resume_from is None and first == 1
            assert t.reports[first]["restored"] == -1
            continue
        parent = by[lin["parent"]]
        assert t.resume_from == parent.number
        # the state it read was written by its parent, and its steps continue the parent's
        assert t.reports[first]["restored"] == parent.number
        assert first == parent.last_step + 1 == lin["step"] + 1
        assert t.last_step == lin["step"] + interval == t.budget
        assert lin["generation"] == parent.system_attrs["pbt"]["generation"] + 1
        if lin["exploit"]:
            ratio = t.params["lr"] / parent.params["lr"]
            assert (
                ratio == pytest.approx(0.8)
                or ratio == pytest.approx(1.2)
                or (t.params["lr"] in (1e-4, 1.0))
            )
        else:
            assert t.params == parent.params
            assert lin["member"] == parent.system_attrs["pbt"]["member"]


def test_function_trials_restore_their_parents_checkpoints(tmp_path: Path) -> None:
    study = _pbt_study(
        "ckpt",
        {"lr": Float(1e-4, 1.0, log=True)},
        population_size=4,
        perturbation_interval=3,
        max_steps=12,
    )
    study.optimize(_train, runs_dir=tmp_path)
    trials = study.trials()
    assert len(trials) == 4 * 4  # 4 members x 4 segments, then nothing is left
    assert "all 4 members have trained to max_steps=12" in study.attrs["stop_reason"]
    assert any(t.system_attrs["pbt"]["exploit"] for t in trials)
    _check_checkpoint_hand_off(study, tmp_path, 3)
    best = max((t for t in trials if t.last_step == 12), key=lambda t: t.value)
    chain = lineage(trials, best.number)
    assert [t.system_attrs["pbt"]["generation"] for t in chain] == [0, 1, 2, 3]
    assert chain[-1] is best and chain[0].system_attrs["pbt"]["parent"] is None


def test_best_shows_a_pbt_segments_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hypersweep import cli

    study = _pbt_study(
        "sched",
        {"lr": Float(1e-4, 1.0, log=True)},
        population_size=2,
        perturbation_interval=2,
        max_steps=6,
    )
    study.optimize(_train, runs_dir=tmp_path)
    best = max((t for t in study.trials() if t.last_step == 6), key=lambda t: t.value)
    cli.print_best(study, best)
    out = capsys.readouterr().out
    chain = lineage(study.trials(), best.number)
    assert len(chain) == 3
    sched = next(line for line in out.splitlines() if "pbt schedule:" in line)
    assert sched.count("->") == 2
    for t in chain:
        assert f"#{t.number} from step {t.system_attrs['pbt']['step']} " in sched
    assert f"resumed from trial {chain[-2].number}'s checkpoint" in out


def test_process_isolation_hands_off_checkpoints_and_waits_for_slow_members(
    tmp_path: Path,
) -> None:
    # no exploit (quantile 0.25 of 2 members is nobody): member 1 is slow, so member 0
    # reaches max_steps first; the study must wait for member 1's remaining segments
    study = _pbt_study(
        "procs",
        {"lr": Float(1e-4, 1.0, log=True)},
        population_size=2,
        perturbation_interval=1,
        max_steps=4,
    )
    study.optimize(_train_slow, max_concurrent=2, runs_dir=tmp_path)
    trials = study.trials()
    assert len(trials) == 8, [(t.number, t.state, t.system_attrs) for t in trials]
    _check_checkpoint_hand_off(study, tmp_path, 1)


def _train_slow(params: dict[str, Any], trial: Any) -> float:
    root = (
        trial.number
        if trial.restore_from is None
        else json.loads(Path(trial.restore_from, "root").read_text())
    )
    Path(trial.checkpoint_dir, "root").write_text(json.dumps(root))
    if root == 1:
        time.sleep(0.3)
    return _train(params, trial)


_SCRIPT = """
import json, os, sys
import hypersweep
params = hypersweep.params()
src = hypersweep.restore_from()
assert src == os.environ.get("HYPERSWEEP_RESTORE_FROM")
state = {"written_by": -1, "step": 0, "score": 0.0}
if src is not None:
    with open(os.path.join(src, "state.json")) as f:
        state = json.load(f)
step, score = state["step"], state["score"]
budget = hypersweep.budget()
while step < budget:
    step += 1
    score += params["lr"]
    if step >= budget:
        with open(os.path.join(hypersweep.checkpoint_dir(), "state.json"), "w") as f:
            json.dump({"written_by": int(os.environ["HYPERSWEEP_TRIAL"]), "step": step,
                       "score": score}, f)
    hypersweep.report(step=step, score=score, restored=state["written_by"])
"""


def test_command_trials_get_the_same_checkpoint_layout(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    runs = tmp_path / "runs"
    study = _pbt_study(
        "cmd",
        {"lr": Float(1e-4, 1.0, log=True)},
        population_size=2,
        perturbation_interval=2,
        max_steps=4,
    )
    ex = CommandExecutor(
        [sys.executable, str(script)],
        study_name="cmd",
        metrics=["score"],
        runs_dir=runs,
        grace=1.0,
    )
    Runner(study, ex, Limits(max_trials=10)).run()
    trials = study.trials()
    assert len(trials) == 4
    assert all(t.state in (TrialState.STOPPED, TrialState.COMPLETED) for t in trials)
    for t in trials:
        parent = t.resume_from
        first = min(t.reports)
        assert t.reports[first]["restored"] == (-1 if parent is None else parent)
        assert first == 1 + (0 if parent is None else study.trials()[parent].last_step)
        assert (runs / "cmd" / str(t.number) / "checkpoint" / "state.json").is_file()


# ------------------------------------------------------------------------------------------
# PBT against fixed hyperparameters on a non-stationary problem
# ------------------------------------------------------------------------------------------
TOY_STEPS, TOY_INTERVAL, TOY_POPULATION = 60, 3, 8


def _toy_gain(lr: float, step: int) -> float:
    """A quadratic in log10(lr) whose optimum moves from 0.1 to 0.001 during training."""
    optimum = -1.0 - 2.0 * step / TOY_STEPS
    return 1.0 - ((math.log10(lr) - optimum) / 0.7) ** 2


def _toy(params: dict[str, Any], trial: Any) -> float:
    """The score accumulates over steps; the checkpoint holds it and the step."""
    score, step = 0.0, 0
    if trial.restore_from is not None:
        with open(os.path.join(trial.restore_from, "state.json"), encoding="utf-8") as f:
            score, step = json.load(f)
    end = TOY_STEPS if trial.budget is None else trial.budget
    while step < end:
        step += 1
        score += _toy_gain(params["lr"], step)
        if step == end:
            with open(
                os.path.join(trial.checkpoint_dir, "state.json"), "w", encoding="utf-8"
            ) as f:
                json.dump([score, step], f)
        trial.report(step=step, score=score)
    return score


def test_pbt_beats_the_best_fixed_learning_rate_of_the_same_compute(tmp_path: Path) -> None:
    space = {"lr": Float(1e-4, 1.0, log=True)}
    pbt_scores, fixed_scores = [], []
    for seed in range(5):
        pbt = _pbt_study(
            f"toy-pbt-{seed}",
            space,
            seed=seed,
            population_size=TOY_POPULATION,
            perturbation_interval=TOY_INTERVAL,
            max_steps=TOY_STEPS,
        )
        pbt.optimize(_toy, runs_dir=tmp_path)
        fixed = hs.Study(
            f"toy-fixed-{seed}",
            space=space,
            sampler="random",
            objective={"metric": "score", "goal": "maximize"},
            storage="memory",
            seed=seed,
        )
        fixed.optimize(_toy, max_trials=TOY_POPULATION, runs_dir=tmp_path)
        compute = [sum(len(t.reports) for t in s.trials()) for s in (pbt, fixed)]
        assert compute == [TOY_POPULATION * TOY_STEPS] * 2  # the same number of steps
        pbt_scores.append(max(t.value for t in pbt.trials() if t.last_step == TOY_STEPS))
        fixed_scores.append(fixed.best_value)
    # the best fixed learning rate scores at most 60 * (1 - 1 / (3 * 0.7**2)) ~ 19.2
    assert max(fixed_scores) < 19.3
    assert np.mean(pbt_scores) > np.mean(fixed_scores) + 5, (pbt_scores, fixed_scores)
