"""Real public W&B sweep configs (tests/data/foreign/wandb, see SOURCES.md), run unchanged
against a stand-in script (asserting the argv W&B's agent would build), or stopped at load
with one line per key."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from hypersweep.spec import ForeignFileError, load, load_text
from hypersweep.spec.foreign import translate
from hypersweep.stopping import make_policy
from tests.spec.foreign_helpers import DATA, place, run, wandb_text

WB = "wandb"


def args(params: dict[str, Any], hyphens: bool = True) -> list[str]:
    """W&B's ``${args}`` (or ``${args_no_hyphens}``): every parameter in name order."""
    pre = "--" if hyphens else ""
    return [f"{pre}{k}={wandb_text(params[k])}" for k in sorted(params)]


@pytest.mark.parametrize(
    ("name", "program", "metric", "extra"),
    [
        ("pytorch-sweep-grid-hyperband.yaml", "train.py", "loss", ["--max-trials", "3"]),
        ("keras-sweep-bayes-hyperband.yaml", "train.py", "val_loss", ["--max-trials", "3"]),
        ("llama-cpp-sweep.yaml", "evaluate.py", "diff_score", ["--max-trials", "3"]),
        (
            "sweep-cross-validation.yaml",
            "train-cross-validation.py",
            "val_accuracy",
            ["--max-trials", "3"],
        ),
        ("fastai-simpsons-sweep.yaml", "train_sweep.py", "accuracy", ["--max-trials", "4"]),
        ("pointnet-sweep-config.yaml", "train.py", "Validation/Accuracy", ["--max-trials", "3"]),
        ("sweep-local-hyperband.yaml", "train-local.py", "loss_metric", ["--max-trials", "3"]),
    ],
)
def test_default_command_files_run_with_wandbs_argv(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    program: str,
    metric: str,
    extra: list[str],
) -> None:
    f = place(tmp_path, f"{WB}/{name}", {program: ""})
    rc, err, seen = run(monkeypatch, capsys, tmp_path, f, *extra, metrics=metric, steps=4)
    assert rc == 0, err
    assert seen, err
    for s in seen:
        assert s["program"] == program
        assert s["argv"] == args(s["params"])  # ${env} ${interpreter} ${program} ${args}
        assert "${" not in " ".join(s["argv"])
    assert "read as a W&B sweep config" in err


def test_hydra_overrides_with_args_no_hyphens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = place(tmp_path, f"{WB}/hydra-wandb-sweep.yaml", {"main.py": ""})
    rc, err, seen = run(monkeypatch, capsys, tmp_path, f, "--max-trials", "3", metrics="val_loss")
    assert rc == 0, err
    for s in seen:
        assert s["argv"] == args(s["params"], hyphens=False)
        assert 1e-5 <= s["params"]["optimizer.config.learning_rate"] <= 0.1
    f2 = place(tmp_path, f"{WB}/sweep-cifar10.yaml", {"main.py": ""})
    rc, err, seen = run(
        monkeypatch, capsys, tmp_path, f2, "--max-trials", "2", metrics="test/accuracy"
    )
    assert rc == 0, err
    new = [s for s in seen if "dataset" in s["params"]]
    assert new
    for s in new:
        assert s["argv"] == [*args(s["params"], hyphens=False), "+num_gpus=1"]


def test_booleans_reach_the_script_as_wandb_writes_them(tmp_path: Path) -> None:
    spec = load(DATA / WB / "fastai-simpsons-sweep.yaml")
    space = spec.space.to_spec()
    assert space["one_cycle"] == {"choice": ["True", "False"]}
    assert space["dropout"] == {"type": "float", "low": 0.0, "high": 1.0}  # not int_uniform
    lr = space["learning_rate"]
    assert lr["type"] == "float" and lr["log"] is True
    assert math.isclose(lr["low"], math.exp(-11)) and math.isclose(lr["high"], math.exp(-2))
    assert any("exponents" in n for n in spec.translated)


def test_hyperband_bands_become_asha_rungs_and_max_iter_is_no_cap() -> None:
    spec = load(DATA / WB / "pytorch-sweep-grid-hyperband.yaml")
    assert spec.early_stopping is not None
    assert spec.early_stopping.policy == "asha"
    assert dict(spec.early_stopping.options) == {"reduction_factor": 3, "rungs": [3, 9]}
    p = make_policy(spec.early_stopping.to_dict())
    assert p is not None and p.budget(0) is None  # max_iter 27 is the top band, no cap
    local = load(DATA / WB / "sweep-local-hyperband.yaml")
    assert local.early_stopping is not None
    assert local.early_stopping.options["rungs"] == [1, 3]  # int(10/3), int(10/9)
    # min_iter alone: bands from min_iter on, without a maximum
    t = translate(
        {
            "program": "t.py",
            "method": "random",
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
            "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
        },
        ".",
    )
    assert t is not None and t.problems == []
    rungs = t.native["early_stopping"]["rungs"]
    assert rungs[:5] == [2, 4, 8, 16, 32] and rungs[-1] > 10**8


def test_wandb_hyperband_stops_trials_at_bands_and_never_for_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """sweep-local-hyperband.yaml: bands at steps 1 and 3 (max_iter 10); trials that lose
    at a band stop there, the others run past max_iter (the top band, not a cap)."""
    f = place(tmp_path, f"{WB}/sweep-local-hyperband.yaml", {"train-local.py": ""})
    monkeypatch.setenv("STANDIN_SPREAD", "1")
    monkeypatch.setenv("STANDIN_SLEEP", "0.3")
    rc, err, seen = run(
        monkeypatch,
        capsys,
        tmp_path,
        f,
        "--max-trials",
        "6",
        "--max-concurrent",
        "1",
        "--seed",
        "0",
        metrics="loss_metric",
        steps=14,
    )
    assert rc == 0, err
    steps = [s["steps"] for s in seen]
    assert len(steps) == 6
    assert max(steps) == 14  # past max_iter=10: not capped
    assert min(steps) < 14  # someone lost at a band and was stopped
    for s in seen:
        assert s["argv"] == args(s["params"])


def test_nested_parameters_translate_to_a_group() -> None:
    t = translate(yaml.safe_load((DATA / WB / "sweep-nested.yaml").read_text()), ".")
    assert t is not None and t.problems == []
    assert t.native["space"] == {
        "batch_size": {"type": "choice", "values": [32, 64]},
        "optimizer": {
            "type": "group",
            "params": {
                "lr": {"type": "choice", "values": [0.001, 0.0001]},
                "nadam": {
                    "type": "group",
                    "params": {"beta": {"type": "choice", "values": [0.9, 0.95]}},
                },
            },
        },
    }
    assert t.native["command"][-2:] == ["--batch_size={batch_size}", "--optimizer={optimizer}"]
    assert any(p == "parameters.optimizer" for p, _ in t.warnings)  # JSON, not repr


def test_nested_parameters_run_unchanged_and_the_group_arrives_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = place(tmp_path, f"{WB}/sweep-nested.yaml", {"train-nested-cli.py": ""})
    rc, err, seen = run(monkeypatch, capsys, tmp_path, f)
    assert rc == 0, err
    assert len(seen) == 8  # the whole grid: 2 x 2 x 2
    got = set()
    for s in seen:
        p = s["params"]  # as the SDK gives them: the group nested
        group = p["optimizer"]
        assert set(group) == {"lr", "nadam"} and set(group["nadam"]) == {"beta"}
        assert s["argv"] == [
            f"--batch_size={p['batch_size']}",
            "--optimizer=" + json.dumps(group, separators=(",", ":")),
        ]
        got.add((p["batch_size"], group["lr"], group["nadam"]["beta"]))
    assert len(got) == 8


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        ("sweep-bool.yaml", ["metric"]),
        ("sweep-tune-hyperopt.yaml", ["tune"]),
        ("optuna-config-advanced.yaml", ["job", "scheduler"]),
    ],
)
def test_configs_that_cannot_run_stop_at_load_one_line_per_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    paths: list[str],
) -> None:
    f = place(tmp_path, f"{WB}/{name}", {"train.py": ""})
    with pytest.raises(ForeignFileError) as e:
        load(f)
    assert sorted(p.path for p in e.value.problems) == sorted(paths)
    rc, err, seen = run(monkeypatch, capsys, tmp_path, f)
    assert rc == 2 and seen == []
    assert len([x for x in err.splitlines() if x.startswith("error:")]) == len(paths)


# ---------------------------------------------------------------------------------------
# The rest of the reference, on small configs
# ---------------------------------------------------------------------------------------
def _t(parameters: dict[str, Any], **top: Any) -> Any:
    cfg = {
        "program": "t.py",
        "method": "random",
        "metric": {"name": "m"},
        "parameters": parameters,
    }
    cfg.update(top)
    return translate(cfg, ".")


def test_every_distribution_translates() -> None:
    t = _t(
        {
            "a": {"distribution": "q_log_uniform_values", "min": 16, "max": 256, "q": 8},
            "b": {"distribution": "q_log_uniform", "min": 0, "max": 5, "q": 1},
            "c": {"distribution": "inv_log_uniform", "min": 1, "max": 3},
            "d": {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 0.1},
            "e": {"distribution": "q_uniform", "min": 1, "max": 10, "q": 4},
            "f": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25},
            "g": {"distribution": "normal", "mu": 1, "sigma": 2},
            "h": {"distribution": "log_normal"},
            "i": {"distribution": "q_normal", "q": 0.5},
            "j": {"distribution": "beta", "a": 2, "b": 5},
            "k": {"distribution": "q_beta", "a": 2, "b": 5, "q": 0.1},
            "l": {"values": ["x", "y"], "probabilities": [0.8, 0.2]},
            "m2": {"values": [[1, 2], [3]]},
            "n": {"value": None},
            "o": {"min": 1, "max": 4},
        }
    )
    assert t.problems == [], t.problems
    s = t.native["space"]
    assert s["a"] == {"type": "int", "low": 16, "high": 256, "step": 8, "log": True}
    assert s["b"] == {"type": "int", "low": 1, "high": 148, "step": 1, "log": True}
    assert s["c"]["type"] == "loguniform"
    assert math.isclose(s["c"]["low"], math.exp(-3)) and math.isclose(s["c"]["high"], math.exp(-1))
    assert s["d"] == {"type": "loguniform", "low": 0.01, "high": 0.1}
    assert s["e"] == {"type": "int", "low": 0, "high": 8, "step": 4}  # multiples of 4
    assert s["f"] == {"type": "quniform", "low": 0.0, "high": 1.0, "q": 0.25}
    assert s["g"] == {"type": "normal", "mu": 1, "sigma": 2}
    assert s["h"] == {"type": "lognormal", "mu": 0, "sigma": 1}
    assert s["i"] == {"type": "qnormal", "mu": 0, "sigma": 1, "q": 0.5}
    assert s["j"] == {"type": "beta", "alpha": 2, "beta": 5}
    assert s["k"] == {"type": "beta", "alpha": 2, "beta": 5, "step": 0.1}
    assert s["l"] == {"type": "choice", "values": ["x", "y"], "weights": [0.8, 0.2]}
    assert s["m2"] == {"type": "choice", "values": [[1, 2], [3]]}
    assert s["n"] == {"type": "fixed", "value": "None"}  # ${args} writes None
    assert s["o"] == {"type": "int", "low": 1, "high": 4}


def test_refused_parameter_forms_name_their_key() -> None:
    t = _t(
        {"a": {"distribution": "q_normal", "q": 1}, "b": {"distribution": "zipf"}, "c": {"mn": 1}}
    )
    problems = dict(t.problems)
    assert "integer q" in problems["parameters.a.q"]
    assert "unknown distribution" in problems["parameters.b.distribution"]
    assert "did you mean 'min'" in problems["parameters.c.mn"]


def test_command_macros() -> None:
    params = {"lr": {"values": [0.1, 0.01]}, "act": {"values": ["relu", "tanh"]}}
    t = _t(params, command=["${interpreter}", "${program}", "--cfg", "${args_json}", "x{y}"])
    assert t.problems == []
    assert t.native["command"] == [
        "python",
        "t.py",
        "--cfg",
        '{{"act": "{act}", "lr": {lr}}}',
        "x{{y}}",
    ]
    t2 = _t(params, command=["${interpreter}", "${program}", "${args_json}"])
    spec = load_text(yaml.safe_dump(t2.native), "w.yaml")
    from hypersweep.execution.command import render_command

    argv, _ = render_command(spec.command or [], {"act": "relu", "lr": 0.1})
    assert json.loads(argv[-1]) == {"act": "relu", "lr": 0.1}
    assert argv[-1] == json.dumps({"act": "relu", "lr": 0.1})  # byte for byte as W&B
    bad = _t({"f": {"values": [True, False]}}, command=["${program}", "${args_no_boolean_flags}"])
    assert "${args_no_boolean_flags}" in dict(bad.problems)["command[1]"]
    nofile = _t(params, command=["${program}", "${args_json_file}"])
    assert "command[1]" in dict(nofile.problems)
    none = _t(params, command=["${interpreter}", "${program}"])
    assert ("command" in dict(none.warnings)) and none.native["params_as"] == "env"


def test_metric_target_run_cap_name_and_ignored_keys() -> None:
    t = _t(
        {"x": {"values": [1, 2]}},
        metric={"name": "acc", "goal": "maximize", "target": 0.99},
        run_cap=7,
        name="my-sweep",
        project="p",
        entity="e",
    )
    assert t.problems == []
    assert t.native["objective"] == {"metric": "acc", "goal": "maximize"}
    assert t.native["limits"] == {"target": 0.99, "max_trials": 7}
    assert t.native["name"] == "my-sweep"
    assert sorted(p for p, _ in t.warnings) == ["entity", "project"]
    assert t.native["sampler"] == {"name": "random"}
