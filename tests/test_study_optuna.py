"""Optuna's study creation on hypersweep, and five optuna-examples objectives run with only
their import and study lines changed (copies in tests/data/optuna_examples)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import hypersweep as optuna
from hypersweep.errors import HypersweepError
from hypersweep.trial import TrialState

EXAMPLES = Path(__file__).parent / "data" / "optuna_examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"optuna_example_{name}", EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run_main(name: str, tmp_path: Path) -> str:
    """The script as a program (its ``__main__`` block, with its own trial budget)."""
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_sklearn_simple() -> None:
    mod = _load("sklearn_simple.py")
    study = optuna.create_study(direction="maximize")  # the example's study line
    study.optimize(mod.objective, n_trials=8)
    trials = study.trials()
    assert len(trials) == 8 and all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:  # a conditional space: each branch's parameter only where chosen
        extra = {"SVC": "svc_c", "RandomForest": "rf_max_depth"}[t.params["classifier"]]
        assert set(t.params) == {"classifier", extra}
    assert study.best_value is not None and study.best_value > 0.8


@pytest.mark.slow
def test_pytorch_simple_define_by_run_model() -> None:
    pytest.importorskip("torch")
    mod = _load("pytorch_simple.py")
    mod.EPOCHS = 3  # a shorter run than the example's 10 epochs
    study = optuna.create_study(direction="maximize")  # the example's study line
    study.optimize(mod.objective, n_trials=4, timeout=600)
    trials = study.trials()
    assert len(trials) == 4 and TrialState.FAIL not in {t.state for t in trials}
    for t in trials:
        n = t.params["n_layers"]
        want = {"n_layers", "optimizer", "lr"}
        want |= {f"n_units_l{i}" for i in range(n)} | {f"dropout_l{i}" for i in range(n)}
        assert set(t.params) == want
        assert sorted(t.reports) == list(range(len(t.reports)))
    assert study.best_value is not None and 0.0 <= study.best_value <= 1.0


def test_quadratic_simple_constraint(tmp_path: Path) -> None:
    mod = _load("quadratic_simple_constraint.py")
    study = optuna.create_study(sampler="tpe", constraints_func=mod.constraints)
    study.optimize(mod.objective, n_trials=40, timeout=60)
    assert [c.to_dict() for c in study.constraints] == [
        {"metric": "constraint_0", "max": 0.0},
        {"metric": "constraint_1", "max": 0.0},
    ]
    feasible = [t for t in study.trials() if study.feasible(t)]
    assert feasible and len(feasible) < len(study.trials())
    best = study.best_trial
    assert best is not None and best in feasible
    assert best.value == min(t.value for t in feasible if t.value is not None)
    x, y = best.params["x"], best.params["y"]
    assert 3 * x * y + 10 <= 0 and x * y + 30 <= 0
    out = _run_main("quadratic_simple_constraint.py", tmp_path)
    assert "Best trial was found at Trial#" in out


def test_quadratic_multi_objective(tmp_path: Path) -> None:
    mod = _load("quadratic_multi_objective.py")
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.optimize(mod.objective, n_trials=30, timeout=60)
    assert len(study.trials()) == 30 and study.best_trials
    for t in study.best_trials:
        assert t.values is not None and len(t.values) == 2
    out = _run_main("quadratic_multi_objective.py", tmp_path)
    assert "Number of finished trials:" in out and "-th Pareto solution" in out


def test_simple_pruning() -> None:
    mod = _load("simple_pruning.py")
    study = optuna.create_study(direction="maximize")  # the example's study line
    study.optimize(mod.objective, n_trials=14)
    pruned = study.get_trials(deepcopy=False, states=[TrialState.PRUNED])
    complete = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
    assert len(pruned) + len(complete) == 14
    assert pruned, "the median rule (Optuna's default pruner) stopped no trial"
    assert all(len(t.reports) < 100 for t in pruned)


def test_create_study_counts_trials_per_call_and_refuses_a_duplicate_name() -> None:
    def objective(trial: Any) -> float:
        return float(trial.suggest_float("x", 0, 1))

    study = optuna.create_study(study_name="dup", storage="memory")
    study.optimize(objective, n_trials=3)
    study.optimize(objective, n_trials=2)
    assert len(study.trials()) == 5  # n_trials counts the trials of one call, as in Optuna
    assert study.name.startswith("dup") and study.objectives[0].goal == "minimize"
    assert optuna.create_study().name.startswith("no-name-")
    store = study.storage
    with pytest.raises(HypersweepError, match=r"already exists in memory; pass load_if_exists"):
        optuna.create_study(study_name="dup", storage=store)
    again = optuna.create_study(study_name="dup", storage=store, load_if_exists=True)
    assert len(again.trials()) == 5
    with pytest.raises(HypersweepError, match="give direction or directions"):
        optuna.create_study(direction="minimize", directions=["minimize"])
    assert optuna.exceptions.TrialPruned is optuna.TrialPruned is optuna.TrialStopped


def test_an_optuna_sampler_is_refused_with_the_fix() -> None:
    real = pytest.importorskip("optuna")
    with pytest.raises(HypersweepError, match=r"TPESampler is an Optuna object; pass a hyper"):
        optuna.create_study(sampler=real.samplers.TPESampler())
