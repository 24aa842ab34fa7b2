"""Define-by-run studies: the space learned from trial.suggest_*, stored with the study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.errors import HypersweepError, SpecError
from hypersweep.stopping.base import Decision
from hypersweep.storage.memory import InMemoryStorage
from hypersweep.study_dbr import LearnedSpace
from hypersweep.trial import TrialState


def mlp(trial: Any) -> float:
    """pytorch_simple's define_model shape: n_layers, then n_units_l{i} in a loop."""
    n_layers = trial.suggest_int("n_layers", 1, 3)
    total = 0.0
    for i in range(n_layers):
        total += trial.suggest_int(f"n_units_l{i}", 4, 128) / 128
        total += trial.suggest_float(f"dropout_l{i}", 0.2, 0.5)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.set_user_attr("layers", n_layers)
    return float((np.log10(lr) + 3) ** 2 + total)


def pruned_curve(trial: Any) -> float:
    x = trial.suggest_float("x", -5, 5)
    value = 0.0
    for step in range(6):
        value = (x - 1) ** 2 + 1.0 / (step + 1)
        trial.report(value, step)
        if trial.should_prune():
            raise hs.TrialPruned()
    return value


def _check_active(study: hs.Study) -> None:
    for t in study.trials():
        n = t.params["n_layers"]
        want = {"n_layers", "lr"} | {f"n_units_l{i}" for i in range(n)}
        want |= {f"dropout_l{i}" for i in range(n)}
        assert set(t.params) == want, t.params
        assert t.user_attrs == {"layers": n}


def test_the_space_is_learned_and_a_parameter_is_active_only_where_suggested(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hs.Study("mlp", storage=url, seed=3)
    assert study.define_by_run and isinstance(study.space, LearnedSpace)
    study.optimize(mlp, max_trials=25)
    _check_active(study)
    assert {t.params["n_layers"] for t in study.trials()} == {1, 2, 3}
    assert study.space.to_spec()["n_units_l2"] == {"type": "int", "low": 4, "high": 128}
    assert study.space.to_spec()["lr"]["log"] is True
    # inactive where not suggested: NaN in the sampler's encoding, and no row is invalid
    h = study.history
    col = study.space.column("n_units_l2")
    three = np.array([t.params["n_layers"] == 3 for t in study.trials()])
    assert np.isnan(h.X[~three, col]).all() and not np.isnan(h.X[three, col]).any()
    assert h.valid.all()
    # stored with the study: another process (a fresh Study) resumes it as learned
    again = hs.Study("mlp", storage=url)
    assert again.define_by_run and again.space.to_spec() == study.space.to_spec()
    again.optimize(mlp, max_trials=30)
    assert len(again.trials()) == 30
    _check_active(again)


def test_a_parameter_first_suggested_later_is_inactive_in_earlier_trials() -> None:
    study = hs.Study("late", storage="memory", seed=0)
    for k in range(6):
        t = study.ask()
        x = t.suggest_float("x", 0, 1)
        y = t.suggest_int("y", 1, 9) if k >= 3 else 0
        study.tell(t, x + y)
    assert [sorted(t.params) for t in study.trials()] == [["x"]] * 3 + [["x", "y"]] * 3
    col = study.space.column("y")
    assert np.isnan(study.history.X[:3, col]).all()
    assert not np.isnan(study.history.X[3:, col]).any()


@pytest.mark.parametrize(
    "sampler",
    [
        "random",
        "tpe",
        "sobol",
        "anneal",
        "cmaes",
        "nsga2",
        "auto",
        "bohb",
        "pbt",
        {"name": "gp", "n_startup": 4},
        {"name": "grid", "grid_points": 3},
    ],
    ids=str,
)
def test_every_sampler_works_on_a_define_by_run_study(sampler: Any) -> None:
    study = hs.Study("s", storage="memory", sampler=sampler, seed=1)
    study.optimize(mlp, max_trials=14)
    trials = study.trials()
    assert len(trials) == 14
    assert all(t.state == TrialState.COMPLETED for t in trials), [t.error for t in trials]
    _check_active(study)
    assert study.history.valid.all()


def test_ask_tell_with_suggest_report_should_prune_and_user_attrs() -> None:
    study = hs.Study(
        "at",
        objective={"metric": "loss", "goal": "minimize"},
        storage="memory",
        policy={"policy": "threshold", "threshold": 10.0},
        seed=0,
    )
    t = study.ask()
    assert isinstance(t.number, int)
    x = t.suggest_float("x", -3, 3)
    assert t.suggest_float("x", -3, 3) == x  # the same name again: the same value
    c = t.suggest_categorical("act", ["relu", "tanh"])
    assert t.report(1.0, 0) == Decision.CONTINUE and not t.should_prune()
    t.set_user_attr("note", "first")
    done = study.tell(t, x * x)
    assert done.params == {"x": x, "act": c} and done.user_attrs == {"note": "first"}
    t2 = study.ask()
    t2.suggest_float("x", -3, 3)
    assert t2.report(50.0, 0) == Decision.STOP and t2.should_prune()
    assert study.tell(t2, state=TrialState.PRUNED).state == TrialState.STOPPED


def test_a_changed_range_is_one_clear_error() -> None:
    study = hs.Study("r", storage="memory", seed=0)
    t = study.ask()
    t.suggest_float("x", 0, 1)
    study.tell(t, 1.0)
    t = study.ask()
    with pytest.raises(HypersweepError, match=r"^suggest_int\('x'\): this study already has"):
        t.suggest_int("x", 0, 1)
    with pytest.raises(HypersweepError, match=r"give the other range its own name"):
        t.suggest_float("x", 0, 2)
    with pytest.raises(HypersweepError, match=r"^suggest_float\('z'\): Float needs"):
        t.suggest_float("z", 1, 0)


def test_pruning_in_worker_processes_with_the_optuna_form() -> None:
    study = hs.Study("p", storage="memory", seed=2, policy={"policy": "median", "min_trials": 2})
    study.optimize(pruned_curve, max_trials=10, max_concurrent=2)
    states = [t.state for t in study.trials()]
    assert len(states) == 10 and TrialState.FAILED not in states
    assert TrialState.STOPPED in states
    assert all(set(t.params) == {"x"} for t in study.trials())
    assert all(t.reports for t in study.trials())


def test_new_parameters_are_drawn_from_the_study_seed() -> None:
    def values(seed: int) -> list[Any]:
        study = hs.Study("d", storage="memory", seed=seed, sampler="random")
        study.optimize(mlp, max_trials=6)
        return [t.params for t in study.trials()]

    assert values(5) == values(5)
    assert values(5) != values(6)


def test_loading_a_missing_study_is_refused_but_creating_one_without_space_works() -> None:
    storage = InMemoryStorage()
    with pytest.raises(SpecError, match=r"^study: 'nope' does not exist in memory"):
        hs.Study.load("nope", storage=storage)
    study = hs.Study("nope", storage=storage)
    assert study.define_by_run and study.space.dim == 0
    assert hs.Study.load("nope", storage=storage).define_by_run


def test_report_value_step_needs_a_single_objective() -> None:
    study = hs.Study("mo", objective=["a", "b"], storage="memory")
    t = study.ask()
    with pytest.raises(HypersweepError, match=r"multi-objective study takes named metrics"):
        t.report(1.0, 0)
    assert t.report(0, a=1.0, b=2.0) == Decision.CONTINUE
