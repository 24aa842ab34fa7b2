"""The ``hypersweep`` command end to end: real subprocesses, a temporary SQLite storage,
small fast scripts (tests/sweeps/quad.py)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hypersweep import cli
from hypersweep.spec import build, load
from hypersweep.storage import open_storage
from hypersweep.trial import TrialState

HERE = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(sys.executable).parent / "hypersweep")
PY = sys.executable


def sweep_file(
    tmp_path: Path,
    name: str,
    *,
    steps: int = 3,
    sleep: float = 0.0,
    max_trials: int = 6,
    max_concurrent: int = 2,
    extra: str = "",
    params_as: str = "args",
    command: str | None = None,
) -> Path:
    shutil.copy(HERE / "sweeps" / "quad.py", tmp_path / "quad.py")
    if command is None:
        x = "" if params_as == "env" else ', "--x", "{x}"'
        command = f'["{PY}", "quad.py"{x}, "--steps", "{steps}", "--sleep", "{sleep}"]'
    text = (
        textwrap.dedent(f"""\
        name: {name}
        command: {command}
        params_as: {params_as}
        space:
          x: uniform(-1, 3)
          y: choice(0, 1, 2)
        objective: {{metric: loss, goal: minimize}}
        sampler: {{name: random, seed: 1}}
        limits: {{max_trials: {max_trials}, max_concurrent: {max_concurrent}}}
        grace: 5s
        """)
        + extra
    )
    p = tmp_path / f"{name}.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def hs(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def url_of(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


def start_run(sweep: Path, url: str, cwd: Path) -> subprocess.Popen[str]:
    """``hypersweep run SWEEP`` in the background (stdout and stderr captured)."""
    return subprocess.Popen(
        [SCRIPT, "run", sweep.name, "--storage", url],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def counts(url: str, name: str) -> dict[TrialState, int]:
    storage = open_storage(url)
    try:
        return storage.count_trials(storage.get_study(name).id)
    finally:
        storage.close()


def wait_for(pred, timeout: float = 60.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# ======================================================================================
def test_run_status_best_export_ls_end_to_end(tmp_path):
    sweep = sweep_file(tmp_path, "quad")
    url = url_of(tmp_path)
    r = hs("run", sweep.name, "--storage", url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "hypersweep: study 'quad'" in out and "(new study)" in out
    # not a terminal: plain progress lines, one per finished trial
    lines = [ln for ln in out.splitlines() if ln.startswith("[")]
    assert len(lines) == 6 and lines[-1].startswith("[6/6] trial ")
    assert "best=" in lines[-1] and "completed=" in lines[-1] and "elapsed=" in lines[-1]
    assert "stopped: max_trials (6) reached" in out
    assert "best: trial " in out and "  command: cd " in out
    assert r.stderr == ""
    assert not any(st == TrialState.RUNNING and n for st, n in counts(url, "quad").items())

    # status
    r = hs("status", "quad", "--storage", url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "trials:    6 (6 completed, 0 failed)" in r.stdout
    assert "stopped:   max_trials (6) reached" in r.stdout
    r = hs("status", "quad", "--storage", url, "--json", cwd=tmp_path)
    summary = json.loads(r.stdout)
    assert summary["states"]["COMPLETED"] == 6
    best_value = summary["best"]["value"]

    # best: the printed command line reproduces the best trial's metric
    r = hs("best", "quad", "--storage", url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    command = next(ln for ln in r.stdout.splitlines() if ln.startswith("  command: "))
    command = command[len("  command: ") :]
    rerun = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, cwd="/", timeout=60
    )
    assert rerun.returncode == 0, rerun.stderr
    last = rerun.stdout.strip().splitlines()[-1]
    assert float(last.split("loss=")[1]) == best_value
    best_json = json.loads(hs("best", "quad", "--storage", url, "--json", cwd=tmp_path).stdout)
    assert best_json["values"] == {"loss": best_value} and best_json["command"] == command

    # export
    assert hs("export", "quad", "--storage", url, "--csv", "out.csv", cwd=tmp_path).returncode == 0
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert len(rows) == 6 and {"number", "state", "loss", "params.x", "params.y"} <= set(rows[0])
    assert (
        hs("export", "quad", "--storage", url, "--json", "out.json", cwd=tmp_path).returncode == 0
    )
    data = json.loads((tmp_path / "out.json").read_text())
    assert len(data["trials"]) == 6 and data["trials"][0]["reports"]

    # ls
    r = hs("ls", "--storage", url, cwd=tmp_path)
    assert r.returncode == 0
    header, row = r.stdout.splitlines()[:2]
    assert header.split() == [
        "NAME",
        "TRIALS",
        "COMPLETED",
        "FAILED",
        "RUNNING",
        "BEST",
        "OBJECTIVE",
    ]
    assert row.split()[:4] == ["quad", "6", "6", "0"]

    # re-running resumes: max_trials counts the whole study, so nothing is left to do
    r = hs("run", sweep.name, "--storage", url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(resuming with 6 trials)" in r.stdout and "max_trials (6) reached" in r.stdout
    assert "best: trial " in r.stdout
    # ... and a larger --max-trials adds trials to the same study
    r = hs(
        "run", sweep.name, "--storage", url, "--max-trials", "8", "--progress", "off", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert counts(url, "quad")[TrialState.COMPLETED] == 8


def test_default_storage_is_sqlite_in_the_working_directory(tmp_path):
    sweep = sweep_file(tmp_path, "dflt", max_trials=2)
    r = hs("run", sweep.name, "--progress", "off", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "sqlite:///.hypersweep/studies.db" in r.stdout
    assert (tmp_path / ".hypersweep" / "studies.db").exists()
    assert (tmp_path / ".hypersweep" / "runs" / "dflt" / "0" / "stdout.log").exists()
    r = hs("status", sweep.name, cwd=tmp_path)  # a sweep file names the study and storage
    assert r.returncode == 0 and "study:     dflt" in r.stdout


def test_params_as_env_and_best_command_line(tmp_path):
    sweep = sweep_file(tmp_path, "envq", params_as="env", max_trials=3)
    url = url_of(tmp_path)
    assert hs("run", sweep.name, "--storage", url, cwd=tmp_path).returncode == 0
    r = hs("best", "envq", "--storage", url, "--json", cwd=tmp_path)
    best = json.loads(r.stdout)
    assert "HYPERSWEEP_PARAM_X=" in best["command"] and "--x" not in best["command"]
    rerun = subprocess.run(
        ["bash", "-c", best["command"]], capture_output=True, text=True, timeout=60
    )
    assert float(rerun.stdout.strip().splitlines()[-1].split("loss=")[1]) == best["values"]["loss"]


def test_ctrl_c_leaves_no_running_trial_and_a_rerun_resumes(tmp_path):
    # trials of 3.2 s: after the first completes, about 10 s of the run are left for the
    # Ctrl-C to land in (with 1.6 s trials a loaded machine sometimes sent it too late)
    sweep = sweep_file(tmp_path, "intr", steps=8, sleep=0.4, max_trials=8)
    url = url_of(tmp_path)
    proc = start_run(sweep, url, tmp_path)
    try:

        def ready() -> bool:
            try:
                c = counts(url, "intr")
            except Exception:
                return False
            return c.get(TrialState.COMPLETED, 0) >= 1 and c.get(TrialState.RUNNING, 0) >= 1

        wait_for(ready, 90, "a completed and a running trial")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "interrupted" in err
    assert "stopped: interrupted (Ctrl-C)" in out
    c = counts(url, "intr")
    assert c.get(TrialState.RUNNING, 0) == 0
    assert c.get(TrialState.QUEUED, 0) >= 1  # the trials that were running: re-queued
    done_before = sum(c.values())
    assert done_before < 8

    r = hs("run", sweep.name, "--storage", url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"(resuming with {done_before} trials)" in r.stdout
    c = counts(url, "intr")
    assert sum(c.values()) == 8 and c.get(TrialState.COMPLETED, 0) == 8  # as asked
    storage = open_storage(url)
    retried = [t for t in storage.get_trials(storage.get_study("intr").id) if t.attempt == 2]
    assert retried and all(
        t.system_attrs["attempts"][0]["error"] == "interrupted (Ctrl-C)" for t in retried
    )


def test_stop_from_another_process_ends_the_run_cleanly(tmp_path):
    sweep = sweep_file(tmp_path, "stopme", steps=200, sleep=0.2, max_trials=10)
    url = url_of(tmp_path)
    proc = start_run(sweep, url, tmp_path)
    try:

        def running() -> bool:
            try:
                return counts(url, "stopme").get(TrialState.RUNNING, 0) == 2
            except Exception:
                return False

        wait_for(running, 90, "two running trials")
        r = hs("stop", "stopme", "--storage", url, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "asked study 'stopme' to stop (2 trials running now)" in r.stdout
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (out, err)
    assert took < 30
    assert "stopped: stop requested ('hypersweep stop' from pid" in out
    assert "Traceback" not in err
    c = counts(url, "stopme")
    assert c.get(TrialState.RUNNING, 0) == 0 and c[TrialState.QUEUED] == 2  # re-queued


def test_all_trials_failing_is_exit_1(tmp_path):
    sweep = sweep_file(
        tmp_path, "boom", max_trials=2, command=f'["{PY}", "-c", "import sys; sys.exit(3)"]'
    )
    r = hs("run", sweep.name, "--storage", url_of(tmp_path), cwd=tmp_path)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: all 2 trials of this run failed")
    assert "exit code 3" in err[0]
    assert "best: no completed trial yet" in r.stdout


def test_function_sweep_through_the_cli(tmp_path):
    shutil.copy(HERE / "sweeps" / "objective_fn.py", tmp_path / "objective_fn.py")
    (tmp_path / "fn.yaml").write_text(
        textwrap.dedent("""\
        name: fn
        function: objective_fn.py:quadratic
        space: {x: uniform(-2, 2), k: choice(1, 2)}
        objective: {metric: loss, goal: minimize}
        limits: {max_trials: 10, max_concurrent: 2}
        """)
    )
    r = hs("run", "fn.yaml", "--storage", url_of(tmp_path), "--seed", "0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "stopped: max_trials (10) reached" in r.stdout
    assert "function: objective_fn.py:quadratic" in r.stdout


# ======================================================================================
# In-process checks (fast)
# ======================================================================================
COMMANDS = ["run", "status", "best", "export", "ls", "stop"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_for_every_command(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "hypersweep " in out


def test_help_in_a_real_process():
    r = subprocess.run(
        [PY, "-m", "hypersweep", "run", "--help"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and "--max-trials" in r.stdout and "examples:" in r.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "nope"],
        ["best", "nope"],
        ["export", "nope", "--csv", "x.csv"],
        ["stop", "nope"],
    ],
)
def test_unknown_study_is_exit_2(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    url = url_of(tmp_path)
    open_storage(url).close()  # an existing, empty database
    assert cli.main([*argv, "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: no study named 'nope' in ")


def test_missing_database_is_exit_2_and_not_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["status", "x"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["ls"]) == 0
    assert "no studies" in capsys.readouterr().out
    assert not (tmp_path / ".hypersweep").exists()


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "s.yaml", "--max-trials", "0"], "argument --max-trials: expected a positive"),
        (["run", "s.yaml", "--timeout", "soon"], "cannot read 'soon' as a duration"),
        (["run", "s.yaml", "--storage", "mysql://x"], "unsupported URL"),
        (["export", "x"], "one of the arguments --csv --json is required"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_options_are_one_line_exit_2(argv, fragment, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err


def test_unexpected_errors_are_short_unless_debug(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)

    def boom(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "cmd_ls", boom)
    assert cli.main(["ls"]) == 1
    err = capsys.readouterr().err
    assert err == "error: unexpected RuntimeError: boom (rerun with --debug for the traceback)\n"
    assert cli.main(["--debug", "ls"]) == 1
    assert "Traceback" in capsys.readouterr().err
    assert cli.main(["ls", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_rich_display_renders_a_function_sweep(tmp_path, monkeypatch):
    from rich.console import Console

    from hypersweep.progress import RichProgress

    shutil.copy(HERE / "sweeps" / "objective_fn.py", tmp_path / "objective_fn.py")
    (tmp_path / "fn.yaml").write_text(
        textwrap.dedent("""\
        name: fn-rich
        function: objective_fn:quadratic
        space: {x: uniform(-2, 2), k: choice(1, 2)}
        objective: {metric: loss, goal: minimize}
        limits: {max_trials: 7}
        storage: memory
        """)
    )
    buf = io.StringIO()
    progress = RichProgress(Console(file=buf, force_terminal=True, width=120, color_system=None))
    try:
        study, runner = build(load(tmp_path / "fn.yaml"), progress=progress)
        assert runner.run() == "max_trials (7) reached"
    finally:
        sys.modules.pop("objective_fn", None)
        sys.path.remove(str(tmp_path))
    text = buf.getvalue()
    final = text[text.rfind("fn-rich") :]
    assert "7/7 trials" in final and "elapsed" in final
    assert "7 completed" in final and "0 failed" in final
    b = study.best_trial
    assert f"best loss={b.value:.4g} (trial {b.number})" in final
    assert "COMPLETED" in final and "params / error" in final


def test_plain_progress_prints_periodic_lines(tmp_path):
    from hypersweep.progress import PlainProgress

    shutil.copy(HERE / "sweeps" / "objective_fn.py", tmp_path / "objective_fn.py")
    (tmp_path / "fn.yaml").write_text(
        textwrap.dedent("""\
        name: fn-plain
        function: objective_fn:quadratic
        space: {x: uniform(-2, 2), k: choice(1, 2)}
        objective: {metric: loss, goal: minimize}
        limits: {max_trials: 3}
        storage: memory
        """)
    )
    buf = io.StringIO()
    try:
        _, runner = build(load(tmp_path / "fn.yaml"), progress=PlainProgress(buf, interval=0.0))
        runner.run()
    finally:
        sys.modules.pop("objective_fn", None)
        sys.path.remove(str(tmp_path))
    search, *lines = buf.getvalue().splitlines()  # the sampler in use, then the trials
    assert search == (
        "sampler: auto -> gp (1 objective, 2 unconditional parameters, tpe from trial 300); "
        "stopping: none"
    )
    finished = [ln for ln in lines if " trial " in ln and " COMPLETED " in ln]
    periodic = [ln for ln in lines if ln not in finished]
    assert len(finished) == 3 and finished[-1].startswith("[3/3] trial ")
    assert periodic and all(
        ln.startswith("[") and "best=" in ln and "elapsed=" in ln for ln in periodic
    )


def test_multi_objective_run_and_best(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(HERE / "sweeps" / "objective_fn.py", tmp_path / "objective_fn.py")
    (tmp_path / "mo.yaml").write_text(
        textwrap.dedent("""\
        name: mo
        function: objective_fn:two_metrics
        space: {x: uniform(-1, 2)}
        objective: [{metric: loss, goal: min}, {metric: cost, goal: min}]
        limits: {max_trials: 8}
        """)
    )
    try:
        assert cli.main(["run", "mo.yaml", "--progress", "off"]) == 0
        out = capsys.readouterr().out
        assert "pareto front: " in out and "stopped: max_trials (8) reached" in out
        assert cli.main(["best", "mo"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("pareto front of mo: ") and "loss=" in out and "cost=" in out
        assert cli.main(["best", "mo", "--json"]) == 0
        front = json.loads(capsys.readouterr().out)
        assert front and set(front[0]["values"]) == {"loss", "cost"}
    finally:
        sys.modules.pop("objective_fn", None)
        while str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))
