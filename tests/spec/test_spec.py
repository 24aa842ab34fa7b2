"""The sweep file: valid files build the same Study/Runner as the Python API; every
malformed file is one located error line through the real CLI (exit status 2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hypersweep as hs
from hypersweep import cli
from hypersweep.execution.command import CommandExecutor
from hypersweep.execution.function import FunctionExecutor
from hypersweep.limits import Limits
from hypersweep.spec import (
    EarlyStopping,
    Overrides,
    SweepFileError,
    build,
    load,
    load_text,
    parse_duration,
)

HERE = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "hypersweep"

FULL = """\
name: digits-mlp                       # study name; re-running resumes it
command: python3 train.py --lr {lr} --hidden {hidden}
space:
  lr: loguniform(1e-5, 1e-1)
  hidden: {type: int, low: 32, high: 512, log: true}
  dropout: uniform(0, 0.5)
  batch_size: choice(16, 32, 64, 128)
  optimizer:
    choice:
      adam: {beta1: uniform(0.8, 0.99), beta2: uniform(0.9, 0.9999)}
      sgd:  {momentum: uniform(0, 0.99)}
objective: {metric: val_accuracy, goal: maximize}
sampler: {name: random, seed: 0}
early_stopping: {policy: median, delay: 5, interval: 1}
limits: {max_trials: 100, max_concurrent: 4, timeout: 2h, trial_timeout: 10m, max_steps: 50}
storage: memory
"""


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


# ======================================================================================
# Valid files
# ======================================================================================
def test_design_example_parses_into_typed_config(tmp_path):
    (tmp_path / "train.py").write_text("print('val_accuracy=1')\n")
    spec = load(write(tmp_path, FULL))
    assert spec.name == "digits-mlp"
    assert spec.command == "python3 train.py --lr {lr} --hidden {hidden}"
    assert spec.function is None
    assert spec.workdir == tmp_path.resolve()  # default: the sweep file's directory
    assert spec.objectives == (hs.Objective("val_accuracy", "maximize"),)
    assert spec.limits == Limits(
        max_trials=100, max_concurrent=4, timeout=7200.0, trial_timeout=600.0, max_steps=50
    )
    assert dict(spec.sampler) == {"name": "random", "seed": 0}
    assert spec.early_stopping == EarlyStopping("median", {"delay": 5, "interval": 1})
    assert spec.params_as == "args" and spec.reduce == "last" and spec.grace == 10.0
    assert spec.storage == "memory"
    python_space = hs.Space(
        {
            "lr": hs.Float(1e-5, 1e-1, log=True),
            "hidden": hs.Int(32, 512, log=True),
            "dropout": hs.Float(0, 0.5),
            "batch_size": hs.Choice([16, 32, 64, 128]),
            "optimizer": hs.Choice(
                {
                    "adam": {"beta1": hs.Float(0.8, 0.99), "beta2": hs.Float(0.9, 0.9999)},
                    "sgd": {"momentum": hs.Float(0, 0.99)},
                }
            ),
        }
    )
    assert spec.space == python_space
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]  # frozen


def test_build_makes_the_same_study_and_runner_as_the_python_api(tmp_path):
    (tmp_path / "train.py").write_text("print('val_accuracy=1')\n")
    spec = load(write(tmp_path, FULL))
    study, runner = build(spec)
    assert isinstance(study, hs.Study)
    assert study.name == "digits-mlp"
    assert study.objectives == (hs.Objective("val_accuracy", "maximize"),)
    assert study.space == spec.space
    assert study.sampler.config() == {"name": "random", "seed": 0}
    assert type(study.policy).__name__ == "MedianPolicy"
    assert study.policy.config()["delay"] == 5
    assert runner.limits == spec.limits
    ex = runner.executor
    assert isinstance(ex, CommandExecutor)
    assert ex.capacity == 4 and ex.trial_timeout == 600.0 and ex.grace == 10.0
    assert ex.workdir == str(tmp_path.resolve())
    assert ex.metrics == ("val_accuracy",) and ex.params_as == "args"
    sweep = study.attrs["sweep"]
    assert sweep["command"] == spec.command and sweep["params_as"] == "args"
    assert sweep["workdir"] == str(tmp_path.resolve())


def test_overrides_replace_the_files_values(tmp_path):
    (tmp_path / "train.py").write_text("")
    spec = load(write(tmp_path, FULL))
    study, runner = build(
        spec,
        Overrides(
            name="other", max_trials=3, max_concurrent=1, timeout=60.0, seed=7, storage="memory"
        ),
    )
    assert study.name == "other"
    assert runner.limits.max_trials == 3 and runner.limits.max_concurrent == 1
    assert runner.limits.timeout == 60.0 and runner.limits.trial_timeout == 600.0
    assert study.sampler.seed == 7
    assert runner.executor.capacity == 1


FUNCTION_SWEEP = """\
name: fn
function: {ref}
space:
  x: uniform(-2, 2)
  k: choice(1, 2)
objective: {{metric: loss, goal: minimize}}
sampler: {{name: random, seed: 3}}
limits: {{max_trials: 12}}
storage: memory
"""


@pytest.mark.parametrize(
    "ref", ["objective_fn.py:quadratic", "objective_fn:quadratic", "sub/objective_fn.py:quadratic"]
)
def test_function_sweep_runs_like_optimize(tmp_path, ref):
    src = (HERE / "sweeps" / "objective_fn.py").read_text()
    target = tmp_path / ("sub" if ref.startswith("sub/") else "")
    target.mkdir(exist_ok=True)
    (target / "objective_fn.py").write_text(src)
    sys.modules.pop("objective_fn", None)
    try:
        spec = load(write(tmp_path, FUNCTION_SWEEP.format(ref=ref)))
        study, runner = build(spec)
        assert isinstance(runner.executor, FunctionExecutor)
        assert runner.run() == "max_trials (12) reached"
        # the Python API, same seed: the same trials
        api = hs.Study(
            "fn-api",
            space={"x": hs.Float(-2, 2), "k": hs.Choice([1, 2])},
            objective=hs.Objective("loss", "minimize"),
            sampler={"name": "random", "seed": 3},
            storage="memory",
            seed=3,
        )
        api.optimize(runner.executor.fn, max_trials=12)
        assert [t.params for t in study.trials()] == [t.params for t in api.trials()]
        assert study.best_value == api.best_value
    finally:
        sys.modules.pop("objective_fn", None)
        for p in (str(tmp_path), str(target)):
            while p in sys.path:
                sys.path.remove(p)


@pytest.mark.parametrize(
    "text, seconds",
    [
        (90, 90.0),
        (2.5, 2.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("1d", 86400.0),
        ("2m 30s", 150.0),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10 minutes", "m", "", "1x", True, None, "-5s", "1h-30m"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_list_command_env_params_as_metrics_workdir_grace(tmp_path):
    (tmp_path / "work").mkdir()
    spec = load_text(
        textwrap.dedent("""\
        name: t
        command: [python3, train.py, "--x={x}"]
        workdir: work
        env: {OMP_NUM_THREADS: 1, MODE: fast}
        params_as: json
        metrics: {reduce: max}
        grace: 30s
        space: {x: uniform(0, 1), y: 3}
        objective:
          - {metric: acc, goal: max}
          - {metric: latency, goal: min}
        limits: {max_trials: 5, patience: null}
        """),
        "s.yaml",
        base_dir=tmp_path,
    )
    assert spec.command == ("python3", "train.py", "--x={x}")
    assert spec.workdir == (tmp_path / "work").resolve()
    assert dict(spec.env) == {"OMP_NUM_THREADS": "1", "MODE": "fast"}
    assert spec.params_as == "json" and spec.reduce == "max" and spec.grace == 30.0
    assert [o.goal for o in spec.objectives] == ["maximize", "minimize"]
    assert spec.name == "t" and spec.limits.max_trials == 5
    assert spec.sweep_attrs()["env_names"] == ["MODE", "OMP_NUM_THREADS"]  # no values


def test_yaml_1_2_floats_and_no_code_execution(tmp_path):
    spec = load_text(
        textwrap.dedent("""\
        name: t
        command: python3 t.py
        space:
          lr: {type: float, low: 1e-5, high: 1e-1, log: true}
          s: "; touch pwned $(touch pwned)"
        objective: {metric: a, goal: max}
        limits: {target: 1e-3}
        """),
        "s.yaml",
        base_dir=tmp_path,
    )
    assert spec.space.params["lr"].low == 1e-5
    assert spec.limits.target == 1e-3
    assert spec.space.params["s"].value == "; touch pwned $(touch pwned)"  # a fixed string
    with pytest.raises(SweepFileError, match=r"s.yaml:4 space.s: cannot parse"):
        load_text(
            "name: t\ncommand: python3 t.py\nspace:\n  s: __import__('os').system('x')"
            "\nobjective: {metric: a, goal: max}\n",
            "s.yaml",
        )
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(SweepFileError, match="could not determine a constructor"):
        load_text("name: !!python/object/apply:os.system ['touch pwned']\n", "s.yaml")
    assert not Path("pwned").exists()


# ======================================================================================
# Malformed files: one line, file:line and key path, exit status 2, no traceback
# ======================================================================================
BASE = """\
name: t
command: python3 train.py --x {x}
space:
  x: uniform(0, 1)
objective: {metric: loss, goal: minimize}
"""

# (id, file text, key path expected in the message, a fragment of the message).
# The expected line is the one marked "# <-" (line 1 when there is no marker).
BAD = [
    ("unknown-top-key", BASE + "objectve: 3  # <-\n", "objectve", "did you mean 'objective'"),
    (
        "top-key-of-a-section",
        BASE + "max_trials: 10  # <-\n",
        "max_trials",
        "did you mean limits.max_trials",
    ),
    (
        "unknown-limits-key",
        BASE + "limits:\n  max_trails: 5  # <-\n",
        "limits.max_trails",
        "did you mean 'max_trials'",
    ),
    (
        "unknown-sampler-key",
        BASE + "sampler: {name: random, sed: 1}  # <-\n",
        "sampler.sed",
        "did you mean 'seed'",
    ),
    (
        "unknown-objective-key",
        BASE.replace(
            "objective: {metric: loss, goal: minimize}",
            "objective:\n  metric: loss\n  goal: minimize\n  direction: up  # <-",
        ),
        "objective.direction",
        "unknown key 'direction'",
    ),
    (
        "bad-duration-words",
        BASE + "limits:\n  timeout: 10 minutes  # <-\n",
        "limits.timeout",
        "as a duration",
    ),
    (
        "negative-duration",
        BASE + "limits: {trial_timeout: -5}  # <-\n",
        "limits.trial_timeout",
        "positive duration",
    ),
    (
        "negative-max-trials",
        BASE + "limits:\n  max_trials: -3  # <-\n",
        "limits.max_trials",
        "positive integer",
    ),
    (
        "text-max-trials",
        BASE + "limits:\n  max_trials: many  # <-\n",
        "limits.max_trials",
        "positive integer",
    ),
    (
        "bool-max-concurrent",
        BASE + "limits:\n  max_concurrent: yes  # <-\n",
        "limits.max_concurrent",
        "positive integer",
    ),
    (
        "command-and-function",
        BASE + "function: mod:fn  # <-\n",
        "function",
        "either command or function",
    ),
    (
        "neither-command-nor-function",
        BASE.replace("command: python3 train.py --x {x}\n", ""),
        "command",
        "missing",
    ),
    (
        "compact-unclosed",
        BASE.replace("uniform(0, 1)", "uniform(0, 1  # <-"),
        "space.x",
        "cannot parse",
    ),
    (
        "compact-missing-arg",
        BASE.replace("uniform(0, 1)", "loguniform(1e-5)  # <-"),
        "space.x",
        "needs high",
    ),
    (
        "loguniform-low-zero",
        BASE.replace("uniform(0, 1)", "loguniform(0, 1)  # <-"),
        "space.x",
        "loguniform needs 0 < low < high, got low=0",
    ),
    (
        "uniform-low-above-high",
        BASE.replace("uniform(0, 1)", "uniform(1, 0)  # <-"),
        "space.x",
        "low < high",
    ),
    (
        "unknown-type-compact",
        BASE.replace("uniform(0, 1)", "logunifrom(1e-5, 1e-1)  # <-"),
        "space.x",
        "did you mean 'loguniform'",
    ),
    (
        "unknown-type-long",
        BASE.replace("uniform(0, 1)", "{type: integer, low: 1, high: 4}  # <-"),
        "space.x.type",
        "unknown parameter type 'integer'",
    ),
    (
        "unknown-long-key",
        BASE.replace("x: uniform(0, 1)", "x:\n    type: int\n    low: 1\n    hihg: 4  # <-"),
        "space.x.hihg",
        "did you mean 'high'",
    ),
    (
        "duplicate-sub-parameter",
        BASE.replace(
            "  x: uniform(0, 1)\n",
            "  x: uniform(0, 1)\n  opt:\n    choice:\n      adam: {lr: uniform(0, 1)}\n"
            "      sgd:\n        x: uniform(0, 2)  # <-\n",
        ),
        "space.opt.sgd.x",
        "duplicate parameter name 'x'",
    ),
    (
        "bad-goal",
        BASE.replace("goal: minimize}", "goal: maximise}  # <-"),
        "objective.goal",
        "did you mean 'maximize'",
    ),
    ("missing-goal", BASE.replace(", goal: minimize}", "}  # <-"), "objective", "goal: missing"),
    (
        "objective-list-duplicate",
        BASE.replace(
            "objective: {metric: loss, goal: minimize}",
            "objective:\n  - {metric: loss, goal: min}\n  - {metric: loss, goal: max}  # <-",
        ),
        "objective[1].metric",
        "listed twice",
    ),
    ("bad-params-as", BASE + "params_as: argv  # <-\n", "params_as", "did you mean 'args'"),
    (
        "yaml-syntax-error",
        BASE + "limits: {max_trials: 3\nstorage: memory  # <-\n",
        "",
        "YAML syntax error",
    ),
    ("yaml-bad-indent", "name: t\n  command: x  # <-\n", "", "YAML syntax error"),
    ("empty-file", "", "", "the file is empty"),
    ("only-comments", "# nothing here\n", "", "the file is empty"),
    ("top-level-list", "- name: t\n- command: x\n", "", "expected a mapping"),
    ("top-level-string", "just some text\n", "", "expected a mapping"),
    (
        "unknown-sampler",
        BASE + "sampler: {name: randm}  # <-\n",
        "sampler.name",
        "did you mean 'random'",
    ),
    (
        "bad-sampler-seed",
        BASE + "sampler: {name: random, seed: abc}  # <-\n",
        "sampler.seed",
        "must be an integer",
    ),
    (
        "bad-policy",
        BASE + "early_stopping:\n  policy: medain  # <-\n",
        "early_stopping.policy",
        "did you mean 'median'",
    ),
    (
        "bad-policy-option",
        BASE + "early_stopping:\n  policy: median\n  delayy: 3  # <-\n",
        "early_stopping.delayy",
        "did you mean 'delay'",
    ),
    (
        "placeholder-not-in-space",
        BASE.replace("--x {x}", "--x {xx}  # <-"),
        "command",
        "did you mean 'x'",
    ),
    (
        "command-unbalanced-quote",
        BASE.replace("--x {x}", "'--x {x}  # <-"),
        "command",
        "cannot split",
    ),
    (
        "duplicate-key",
        BASE.replace("  x: uniform(0, 1)\n", "  x: uniform(0, 1)\n  x: uniform(0, 2)  # <-\n"),
        "space.x",
        "given twice (first on line 4)",
    ),
    (
        "env-nested-value",
        BASE + "env:\n  MODE: {a: 1}  # <-\n",
        "env.MODE",
        "expected a string or a number",
    ),
    ("env-bad-name", BASE + "env:\n  1BAD: x  # <-\n", "env.1BAD", "not a valid environment"),
    ("missing-workdir", BASE + "workdir: nowhere  # <-\n", "workdir", "does not exist"),
    ("bad-reduce", BASE + "metrics: {reduce: mean}  # <-\n", "metrics.reduce", "last, min, max"),
    (
        "bad-name",
        BASE.replace("name: t", "name: 'my study!'  # <-"),
        "name",
        "not a valid study name",
    ),
    ("bad-storage", BASE + "storage: mysql://host/db  # <-\n", "storage", "unsupported URL"),
    ("bad-grace", BASE + "grace: soon  # <-\n", "grace", "as a duration"),
    (
        "function-bad-format",
        BASE.replace("command: python3 train.py --x {x}", "function: train  # <-"),
        "function",
        "'module:attr'",
    ),
    (
        "function-with-params-as",
        BASE.replace("command: python3 train.py --x {x}", "function: m:f")
        + "params_as: env  # <-\n",
        "params_as",
        "only for command sweeps",
    ),
    (
        "function-not-importable",
        BASE.replace(
            "command: python3 train.py --x {x}", "function: no_such_module_xyz:train  # <-"
        ),
        "function",
        "cannot import 'no_such_module_xyz'",
    ),
    (
        "program-not-found",
        BASE.replace("python3 train.py", "no-such-program-xyz  # <-"),
        "command",
        "not found",
    ),
    (
        "empty-space",
        BASE.replace("space:\n  x: uniform(0, 1)\n", "space: {}  # <-\n").replace("--x {x}", ""),
        "space",
        "needs at least one parameter",
    ),
    (
        "missing-space",
        BASE.replace("space:\n  x: uniform(0, 1)\n", "").replace(" --x {x}", ""),
        "space",
        "missing",
    ),
    (
        "missing-objective",
        BASE.replace("objective: {metric: loss, goal: minimize}\n", ""),
        "objective",
        "missing",
    ),
    (
        "target-multi-objective",
        BASE.replace(
            "objective: {metric: loss, goal: minimize}",
            "objective: [{metric: a, goal: min}, {metric: b, goal: max}]",
        )
        + "limits: {target: 0.5}  # <-\n",
        "limits.target",
        "single-objective",
    ),
    (
        "bandit-needs-slack",
        BASE + "early_stopping: {policy: bandit}  # <-\n",
        "early_stopping",
        "slack_factor or slack_amount",
    ),
]


def _expected_line(text: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if "# <-" in line:
            return i
    return 1


def _check_one_error_line(err: str, file: str, text: str, path: str, fragment: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in err
    where = f"{file}:{_expected_line(text)} "
    assert where in line, f"{where!r} not in {line!r}"
    if path:  # the key path, or a deeper one (early_stopping.slack_factor)
        assert f" {path}: " in line or f" {path}." in line, f"{path!r} not in {line!r}"
    assert fragment in line, f"{fragment!r} not in {line!r}"


def test_at_least_40_malformed_cases():
    assert len(BAD) >= 40
    assert len({c[0] for c in BAD}) == len(BAD)


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_malformed_file_through_cli(case, tmp_path, monkeypatch, capsys):
    _, text, path, fragment = case
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("")
    (tmp_path / "sweep.yaml").write_text(text, encoding="utf-8")
    code = cli.main(["run", "sweep.yaml", "--storage", "memory"])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    _check_one_error_line(err, "sweep.yaml", text, path, fragment)
    assert not (tmp_path / ".hypersweep").exists()  # nothing was created


SUBPROCESS_CASES = [
    "unknown-top-key",
    "loguniform-low-zero",
    "yaml-syntax-error",
    "empty-file",
    "duplicate-sub-parameter",
    "program-not-found",
]


@pytest.mark.parametrize("via", ["module", "script"])
@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_malformed_file_through_a_real_process(case_id, via, tmp_path):
    _, text, path, fragment = next(c for c in BAD if c[0] == case_id)
    (tmp_path / "train.py").write_text("")
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "sweep.yaml").write_text(text, encoding="utf-8")
    cmd = [sys.executable, "-m", "hypersweep.cli"] if via == "module" else [str(SCRIPT)]
    r = subprocess.run(
        [*cmd, "run", "conf/sweep.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stderr
    if case_id == "program-not-found":  # the workdir is conf/, where no program exists
        assert "conf/sweep.yaml:2 command: " in r.stderr
    else:
        _check_one_error_line(r.stderr, "conf/sweep.yaml", text, path, fragment)
    assert r.stdout == ""
    assert not (tmp_path / ".hypersweep").exists()


def test_missing_file_and_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "nope.yaml"]) == 2
    assert capsys.readouterr().err == "error: nope.yaml:1 no such file\n"
    assert cli.main(["run", "."]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_name_missing_but_given_on_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("")
    text = BASE.replace("name: t\n", "")
    (tmp_path / "sweep.yaml").write_text(text)
    assert cli.main(["run", "sweep.yaml", "--storage", "memory"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: sweep.yaml:1 name: missing") and "--name" in err
