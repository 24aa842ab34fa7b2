"""MLflow's file store, written by the real mlflow package, read without importing it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hypersweep.metrics.from_mlflow import MlflowSource, store_path

SCRIPT = textwrap.dedent("""\
    import mlflow
    with mlflow.start_run():
        mlflow.log_param("lr", 0.1)
        for step in range(3):
            mlflow.log_metric("val/loss", 1.0 / (step + 1), step=step)
        for v in (0.5, 0.6, 0.7):
            mlflow.log_metric("acc", v)  # no step: all at step 0
        with mlflow.start_run(nested=True):
            mlflow.log_metric("acc", 0.01)  # a child run: not the trial's
    """)


def test_runs_of_a_real_store_without_nested_ones(tmp_path: Path) -> None:
    store = tmp_path / "mlruns"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"file://{store}",
        "MLFLOW_ALLOW_FILE_STORE": "true",
    }
    subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, check=True, timeout=240)
    got = MlflowSource(str(store)).poll(final=True)
    assert sorted((p for p in got if p[0] == "val/loss"), key=lambda p: p[2]) == [
        ("val/loss", 1.0, 0),
        ("val/loss", 0.5, 1),
        ("val/loss", 1 / 3, 2),
    ]
    assert [p for p in got if p[0] == "acc"] == [("acc", 0.5, 0), ("acc", 0.6, 1), ("acc", 0.7, 2)]


def test_metric_files_are_read_as_they_grow(tmp_path: Path) -> None:
    metrics = tmp_path / "0" / "abc" / "metrics"
    metrics.mkdir(parents=True)
    source = MlflowSource(str(tmp_path))
    assert source.poll() == []
    with open(metrics / "loss", "w") as f:
        f.write("1700000000000 0.5 0\n1700000000001 0.4 1 dataset 1a2b\n1700000000002 0.3")
        f.flush()
        assert source.poll() == [("loss", 0.5, 0), ("loss", 0.4, 1)]  # the cut line waits
        f.write(" 2\n")
        f.flush()
        assert source.poll() == [("loss", 0.3, 2)]
        (tmp_path / ".trash" / "x" / "metrics").mkdir(parents=True)
        (tmp_path / ".trash" / "x" / "metrics" / "loss").write_text("1 9 9\n")
        f.write("1700000000003 nan 3\n")
    (p,) = source.poll(final=True)
    assert p[0] == "loss" and p[1] != p[1] and p[2] == 3


def test_store_path() -> None:
    assert store_path("file:///a/b") == "/a/b"
    assert store_path("mlruns") == "mlruns"
    assert store_path("http://host:5000") is None
    assert store_path("databricks") == "databricks"  # a plain word is a relative folder
