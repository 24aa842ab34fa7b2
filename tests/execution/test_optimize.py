"""Study.optimize: inline and process trials, failures, limits, stopping and Ctrl-C."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import hypersweep as hs
from hypersweep.errors import HypersweepError, SpecError
from hypersweep.trial import Trial, TrialState
from tests import objectives

SCRIPT = Path(__file__).parents[1] / "optimize_script.py"
ROOT = Path(__file__).resolve().parents[2]


def _study(name: str = "opt", **kw: Any) -> hs.Study:
    kw.setdefault("storage", "memory")
    return hs.Study(name, space={"x": hs.Float(0, 2)}, seed=0, **kw)


def _states(study: hs.Study) -> list[str]:
    return [t.state.value for t in study.trials()]


# ----------------------------------------------------------------------------------------
# running trials
# ----------------------------------------------------------------------------------------
def test_inline_runs_in_this_process_and_returns_the_best() -> None:
    study = _study()
    best = study.optimize(objectives.quadratic_with_pid, max_trials=6)
    trials = study.trials()
    assert _states(study) == ["COMPLETED"] * 6
    assert {t.metrics["pid"] for t in trials} == {str(os.getpid())}
    assert best is not None and best.value == min(t.values[0] for t in trials if t.values)
    assert study.best_trial is not None and best.number == study.best_trial.number
    assert study.attrs["stop_reason"] == "max_trials (6) reached"


def test_max_concurrent_runs_trials_in_worker_processes_with_reports() -> None:
    study = _study()
    study.optimize(objectives.quadratic_with_pid, max_trials=6, max_concurrent=2)
    trials = study.trials()
    assert _states(study) == ["COMPLETED"] * 6
    pids = {t.metrics["pid"] for t in trials}
    assert len(pids) == 2 and str(os.getpid()) not in pids
    for t in trials:  # intermediate reports came back from the workers
        assert t.reports == {0: {"value": 0.0}, 1: {"value": 1.0}, 2: {"value": 2.0}}
        assert t.value == pytest.approx((t.params["x"] - 1) ** 2)


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_intermediate_reports_flow_back(isolation: str) -> None:
    study = _study()
    study.optimize(objectives.curve, max_trials=2, isolation=isolation)
    for t in study.trials():
        x = t.params["x"]
        assert t.reports == {s: {"value": x * s} for s in range(5)}
        assert t.value == x * 4


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_module_level_sdk_works_inside_the_function(isolation: str) -> None:
    study = _study()
    study.optimize(objectives.sdk_curve, max_trials=2, isolation=isolation)
    assert _states(study) == ["COMPLETED"] * 2
    for t in study.trials():
        x = t.params["x"]
        assert t.reports == {s: {"value": x + s} for s in range(5)}
        assert t.value == x + 4
    stopped = _study("stopped")
    stopped.optimize(objectives.sdk_curve, max_trials=1, max_steps=2, isolation=isolation)
    t = stopped.trials()[0]
    assert t.state == TrialState.STOPPED and len(t.reports) == 2
    assert t.value == t.params["x"] + 1 + 100  # should_stop() said yes after step 1


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_an_exception_fails_the_trial_with_its_traceback(isolation: str) -> None:
    study = _study()
    study.optimize(objectives.fails_when_large, max_trials=6, isolation=isolation)
    trials = study.trials()
    assert len(trials) == 6  # the study went on
    failed = [t for t in trials if t.state == TrialState.FAILED]
    completed = [t for t in trials if t.state == TrialState.COMPLETED]
    assert failed and completed
    assert all(t.params["x"] > 0.5 for t in failed)
    assert all(t.params["x"] <= 0.5 for t in completed)
    for t in failed:
        assert t.error is not None
        assert t.error.startswith("Traceback (most recent call last)")
        assert "objectives.py" in t.error
        assert f"ValueError: x too large: {t.params['x']}" in t.error
    assert study.best_trial is not None and study.best_trial.state == TrialState.COMPLETED


@pytest.mark.parametrize(
    ("fn", "reason"),
    [
        (objectives.returns_nan, "metric 'value' is nan"),
        (objectives.returns_inf, "metric 'value' is inf"),
        (objectives.returns_text, "metric 'value' is not a number: 'not a number'"),
    ],
)
def test_a_bad_result_fails_the_trial_with_the_reason(fn: Any, reason: str) -> None:
    study = _study()
    study.optimize(fn, max_trials=2)
    assert [(t.state, t.error) for t in study.trials()] == [(TrialState.FAILED, reason)] * 2
    assert study.best_trial is None


def test_a_bad_result_from_a_worker_process_fails_the_trial() -> None:
    study = _study()
    study.optimize(objectives.returns_text, max_trials=1, isolation="process")
    t = study.trials()[0]
    assert t.state == TrialState.FAILED
    assert t.error == "metric 'value' is not a number: 'not a number'"


def test_trial_timeout_ends_the_process_and_fails_the_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_TEST_PID_DIR", str(tmp_path))
    study = _study()
    start = time.monotonic()
    study.optimize(objectives.hangs, max_trials=2, max_concurrent=2, trial_timeout=4)
    elapsed = time.monotonic() - start
    assert [(t.state, t.error) for t in study.trials()] == [(TrialState.FAILED, "timeout")] * 2
    assert elapsed < 20  # not the 60 s the function sleeps
    for t in study.trials():
        assert t.duration is not None and t.duration < 15
    pids = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
    assert len(pids) == 2  # both trials were really running ...
    for pid in pids:  # ... and their processes are gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_an_unpicklable_function_needs_to_be_module_level() -> None:
    study = _study()

    def nested(params: dict[str, Any]) -> float:
        return 0.0

    for fn in (lambda p: 0.0, nested):
        with pytest.raises(HypersweepError, match="define it at module level") as info:
            study.optimize(fn, max_trials=2, max_concurrent=2)
        assert "lambda" in str(info.value) or "nested" in str(info.value)
    assert study.trials() == []  # nothing was started
    with pytest.raises(HypersweepError, match="trial_timeout needs isolation='process'"):
        study.optimize(objectives.quadratic, max_trials=1, trial_timeout=1, isolation="inline")


def test_bad_functions_and_limits_are_refused() -> None:
    study = _study()
    with pytest.raises(HypersweepError, match="fn must be callable"):
        study.optimize(42, max_trials=1)  # type: ignore[arg-type]
    with pytest.raises(HypersweepError, match=r"take \(params\) or \(params, trial\)"):
        study.optimize(lambda: 0.0, max_trials=1)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"max_trials": 0}, r"limits\.max_trials: must be a positive integer, got 0"),
        ({"max_concurrent": 1.5}, r"limits\.max_concurrent: must be a positive integer"),
        ({"timeout": -1}, r"limits\.timeout: must be a positive number of seconds"),
        ({"target": float("nan")}, r"limits\.target: must be a finite number"),
        ({"patience": True}, r"limits\.patience: must be a positive integer"),
    ]
    for kwargs, match in cases:
        with pytest.raises(SpecError, match=match):
            study.optimize(objectives.quadratic, **kwargs)
    assert study.trials() == []


# ----------------------------------------------------------------------------------------
# limits and stopping
# ----------------------------------------------------------------------------------------
def test_max_trials_counts_over_the_whole_study() -> None:
    study = _study()
    study.optimize(objectives.quadratic, max_trials=5)
    study.optimize(objectives.quadratic, max_trials=8)
    assert len(study.trials()) == 8
    study.optimize(objectives.quadratic, max_trials=8)
    assert len(study.trials()) == 8
    assert study.attrs["stop_reason"] == "max_trials (8) reached"
    resumed = hs.Study("opt", storage=study.storage)  # another Study object on the store
    resumed.optimize(objectives.quadratic, max_trials=10)
    assert len(resumed.trials()) == 10


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_target_stops_the_study(goal: str) -> None:
    study = _study(objective={"metric": "value", "goal": goal})
    fn = objectives.quadratic if goal == "minimize" else objectives.negative_quadratic
    target = 0.05 if goal == "minimize" else -0.05
    study.optimize(fn, max_trials=200, target=target)
    trials = study.trials()
    hit = [t.number for t in trials if t.values and abs(t.values[0]) <= 0.05]
    assert hit and hit[0] == trials[-1].number  # stopped at the first trial that hit it
    assert study.attrs["stop_reason"] == f"target {target:g} reached by trial {hit[0]}"


def test_patience_stops_after_trials_without_improvement() -> None:
    study = _study()
    study.optimize(objectives.constant, max_trials=50, patience=3)
    assert len(study.trials()) == 4  # the first is the best; ties are no improvement
    assert study.attrs["stop_reason"] == "no improvement in 3 completed trials"


def test_timeout_stops_the_study() -> None:
    """The limit itself, at exact times: tests/execution/test_runner.py (fake clock)."""
    study = _study()
    study.optimize(objectives.slow_quadratic, timeout=0.5)
    assert len(study.trials()) >= 1
    assert study.attrs["stop_reason"] == "timeout (0.5 s) reached"
    assert not study.trials(states=[TrialState.RUNNING])


def test_callbacks_see_every_finished_trial() -> None:
    seen: list[tuple[int, TrialState]] = []

    def callback(study: hs.Study, trial: Trial) -> None:
        assert isinstance(study, hs.Study)
        seen.append((trial.number, trial.state))

    study = _study()
    study.optimize(objectives.fails_when_large, max_trials=5, callbacks=[callback, callback])
    expected = [(t.number, t.state) for t in study.trials()]
    assert seen == [e for e in expected for _ in range(2)]


def test_a_callback_can_stop_the_study() -> None:
    def stop_after_three(study: hs.Study, trial: Trial) -> None:
        if trial.number == 2:
            study.stop("callback said so")

    study = _study()
    study.optimize(objectives.quadratic, max_trials=20, callbacks=[stop_after_three])
    assert len(study.trials()) == 3
    assert study.attrs["stop_reason"] == "stop requested (callback said so)"


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_max_steps_stops_a_trial_keeping_its_last_value(isolation: str) -> None:
    study = _study()
    study.optimize(objectives.long_curve, max_trials=2, max_steps=5, isolation=isolation)
    for t in study.trials():
        assert t.state == TrialState.STOPPED
        assert sorted(t.reports) == [0, 1, 2, 3, 4]
        assert t.values == (96.0,)  # the report at step 4, not the function's -1
        assert t.error is None
    assert study.best_value == 96.0


def test_multi_objective_optimize_returns_none_but_stores_trials() -> None:
    study = hs.Study(
        "mo",
        space={"x": hs.Float(0, 2)},
        storage="memory",
        seed=0,
        objective=["value", {"metric": "other", "goal": "maximize"}],
    )
    assert study.optimize(objectives.two_metrics, max_trials=4) is None
    assert _states(study) == ["COMPLETED"] * 4
    assert study.best_trials
    with pytest.raises(SpecError, match="only for single-objective studies"):
        study.optimize(objectives.two_metrics, max_trials=8, target=1.0)


# ----------------------------------------------------------------------------------------
# Ctrl-C
# ----------------------------------------------------------------------------------------
def _sql_missing() -> bool:
    return importlib.util.find_spec("hypersweep.storage.sql") is None


def _run_script(url: str, max_trials: int, interrupt_after: int | None) -> tuple[int, str]:
    """Run tests/optimize_script.py; send SIGINT (like Ctrl-C) after some finished trials."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), url, "ctrl-c", str(max_trials)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            finished = sum(ln.startswith("finished") for ln in lines)
            if interrupt_after is not None and finished == interrupt_after:
                os.killpg(proc.pid, signal.SIGINT)  # the whole group, as Ctrl-C does
                break
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(lines) + (out or "")


@pytest.mark.slow
@pytest.mark.skipif(_sql_missing(), reason="hypersweep.storage.sql (SQLite storage) not there yet")
def test_ctrl_c_leaves_no_trial_running_and_a_rerun_resumes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    code, output = _run_script(url, max_trials=12, interrupt_after=3)
    assert code == 130, output
    assert "interrupted" in output and "Traceback" not in output
    study = hs.Study("ctrl-c", storage=url)
    trials = study.trials()
    assert 3 <= len(trials) < 12
    assert not study.trials(states=[TrialState.RUNNING])
    queued = study.trials(states=[TrialState.QUEUED])  # interrupted: back in the queue
    for t in trials:
        assert t.state in (TrialState.COMPLETED, TrialState.QUEUED), t
    for t in queued:
        assert t.attempt == 2
        assert [a["error"] for a in t.system_attrs["attempts"]] == ["interrupted (Ctrl-C)"]
    assert study.attrs["stop_reason"] == "interrupted (Ctrl-C)"

    code, output = _run_script(url, max_trials=12, interrupt_after=None)
    assert code == 0, output
    study.sync()
    trials = study.trials()
    assert [t.number for t in trials] == list(range(12))
    # the resumed run ran the interrupted trials again (same numbers and params) and
    # ends with the 12 completed trials asked for
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 12
    assert {t.number: t.params for t in trials if t.number in {q.number for q in queued}} == {
        q.number: q.params for q in queued
    }
    assert study.attrs["stop_reason"] == "max_trials (12) reached"
