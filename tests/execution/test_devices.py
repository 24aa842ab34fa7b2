"""Per-trial devices for function trials (``Study.optimize(resources=..., gpus=...)``)
and the DeviceExecutor's bookkeeping; explicit device lists, no GPU needed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import hypersweep as hs
from hypersweep.errors import HypersweepError, SpecError


def device_objective(params: dict[str, float]) -> float:
    time.sleep(0.3)
    return float(os.environ["CUDA_VISIBLE_DEVICES"])


def test_function_trials_get_their_own_devices(tmp_path: Path) -> None:
    study = hs.Study("devs", {"x": hs.Float(0, 1)}, storage=f"sqlite:///{tmp_path / 'db.sqlite'}")
    study.optimize(
        device_objective,
        max_trials=8,
        max_concurrent=None,
        resources={"gpus": 0.5, "cpus": 0},
        gpus=["0", "1"],
        runs_dir=tmp_path / "runs",
    )
    values = [t.values[0] for t in study.trials() if t.values]
    assert len(values) == 8 and set(values) == {0.0, 1.0}


def test_resources_errors_name_the_key(tmp_path: Path) -> None:
    study = hs.Study("bad", {"x": hs.Float(0, 1)}, storage="memory")
    with pytest.raises(SpecError, match=r"^resources\.gpus: each trial needs 1 GPU"):
        study.optimize(device_objective, max_trials=1, resources={"gpus": 1}, gpus=[])
    with pytest.raises(SpecError, match=r"^resources\.gpu: unknown key"):
        study.optimize(device_objective, max_trials=1, resources={"gpu": 1}, gpus=["0"])
    with pytest.raises(HypersweepError, match="isolation='process'"):
        study.optimize(
            device_objective,
            max_trials=1,
            resources={"gpus": 1},
            gpus=["0"],
            isolation="inline",
        )
