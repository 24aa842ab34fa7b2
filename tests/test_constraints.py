"""Constraints: parsing, feasibility in best / target / patience, storage round trip, the
CLI, and the samplers that model feasibility (tpe, gp, auto)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.constraints import Constraint, parse_constraints
from hypersweep.errors import HypersweepError, SpecError
from hypersweep.history import History
from hypersweep.spec import load_text
from hypersweep.trial import Objective, Trial, TrialState

SCRIPT = str(Path(sys.executable).parent / "hypersweep")


# ----------------------------------------------------------------------------------------
# bad values: one line each, naming the key
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("gpu_mem_gb", r"^constraints: expected a list"),
        (3, r"^constraints: expected a list"),
        ([5], r"^constraints\[0\]: expected \{metric"),
        ([{"max": 3}], r"^constraints\[0\]\.metric: missing"),
        ([{"metric": "", "max": 3}], r"^constraints\[0\]\.metric: must be a non-empty"),
        ([{"metric": 7, "max": 3}], r"^constraints\[0\]\.metric: must be a non-empty"),
        ([{"metric": "m"}], r"^constraints\[0\]: give max, min or both"),
        ([{"metric": "m", "max": "16GB"}], r"^constraints\[0\]\.max: must be a finite number"),
        ([{"metric": "m", "max": float("nan")}], r"^constraints\[0\]\.max: must be a finite"),
        ([{"metric": "m", "min": float("inf")}], r"^constraints\[0\]\.min: must be a finite"),
        ([{"metric": "m", "max": True}], r"^constraints\[0\]\.max: must be a finite number"),
        ([{"metric": "m", "min": 5, "max": 1}], r"^constraints\[0\]: min 5 is above max 1"),
        ([{"metric": "m", "max": 1, "maxx": 2}], r"^constraints\[0\]\.maxx: unknown key"),
        ([{"metric": "m", "max": 1}, {"metric": "m", "min": 0}], r"listed twice"),
        ([{"metric": "loss", "max": 1}], r"^constraints: metric 'loss' is an objective"),
    ],
)
def test_every_bad_value_is_one_line_naming_the_key(value: object, match: str) -> None:
    with pytest.raises(SpecError, match=match) as e:
        parse_constraints(value, objectives=[Objective("loss")])
    assert "\n" not in str(e.value)
    with pytest.raises(HypersweepError, match=match.replace("^", "")):
        hs.Study(
            "bad",
            space={"x": hs.Float(0, 1)},
            objective="loss",
            storage="memory",
            constraints=value,
        )  # type: ignore[arg-type]


def test_sweep_file_errors_carry_file_and_line() -> None:
    text = textwrap.dedent("""\
        name: c
        command: python train.py
        space: {x: uniform(0, 1)}
        objective: {metric: loss, goal: minimize}
        constraints:
          - {metric: mem, max: lots}
        """)
    with pytest.raises(HypersweepError) as e:
        load_text(text, "c.yaml")
    msg = str(e.value)
    assert "\n" not in msg
    assert "c.yaml" in msg and "constraints[0].max" in msg and "finite number" in msg


def test_sweep_file_constraints_parse() -> None:
    spec = load_text(
        textwrap.dedent("""\
        name: c
        command: python train.py
        space: {x: uniform(0, 1)}
        objective: {metric: loss, goal: minimize}
        constraints: [{metric: gpu_mem_gb, max: 16}, {metric: latency_ms, min: 1, max: 50}]
        """),
        "c.yaml",
    )
    assert spec.constraints == (
        Constraint("gpu_mem_gb", max=16),
        Constraint("latency_ms", max=50, min=1),
    )


# ----------------------------------------------------------------------------------------
# feasibility in the study's results
# ----------------------------------------------------------------------------------------
def _study(**kw: object) -> hs.Study:
    return hs.Study(
        "c",
        space={"x": hs.Float(0, 1)},
        objective="loss",
        storage="memory",
        sampler="random",
        seed=0,
        **kw,
    )  # type: ignore[arg-type]


def test_infeasible_trials_are_kept_but_never_best() -> None:
    study = _study(constraints=[{"metric": "mem", "max": 10}])
    for loss, mem in [(5.0, 8.0), (1.0, 12.0), (3.0, 10.0), (0.5, None)]:
        t = study.ask()
        study.tell(t, {"loss": loss} if mem is None else {"loss": loss, "mem": mem})
    assert study.best_value == 3.0  # 1.0 violates mem <= 10; 0.5 never reported mem
    assert [t.number for t in study.best_trials] == [2]
    assert len(study.trials()) == 4
    s = study.summary()
    assert (s["feasible"], s["infeasible"]) == (2, 2)
    assert [r["feasible"] for r in study.rows()] == [True, False, True, False]


def test_constraint_metric_from_reports_and_min_bound() -> None:
    study = _study(constraints=[{"metric": "acc", "min": 0.9}])
    t = study.ask()
    study.report(t, step=0, acc=0.95)
    study.tell(t, 2.0)
    t = study.ask()
    study.report(t, step=0, acc=0.5)
    study.tell(t, 1.0)
    assert study.best_value == 2.0


def test_constraints_are_stored_with_the_study() -> None:
    from hypersweep.storage.memory import InMemoryStorage

    storage = InMemoryStorage()
    study = hs.Study(
        "c",
        space={"x": hs.Float(0, 1)},
        objective="loss",
        storage=storage,
        constraints=[{"metric": "mem", "max": 1}],
    )
    t = study.ask()
    study.tell(t, {"loss": 1.0, "mem": 2.0})
    again = hs.Study.load("c", storage=storage)
    assert again.constraints == (Constraint("mem", max=1),)
    assert again.best_trial is None
    again.set_constraints(None)  # removed: every completed trial is feasible again
    assert again.best_value == 1.0
    assert hs.Study.load("c", storage=storage).constraints == ()


def test_target_and_patience_use_feasible_trials_only() -> None:
    def fn(params: dict[str, float], trial: object) -> dict[str, float]:
        x = params["x"]
        return {"loss": x, "mem": 1.0 - x}  # small loss is infeasible (mem > 0.5)

    study = _study()
    study.optimize(fn, max_trials=15, target=0.3, constraints=[{"metric": "mem", "max": 0.5}])
    # no feasible trial has loss <= 0.3 (feasible means x >= 0.5): the target is never met
    assert len(study.trials()) == 15
    assert study.best_value >= 0.5
    assert study.attrs.get("stop_reason") != "target"

    study2 = hs.Study(
        "p",
        space={"x": hs.Float(0, 1)},
        objective="loss",
        storage="memory",
        sampler="random",
        seed=1,
        constraints=[{"metric": "mem", "max": 0.5}],
    )
    study2.optimize(fn, max_trials=200, patience=5)
    trials = study2.trials()
    best = study2.best_trial
    assert best is not None
    later = [t for t in trials if t.number > best.number and t.state == TrialState.COMPLETED]
    assert len(later) == 5  # infeasible improvements did not reset the patience count


def test_history_feasibility_arrays() -> None:
    space = hs.Space({"x": hs.Float(0, 1)})
    h = History(space, [Objective("loss")], constraints=[Constraint("m", max=1.0)])
    h.update(
        [
            Trial(0, TrialState.COMPLETED, {"x": 0.1}, values=(1.0,), metrics={"m": 0.5}),
            Trial(1, TrialState.COMPLETED, {"x": 0.2}, values=(1.0,), metrics={"m": 3.0}),
            Trial(2, TrialState.FAILED, {"x": 0.3}),
            Trial(3, TrialState.COMPLETED, {"x": 0.4}, values=(1.0,)),
        ]
    )
    np.testing.assert_allclose(h.C[:, 0], [-0.5, 2.0, np.nan, np.nan])
    assert h.feasible.tolist() == [True, False, True, False]
    assert h.failed().shape == (1, 1)


# ----------------------------------------------------------------------------------------
# samplers that model feasibility
# ----------------------------------------------------------------------------------------
def _constrained_run(sampler: str, seed: int, n: int = 40) -> tuple[float, int]:
    """Minimize the distance to (0.9, 0.9) inside the disk of radius 0.4 around (0.3, 0.3)
    (optimum 0.2010 at (0.583, 0.583)); returns (best feasible value, infeasible trials in
    the second half)."""
    study = hs.Study(
        "k",
        space={"x": hs.Float(0, 1), "y": hs.Float(0, 1)},
        storage="memory",
        sampler={"name": sampler, "seed": seed},
        seed=seed,
        constraints=[{"metric": "c", "max": 0.0}],
    )
    late = 0
    for i in range(n):
        t = study.ask()
        x, y = t.params["x"], t.params["y"]
        c = (x - 0.3) ** 2 + (y - 0.3) ** 2 - 0.16
        study.tell(t, {"value": (x - 0.9) ** 2 + (y - 0.9) ** 2, "c": c})
        late += i >= n // 2 and c > 0
    assert study.best_value is not None
    return study.best_value, late


@pytest.mark.parametrize(
    ("sampler", "seeds", "bound"), [("tpe", 3, 0.25), ("gp", 1, 0.21), ("auto", 1, 0.21)]
)
def test_feasibility_models_beat_random_search(sampler: str, seeds: int, bound: float) -> None:
    ours = [_constrained_run(sampler, s) for s in range(seeds)]
    rand = [_constrained_run("random", s) for s in range(seeds)]
    assert np.mean([v for v, _ in ours]) < np.mean([v for v, _ in rand])
    assert np.mean([v for v, _ in ours]) < bound  # the constrained optimum is 0.2010


def test_no_feasible_trial_yet_searches_for_feasibility() -> None:
    """A feasible region of 4% of the box, far from where the objective is good."""
    for sampler in ("gp", "tpe"):
        study = hs.Study(
            "f",
            space={"x": hs.Float(0, 1), "y": hs.Float(0, 1)},
            storage="memory",
            sampler={"name": sampler, "seed": 0},
            seed=0,
            constraints=[{"metric": "d", "max": 0.2}],
        )
        for _ in range(40):
            t = study.ask()
            x, y = t.params["x"], t.params["y"]
            study.tell(t, {"value": x + y, "d": max(abs(x - 0.9), abs(y - 0.9)) * 2})
        feasible = [t for t in study.trials() if study.feasible(t)]
        assert len(feasible) >= 5, (sampler, len(feasible))


# ----------------------------------------------------------------------------------------
# CLI: status and best show feasibility
# ----------------------------------------------------------------------------------------
def test_cli_status_and_best_show_feasibility(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(
        textwrap.dedent("""\
        import sys
        x = float(sys.argv[1])
        print(f"loss={(x - 2) ** 2} mem_gb={10 * x}")
        """),
        encoding="utf-8",
    )
    (tmp_path / "s.yaml").write_text(
        textwrap.dedent(f"""\
        name: cons
        command: ["{sys.executable}", "train.py", "{{x}}"]
        space: {{x: uniform(0, 3)}}
        objective: {{metric: loss, goal: minimize}}
        constraints: [{{metric: mem_gb, max: 12}}]
        sampler: {{name: random, seed: 0}}
        limits: {{max_trials: 5, max_concurrent: 2}}
        storage: sqlite:///{tmp_path / "db.sqlite"}
        """),
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run = subprocess.run(
        [SCRIPT, "run", "s.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    status = subprocess.run(
        [SCRIPT, "status", "cons", "--storage", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert "feasible:" in status.stdout and "mem_gb <= 12" in status.stdout
    best = subprocess.run(
        [SCRIPT, "best", "cons", "--storage", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert best.returncode == 0, best.stderr
    assert "constraints: feasible: mem_gb=" in best.stdout
    study = hs.Study.load("cons", storage=url)
    b = study.best_trial
    assert b is not None and b.params["x"] <= 1.2  # the unconstrained best (x = 2) is not
    assert study.summary()["feasible"] + study.summary()["infeasible"] == 5
    js = json.loads(
        subprocess.run(
            [SCRIPT, "best", "cons", "--storage", url, "--json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    assert js["feasible"] is True
