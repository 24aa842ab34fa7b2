"""``hypersweep convert``: a foreign sweep file written as a native one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hypersweep.cli import main
from hypersweep.spec import load

DATA = Path(__file__).resolve().parents[1] / "data" / "foreign"


def test_convert_an_azure_job_writes_a_native_file_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "hello-sweep.yml"
    shutil.copyfile(DATA / "azure" / "hello-sweep.yml", src)
    (tmp_path / "src").mkdir()
    out = tmp_path / "out" / "sweep.yaml"
    out.parent.mkdir()
    assert main(["convert", str(src), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# translated by 'hypersweep convert' from ")
    assert "# dropped (not honoured by hypersweep):" in text
    assert "#   trial.environment: not used" in text
    native = yaml.safe_load(text)
    assert native["command"] == [
        "python",
        "hello-sweep.py",
        "--A",
        "0.5",
        "--B",
        "{B}",
        "--C",
        "{C}",
    ]
    assert native["workdir"] == "../src"  # relative to the written file
    spec = load(out)
    assert spec.workdir == tmp_path / "src"
    assert spec.limits.max_trials == 4 and spec.objectives[0].metric == "random_metric"
    # a second write needs --force
    assert main(["convert", str(src), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["convert", str(src), "-o", str(out), "--force"]) == 0


def test_convert_prints_without_output_and_refuses_what_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["convert", str(DATA / "wandb" / "sweep-cross-validation.yaml")]) == 0
    out = capsys.readouterr().out
    native = yaml.safe_load(out)
    assert native["space"]["batch_size"] == {"type": "int", "low": 32, "high": 128}
    assert native["name"] == "sweep-cross-validation"
    assert main(["convert", str(DATA / "wandb" / "optuna-config-advanced.yaml")]) == 2
    err = capsys.readouterr().err
    assert len([x for x in err.splitlines() if x.startswith("error:")]) == 2
    native_file = tmp_path / "n.yaml"
    native_file.write_text(
        "name: a\nfunction: math:hypot\nspace: {x: uniform(0, 1)}\n"
        "objective: {metric: loss, goal: minimize}\n"
    )
    assert main(["convert", str(native_file)]) == 2
    assert "not an Azure ML sweep job nor a W&B sweep config" in capsys.readouterr().err
