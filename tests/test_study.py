"""Study: create/resume, ask/tell/report/enqueue, results, export and recovery."""

from __future__ import annotations

import csv
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.errors import HypersweepError, SpaceError, SpecError, TrialNotRunning
from hypersweep.stopping.base import Decision
from hypersweep.storage import Storage
from hypersweep.storage.memory import InMemoryStorage
from hypersweep.trial import Objective, TrialState

SPACE = {
    "x": hs.Float(0, 1),
    "n": hs.Int(1, 5),
    "opt": hs.Choice({"adam": {"beta": hs.Float(0.8, 0.99)}, "sgd": {}}),
}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def shared_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A storage that several Study objects can open (memory: one shared instance)."""
    if request.param == "memory":
        return InMemoryStorage()
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return request.getfixturevalue("postgres_url")


def _study(name: str = "s", storage: Any = "memory", **kw: Any) -> hs.Study:
    kw.setdefault("space", SPACE)
    kw.setdefault("seed", 0)
    return hs.Study(name, storage=storage, **kw)


# ----------------------------------------------------------------------------------------
# create / resume
# ----------------------------------------------------------------------------------------
def test_create_then_resume_by_name(shared_storage: Any) -> None:
    first = _study("digits", shared_storage, objective={"metric": "acc", "goal": "maximize"})
    for v in (0.1, 0.7, 0.4):
        first.tell(first.ask(), v)
    again = _study("digits", shared_storage, objective=Objective("acc", "maximize"))
    assert [t.value for t in again.trials()] == [0.1, 0.7, 0.4]
    assert again.ask().number == 3
    assert again.best_value == 0.7
    loaded = hs.Study.load("digits", storage=shared_storage)  # no space: as stored
    assert loaded.space == first.space
    assert loaded.objectives == (Objective("acc", "maximize"),)
    assert len(loaded.trials()) == 4
    other = _study("other", shared_storage)
    assert other.trials() == []


def test_objective_mismatch_on_resume_is_an_error() -> None:
    storage = InMemoryStorage()
    _study("s", storage, objective={"metric": "acc", "goal": "maximize"})
    with pytest.raises(
        SpecError,
        match=r"^objective: study 's' already exists with maximize "
        r"acc, not minimize acc; use a new study name",
    ):
        _study("s", storage, objective="acc")
    with pytest.raises(SpecError, match=r"^objective: study 's' was created with maximize acc"):
        hs.Study("s", objective="loss", storage=storage)
    with pytest.raises(SpecError, match="already exists"):
        _study("s", storage, objective=["acc", "loss"])


def test_unknown_study_without_space_and_bad_names() -> None:
    with pytest.raises(SpecError, match=r"^study: 'nope' does not exist in memory; create it"):
        hs.Study.load("nope", storage="memory")
    for bad in ("", "has space", "-dash", "x" * 201, "a/b"):
        with pytest.raises(SpecError, match=r"^name: .* is not a valid study name"):
            hs.Study(bad, space=SPACE, storage="memory")
    with pytest.raises(SpecError, match=r"^seed: must be an integer"):
        hs.Study("s", space=SPACE, storage="memory", seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"objective\.goal: must be 'minimize' or 'maximize'"):
        hs.Study("s", space=SPACE, storage="memory", objective={"metric": "a", "goal": "up"})
    with pytest.raises(SpecError, match=r"objective: metric 'a' is listed twice"):
        hs.Study("s", space=SPACE, storage="memory", objective=["a", "a"])


def test_resuming_with_an_edited_space_needs_extend_space(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = InMemoryStorage()
    s = _study("s", storage)
    s.tell(s.ask(), 1.0)
    with pytest.raises(
        SpecError,
        match=r"^space: study 's' in memory has a different "
        r"search space \(removed n, opt; changed x\); run under",
    ):
        _study("s", storage, space={"x": hs.Float(0, 10)})
    with caplog.at_level(logging.WARNING, logger="hypersweep"):
        edited = hs.Study("s", space={"x": hs.Float(0, 10)}, storage=storage, extend_space=True)
    assert "search space extended (removed n, opt; changed x)" in caplog.text
    assert hs.Study.load("s", storage).space == edited.space
    t = edited.ask()
    assert set(t.params) == {"x"}


# ----------------------------------------------------------------------------------------
# ask / tell / report / enqueue
# ----------------------------------------------------------------------------------------
def test_ask_creates_running_trials() -> None:
    s = _study()
    before = time.time()
    t = s.ask()
    assert t.number == 0 and t.state == TrialState.RUNNING
    assert s.space.validate(t.params) == t.params
    assert t.started_at is not None and t.started_at >= before - 1
    assert t.heartbeat_at is not None
    assert t.worker_id == s.worker_id and t.worker_id.split(":")[1] == str(os.getpid())
    batch = s.ask(3)
    assert [b.number for b in batch] == [1, 2, 3]
    assert len(s.ask(1)) == 1
    bad_n: list[Any] = [0, -1, True, 1.5]
    for bad in bad_n:
        with pytest.raises(HypersweepError, match="ask: n must be a positive integer"):
            s.ask(bad)


def test_tell_records_values_and_extra_metrics() -> None:
    s = _study(objective={"metric": "acc", "goal": "maximize"})
    t = s.ask()
    done = s.tell(t, {"acc": np.float32(0.5), "loss": 0.25, "note": "ok"})
    assert done.state == TrialState.COMPLETED and done.values == (0.5,)
    assert done.metrics == {"acc": 0.5, "loss": 0.25, "note": "ok"}
    assert type(done.values[0]) is float
    assert done.finished_at is not None and done.duration is not None and done.duration >= 0
    assert s.tell(s.ask().number, 0.75).value == 0.75  # by trial number too
    m = _study("m", objective=["loss", {"metric": "acc", "goal": "max"}])
    assert m.tell(m.ask(), [0.1, 0.9]).values == (0.1, 0.9)
    assert m.tell(m.ask(), {"acc": 0.8, "loss": 0.2}).values == (0.2, 0.8)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "metric 'value' is nan"),
        (float("inf"), "metric 'value' is inf"),
        (-float("inf"), "metric 'value' is -inf"),
        ("0.5", "metric 'value' is not a number: '0.5'"),
        (None, "metric 'value' is not a number: None"),
        (True, "metric 'value' is not a number: True"),
        ({"loss": 1.0}, "metric 'value' was not reported (got: loss)"),
        ([1.0, 2.0], "expected 1 objective value(s) (value), got 2"),
    ],
)
def test_bad_values_fail_the_trial_with_the_reason(value: Any, reason: str) -> None:
    s = _study()
    t = s.tell(s.ask(), value)
    assert t.state == TrialState.FAILED
    assert t.error == reason
    assert t.values is None
    assert s.best_trial is None


def test_tell_twice_or_after_failure_raises_trial_not_running(shared_storage: Any) -> None:
    s = _study("twice", shared_storage)
    t = s.ask()
    s.tell(t, 1.0)
    with pytest.raises(TrialNotRunning):
        s.tell(t, 2.0)
    f = s.ask()
    s.tell(f, error="crashed")
    with pytest.raises(TrialNotRunning):
        s.tell(f, state="COMPLETED", values=1.0)
    with pytest.raises(TrialNotRunning):
        s.report(f, 0, value=1.0)
    assert s.trials()[0].value == 1.0


def test_tell_state_and_error() -> None:
    s = _study()
    t = s.tell(s.ask(), error="Traceback ...\nValueError: boom")
    assert t.state == TrialState.FAILED and t.error == "Traceback ...\nValueError: boom"
    t = s.tell(s.ask(), state="failed")
    assert t.state == TrialState.FAILED
    for bad in ("RUNNING", "QUEUED", "done"):
        with pytest.raises(HypersweepError, match="tell: state must be"):
            s.tell(s.ask(), state=bad)
    with pytest.raises(HypersweepError, match="has no trial 999"):
        s.tell(999, 1.0)


def test_stopped_keeps_the_last_reported_value() -> None:
    s = _study(objective={"metric": "acc", "goal": "maximize"})
    t = s.ask()
    s.report(t, 0, acc=0.2)
    s.report(t, 1, acc=0.6, loss=0.3)
    s.report(t, 2, loss=0.1)  # no acc at the last step
    s.report(t, 3, acc=float("nan"))  # not finite: skipped
    stopped = s.tell(t, state=TrialState.STOPPED)
    assert stopped.state == TrialState.STOPPED and stopped.values == (0.6,)
    assert s.best_trial is not None and s.best_trial.number == t.number
    silent = s.tell(s.ask(), state="STOPPED")  # nothing reported: no value, not a failure
    assert silent.state == TrialState.STOPPED and silent.values is None
    explicit = s.tell(s.ask(), 0.9, state="STOPPED")
    assert explicit.values == (0.9,)
    assert s.best_trial.number == explicit.number


def test_report_stores_metrics_and_continues() -> None:
    s = _study()
    t = s.ask()
    assert s.report(t, 0, value=3.0, acc=0.1) == Decision.CONTINUE
    assert s.report(t, value=2.0) == Decision.CONTINUE  # next step: 1
    s.report(t.number, 5, value=1.0)
    s.report(t, 5, extra=np.float64(7.0))  # merges into step 5
    s.report(t, 6, value=float("nan"))  # intermediate NaN is kept
    s.tell(t, 1.0)
    reports = s.trials()[0].reports
    assert list(reports) == [0, 1, 5, 6]
    assert reports[0] == {"value": 3.0, "acc": 0.1}
    assert reports[5] == {"value": 1.0, "extra": 7.0}
    assert np.isnan(reports[6]["value"])
    u = s.ask()
    with pytest.raises(HypersweepError, match="step must be an integer >= 0"):
        s.report(u, -1, value=1.0)
    with pytest.raises(HypersweepError, match="metric 'value' must be a number, got str"):
        s.report(u, 0, value="x")
    with pytest.raises(HypersweepError, match="give at least one metric"):
        s.report(u, 0)


def test_enqueue_is_validated_and_runs_first() -> None:
    s = _study()
    s.tell(s.ask(), 1.0)
    with pytest.raises(SpaceError, match=r"^enqueue\.x: 2\.0 is outside \[0\.0, 1\.0\]"):
        s.enqueue({"x": 2.0, "n": 1, "opt": "sgd"})
    with pytest.raises(SpaceError, match=r"^enqueue\.beta: missing"):
        s.enqueue({"x": 0.5, "n": 1, "opt": "adam"})
    with pytest.raises(SpaceError, match=r"^enqueue\.beta: is not active"):
        s.enqueue({"x": 0.5, "n": 1, "opt": "sgd", "beta": 0.9})
    q = s.enqueue({"x": 1, "n": 2.0, "opt": "sgd"}, user_attrs={"why": "baseline"})
    assert q.state == TrialState.QUEUED and q.params == {"x": 1.0, "n": 2, "opt": "sgd"}
    assert type(q.params["n"]) is int and type(q.params["x"]) is float
    assert [t.number for t in s.trials(states=["queued"])] == [1]
    t = s.ask()
    assert t.number == 1 and t.state == TrialState.RUNNING and t.params == q.params
    assert t.user_attrs == {"why": "baseline"}
    assert s.ask().number == 2  # the queue is empty: the sampler proposes


def test_trials_filtered_by_state() -> None:
    s = _study()
    s.tell(s.ask(), 1.0)
    s.tell(s.ask(), error="x")
    s.ask()
    s.tell(s.ask(), state="STOPPED")
    s.enqueue({"x": 0.5, "n": 1, "opt": "sgd"})
    assert [t.number for t in s.trials()] == [0, 1, 2, 3, 4]
    assert [t.number for t in s.trials(states=[TrialState.COMPLETED])] == [0]
    assert [t.number for t in s.trials(states=["failed", "RUNNING"])] == [1, 2]
    assert [t.number for t in s.trials(states=[TrialState.QUEUED])] == [4]
    assert s.summary()["states"] == {
        "QUEUED": 1,
        "RUNNING": 1,
        "COMPLETED": 1,
        "STOPPED": 1,
        "FAILED": 1,
    }


# ----------------------------------------------------------------------------------------
# best
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("goal", "values", "best"),
    [
        ("minimize", [3.0, 1.0, 2.0, 1.0], 1),
        ("maximize", [0.5, 0.9, 0.9, 0.1], 1),
        ("maximize", [-5.0, -1.0, -3.0], 1),
        ("minimize", [2.0], 0),
    ],
)
def test_best_trial_is_goal_aware_and_ties_go_to_the_earlier(
    goal: str, values: list[float], best: int
) -> None:
    s = _study(objective={"metric": "score", "goal": goal})
    s.tell(s.ask(), error="failed first")  # failures never count
    s.ask()  # a running trial neither
    for v in values:
        s.tell(s.ask(), v)
    assert s.best_trial is not None
    assert s.best_trial.number == best + 2
    assert s.best_value == values[best]
    assert s.best_params == s.trials()[best + 2].params
    assert s.summary()["best"]["number"] == best + 2


def test_best_is_none_without_values_and_refused_for_several_objectives() -> None:
    s = _study()
    assert s.best_trial is None and s.best_params is None and s.best_value is None
    s.tell(s.ask(), error="x")
    assert s.best_trial is None
    m = _study("m", objective=["a", "b"])
    m.tell(m.ask(), [1.0, 2.0])
    with pytest.raises(HypersweepError, match="has 2 objectives: use best_trials"):
        _ = m.best_trial


def test_best_trials_is_the_pareto_front() -> None:
    s = _study(objective=[{"metric": "acc", "goal": "maximize"}, "latency"])
    points = [(0.9, 10.0), (0.8, 5.0), (0.7, 7.0), (0.95, 20.0), (0.8, 5.0), (0.6, 30.0)]
    for acc, lat in points:
        s.tell(s.ask(), {"acc": acc, "latency": lat})
    s.tell(s.ask(), error="x")
    assert [t.number for t in s.best_trials] == [0, 1, 3, 4]
    single = _study("single")
    for v in (2.0, 1.0, 1.0):
        single.tell(single.ask(), v)
    assert [t.number for t in single.best_trials] == [1, 2]


# ----------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------
def _filled_study() -> hs.Study:
    s = _study(objective={"metric": "acc", "goal": "maximize"})
    t = s.ask()
    s.report(t, 0, acc=0.1)
    s.report(t, 1, acc=float("nan"))
    s.tell(t, {"acc": 0.5, "loss": 0.3, "note": "ok"})
    s.set_user_attr(t, "tag", "first")
    s.tell(s.ask(), error='Traceback:\n  File "x", line 1\nValueError: a, "b"')
    s.ask()
    return s


def test_export_csv_reads_back(tmp_path: Path) -> None:
    s = _filled_study()
    path = s.export(tmp_path / "out" / "trials.csv")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["number"] for r in rows] == ["0", "1", "2"]
    assert [r["state"] for r in rows] == ["COMPLETED", "FAILED", "RUNNING"]
    first = rows[0]
    assert float(first["acc"]) == 0.5
    assert float(first["params.x"]) == s.trials()[0].params["x"]
    assert first["metrics.loss"] == "0.3" and first["metrics.note"] == "ok"
    assert first["user_attrs.tag"] == "first" and first["last_step"] == "1"
    assert rows[1]["acc"] == "" and rows[1]["error"].endswith('ValueError: a, "b"')
    assert "\n" in rows[1]["error"]
    opt_columns = [c for c in rows[0] if c.startswith("params.")]
    assert {"params.x", "params.n", "params.opt"} <= set(opt_columns)


def test_export_json_reads_back(tmp_path: Path) -> None:
    s = _filled_study()
    path = s.export(tmp_path / "trials.json")

    def strict(constant: str) -> Any:
        raise ValueError(f"not strict JSON: {constant}")

    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=strict)
    assert data["study"] == "s"
    assert data["objectives"] == [{"metric": "acc", "goal": "maximize"}]
    assert hs.Space(data["space"]) == s.space
    trials = data["trials"]
    assert [t["state"] for t in trials] == ["COMPLETED", "FAILED", "RUNNING"]
    assert trials[0]["values"] == [0.5] and trials[0]["params"] == s.trials()[0].params
    assert trials[0]["reports"] == {"0": {"acc": 0.1}, "1": {"acc": None}}  # NaN -> null
    assert trials[0]["user_attrs"] == {"tag": "first"}
    assert trials[1]["values"] is None and "ValueError" in trials[1]["error"]
    assert s.export(tmp_path / "as-json.txt", format="json").exists()
    with pytest.raises(HypersweepError, match="unknown format 'txt'"):
        s.export(tmp_path / "x.txt")


def test_user_attrs_must_be_json() -> None:
    s = _study()
    t = s.ask()
    assert s.set_user_attr(t, "k", {"a": [1, 2]}).user_attrs == {"k": {"a": [1, 2]}}
    with pytest.raises(HypersweepError, match="user attribute 'bad' is not JSON-serializable"):
        s.set_user_attr(t, "bad", object())


# ----------------------------------------------------------------------------------------
# recovery
# ----------------------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _running(s: hs.Study, worker_id: str, heartbeat_age: float = 0.0) -> int:
    storage: Storage = s.storage
    t = storage.create_trial(
        s._id,
        {"x": 0.5, "n": 1, "opt": "sgd"},
        state=TrialState.RUNNING,
        worker_id=worker_id,
        now=time.time() - heartbeat_age,
    )
    return t.number


def test_recover_fails_trials_of_dead_workers_and_stale_heartbeats(
    shared_storage: Any,
) -> None:
    s = _study("rec", shared_storage)
    host = socket.gethostname()
    dead = _running(s, f"{host}:{_dead_pid()}:a1b2c3d4")
    stale = _running(s, "elsewhere:123:a1b2c3d4", heartbeat_age=600)
    alive_remote = _running(s, "elsewhere:124:a1b2c3d4")
    alive_local = _running(s, f"{host}:{os.getppid()}:a1b2c3d4")
    mine = s.ask().number
    assert sorted(s.recover(stale_after=60)) == [dead, stale]
    by_number = {t.number: t for t in s.trials()}
    for n in (dead, stale):
        assert by_number[n].state == TrialState.FAILED
        assert by_number[n].error == "worker lost"
    for n in (alive_remote, alive_local, mine):
        assert by_number[n].state == TrialState.RUNNING
    assert s.recover(stale_after=60) == []
    with pytest.raises(TrialNotRunning):  # a late result of a lost trial is refused
        s.tell(dead, 1.0)


def test_heartbeat_refreshes_running_trials(shared_storage: Any) -> None:
    s = _study("beat", shared_storage)
    kept = _running(s, "elsewhere:1:abc", heartbeat_age=600)
    lost = _running(s, "elsewhere:2:abc", heartbeat_age=600)
    s.heartbeat([kept])
    assert s.recover(stale_after=60) == [lost]
    assert s.trials()[kept].state == TrialState.RUNNING


def test_stop_request_is_stored() -> None:
    s = _study()
    s.stop("enough")
    assert s.attrs["stop_requested"] == "enough"


def test_recover_requeues_lost_trials_up_to_retries(shared_storage: Any) -> None:
    s = _study("retry", shared_storage)
    host = socket.gethostname()
    lost = _running(s, f"{host}:{_dead_pid()}:a1b2c3d4")
    params = s.trials()[lost].params
    assert s.recover(stale_after=60, retries=1) == [lost]
    again = s.ask()  # the queue first: the same trial, its second attempt
    assert (again.number, again.params, again.attempt) == (lost, params, 2)
    assert again.system_attrs["attempts"][0]["error"] == "worker lost"
    with pytest.raises(TrialNotRunning):  # a late write of the first attempt is refused
        s.storage.finish_trial(s._id, again.id, TrialState.COMPLETED, values=[1.0], attempt=1)
    # lost again: no retry left -> FAILED, both attempts on record
    s.storage.recover_stale_trials(s._id, time.time() + 1, retries=1)
    t = s.trials()[lost]
    assert (t.state, t.error, t.attempt) == (TrialState.FAILED, "worker lost", 2)
    assert len(s.trials()) == lost + 1  # a retried attempt is not a new trial
