"""Trial processes die with their runner after ``kill -9`` (parent-death signal and the
watchdog), and a run restarted after the kill resumes: real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hypersweep.execution.lifeline import MARKER_VAR, marked_pids
from hypersweep.trial import TrialState
from tests.cli.test_cli import SCRIPT, counts, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _with_var(name: str, value: str) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if f"{name}={value}".encode() in env and _alive(int(p)):
            out.append(int(p))
    return out


def test_trials_and_their_detached_children_die_with_a_killed_run_which_resumes(
    tmp_path: Path,
) -> None:
    (tmp_path / "long.py").write_text(
        textwrap.dedent("""\
        import subprocess, sys, time
        subprocess.Popen(["sleep", "600"], start_new_session=True)  # leaves the group
        if sys.argv[1] == "0.5":
            time.sleep(600)  # only the first attempt hangs
        print("loss=1", flush=True)
        """)
    )
    (tmp_path / "s.yaml").write_text(
        textwrap.dedent("""\
        name: lifeline
        command: python long.py {x}
        space: {x: choice(0.5)}
        objective: {metric: loss, goal: minimize}
        limits: {max_trials: 1}
        """)
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    mark = f"lifeline-{os.getpid()}"
    env = {**os.environ, "LIFELINE_TEST": mark}
    run = subprocess.Popen(
        [SCRIPT, "run", "s.yaml", "--storage", url, "--progress", "off"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # the trial, its detached child and the watchdog
        wait_for(lambda: len(_with_var("LIFELINE_TEST", mark)) >= 4, 120, "the trial")
        run.send_signal(signal.SIGKILL)
        run.wait()
        wait_for(lambda: not _with_var("LIFELINE_TEST", mark), 30, "the trial to die")
    finally:
        for pid in _with_var("LIFELINE_TEST", mark):
            os.kill(pid, signal.SIGKILL)
    assert counts(url, "lifeline")[TrialState.RUNNING] == 1  # as the kill left it
    # the restarted run resumes: the lost trial is re-queued (attempt 2) and completes
    (tmp_path / "long.py").write_text((tmp_path / "long.py").read_text().replace("0.5", "x"))
    r = subprocess.run(
        [SCRIPT, "run", "s.yaml", "--storage", url, "--progress", "off"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "re-queued" in r.stderr
    assert counts(url, "lifeline")[TrialState.COMPLETED] == 1


def test_the_watchdog_kills_marked_processes_when_its_owner_dies(tmp_path: Path) -> None:
    owner = textwrap.dedent("""\
        import subprocess, sys, time
        from hypersweep.execution.lifeline import Watchdog
        w = Watchdog()
        w.start()
        import os
        env = {**os.environ, **w.env}
        p = subprocess.Popen(["sleep", "600"], env=env, start_new_session=True)
        w.add(p.pid)
        print(w.marker, flush=True)
        time.sleep(600)
        """)
    proc = subprocess.Popen(
        [sys.executable, "-c", owner], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert proc.stdout is not None
    marker = proc.stdout.readline().strip()
    wait_for(lambda: len(_with_var(MARKER_VAR, marker)) == 1, 60, "the child")
    proc.kill()
    proc.wait()
    wait_for(lambda: not marked_pids(marker) or not any(map(_alive, marked_pids(marker))), 30)


def test_a_clean_close_leaves_processes_alone(tmp_path: Path) -> None:
    from hypersweep.execution.lifeline import Watchdog

    w = Watchdog()
    w.start()
    p = subprocess.Popen(["sleep", "600"], env={**os.environ, **w.env}, start_new_session=True)
    try:
        w.add(p.pid)
        w.close()
        time.sleep(0.5)
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()
