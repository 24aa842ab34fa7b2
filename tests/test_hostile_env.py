"""Hostile environments (issue 17, points 4 and 7): a trial that floods its output, trial
process trees that leave their process group, and storage faults. Real processes, real
SQLite files and the real PostgreSQL server; time bounds are generous on purpose."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import hypersweep as hs
from hypersweep.execution.command import CommandExecutor
from hypersweep.execution.runner import Limits, Runner
from hypersweep.storage import open_storage
from hypersweep.trial import TrialState

SCRIPTS = Path(__file__).parent / "scripts"
PY = sys.executable
CLI = str(Path(sys.executable).parent / "hypersweep")


def hs_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_for(pred, timeout: float = 60.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def flood_sweep(tmp_path: Path, storage: str, mode: str, limits: str) -> Path:
    p = tmp_path / "flood.yaml"
    p.write_text(textwrap.dedent(f"""\
        name: flood
        command: ["{PY}", "{SCRIPTS / 'flood.py'}"]
        params_as: env
        space:
          mode: {mode}
        objective: {{metric: loss, goal: minimize}}
        storage: {storage}
        limits: {limits}
        grace: 1s
        """), encoding="utf-8")
    return p


# ======================================================================================
# 4. A flood of metric lines never freezes the coordinator
# ======================================================================================
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_flood_is_bounded_and_other_trials_time_out(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """100,000 metric lines from one trial while another hangs with a 2 s trial_timeout:
    the timeout is honoured, the flood is stored at the bounded rate, and its final value
    and the summary of what was not stored are kept."""
    url = (f"sqlite:///{tmp_path / 's.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_url"))
    study = hs.Study("flood", space={"mode": hs.Choice(["lines", "hang"])}, objective="loss",
                     storage=url, sampler="random", seed=0)
    study.enqueue({"mode": "lines"})
    study.enqueue({"mode": "hang"})
    ex = CommandExecutor([PY, str(SCRIPTS / "flood.py")], study_name="flood", metrics=["loss"],
                         runs_dir=tmp_path / "runs", params_as="env", grace=0.5,
                         max_concurrent=2, trial_timeout=2.0,
                         env={"FLOOD_LINES": "100000"})
    t0 = time.monotonic()
    Runner(study, ex, Limits(max_trials=2, max_concurrent=2, trial_timeout=2.0)).run()
    assert time.monotonic() - t0 < 120
    flood, hang = study.trials()
    assert hang.state == TrialState.FAILED and hang.error == "timeout"
    assert hang.duration is not None and hang.duration < 2.0 + 30  # not held by the flood
    assert flood.state == TrialState.COMPLETED and flood.value == 0.5  # the last line
    intake = flood.system_attrs["intake"]
    assert intake["reports"] == 100_001
    assert intake["stored"] == len(flood.reports) and intake["dropped"] > 0
    assert intake["stored"] + intake["dropped"] == intake["reports"]
    # the rate bound: a burst plus the rate over the trial's life (generous)
    assert intake["stored"] <= 200 + 20 * (flood.duration or 0) + 5
    assert max(flood.reports) == 100_000  # the last report is always stored


def test_endless_flood_honours_the_sweep_timeout(tmp_path: Path) -> None:
    """`hypersweep run` with a trial that never stops printing metric lines still stops
    at its ``timeout`` and marks the trial FAILED (interrupted), exit 0."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    f = flood_sweep(tmp_path, url, "forever", "{max_trials: 1, timeout: 5s}")
    t0 = time.monotonic()
    r = hs_cli("run", str(f), "--progress", "off", cwd=tmp_path)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert "stopped: timeout (5 s) reached" in r.stdout
    assert took < 5 + 40
    # it did flood (the old loop stored ~131 reports/s and never got back to the timeout)
    assert (tmp_path / ".hypersweep/runs/flood/0/stdout.log").stat().st_size > 100_000
    s = open_storage(url)
    [t] = s.get_trials(s.get_study("flood").id)
    assert t.state == TrialState.FAILED and "interrupted (timeout" in (t.error or "")


def test_endless_flood_honours_hypersweep_stop(tmp_path: Path) -> None:
    """`hypersweep stop` from another process ends a run whose trial floods its output."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    f = flood_sweep(tmp_path, url, "forever", "{max_trials: 1}")
    run = subprocess.Popen([CLI, "run", str(f), "--progress", "off"], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log = tmp_path / ".hypersweep/runs/flood/0/stdout.log"
        wait_for(lambda: log.exists() and log.stat().st_size > 500_000, 60, "the flood")
        stop = hs_cli("stop", "flood", "--storage", url, cwd=tmp_path)
        assert stop.returncode == 0, stop.stderr
        t0 = time.monotonic()
        out, err = run.communicate(timeout=60)
        assert time.monotonic() - t0 < 60
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, err
    assert "stopped: stop requested" in out


# ======================================================================================
# 7. Trial process trees end with the trial, setsid children included
# ======================================================================================
@pytest.mark.parametrize("then", ["exit", "wait"])
def test_setsid_children_end_with_the_trial(tmp_path: Path, then: str) -> None:
    """A trial that starts `setsid sleep 300` and a double-forked daemon in a new session
    (ignoring SIGINT and SIGTERM): once the trial has ended (it exited, or was stopped by
    its trial_timeout), no process of its tree is left."""
    study = hs.Study("tree", space={"x": hs.Float(0, 1)}, objective="loss",
                     storage=f"sqlite:///{tmp_path / 's.db'}", seed=0)
    ex = CommandExecutor([PY, str(SCRIPTS / "setsid_child.py"), f"--then={then}"],
                         study_name="tree", metrics=["loss"], runs_dir=tmp_path / "runs",
                         params_as="env", grace=0.5, trial_timeout=3.0)
    Runner(study, ex, Limits(max_trials=1, trial_timeout=3.0)).run()
    [t] = study.trials()
    assert t.state == (TrialState.COMPLETED if then == "exit" else TrialState.FAILED)
    pids = [int(x) for x in (tmp_path / "runs/tree/0/children.pid").read_text().split()]
    assert len(pids) == 2
    wait_for(lambda: not any(alive(p) for p in pids), 10, f"{pids} to end")
