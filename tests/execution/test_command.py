"""Command trials end to end: real subprocesses driven by the real Runner and Study.

The trial scripts live in ``tests/scripts/``. Every run uses ``grace=1`` so that stopping
tests stay fast.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import hypersweep as hs
from hypersweep.errors import HypersweepError
from hypersweep.execution.base import Outcome
from hypersweep.execution.command import (
    CommandExecutor,
    capture,
    command_line,
    command_placeholders,
    format_value,
    render_command,
)
from hypersweep.execution.command import executor as command_mod
from hypersweep.execution.runner import Runner
from hypersweep.limits import Limits
from hypersweep.stopping.base import Decision, Policy
from hypersweep.trial import Trial, TrialState

SCRIPTS = Path(__file__).parents[1] / "scripts"
PY = sys.executable
HAVE_SQL = importlib.util.find_spec("hypersweep.storage.sql") is not None


@pytest.fixture
def storage(tmp_path: Path) -> str:
    """A fresh SQLite file when the SQL storage exists, else in-memory."""
    return f"sqlite:///{tmp_path / 'studies.db'}" if HAVE_SQL else "memory"


def script(name: str) -> str:
    return str(SCRIPTS / name)


def sweep(
    tmp_path: Path,
    storage: str,
    command: str | list[str],
    *,
    space: dict[str, Any] | None = None,
    enqueue: list[dict[str, Any]] | None = None,
    objective: Any = "loss",
    metrics: tuple[str, ...] = ("loss",),
    max_trials: int = 1,
    max_steps: int | None = None,
    policy: Policy | None = None,
    **executor_kw: Any,
) -> tuple[hs.Study, list[Trial]]:
    """Run a sweep of ``command``; return the study and its trials."""
    study = hs.Study(
        "cmd",
        space=space or {"x": hs.Float(0, 1)},
        objective=objective,
        storage=storage,
        sampler="random",
        policy=policy,
        seed=0,
    )
    for p in enqueue or []:
        study.enqueue(p)
    executor_kw.setdefault("grace", 1.0)
    executor_kw.setdefault("workdir", str(tmp_path))
    ex = CommandExecutor(
        command, study_name="cmd", metrics=metrics, runs_dir=tmp_path / "runs", **executor_kw
    )
    limits = Limits(max_trials=max_trials, max_concurrent=ex.capacity, max_steps=max_steps)
    Runner(study, ex, limits).run()
    trials = study.trials()
    assert all(t.state.is_finished for t in trials)
    return study, trials


def run_dir(tmp_path: Path, number: int = 0) -> Path:
    return tmp_path / "runs" / "cmd" / str(number)


def emit(tmp_path: Path, text: str, **env: str) -> dict[str, Any]:
    """Executor options for ``emit.py`` printing ``text``."""
    f = tmp_path / "emit.txt"
    f.write_text(text, encoding="utf-8")
    return {"env": {"EMIT_FILE": str(f), **env}, "params_as": "env"}


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


def wait_gone(pid: int, within: float = 3.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


class StopAtStep2(Policy):
    """Stops every trial once it has reported step 2."""

    name = "stop-at-2"

    def decide(self, trial: Trial, history: Any) -> Decision:
        return Decision.STOP if trial.reports and max(trial.reports) >= 2 else Decision.CONTINUE


# ------------------------------------------------------------------------------------------
# render_command: the one place that turns parameters into argv and environment
# ------------------------------------------------------------------------------------------
def test_format_value_is_documented_formatting() -> None:
    assert format_value("a b; c") == "a b; c"
    assert format_value(True) == "true" and format_value(False) == "false"
    assert format_value(None) == "null"
    assert format_value(7) == "7"
    assert format_value(0.1) == "0.1" and format_value(1e-5) == "1e-05"
    assert format_value(3.0) == "3.0"
    x = 0.1 + 0.2
    assert float(format_value(x)) == x  # round trip
    assert format_value([1, "a"]) == '[1,"a"]'


def test_render_placeholders_and_args() -> None:
    argv, env = render_command(
        "python train.py --lr {lr} --tag={tag} '{{literal}}'",
        {"lr": 1e-3, "tag": "$(touch pwned)", "deep": True, "act": "relu"},
    )
    assert argv == [
        "python",
        "train.py",
        "--lr",
        "0.001",
        "--tag=$(touch pwned)",
        "{literal}",
        "--deep=true",
        "--act=relu",
    ]
    assert json.loads(env["HYPERSWEEP_PARAMS"]) == {
        "lr": 1e-3,
        "tag": "$(touch pwned)",
        "deep": True,
        "act": "relu",
    }
    assert set(env) == {"HYPERSWEEP_PARAMS"}


def test_render_list_command_is_used_as_is() -> None:
    argv, _ = render_command(["prog", "a b", "{x}"], {"x": "; touch pwned"})
    assert argv == ["prog", "a b", "; touch pwned"]


def test_render_env_and_json() -> None:
    argv, env = render_command("prog {a}", {"a": 1, "General/lr": 0.5, "b-c": "x y"}, "env")
    assert argv == ["prog", "1"]
    assert env["HYPERSWEEP_PARAM_GENERAL_LR"] == "0.5"
    assert env["HYPERSWEEP_PARAM_B_C"] == "x y"
    assert "HYPERSWEEP_PARAM_A" not in env
    argv, env = render_command("prog", {"a": 1}, "json", params_file="/tmp/p.json")
    assert argv == ["prog"]
    assert env == {"HYPERSWEEP_PARAMS": '{"a": 1}', "HYPERSWEEP_PARAMS_FILE": "/tmp/p.json"}


@pytest.mark.parametrize(
    ("command", "params_as", "match"),
    [
        ("prog {nope}", "args", r"placeholder \{nope\} names no parameter .*parameters: lr"),
        ("prog {lr", "args", "unclosed"),
        ("prog lr}", "args", "single"),
        ("prog {}", "args", "empty placeholder"),
        ("prog 'unbalanced", "args", "cannot split"),
        ("", "args", "empty"),
        ("prog", "yaml", "params_as"),
    ],
)
def test_render_errors(command: str, params_as: str, match: str) -> None:
    with pytest.raises(HypersweepError, match=match):
        render_command(command, {"lr": 0.1}, params_as)


def test_env_name_collision_is_an_error() -> None:
    with pytest.raises(HypersweepError, match="both map to HYPERSWEEP_PARAM_A_B"):
        render_command("prog", {"a-b": 1, "a_b": 2}, "env")


def test_placeholders_and_command_line() -> None:
    assert command_placeholders(["p", "--x={x}", "{y}{z}", "{{w}}"]) == {"x", "y", "z"}
    line = command_line("python train.py --tag {tag}", {"tag": "a b", "lr": 0.01})
    assert shlex.split(line) == ["python", "train.py", "--tag", "a b", "--lr=0.01"]
    line = command_line("python t.py", {"tag": "; touch pwned"}, "env")
    assert shlex.split(line) == ["HYPERSWEEP_PARAM_TAG=; touch pwned", "python", "t.py"]
    line = command_line("python t.py", {"x": 1}, "json")
    assert shlex.split(line) == ['HYPERSWEEP_PARAMS={"x": 1}', "python", "t.py"]


def test_constructor_validates(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"study_name": "s", "metrics": ["loss"]}
    with pytest.raises(HypersweepError, match="not found"):
        CommandExecutor("no-such-program-hs --x", **kw)
    with pytest.raises(HypersweepError, match="not found"):
        CommandExecutor("./missing.sh", workdir=str(tmp_path), **kw)
    with pytest.raises(HypersweepError, match="reduce"):
        CommandExecutor([PY], reduce="mean", **kw)
    with pytest.raises(HypersweepError, match="metrics"):
        CommandExecutor([PY], study_name="s", metrics="loss")
    with pytest.raises(HypersweepError, match="unclosed"):
        CommandExecutor([PY, "{x"], **kw)
    with pytest.raises(HypersweepError, match="trial_timeout"):
        CommandExecutor([PY], trial_timeout=0, **kw)


# ------------------------------------------------------------------------------------------
# Parameters in
# ------------------------------------------------------------------------------------------
SPACE = {"lr": hs.Float(1e-4, 1e-1, log=True), "tag": hs.Choice(["a b", "c"]), "deep": hs.Bool()}
PARAMS = {"lr": 0.001, "tag": "a b", "deep": True}


def seen(tmp_path: Path, number: int = 0) -> dict[str, Any]:
    return json.loads((run_dir(tmp_path, number) / "seen.json").read_text())


def test_params_as_args_with_placeholders(tmp_path: Path, storage: str) -> None:
    cmd = f"{shlex.quote(PY)} {shlex.quote(script('echo_params.py'))} --lr {{lr}}"
    _, trials = sweep(
        tmp_path,
        storage,
        cmd,
        space=SPACE,
        enqueue=[PARAMS],
        env={"EXTRA_VAR": "yes"},
        max_steps=5,
    )
    assert trials[0].state == TrialState.COMPLETED and trials[0].value == 1.0
    s = seen(tmp_path)
    assert s["argv"] == ["--lr", "0.001", "--tag=a b", "--deep=true"]
    env = s["env"]
    assert json.loads(env["HYPERSWEEP_PARAMS"]) == PARAMS
    assert env["HYPERSWEEP_TRIAL"] == "0" and env["HYPERSWEEP_STUDY"] == "cmd"
    assert env["HYPERSWEEP_BUDGET"] == "5"
    assert Path(env["HYPERSWEEP_RUN_DIR"]) == run_dir(tmp_path)
    assert Path(env["HYPERSWEEP_METRICS_FILE"]).parent == run_dir(tmp_path)
    assert not any(k.startswith("HYPERSWEEP_PARAM_") for k in env)
    assert s["extra"] == "yes" and Path(s["cwd"]) == tmp_path


def test_params_as_env(tmp_path: Path, storage: str) -> None:
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("echo_params.py")],
        space=SPACE,
        enqueue=[PARAMS],
        params_as="env",
    )
    assert trials[0].state == TrialState.COMPLETED
    s = seen(tmp_path)
    assert s["argv"] == []
    assert s["env"]["HYPERSWEEP_PARAM_LR"] == "0.001"
    assert s["env"]["HYPERSWEEP_PARAM_TAG"] == "a b"
    assert s["env"]["HYPERSWEEP_PARAM_DEEP"] == "true"
    assert "HYPERSWEEP_BUDGET" not in s["env"]


def test_params_as_json(tmp_path: Path, storage: str) -> None:
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("echo_params.py"), "--tag={tag}"],
        space=SPACE,
        enqueue=[PARAMS],
        params_as="json",
    )
    assert trials[0].state == TrialState.COMPLETED
    s = seen(tmp_path)
    assert s["argv"] == ["--tag=a b"]
    assert s["params_file"] == PARAMS
    assert Path(s["env"]["HYPERSWEEP_PARAMS_FILE"]) == run_dir(tmp_path) / "params.json"


@pytest.mark.parametrize("params_as", ["args", "env"])
def test_shell_metacharacters_stay_data(tmp_path: Path, storage: str, params_as: str) -> None:
    bad = ["; touch pwned", "$(touch pwned)", "`touch pwned` && touch pwned | x > pwned"]
    cmd = f"{shlex.quote(PY)} {shlex.quote(script('echo_params.py'))} {{s}} --again={{s}}"
    _, trials = sweep(
        tmp_path,
        storage,
        cmd,
        space={"s": hs.Choice(bad)},
        enqueue=[{"s": b} for b in bad],
        max_trials=3,
        params_as=params_as,
    )
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    for t in trials:
        value = t.params["s"]
        assert seen(tmp_path, t.number)["argv"] == [value, f"--again={value}"]
    assert not (tmp_path / "pwned").exists()
    assert not Path("pwned").exists()


def test_unknown_placeholder_fails_the_trial_not_the_sweep(tmp_path: Path, storage: str) -> None:
    _, trials = sweep(tmp_path, storage, [PY, script("echo_params.py"), "{nope}"], max_trials=2)
    assert [t.state for t in trials] == [TrialState.FAILED] * 2
    assert "placeholder {nope}" in (trials[0].error or "")


# ------------------------------------------------------------------------------------------
# Metrics out
# ------------------------------------------------------------------------------------------
def test_stdout_grammar(tmp_path: Path, storage: str) -> None:
    text = (
        "starting, val_loss=99 total_loss: 98\n"  # other names are kept too: step 0
        "loss=5\n"  # step 1 (auto)
        "epoch 3 val_acc=0.5 loss=4.5, lr=0.1\n"  # step 3, two metrics
        "Epoch 4/10 - loss: 4.0.\n"  # step 4
        '{"step": 7, "loss": 3.5, "val_acc": 0.75}\n'  # JSON line
        "{'loss': 3.0}\n"  # Python dict: step 8
        "progress 10%\rloss = 2.5\n"  # \r splits lines: step 9
        "loss=2.0"  # no final newline: step 10
    )
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("emit.py")],
        metrics=("loss", "val_acc"),
        **emit(tmp_path, text),
    )
    t = trials[0]
    assert t.state == TrialState.COMPLETED, t.error
    assert t.value == 2.0
    assert t.metrics == {"loss": 2.0, "val_acc": 0.75, "val_loss": 99.0, "total_loss": 98.0,
                         "lr": 0.1}  # fmt: skip
    assert t.reports[0] == {"val_loss": 99.0, "total_loss": 98.0}
    assert {s: r["loss"] for s, r in t.reports.items() if "loss" in r} == {
        1: 5.0,
        3: 4.5,
        4: 4.0,
        7: 3.5,
        8: 3.0,
        9: 2.5,
        10: 2.0,
    }
    assert t.reports[3]["val_acc"] == 0.5


def test_sdk_capture(tmp_path: Path, storage: str) -> None:
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("sdk_report.py")],
        space={"n": hs.Fixed(4), "x": hs.Float(0, 1)},
    )
    t = trials[0]
    assert t.state == TrialState.COMPLETED, t.error
    assert t.value == 7.0  # the last loss; stdout's "loss=12345" is ignored
    assert t.metrics == {"loss": 7.0, "acc": 0.3}
    assert sorted(t.reports) == [0, 1, 2, 3]
    assert t.reports[1] == {"loss": 9.0, "acc": 0.1}


@pytest.mark.parametrize(("reduce", "expected"), [("last", 2.0), ("min", 1.0), ("max", 3.0)])
def test_reduce(tmp_path: Path, storage: str, reduce: str, expected: float) -> None:
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("emit.py")],
        reduce=reduce,
        **emit(tmp_path, "loss=3\nloss=1\nloss=2\n"),
    )
    assert trials[0].state == TrialState.COMPLETED
    assert trials[0].value == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("loss=1\nloss=nan\n", "metric 'loss' is nan (step 1)"),
        ("loss: inf\n", "metric 'loss' is inf (step 0)"),
        ("loss: diverged\n", "metric 'loss' is not a number: 'diverged' (step 0)"),
        ('{"loss": "high"}\n', "metric 'loss' is not a number: 'high'"),
    ],
)
def test_bad_or_missing_objective_fails(
    tmp_path: Path, storage: str, text: str, reason: str
) -> None:
    _, trials = sweep(
        tmp_path, storage, [PY, script("emit.py")], max_trials=2, **emit(tmp_path, text)
    )
    assert [t.state for t in trials] == [TrialState.FAILED] * 2  # the study goes on
    assert reason in (trials[0].error or "")


def test_sdk_nan_fails(tmp_path: Path, storage: str) -> None:
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("sdk_report.py")],
        space={"n": hs.Fixed(5), "nan_at": hs.Fixed(1), "x": hs.Float(0, 1)},
    )
    assert trials[0].state == TrialState.FAILED
    assert trials[0].error == "metric 'loss' is nan (step 1)"


# ------------------------------------------------------------------------------------------
# Exit status
# ------------------------------------------------------------------------------------------
def test_crash_keeps_exit_code_and_stderr_tail(tmp_path: Path, storage: str) -> None:
    _, trials = sweep(tmp_path, storage, [PY, script("crash.py")])
    t = trials[0]
    assert t.state == TrialState.FAILED
    err = t.error or ""
    assert "exit code 3" in err
    assert "stderr line 29" in err and "stderr line 10" in err
    assert "stderr line 9\n" not in err  # only the last 20 lines
    assert (run_dir(tmp_path) / "stderr.log").read_text().count("\n") == 30
    assert (run_dir(tmp_path) / "stdout.log").read_text() == "loss=0.5\n"


def test_killed_by_signal(tmp_path: Path, storage: str) -> None:
    _, trials = sweep(tmp_path, storage, [PY, script("suicide.py")])
    assert trials[0].state == TrialState.FAILED
    assert (trials[0].error or "").startswith("killed by signal SIGKILL")


# ------------------------------------------------------------------------------------------
# Stopping a process
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ignore", "lower", "upper"),
    [
        ("", 0.5, 1.4),  # dies on SIGINT, right at the timeout
        ("int", 1.5, 2.4),  # SIGTERM after the 1 s grace
        ("int,term", 2.0, 2.9),  # SIGKILL 0.5 s after SIGTERM
    ],
)
def test_trial_timeout(
    tmp_path: Path, storage: str, ignore: str, lower: float, upper: float
) -> None:
    cmd = [PY, script("hang.py"), f"--ignore={ignore}"]
    t0 = time.monotonic()
    _, trials = sweep(tmp_path, storage, cmd, trial_timeout=0.5, params_as="env")
    elapsed = time.monotonic() - t0
    assert trials[0].state == TrialState.FAILED
    assert trials[0].error == "timeout"
    assert lower <= elapsed < upper
    pid = int((run_dir(tmp_path) / "ready").read_text())
    assert not alive(pid)
    assert (run_dir(tmp_path) / "STOP").exists()


def test_max_steps_stops_and_keeps_last_value(tmp_path: Path, storage: str) -> None:
    t0 = time.monotonic()
    _, trials = sweep(tmp_path, storage, [PY, script("steps.py")], max_steps=3, params_as="env")
    t = trials[0]
    assert t.state == TrialState.STOPPED
    assert sorted(t.reports) == [0, 1, 2]
    assert t.value == 8.0
    assert time.monotonic() - t0 < 3.0


def test_policy_stop_decision(tmp_path: Path, storage: str) -> None:
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("steps.py")],
        policy=StopAtStep2(),
        max_trials=2,
        params_as="env",
    )
    assert [t.state for t in trials] == [TrialState.STOPPED] * 2
    assert all(t.value == 8.0 and max(t.reports) == 2 for t in trials)


def test_stop_reaches_the_sdk(tmp_path: Path, storage: str) -> None:
    """should_stop() sees the stop (STOP file / SIGINT): the script ends by itself."""
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("sdk_report.py")],
        policy=StopAtStep2(),
        space={"n": hs.Fixed(100), "pause": hs.Fixed(0.05), "x": hs.Float(0, 1)},
    )
    t = trials[0]
    assert t.state == TrialState.STOPPED and t.value == 8.0
    assert (run_dir(tmp_path) / "stopped.txt").exists()
    assert (run_dir(tmp_path) / "STOP").exists()


@pytest.mark.parametrize("then", ["wait", "exit"])
def test_no_orphans(tmp_path: Path, storage: str, then: str) -> None:
    """A child that ignores SIGINT dies with its trial, stopped or finished."""
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("spawn_child.py"), f"--then={then}"],
        trial_timeout=1.0,
        params_as="env",
    )
    assert trials[0].state == (TrialState.FAILED if then == "wait" else TrialState.COMPLETED)
    child = int((run_dir(tmp_path) / "child.pid").read_text())
    assert wait_gone(child)


def test_stop_and_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stop() ends a trial as "stopped"; close() ends the rest within CLOSE_GRACE."""
    monkeypatch.setattr(command_mod, "CLOSE_GRACE", 0.3)
    ex = CommandExecutor(
        [PY, script("hang.py"), "--ignore={ignore}"],
        study_name="cmd",
        metrics=["loss"],
        grace=30,
        max_concurrent=2,
        runs_dir=tmp_path / "runs",
        params_as="env",
    )
    ex.open()
    ex.start(Trial(0, TrialState.RUNNING, {"ignore": ""}))
    ex.start(Trial(1, TrialState.RUNNING, {"ignore": "int"}))
    with pytest.raises(HypersweepError, match="full"):
        ex.start(Trial(2, TrialState.RUNNING, {"ignore": ""}))
    for n in (0, 1):
        while not (run_dir(tmp_path, n) / "ready").exists():
            assert ex.poll(0.05) == []
    assert ex.running == {0, 1}
    ex.stop(0)
    outs = []
    end = time.monotonic() + 5
    while not outs and time.monotonic() < end:
        outs = ex.poll(0.5)
    assert [(o.number, o.status) for o in outs] == [(0, "stopped")]
    t0 = time.monotonic()
    ex.close()
    assert time.monotonic() - t0 < 0.3 + 0.5 + 0.5  # grace cut to 0.3 s, then SIGTERM
    assert ex.running == set()
    assert not alive(int((run_dir(tmp_path, 1) / "ready").read_text()))


def test_ctrl_c_ends_every_trial(
    tmp_path: Path, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C of the runner: trials re-queued ("interrupted" on record; FAILED once the
    retries are used up), processes gone, grace shortened."""
    monkeypatch.setattr(command_mod, "CLOSE_GRACE", 0.3)
    study = hs.Study(
        "cmd",
        space={"x": hs.Float(0, 1)},
        objective="loss",
        storage=storage,
        seed=0,
        sampler="random",
    )  # no model import inside the 1 s
    ex = CommandExecutor(
        [PY, script("hang.py"), "--ignore=int"],
        study_name="cmd",
        metrics=["loss"],
        grace=30,
        max_concurrent=2,
        params_as="env",
        runs_dir=tmp_path / "runs",
    )
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            Runner(study, ex, Limits(max_trials=4, max_concurrent=2)).run()
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 1.0 + 0.3 + 0.5 + 1.0
    trials = study.trials()
    assert [(t.state, t.attempt) for t in trials] == [(TrialState.QUEUED, 2)] * 2
    assert all(t.system_attrs["attempts"][0]["error"] == "interrupted (Ctrl-C)" for t in trials)
    for n in (0, 1):
        assert not alive(int((run_dir(tmp_path, n) / "ready").read_text()))
    # with no retries left the same interruption ends them FAILED "interrupted"
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            Runner(study, ex, Limits(max_trials=2, max_concurrent=2)).run()
    finally:
        timer.cancel()
    trials = study.trials()
    assert [t.state for t in trials] == [TrialState.FAILED] * 2
    assert all("interrupted" in (t.error or "") for t in trials)


def test_concurrent_trials_overlap(tmp_path: Path, storage: str) -> None:
    _, trials = sweep(
        tmp_path,
        storage,
        [PY, script("emit.py")],
        max_trials=3,
        max_concurrent=3,
        **emit(tmp_path, "loss=1\n" * 6, EMIT_PAUSE="0.02"),
    )
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    first_end = min(t.finished_at for t in trials if t.finished_at is not None)
    assert all(t.started_at is not None and t.started_at < first_end for t in trials)
    assert not math.isnan(trials[0].value or math.nan)


def test_tail_reads_only_new_complete_lines(tmp_path: Path) -> None:
    """The incremental reader: partial last lines wait, over-long lines are skipped."""
    path = tmp_path / "out.log"
    path.write_bytes(b"")
    tail = capture.Tail(str(path), split_cr=True)
    with open(path, "ab", buffering=0) as w:
        w.write(b"a=1\nb=")
        assert tail.lines() == [b"a=1"]
        w.write(b"2\rc=3\n" + b"x" * (capture.MAX_LINE + 10))
        assert tail.lines() == [b"b=2", b"c=3"]
        w.write(b"y" * 100)
        assert tail.lines() == []
        w.write(b"z\nloss=1\nlast")
        assert tail.lines() == [b"loss=1"]
        assert tail.lines(final=True) == [b"last"]
    tail.close()


def test_a_stop_at_a_report_leaves_out_what_the_trial_reported_after_it(
    tmp_path: Path,
) -> None:
    """Reports read in one poll: a stop at step 2 keeps step 2's value as the final one
    (the later steps of the same read do not count), as the runner needs."""
    code = (  # one write: the six lines arrive together
        "import time\n"
        "print('\\n'.join('step=%d loss=%d' % (s, 10 - s) for s in range(6)), flush=True)\n"
        "time.sleep(30)\n"
    )
    ex = CommandExecutor(
        [PY, "-c", code],
        study_name="cmd",
        metrics=["loss"],
        grace=5,
        runs_dir=tmp_path / "runs",
    )
    ex.open()
    ex.start(Trial(0, TrialState.RUNNING, {}))
    reports: list[Any] = []
    end = time.monotonic() + 30
    while len(reports) < 6 and time.monotonic() < end:
        reports += [e for e in ex.poll(0.1) if not isinstance(e, Outcome)]
        if reports and len(reports) < 6:  # not all in one read: a stop would not tell
            pytest.skip("the trial's lines came in more than one read")
    assert [r.step for r in reports] == list(range(6))
    ex.stop(0, at=reports[2])
    outs: list[Any] = []
    while not outs and time.monotonic() < end:
        outs = [e for e in ex.poll(0.2) if isinstance(e, Outcome)]
    ex.close()
    assert outs[0].status == "stopped" and outs[0].result == {"loss": 8.0}
