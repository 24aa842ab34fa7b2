"""Real scripts that know nothing of hypersweep, swept unchanged with ``hypersweep run``:
an MLflow autolog script, a ``wandb.log`` loop (W&B offline), a TensorBoard writer, and a
script that only prints. Each sweep runs two trials at once in folders of their own
(``workdir: per_trial``: the scripts write fixed paths), the early-stopping policy stops
the bad one on the curve the script logged, and ``hypersweep export`` holds every metric.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hypersweep import cli

SCRIPTS = Path(__file__).parents[1] / "scripts"
PY = sys.executable
EPOCHS = 6


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the run folders go to ./.hypersweep/runs


def run_sweep(
    tmp_path: Path, script: str, objective: str, extra: str = "", lr: str = "lr"
) -> list[dict[str, Any]]:
    """Sweep ``script`` over a good and a bad learning rate; the exported trials."""
    db = f"sqlite:///{tmp_path / 'studies.db'}"
    (tmp_path / "sweep.yaml").write_text(
        textwrap.dedent(f"""\
        name: s
        command: ["{PY}", "{SCRIPTS / script}", "--{lr}", "{{lr}}", "--epochs", "{EPOCHS}",
                  "--sleep", "0.5"]
        workdir: per_trial
        space: {{lr: "choice(0.1, 0.0001)"}}
        objective: {{metric: "{objective}", goal: minimize}}
        sampler: {{name: grid}}
        early_stopping: {{policy: threshold, threshold: 0.5, delay: 1}}
        limits: {{max_trials: 2, max_concurrent: 2, trial_timeout: 5m}}
        grace: 3s
        storage: {db}
        """)
        + extra,
        encoding="utf-8",
    )
    assert cli.main(["run", str(tmp_path / "sweep.yaml"), "--progress", "off"]) == 0
    out = tmp_path / "out.json"
    assert cli.main(["export", "s", "--storage", db, "--json", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    trials = data["trials"] if isinstance(data, dict) else data
    return sorted(trials, key=lambda t: -t["params"]["lr"])


def check_stopped_on_curve(trials: list[dict[str, Any]], metric: str) -> None:
    good, bad = trials
    assert good["state"] == "COMPLETED", good["error"]
    assert bad["state"] == "STOPPED", bad["error"]
    good_steps = sorted(int(s) for s, r in good["reports"].items() if metric in r)
    assert good_steps == list(range(EPOCHS))  # the whole curve, read as it was logged
    bad_steps = sorted(int(s) for s, r in bad["reports"].items() if metric in r)
    assert 1 in bad_steps and max(bad_steps) < EPOCHS - 1  # stopped on its curve
    assert good["values"][0] == pytest.approx(1 / (1 + 100 * 0.1 * EPOCHS), rel=1e-3)


def test_mlflow_autolog_script(tmp_path: Path) -> None:
    trials = run_sweep(tmp_path, "track_mlflow.py", "val_loss")
    check_stopped_on_curve(trials, "val_loss")
    good = trials[0]
    # autolog's metrics of the SVC fit, and the logged curves: every one is kept
    for name in ("training_accuracy_score", "training_f1_score", "val_accuracy", "val_loss"):
        assert name in good["metrics"], sorted(good["metrics"])
    assert good["reports"]["0"]["training_accuracy_score"] > 0.9
    # each trial had its own store in its own run folder; nothing in the sweep's folder
    assert not (tmp_path / "mlruns").exists()
    runs = tmp_path / ".hypersweep" / "runs" / "s"
    assert len(list((runs / "0" / "mlruns").glob("*/*/metrics/val_loss"))) == 1


def test_wandb_script_offline(tmp_path: Path) -> None:
    trials = run_sweep(tmp_path, "track_wandb.py", "loss", lr="learning_rate")
    check_stopped_on_curve(trials, "loss")
    good = trials[0]
    assert {"loss", "epoch", "val.acc", "best_loss"} <= set(good["metrics"])
    assert good["metrics"]["best_loss"] == pytest.approx(good["values"][0])
    assert good["reports"]["3"]["epoch"] == 3.0
    runs = tmp_path / ".hypersweep" / "runs" / "s"
    assert list((runs / "0" / "wandb").glob("offline-run-*/run-*.wandb"))  # offline: local


def test_tensorboard_script(tmp_path: Path) -> None:
    trials = run_sweep(tmp_path, "track_tensorboard.py", "Loss/val")
    check_stopped_on_curve(trials, "Loss/val")
    assert {"Loss/train", "Loss/val", "lr"} <= set(trials[0]["metrics"])
    assert trials[1]["metrics"]["lr"] == pytest.approx(0.0001)


def test_stdout_and_stderr_script(tmp_path: Path) -> None:
    extra = "metrics: {patterns: {final_acc: 'val acc ([0-9.]+) %'}}\n"
    trials = run_sweep(tmp_path, "track_stdout.py", "loss", extra)
    check_stopped_on_curve(trials, "loss")  # 'INFO: epoch 0 = loss 0.09' on stderr
    good = trials[0]
    assert good["metrics"]["accuracy"] == pytest.approx(100 * (1 - good["values"][0] / 2), 0.01)
    assert good["metrics"]["samples"] == 1234 * EPOCHS  # '7,404' read whole
    assert good["metrics"]["final_acc"] == pytest.approx(good["metrics"]["accuracy"], 0.01)
