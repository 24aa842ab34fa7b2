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
from hypersweep.execution.runner import Runner
from hypersweep.limits import Limits
from hypersweep.storage import open_storage
from hypersweep.trial import TrialState

SCRIPTS = Path(__file__).parents[1] / "scripts"
PY = sys.executable
CLI = str(Path(sys.executable).parent / "hypersweep")


def hs_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


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
    p.write_text(
        textwrap.dedent(f"""\
        name: flood
        command: ["{PY}", "{SCRIPTS / "flood.py"}"]
        params_as: env
        space:
          mode: {mode}
        objective: {{metric: loss, goal: minimize}}
        storage: {storage}
        limits: {limits}
        grace: 1s
        """),
        encoding="utf-8",
    )
    return p


# ======================================================================================
# 4. A flood of metric lines never freezes the coordinator
# ======================================================================================
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_flood_is_bounded_and_other_trials_time_out(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """50,000 metric lines from one trial while another hangs with a 2 s trial_timeout:
    the timeout is honoured, the flood is stored at the bounded rate, and its final value
    and the summary of what was not stored are kept."""
    url = (
        f"sqlite:///{tmp_path / 's.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    study = hs.Study(
        "flood",
        space={"mode": hs.Choice(["lines", "hang"])},
        objective="loss",
        storage=url,
        sampler="random",
        seed=0,
    )
    study.enqueue({"mode": "lines"})
    study.enqueue({"mode": "hang"})
    ex = CommandExecutor(
        [PY, str(SCRIPTS / "flood.py")],
        study_name="flood",
        metrics=["loss"],
        runs_dir=tmp_path / "runs",
        params_as="env",
        grace=0.5,
        max_concurrent=2,
        trial_timeout=2.0,
        env={"FLOOD_LINES": "50000"},
    )
    t0 = time.monotonic()
    Runner(study, ex, Limits(max_trials=2, max_concurrent=2, trial_timeout=2.0)).run()
    assert time.monotonic() - t0 < 120
    flood, hang = study.trials()
    assert hang.state == TrialState.FAILED and hang.error == "timeout"
    assert hang.duration is not None and hang.duration < 2.0 + 30  # not held by the flood
    assert flood.state == TrialState.COMPLETED and flood.value == 0.5  # the last line
    intake = flood.system_attrs["intake"]
    assert intake["reports"] == 50_001
    assert intake["stored"] == len(flood.reports) and intake["dropped"] > 0
    assert intake["stored"] + intake["dropped"] == intake["reports"]
    # the rate bound: a burst plus the rate over the trial's life (generous)
    assert intake["stored"] <= 200 + 20 * (flood.duration or 0) + 5
    assert max(flood.reports) == 50_000  # the last report is always stored
    # the trial itself was told (HYPERSWEEP_NOTICE_FILE, read by hypersweep.notices())
    told = (tmp_path / "runs" / "flood" / "0" / "stderr.log").read_text()
    assert "notice: more than 20 reports per second" in told, told


def test_endless_flood_honours_the_sweep_timeout(tmp_path: Path) -> None:
    """`hypersweep run` with a trial that never stops printing metric lines still stops
    at its ``timeout``; the interrupted trial goes back to the queue for its retry, and as
    no trial of the run completed the exit status is 1."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    f = flood_sweep(tmp_path, url, "forever", "{max_trials: 1, timeout: 5s}")
    t0 = time.monotonic()
    r = hs_cli("run", str(f), "--progress", "off", cwd=tmp_path)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert "no trial of this run completed: timeout (5 s) reached" in r.stderr
    assert took < 5 + 40
    # it did flood (the old loop stored ~131 reports/s and never got back to the timeout)
    assert (tmp_path / ".hypersweep/runs/flood/0/stdout.log").stat().st_size > 100_000
    s = open_storage(url)
    [t] = s.get_trials(s.get_study("flood").id)
    assert t.state == TrialState.QUEUED and t.attempt == 2
    assert "interrupted (timeout" in str(t.system_attrs.get("attempts"))


def test_endless_flood_honours_hypersweep_stop(tmp_path: Path) -> None:
    """`hypersweep stop` from another process ends a run whose trial floods its output."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    f = flood_sweep(tmp_path, url, "forever", "{max_trials: 1}")
    run = subprocess.Popen(
        [CLI, "run", str(f), "--progress", "off"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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
    study = hs.Study(
        "tree",
        space={"x": hs.Float(0, 1)},
        objective="loss",
        storage=f"sqlite:///{tmp_path / 's.db'}",
        seed=0,
    )
    ex = CommandExecutor(
        [PY, str(SCRIPTS / "setsid_child.py"), f"--then={then}"],
        study_name="tree",
        metrics=["loss"],
        runs_dir=tmp_path / "runs",
        params_as="env",
        grace=0.5,
        trial_timeout=3.0,
    )
    Runner(study, ex, Limits(max_trials=1, trial_timeout=3.0)).run()
    [t] = study.trials()
    assert t.state == (TrialState.COMPLETED if then == "exit" else TrialState.FAILED)
    pids = [int(x) for x in (tmp_path / "runs/tree/0/children.pid").read_text().split()]
    assert len(pids) == 2
    wait_for(lambda: not any(alive(p) for p in pids), 10, f"{pids} to end")


# ======================================================================================
# 7. Storage faults
# ======================================================================================
def quick_sweep(
    tmp_path: Path,
    storage: str,
    *,
    sleep: float = 0.0,
    steps: int = 1,
    max_trials: int = 40,
    max_concurrent: int = 2,
) -> Path:
    p = tmp_path / "quick.yaml"
    p.write_text(
        textwrap.dedent(f"""\
        name: quick
        command: ["{PY}", "{SCRIPTS / "steps.py"}"]
        params_as: env
        env: {{PAUSE: "{sleep}", STEPS: "{steps}"}}
        space:
          x: uniform(0, 1)
        objective: {{metric: loss, goal: minimize}}
        sampler: {{name: random, seed: 0}}
        storage: {storage}
        limits: {{max_trials: {max_trials}, max_concurrent: {max_concurrent}}}
        grace: 1s
        """),
        encoding="utf-8",
    )
    return p


def test_parent_of_the_database_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    url = f"sqlite:///{tmp_path / 'afile' / 'sub' / 's.db'}"
    r = hs_cli("run", str(quick_sweep(tmp_path, url)), "--progress", "off", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"error: storage: cannot use {url}: {str(tmp_path / 'afile')!r} is a file, not a "
        "folder; choose another path for the database"
    ]
    with pytest.raises(hs.StorageError, match="is a file, not a folder"):
        hs.Study("q", space={"x": hs.Float(0, 1)}, storage=url)


def test_database_deleted_mid_sweep_stops_the_run(tmp_path: Path) -> None:
    """The database's folder is deleted while trials run: the run stops with exit 1 and
    one line saying so (SQLite alone would go on writing to the deleted file and end
    with exit 0 and every result lost)."""
    db_dir = tmp_path / "db"
    url = f"sqlite:///{db_dir / 's.db'}"
    f = quick_sweep(tmp_path, url, sleep=0.1, steps=5, max_trials=500)
    run = subprocess.Popen(
        [CLI, "run", str(f), "--progress", "off"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: (
                len(list((tmp_path / ".hypersweep/runs/quick").glob("*"))) >= 4
                if (tmp_path / ".hypersweep/runs/quick").exists()
                else False
            ),
            60,
            "some trials",
        )
        import shutil

        shutil.rmtree(db_dir)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 1, (out, err)
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert f"the database file {str(db_dir / 's.db')!r} was deleted while in use" in lines[0]
    assert "its folder is gone" in lines[0]


def _can_mount_tmpfs() -> bool:
    if sys.platform != "linux" or not Path("/usr/bin/unshare").exists():
        return False
    r = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True
    )
    return r.returncode == 0


# status, resume, status: in one process (the tmpfs exists only in its mount namespace)
AFTER = (
    "import contextlib, sys\n"
    "from hypersweep import cli\n"
    "def run(out, *args):\n"
    '    with open(out, "w") as o, contextlib.redirect_stdout(o):\n'
    "        cli.main(list(args))\n"
    'run("status.json", "status", "quick", "--storage", "{url}", "--json")\n'
    'run("resume.out", "run", "{f}", "--progress", "off", "--max-trials", "1")\n'
    'run("status2.json", "status", "quick", "--storage", "{url}", "--json")\n'
)


@pytest.mark.skipif(
    not _can_mount_tmpfs(),
    reason="needs a private mount namespace (unshare -m) to mount a small "
    "tmpfs; the max_page_count test covers SQLITE_FULL without it",
)
def test_full_disk_stops_the_run_and_resume_cleans_up(tmp_path: Path) -> None:
    """The database lives on a real 2 MiB tmpfs that fills up mid-sweep (ENOSPC, so
    SQLITE_FULL): the run stops with exit 1 and one line that says the disk is full and
    which trials could not be marked FAILED; once there is space again, status shows
    them and the next run recovers them (re-queued for their retry, as a lost worker's)."""
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    url = f"sqlite:///{db_dir / 's.db'}"
    f = quick_sweep(tmp_path, url, steps=5, max_trials=5000)
    script = textwrap.dedent(f"""\
        set -u
        mount -t tmpfs -o size=2m tmpfs {db_dir}
        {CLI} run {f} --progress off > run.out 2> run.err
        echo "rc=$?" >> run.out
        mount -o remount,size=50m {db_dir}
        {PY} -c '{AFTER.format(url=url, f=f)}'
        """)
    subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=tmp_path, timeout=300, check=True)
    out = (tmp_path / "run.out").read_text()
    err = (tmp_path / "run.err").read_text()
    assert "rc=1" in out, (out, err)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err
    assert "database or disk is full (free some space, then run again to resume)" in errors[0]
    import json

    before = json.loads((tmp_path / "status.json").read_text())["states"]
    after = json.loads((tmp_path / "status2.json").read_text())["states"]
    assert before["COMPLETED"] >= 1
    stuck = before["RUNNING"]
    if stuck:  # the storage refused to mark them: the message names them
        assert "could not be marked FAILED" in errors[0]
    else:
        assert "no trial was left RUNNING" in errors[0]
    assert after["RUNNING"] == 0
    assert after["FAILED"] + after["QUEUED"] == before["FAILED"] + before["QUEUED"] + stuck
    assert after["COMPLETED"] == before["COMPLETED"]


def test_sqlite_full_stops_the_run_with_no_trial_left_running(tmp_path: Path) -> None:
    """A real SQLITE_FULL (the database may not grow past ``PRAGMA max_page_count``) while
    trials report: the runner stops, ends its trials (the storage still accepts the
    in-place updates that mark them FAILED) and raises one line."""
    import sqlalchemy as sa

    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    study = hs.Study("full", space={"x": hs.Float(0, 1)}, objective="loss", storage=url, seed=0)
    import sqlite3

    with sqlite3.connect(db) as c:
        pages = c.execute("PRAGMA page_count").fetchone()[0]

    def cap(dbapi_conn, _record):  # every new connection of this test's database
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 1}")

    sa.event.listen(sa.engine.Engine, "connect", cap)
    try:
        study.storage.close()  # reconnect: the cap applies from here on
        ex = CommandExecutor(
            [PY, str(SCRIPTS / "steps.py")],
            study_name="full",
            metrics=["loss"],
            runs_dir=tmp_path / "runs",
            params_as="env",
            grace=0.5,
            max_concurrent=2,
            env={"PAUSE": "0.001"},
        )
        with pytest.raises(hs.StorageError) as info:
            Runner(study, ex, Limits(max_trials=50, max_concurrent=2)).run()
    finally:
        sa.event.remove(sa.engine.Engine, "connect", cap)
    msg = str(info.value)
    assert "\n" not in msg and "database or disk is full" in msg
    assert "the run was stopped" in msg
    s = open_storage(url)
    trials = s.get_trials(s.get_study("full").id)
    assert trials and not any(t.state == TrialState.RUNNING for t in trials)
    assert "no trial was left RUNNING" in msg


def _make_study(url: str, n: int = 3) -> float:
    study = hs.Study("ro", space={"x": hs.Float(0, 1)}, objective="loss", storage=url, seed=0)
    for _ in range(n):
        t = study.ask()
        study.tell(t, t.params["x"])
    best = study.best_value
    study.storage.close()
    assert best is not None
    return best


def _unprivileged() -> list[str]:
    """A prefix that runs a command without the power to write read-only files."""
    if os.geteuid() != 0:
        return []
    if not Path("/usr/bin/setpriv").exists():
        pytest.skip("running as root without setpriv: a 0444 file would still be writable")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _read_commands(url: str, out_dir: Path, run_error: str | None = None) -> None:
    """status, ls, best and export all read the read-only database; run says in one line
    that it is read-only. In this process (the callers run it as another user or in
    another mount namespace)."""
    import contextlib
    import io

    from hypersweep import cli

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main(list(args))
        return rc, out.getvalue(), err.getvalue()

    rc, out, err = run("status", "ro", "--storage", url)
    assert rc == 0 and "3 (3 completed, 0 failed)" in out, err
    rc, out, err = run("ls", "--storage", url)
    assert rc == 0 and "ro " in out, err
    rc, out, err = run("best", "ro", "--storage", url, "--json")
    assert rc == 0, err
    rc, out, err = run("export", "ro", "--storage", url, "--csv", str(out_dir / "ro.csv"))
    assert rc == 0, err
    assert len((out_dir / "ro.csv").read_text().splitlines()) == 4
    sweep = out_dir / "ro.yaml"
    sweep.write_text(
        textwrap.dedent("""\
        name: ro
        command: [/bin/true]
        space: {x: uniform(0, 1)}
        objective: {metric: loss, goal: minimize}
        """),
        encoding="utf-8",
    )
    rc, out, err = run("run", str(sweep), "--storage", url, "--progress", "off")
    assert rc == 1
    [line] = err.strip().splitlines()
    assert line.startswith(run_error or f"error: storage: {url} is read-only"), line
    assert "read-only" in line


def _in_subprocess(prefix: list[str], setup: str, url: str, out_dir: Path) -> None:
    code = setup + textwrap.dedent(f"""\
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import test_hostile_env as t
        t._read_commands({url!r}, Path({str(out_dir)!r}))
        """)
    r = subprocess.run(
        [*prefix, PY, "-c", code], capture_output=True, text=True, timeout=300, cwd=out_dir
    )
    assert r.returncode == 0, r.stderr


def test_read_only_file_and_folder_can_be_read(tmp_path: Path) -> None:
    """A database file with mode 0444 in a folder with mode 0555 (no write permission at
    all: SQLite cannot even create its WAL index there): read commands work, nothing is
    left behind, `run` says in one line that the database is read-only."""
    import shutil
    import tempfile

    prefix = _unprivileged()
    base = Path(tempfile.mkdtemp(prefix="hs-ro-"))
    try:
        os.chmod(base, 0o755)
        db_dir = base / "db"
        db_dir.mkdir()
        url = f"sqlite:///{db_dir / 's.db'}"
        _make_study(url)
        out_dir = base / "out"
        out_dir.mkdir()
        os.chmod(out_dir, 0o777)
        os.chmod(db_dir / "s.db", 0o444)
        os.chmod(db_dir, 0o555)
        _in_subprocess(prefix, "", url, out_dir)
        assert sorted(p.name for p in db_dir.iterdir()) == ["s.db"]
    finally:
        os.chmod(base / "db", 0o755)
        shutil.rmtree(base)


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs a private mount namespace")
def test_read_only_filesystem_can_be_read(tmp_path: Path) -> None:
    """The database's folder is a read-only mount (EROFS for everyone, root included)."""
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    url = f"sqlite:///{db_dir / 's.db'}"
    _make_study(url)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    setup = textwrap.dedent(f"""\
        import subprocess
        subprocess.run(["mount", "--bind", {str(db_dir)!r}, {str(db_dir)!r}], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", {str(db_dir)!r}], check=True)
        """)
    _in_subprocess(["unshare", "-m"], setup, url, out_dir)
    assert sorted(p.name for p in db_dir.iterdir()) == ["s.db"]


def test_read_only_postgres_can_be_read(postgres_url: str, tmp_path: Path) -> None:
    """A PostgreSQL session that may not write (default_transaction_read_only): read
    commands work; `run` fails with one line."""
    _make_study(postgres_url)
    ro_url = postgres_url + "%20-cdefault_transaction_read_only%3Don"
    _read_commands(ro_url, tmp_path, run_error="error: storage: ReadOnlySqlTransaction")


def test_notices_are_empty_outside_a_command_trial(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HYPERSWEEP_NOTICE_FILE", raising=False)
    assert hs.notices() == []
    monkeypatch.setenv("HYPERSWEEP_NOTICE_FILE", str(tmp_path / "NOTICE"))
    assert hs.notices() == []  # nothing said yet
    (tmp_path / "NOTICE").write_text("first\nsecond\n", encoding="utf-8")
    assert hs.notices() == ["first", "second"]
