"""Real public Azure ML sweep job files (tests/data/foreign/azure, see SOURCES.md), run
unchanged against a stand-in script, or stopped at load with one line per key."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from hypersweep.spec import ForeignFileError, check, load, load_text
from hypersweep.spec.foreign import translate
from tests.spec.foreign_helpers import DATA, place, run

AZ = "azure"


def expected_hello(params: dict[str, Any]) -> list[str]:
    """The argv Azure builds for hello-sweep's command (A is the literal input 0.5)."""
    return ["--A", "0.5", "--B", params["B"], "--C", repr(params["C"])]


def test_hello_sweep_runs_unchanged_and_the_script_gets_azures_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = place(tmp_path, f"{AZ}/hello-sweep.yml", {"src/hello-sweep.py": ""})
    rc, err, seen = run(monkeypatch, capsys, tmp_path, f, metrics="random_metric")
    assert rc == 0, err
    assert len(seen) == 4  # limits.max_total_trials
    for s in seen:
        assert s["program"] == "hello-sweep.py"
        assert Path(s["cwd"]) == tmp_path / "src"  # trial.code
        assert s["argv"] == expected_hello(s["params"])
        assert s["params"]["B"] in ("hello", "world", "hello_world")
        assert 0.1 <= s["params"]["C"] <= 1.0
    assert "read as an Azure ML sweep job, translated to a hypersweep sweep:" in err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    # one line per key it cannot honour: environment, display_name, description
    assert sorted(w.split(" ", 2)[2].split(":")[0] for w in warnings) == [
        "description",
        "display_name",
        "trial.environment",
    ]
    assert "${" not in "".join(" ".join(s["argv"]) for s in seen)


def test_a_choice_value_with_a_space_is_one_argument_and_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = place(tmp_path, f"{AZ}/hello-sweep-local-path.yml", {"src/hello-sweep.py": ""})
    # seeded: unseeded, 12 draws of 3 choices miss "hello world" in 0.8% of runs
    rc, err, seen = run(
        monkeypatch,
        capsys,
        tmp_path,
        f,
        "--max-trials",
        "12",
        "--seed",
        "0",
        metrics="random_metric",
    )
    assert rc == 0, err
    for s in seen:
        assert s["argv"] == expected_hello(s["params"])
    assert "hello world" in {s["params"]["B"] for s in seen}
    assert ["hello", "world"] not in [s["argv"][3:5] for s in seen]
    assert "warning:" in err and "'hello world' holds white space" in err
    assert "compute: not used" in err  # compute: azureml:cpu-cluster


def test_an_https_data_input_reaches_the_script_as_the_url_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = place(tmp_path, f"{AZ}/lightgbm-iris-job-sweep.yml", {"src/main.py": ""})
    rc, err, seen = run(
        monkeypatch, capsys, tmp_path, f, "--max-trials", "3", metrics="test-multi_logloss"
    )
    assert rc == 0, err
    url = "https://azuremlexamples.blob.core.windows.net/datasets/iris.csv"
    for s in seen:
        p = s["params"]
        assert s["argv"] == [
            "--iris-csv",
            url,
            "--learning-rate",
            repr(p["learning_rate"]),
            "--boosting",
            p["boosting"],
        ]
    assert "inputs.iris_csv.path: the URL is passed to the script as written" in err


def test_the_2021_sweep_job_spelling_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = place(tmp_path, f"{AZ}/lightgbm-iris-job-sweep-2021.yml", {"src/main.py": ""})
    rc, err, seen = run(
        monkeypatch, capsys, tmp_path, f, "--max-trials", "2", metrics="test-multi_logloss"
    )
    assert rc == 0, err
    assert "type: sweep_job (the older CLI spelling) read as type: sweep" in err
    for s in seen:
        assert s["argv"][:2] == [
            "--iris-csv",
            "https://azuremlexamples.blob.core.windows.net/datasets/iris.csv",
        ]
        assert s["argv"][2:] == [
            "--learning-rate",
            repr(s["params"]["learning_rate"]),
            "--boosting",
            s["params"]["boosting"],
        ]
    spec = load(f)
    assert spec.limits.timeout == 120 and spec.limits.max_concurrent == 10


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        ("sklearn-iris-job-sweep.yml", ["inputs.iris_csv.path"]),  # wasbs:// storage
        ("pipeline-with-hyperparameter-sweep.yml", ["type"]),
        ("automl-text-ner-distributed-sweeping.yml", ["type"]),
        ("automl-image-object-detection.yml", ["type"]),
    ],
)
def test_files_that_cannot_run_as_they_are_stop_at_load_one_line_per_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    paths: list[str],
) -> None:
    f = place(tmp_path, f"{AZ}/{name}", {"src/main.py": ""})
    with pytest.raises(ForeignFileError) as e:
        load(f)
    assert [p.path for p in e.value.problems] == paths
    for p in e.value.problems:
        assert "\n" not in str(p) and str(p).startswith(f"{f}:")
    rc, err, seen = run(monkeypatch, capsys, tmp_path, f)
    assert rc == 2 and seen == []
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == len(paths)
    _, all_errors = check(f)
    assert [x.path for x in all_errors] == paths


def test_the_wasbs_refusal_names_the_fix() -> None:
    t = translate(_yaml(DATA / AZ / "sklearn-iris-job-sweep.yml"), DATA / AZ)
    assert t is not None
    msg = dict(t.problems)["inputs.iris_csv.path"]
    assert "wasbs://" in msg and "local path" in msg


def _yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------
# The rest of the schema, on small files written here (the real files above use only a
# part of it)
# ---------------------------------------------------------------------------------------
def _job(tmp_path: Path, body: str) -> str:
    (tmp_path / "src").mkdir(exist_ok=True)
    return (
        "$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json\n"
        "type: sweep\n"
        "objective: {primary_metric: acc, goal: Maximize}\n" + body
    )


def test_every_search_space_expression_translates(tmp_path: Path) -> None:
    text = _job(
        tmp_path,
        """
trial: {command: 'python t.py --a ${{ search_space.a }}', code: src}
sampling_algorithm: {type: random, seed: 7, rule: sobol}
search_space:
  a: {type: loguniform, min_value: -6, max_value: -1}
  b: {type: qloguniform, min_value: 0, max_value: 5, q: 2}
  c: {type: randint, upper: 5}
  d: {type: quniform, min_value: 0, max_value: 10, q: 2}
  e: {type: normal, mu: 0, sigma: 1}
  f: {type: qnormal, mu: 10, sigma: 2, q: 1}
  g: {type: lognormal, mu: 0, sigma: 0.5}
  h: {type: qlognormal, mu: 1, sigma: 0.5, q: 1}
early_termination: {type: truncation_selection, truncation_percentage: 20,
                    evaluation_interval: 2, delay_evaluation: 4, exclude_finished_jobs: true}
limits: {max_total_trials: 7, trial_timeout: 60}
""",
    )
    t = translate(_load_yaml(text), tmp_path)
    assert t is not None and t.problems == []
    space = t.native["space"]
    assert space["a"]["type"] == "loguniform"
    assert math.isclose(space["a"]["low"], math.exp(-6)) and math.isclose(
        space["a"]["high"], math.exp(-1)
    )
    assert space["b"] == {"type": "qloguniform", "low": 2.0, "high": 148.0, "q": 2}
    assert space["c"] == {"type": "int", "low": 0, "high": 4}
    assert space["d"] == {"type": "quniform", "low": 0.0, "high": 10.0, "q": 2}
    assert space["f"] == {"type": "qnormal", "mu": 10, "sigma": 2, "q": 1}
    assert t.native["sampler"] == {"name": "sobol", "seed": 7}
    assert t.native["early_stopping"] == {
        "policy": "truncation",
        "interval": 2,
        "delay": 4,
        "percentage": 20,
        "exclude_finished": True,
    }
    assert t.native["limits"] == {"max_trials": 7, "trial_timeout": 60}
    assert t.native["command"] == ["python", "t.py", "--a", "{a}"]
    assert t.native["objective"] == {"metric": "acc", "goal": "maximize"}
    # the parameters the command does not use: one warning each
    assert sorted(p for p, _ in t.warnings) == sorted(
        ["search_space.b.min_value"] + [f"search_space.{k}" for k in "bcdefgh"]
    )
    spec = load_text(text, str(tmp_path / "job.yml"), base_dir=tmp_path)
    assert list(spec.space.param_names) == list("abcdefgh")
    assert spec.early_stopping is not None and spec.early_stopping.policy == "truncation"


def test_bandit_median_grid_bayesian(tmp_path: Path) -> None:
    base = "trial: {command: 'python t.py --lr ${{search_space.lr}}', code: src}\n"
    for algo, policy, sampler in (
        (
            "grid",
            "{type: bandit, slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 5}",
            "grid",
        ),
        ("bayesian", "{type: median_stopping, delay_evaluation: 5}", "gp"),
    ):
        text = _job(
            tmp_path,
            base
            + f"sampling_algorithm: {algo}\nearly_termination: {policy}\n"
            + "search_space: {lr: {type: choice, values: [0.1, 0.01]}}\n",
        )
        spec = load_text(text, "job.yml", base_dir=tmp_path)
        assert spec.sampler is not None and spec.sampler["name"] == sampler
        assert spec.early_stopping is not None
        assert spec.early_stopping.policy in ("bandit", "median")
        assert spec.early_stopping.options["delay"] == 5
        assert spec.limits.max_trials == 1000  # Azure's default
    assert any("bayesian" in w for w in spec.foreign_warnings)


@pytest.mark.parametrize(
    ("trial", "path", "words"),
    [
        ("{command: 'pip install x && python t.py', code: src}", "trial.command", "shell"),
        ("{command: 'python t.py --o ${{outputs.model}}', code: src}", "outputs.model", "output"),
        (
            "{command: 'python t.py --x ${{search_space.nope}}', code: src}",
            "trial.command",
            "names no",
        ),
        ("{command: 'python t.py', code: missing_dir}", "trial.code", "does not exist"),
        (
            "{command: 'python t.py', code: src, distribution: {type: pytorch}}",
            "trial.distribution",
            "distributed",
        ),
        ("./train.yml", "trial", "component file"),
    ],
)
def test_semantic_keys_are_refused_not_mistranslated(
    tmp_path: Path, trial: str, path: str, words: str
) -> None:
    text = _job(
        tmp_path,
        f"trial: {trial}\nsampling_algorithm: random\n"
        "search_space: {lr: {type: uniform, min_value: 0, max_value: 1}}\n",
    )
    t = translate(_load_yaml(text), tmp_path)
    assert t is not None
    problems = dict(t.problems)
    assert path in problems and words in problems[path], t.problems


def test_a_local_data_input_becomes_its_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "iris.csv").write_text("a\n")
    text = _job(
        tmp_path,
        "trial: {command: 'python t.py --data ${{inputs.d}} --n ${{inputs.n}} "
        "--lr ${{search_space.lr}}', code: src}\n"
        "inputs: {d: {type: uri_file, path: ./data/iris.csv}, n: 3, unused: 1}\n"
        "sampling_algorithm: random\n"
        "search_space: {lr: {type: uniform, min_value: 0, max_value: 1}}\n",
    )
    t = translate(_load_yaml(text), tmp_path)
    assert t is not None and t.problems == []
    assert t.native["command"] == [
        "python",
        "t.py",
        "--data",
        str(tmp_path / "data" / "iris.csv"),
        "--n",
        "3",
        "--lr",
        "{lr}",
    ]
    assert ("inputs.unused", "not used by trial.command; ignored") in t.warnings


def test_errors_of_the_translated_file_point_at_the_azure_line(tmp_path: Path) -> None:
    text = _job(
        tmp_path,
        "trial: {command: 'python t.py', code: src}\nsampling_algorithm: random\n"
        "search_space:\n  lr:\n    type: uniform\n    min_value: 1\n    max_value: 0\n",
    )
    with pytest.raises(Exception) as e:
        load_text(text, "job.yml", base_dir=tmp_path)
    assert str(e.value).startswith("job.yml:6 space.lr:") or str(e.value).startswith(
        "job.yml:7 space.lr:"
    ), str(e.value)


def _load_yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def test_the_data_files_are_byte_copies_listed_in_sources() -> None:
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    for f in sorted((DATA / AZ).iterdir()):
        assert f.name in sources, f.name
    assert os.path.getsize(DATA / AZ / "hello-sweep.yml") == 694  # as read from the repo
