"""``hypersweep worker`` end to end: real processes on one SQLite file; ``--gpus`` with an
explicit device list (no GPU needed)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import hypersweep as hs
from hypersweep.storage import open_storage
from hypersweep.trial import TrialState
from tests.cli.test_cli import SCRIPT, start_run, sweep_file, url_of
from tests.cli.test_cli import hs as run_hs


def trials_of(url: str, name: str) -> list[hs.Trial]:
    study = hs.Study.load(name, storage=url)
    try:
        return study.trials()
    finally:
        study.storage.close()


def test_a_worker_joins_by_name_and_stops_at_its_own_max_trials(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    sweep = sweep_file(tmp_path, "joined", steps=3, sleep=0.7, max_trials=6)
    argv = ["worker", "--storage", url, "--study", "joined", "--max-trials", "2", "--wait", "120"]
    worker = subprocess.Popen(  # waits for the study: it needs no sweep file
        [SCRIPT, *argv, "--progress", "off"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = start_run(sweep, url, tmp_path)
    out, err = worker.communicate(timeout=300)
    _, run_err = run.communicate(timeout=300)
    assert worker.returncode == 0, err
    assert run.returncode == 0, run_err
    assert "--max-trials 2 of this worker reached" in out
    assert "2 finished in this run" in out
    trials = trials_of(url, "joined")
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 6
    assert len({t.worker_id for t in trials}) == 2  # the run and the worker


def test_a_study_without_a_run_configuration_says_how_to_start_it(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    hs.Study("plain", {"x": hs.Float(0, 1)}, storage=url).storage.close()
    r = run_hs("worker", "--storage", url, "--study", "plain", cwd=tmp_path)
    assert r.returncode == 2
    assert "holds no run configuration" in r.stderr and "hypersweep run" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unknown_study_without_wait_is_exit_2(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    hs.Study("other", {"x": hs.Float(0, 1)}, storage=url).storage.close()
    r = run_hs("worker", "--storage", url, "--study", "nope", cwd=tmp_path)
    assert r.returncode == 2 and "nope" in r.stderr


def _gpu_sweep(tmp_path: Path, name: str, resources: str, trials: int = 8) -> Path:
    (tmp_path / "dev.py").write_text(
        textwrap.dedent("""\
        import json, os, sys, time
        time.sleep(0.4)
        with open(os.path.join(os.environ["HYPERSWEEP_RUN_DIR"], "dev.json"), "w") as f:
            json.dump(os.environ.get("CUDA_VISIBLE_DEVICES"), f)
        print("loss=" + sys.argv[1])
        """)
    )
    p = tmp_path / f"{name}.yaml"
    p.write_text(
        textwrap.dedent(f"""\
        name: {name}
        command: python dev.py {{x}}
        space: {{x: uniform(0, 1)}}
        objective: {{metric: loss, goal: minimize}}
        limits: {{max_trials: {trials}}}
        resources: {resources}
        """)
    )
    return p


def test_half_gpus_pack_two_trials_per_device_and_set_concurrency(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    sweep = _gpu_sweep(tmp_path, "gpus", "{gpus: 0.5, cpus: 0}")
    r = run_hs("run", sweep.name, "--storage", url, "--gpus", "4,7", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "4 at a time" in r.stdout  # 2 devices x 2 shares, max_concurrent not set
    devs = [
        json.loads(p.read_text())
        for p in sorted((tmp_path / ".hypersweep" / "runs" / "gpus").glob("*/dev.json"))
    ]
    assert len(devs) == 8 and set(devs) == {"4", "7"}


def test_trials_that_need_a_gpu_refuse_a_worker_without_one(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    sweep = _gpu_sweep(tmp_path, "nogpu", "{gpus: 1}")
    r = run_hs("run", sweep.name, "--storage", url, "--gpus", "none", cwd=tmp_path)
    assert r.returncode == 2
    assert "resources.gpus: each trial needs 1 GPU but this process has none" in r.stderr


def test_the_run_configuration_is_stored_with_the_study(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    sweep = _gpu_sweep(tmp_path, "stored", "{gpus: 1, cpus: 0}", trials=1)
    r = run_hs("run", sweep.name, "--storage", url, "--gpus", "0", "--seed", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    storage = open_storage(url)
    try:
        cfg = storage.get_study("stored").attrs["run_config"]
    finally:
        storage.close()
    assert cfg["text"] == sweep.read_text()
    assert cfg["overrides"] == {"seed": 3}
    assert cfg["base_dir"] == str(tmp_path.resolve())
