"""The space forms of foreign sweep files, end to end: a sweep file run by the CLI against a
real script (argparse with type=int, hypersweep.params()), and a function trial."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import hypersweep as hs
from hypersweep import cli
from hypersweep.trial import TrialState

SCRIPT = """\
import argparse, json, os, sys
import hypersweep
ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--lr", type=float)
ap.add_argument("--leaves", type=int)
ap.add_argument("--depth", type=int)
ap.add_argument("--batch", type=int, required=True)   # W&B's 80.0 crashed here
ap.add_argument("--shape", type=json.loads, required=True)
ap.add_argument("--frac", type=float, required=True)
ap.add_argument("--act", required=True)
args, rest = ap.parse_known_args()
out = {"argv": sys.argv[1:], "args": vars(args), "rest": rest, "params": hypersweep.params()}
with open(os.path.join(os.environ["OUT"], os.environ["HYPERSWEEP_TRIAL"] + ".json"), "w") as f:
    json.dump(out, f)
print("loss=", args.frac)
"""


COMMAND_ARGS = (
    "--model {model} --lr {lr} --leaves={leaves} --depth {depth} --batch {batch} --shape {shape}"
)
OPT = (
    '{type: group, params: {momentum: "uniform(0, 1)", '
    "cfg: {type: choice, values: [{a: 1}, {b: 2}]}}}"
)


def test_a_sweep_with_every_foreign_form_runs_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "sweep.yaml").write_text(
        textwrap.dedent(f"""\
            name: forms
            command: {sys.executable} train.py {COMMAND_ARGS}
            env: {{OUT: "{out}"}}
            space:
              model:
                choice:
                  lgbm: {{lr: "loguniform(1e-3, 1e-1)", leaves: "int(8, 64)"}}
                  xgb: {{lr: "uniform(0.1, 0.3)", depth: "int(1, 10)"}}
              batch: {{type: int, low: 16, high: 256, log: true, step: 16}}
              shape: {{type: choice, values: [[32, 32], [64]]}}
              frac: {{type: beta, alpha: 2, beta: 5}}
              act: {{type: choice, values: [relu, tanh], weights: [0.9, 0.1]}}
              opt: {OPT}
            objective: {{metric: loss, goal: minimize}}
            sampler: {{name: random, seed: 1}}
            limits: {{max_trials: 12}}
            """)
    )
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert (
        cli.main(["run", str(tmp_path / "sweep.yaml"), "--storage", url, "--progress", "off"]) == 0
    )
    study = hs.Study.load("forms", storage=url)
    trials = study.trials()
    assert len(trials) == 12 and all(t.state == TrialState.COMPLETED for t in trials)
    assert {t.params["model"] for t in trials} == {"lgbm", "xgb"}
    for t in trials:
        got = json.loads((out / f"{t.number}.json").read_text())
        p, args = t.params, got["args"]
        assert args["batch"] == p["batch"] and type(p["batch"]) is int and p["batch"] % 16 == 0
        assert args["shape"] == p["shape"] and isinstance(p["shape"], list)
        assert args["lr"] == p["lr"]
        if p["model"] == "lgbm":
            assert 1e-3 <= p["lr"] <= 1e-1 and args["leaves"] == p["leaves"]
            assert args["depth"] is None and "--depth" not in got["argv"]
        else:
            assert 0.1 <= p["lr"] <= 0.3 and args["depth"] == p["depth"]
            assert args["leaves"] is None and not any(
                a.startswith("--leaves") for a in got["argv"]
            )
        assert f"--opt.cfg={json.dumps(p['opt.cfg'], separators=(',', ':'))}" in got["rest"]
        # hypersweep.params(): the group nested, list and dict values as objects
        assert got["params"]["opt"] == {"momentum": p["opt.momentum"], "cfg": p["opt.cfg"]}
        assert got["params"]["shape"] == p["shape"] and "opt.momentum" not in got["params"]
    assert sum(t.params["act"] == "relu" for t in trials) >= 8  # weights 0.9 / 0.1


def _objective(params: dict) -> float:
    assert set(params) >= {"opt", "x"} and "opt.lr" not in params
    return float(params["opt"]["lr"] * params["x"] + len(params["shape"]))


def test_a_function_trial_receives_groups_nested(tmp_path: Path) -> None:
    study = hs.Study(
        "nested-fn",
        storage="memory",
        seed=0,
        sampler="random",
        space={
            "opt": hs.Group({"lr": hs.Float(0.1, 1.0), "kind": hs.Choice(["a", "b"])}),
            "x": hs.Int(1, 4, log=True),
            "shape": hs.Choice([[1], [2, 2]]),
        },
    )
    study.optimize(_objective, max_trials=5, runs_dir=str(tmp_path))
    trials = study.trials()
    assert len(trials) == 5 and all(t.state == TrialState.COMPLETED for t in trials)
    assert all("opt.lr" in t.params and "opt" not in t.params for t in trials)  # stored flat
