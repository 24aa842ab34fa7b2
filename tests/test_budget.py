"""Never waste a trial (issue 14, points 1, 3, 6, 7): no repeated configurations across
resumes and processes, retries of lost and interrupted trials, failing fast, ``validate``
and ``delete``, and trial time that starts with the trial's own code. Real processes:
``hypersweep run`` subprocesses, forked CLI processes sharing one study, SIGINT, SIGKILL."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import hypersweep as hs
from hypersweep import cli
from hypersweep.errors import HypersweepError, SpecError
from hypersweep.execution.command import rerun_command
from hypersweep.history import StateCode
from hypersweep.limits import Limits
from hypersweep.spec import load_text
from hypersweep.trial import TrialState

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPT = str(Path(sys.executable).parent / "hypersweep")
PY = sys.executable


def _configs(trials: list[hs.Trial]) -> list[str]:
    return [json.dumps(t.params, sort_keys=True) for t in trials]


# ----------------------------------------------------------------------------------------
# 1. randomness = f(study seed, trial number)
# ----------------------------------------------------------------------------------------
def test_a_sampler_passed_in_is_never_changed() -> None:
    sampler = hs.samplers.make_sampler("tpe")
    study = hs.Study("s", space={"x": hs.Float(0, 1)}, storage="memory", sampler=sampler, seed=3)
    for _ in range(3):
        study.tell(study.ask(), 0.5)
    assert sampler.seed is None and study.sampler is not sampler
    assert study.sampler.seed == study.history.seed == 3
    seeded = hs.samplers.make_sampler({"name": "tpe", "seed": 5})
    assert (
        hs.Study(
            "t", space={"x": hs.Float(0, 1)}, storage="memory", sampler=seeded, seed=3
        ).sampler.seed
        == 5
    )  # its own seed wins


def test_a_study_without_a_seed_stores_one_and_resumes_with_it() -> None:
    storage = hs.storage.InMemoryStorage()
    first = hs.Study("s", space={"x": hs.Float(0, 1)}, storage=storage, sampler="random")
    seed = first.seed
    assert storage.get_study("s").attrs["seed"] == seed
    a = [first.ask().params for _ in range(3)]
    again = hs.Study("s", space={"x": hs.Float(0, 1)}, storage=storage, sampler="random")
    assert again.seed == seed
    b = [again.ask().params for _ in range(3)]
    assert len({json.dumps(p) for p in a + b}) == 6  # continued, not restarted


def test_interrupted_and_resumed_is_the_same_sequence_as_one_run() -> None:
    space = {"x": hs.Float(-5, 5), "c": hs.Choice(["a", "b", "c"])}

    def run(parts: list[int]) -> list[dict[str, Any]]:
        storage = hs.storage.InMemoryStorage()
        for n in parts:  # each part is a new Study object: a resumed process
            study = hs.Study("s", space=space, storage=storage, sampler="random", seed=4)
            for _ in range(n):
                t = study.ask()
                study.tell(t, t.params["x"] ** 2)
        return [t.params for t in hs.Study("s", storage=storage).trials()]

    assert run([9]) == run([4, 5]) == run([2, 3, 4])


def _counting(monkeypatch: pytest.MonkeyPatch, storage: Any, *names: str) -> dict[str, int]:
    calls = dict.fromkeys(names, 0)
    for name in names:
        real = getattr(storage, name)

        def counted(*a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            calls[_name] += 1
            return _real(*a, **kw)

        monkeypatch.setattr(storage, name, counted)
    return calls


def test_a_random_ask_reads_the_head_not_the_trials_and_keeps_the_sequence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random search on an infinite space reads only the study's head per ask (the next
    number, queued trials, attributes), never the rows other workers changed, and two
    workers taking turns still make the sequence of one seeded run."""
    space = {"x": hs.Float(-5, 5), "c": hs.Choice(["a", "b"])}
    url = f"sqlite:///{tmp_path / 's.db'}"

    def study(storage: Any) -> hs.Study:
        return hs.Study("s", space=space, storage=storage, sampler="random", seed=4)

    one = study("memory")
    for _ in range(6):
        one.tell(one.ask(), 1.0)
    a = study(hs.storage.open_storage(url))
    b = study(hs.storage.open_storage(url))
    calls = _counting(monkeypatch, b.storage, "sync", "load_history", "head")
    for worker in "aaabaa":
        w = a if worker == "a" else b
        w.tell(w.ask(), 1.0)
    # b's ask knew of a's three trials by the head alone
    assert calls == {"sync": 0, "load_history": 0, "head": 1}
    assert _configs(study(url).trials()) == _configs(one.trials())
    # a's trials 0-2, below b's trial 3, are not read yet: no state, in particular not
    # QUEUED (a run would take them for re-queued trials and keep asking past its budget)
    assert [t is None for t in b.history.trials[:4]] == [True, True, True, False]
    assert not (b.history.state[:3] == StateCode.QUEUED).any()
    assert b.history.counts()[TrialState.QUEUED] == 0 and b.history.n_started() == 1
    b.sync()  # the history catches up at the next sync
    assert b.history.n == 6 and all(t is not None for t in b.history.trials)

    a.enqueue({"x": 0.5, "c": "b"})  # queued trials go first
    got = b.ask()
    assert (got.number, got.params) == (6, {"x": 0.5, "c": "b"})
    b.tell(got, 1.0)

    from dataclasses import replace

    real, heads = b.storage.head, []

    def head(sid: int) -> Any:  # the first read misses a's latest trial
        h = real(sid)
        heads.append(h.n_trials)
        return replace(h, n_trials=h.n_trials - 1) if len(heads) == 1 else h

    a.tell(a.ask(), 1.0)  # trial 7
    monkeypatch.setattr(b.storage, "head", head)
    t = b.ask()  # trial 7's proposal again: refused by its key, read again, drawn anew
    assert heads == [8, 8] and t.number == 8
    assert t.params not in [u.params for u in a.trials() if u.number != 8]


@pytest.mark.parametrize(
    "kw",
    [
        {"sampler": "tpe"},
        {"sampler": "random", "space": {"a": hs.Int(0, 9), "b": hs.Bool()}},
        {"sampler": "random", "policy": "median"},
    ],
    ids=["a model reads the history", "a finite space screens repeats", "a policy decides"],
)
def test_an_ask_syncs_the_history_when_something_reads_it(
    kw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    kw = {"space": {"x": hs.Float(0, 1)}, **kw}
    a = hs.Study("s", storage=url, seed=1, **kw)
    b = hs.Study("s", storage=url, seed=1, **kw)
    a.tell(a.ask(), 1.0)
    calls = _counting(monkeypatch, b.storage, "sync", "load_history", "head")
    b.ask()
    assert calls["sync"] + calls["load_history"] == 1 and calls["head"] == 0
    assert b.history.trials[0] is not None


def test_a_finite_space_is_covered_before_any_repeat() -> None:
    study = hs.Study(
        "f", space={"a": hs.Int(0, 3), "b": hs.Bool()}, storage="memory", sampler="random", seed=0
    )
    seen = []
    for _ in range(8):
        t = study.ask()
        seen.append(json.dumps(t.params, sort_keys=True))
        study.tell(t, 1.0)
    assert len(set(seen)) == 8  # all 8 configurations, none twice
    t = study.ask()  # exhausted: a repeat is all that is left
    assert json.dumps(t.params, sort_keys=True) in seen


def _fast_readme_sweep(tmp_path: Path, max_trials: int, sleep: float = 0.05) -> Path:
    """examples/digits/sweep.yaml with the same space and sampler (random, seed 0), its
    command pointed at a fast stand-in for train.py."""
    spec = yaml.safe_load((ROOT / "examples" / "digits" / "sweep.yaml").read_text())
    assert spec["sampler"] == {"name": "random", "seed": 0}
    spec["command"] = (
        f"{PY} {HERE / 'scripts' / 'fast_train.py'} --sleep {sleep} "
        "--lr {lr} --hidden {hidden} --alpha {alpha} "
        "--batch_size {batch_size} --activation {activation}"
    )
    spec["limits"] = {"max_trials": max_trials, "max_concurrent": 2}
    spec["env"] = {}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _hs(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``hypersweep ARGS`` in a subprocess (start-up costs a second or two here)."""
    return subprocess.run([SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=180)


class _Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``hypersweep ARGS`` in this process (the same code as the command, no start-up)."""

    def run(*args: str, cwd: Path) -> _Result:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = cli.main(list(args))
        out = capsys.readouterr()
        return _Result(code, out.out, out.err)

    return run


def _cli_process(argv: list[str], cwd: str) -> None:  # runs in a forked process
    os.chdir(cwd)
    sys.exit(cli.main(argv))


def _signal_masks(pid: int) -> dict[str, str]:
    """A process's blocked, ignored and caught signal masks (Linux /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return {k: v.strip() for k, _, v in (ln.partition(":") for ln in f) if k.startswith("Sig")}


def _fork_cli(argv: list[str], cwd: Path) -> Any:
    """A real process running ``hypersweep ARGV`` (forked: no interpreter start-up)."""
    p = mp.get_context("fork").Process(target=_cli_process, args=(argv, str(cwd)))
    p.start()
    return p


@pytest.mark.slow
def test_readme_example_extended_twice_and_resumed_after_ctrl_c_never_repeats(
    tmp_path: Path,
) -> None:
    sweep = _fast_readme_sweep(tmp_path, max_trials=6, sleep=0.2)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run = ["run", str(sweep), "--storage", url, "--progress", "off"]
    for more in ([], ["--max-trials", "9"], ["--max-trials", "12"]):  # extended twice
        p = _fork_cli(run + more, tmp_path)
        p.join(120)
        assert p.exitcode == 0
    # Ctrl-C (SIGINT) in the middle of a fourth run, then the same command again. The fourth
    # run is a fresh `hypersweep` process, as at a terminal (a fork of this pytest process
    # that had imported torch and keras did not always end on SIGINT while pytest captured
    # its output), and its trials take 2 s (same command, slower script), so the Ctrl-C
    # cannot come after the run ended.
    p = subprocess.Popen(
        [SCRIPT, *run, "--max-trials", "20"],
        cwd=tmp_path,
        env={**os.environ, "FAST_TRAIN_SLEEP": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        done = hs.Study("digits-mlp", storage=url).trials([TrialState.COMPLETED])
        if len(done) >= 14:
            break
        time.sleep(0.05)
    assert p.poll() is None, "the fourth run ended before its Ctrl-C"
    masks = _signal_masks(p.pid)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 130, f"the Ctrl-C did not end the run (signal masks {masks}):\n{out}"
    interrupted = hs.Study("digits-mlp", storage=url).trials([TrialState.QUEUED])
    assert interrupted, "the Ctrl-C should have caught trials in flight"
    assert all(t.attempt == 2 for t in interrupted)
    p = _fork_cli([*run, "--max-trials", "20"], tmp_path)
    p.join(120)
    assert p.exitcode == 0
    trials = hs.Study("digits-mlp", storage=url).trials()
    configs = _configs(trials)
    assert len(set(configs)) == len(configs) == 20, "a configuration was tried twice"
    # the interrupted study ends with the number of completed trials asked for
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 20


def _fast_function_sweep(tmp_path: Path, max_trials: int) -> Path:
    """examples/digits/sweep_function.yaml (same space and sampler: random, seed 0) with a
    fast stand-in for train_fn.py:train."""
    spec = yaml.safe_load((ROOT / "examples" / "digits" / "sweep_function.yaml").read_text())
    assert spec["sampler"] == {"name": "random", "seed": 0}
    spec["name"] = "digits-mlp"
    spec["function"] = f"{HERE / 'scripts' / 'fast_fn.py'}:train"
    spec["limits"] = {"max_trials": max_trials, "max_concurrent": 1}
    path = tmp_path / "sweep_function.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("processes", [2, 3, 8])
def test_processes_sharing_one_study_hold_no_duplicate_configuration(
    backend: str,
    processes: int,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """``hypersweep run`` of the README's function sweep in 2, 3 and 8 processes at once.
    (Function trials that report nothing: command trials' reports race Study.sync,
    issue 16, fixed separately.)"""
    url = request.getfixturevalue(f"{backend}_url")
    max_trials = 3 * processes
    sweep = _fast_function_sweep(tmp_path, max_trials=max_trials)
    ctx = mp.get_context("fork")  # real processes running the CLI, without exec start-up
    argv = ["run", str(sweep), "--storage", url, "--progress", "off"]
    procs = [
        ctx.Process(target=_cli_process, args=(argv, str(tmp_path))) for _ in range(processes)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * processes
    trials = hs.Study("digits-mlp", storage=url).trials()
    configs = _configs(trials)
    assert len(configs) >= max_trials
    assert len(set(configs)) == len(configs), "two processes ran the same configuration"
    assert all(t.state == TrialState.COMPLETED for t in trials)


# ----------------------------------------------------------------------------------------
# 3. retries
# ----------------------------------------------------------------------------------------
def test_new_limits_have_one_line_errors() -> None:
    for kwargs, match in [
        ({"retries": -1}, r"^limits\.retries: must be an integer >= 0, got -1$"),
        ({"retries": 1.5}, r"^limits\.retries: must be an integer >= 0, got 1\.5$"),
        ({"retries": True}, r"^limits\.retries: must be an integer >= 0, got True$"),
        ({"max_failures": -2}, r"^limits\.max_failures: must be an integer >= 0, got -2$"),
        ({"max_failures": "3"}, r"^limits\.max_failures: must be an integer >= 0"),
        ({"retry_on": "failed"}, r"^limits\.retry_on: must be a list of failed"),
        ({"retry_on": ["lost"]}, r"^limits\.retry_on: must be a list of failed"),
        ({"retry_on": [1]}, r"^limits\.retry_on: must be a list of failed"),
    ]:
        with pytest.raises(SpecError, match=match):
            Limits(**kwargs)
    base = (
        "name: a\nfunction: math:hypot\nspace: {x: uniform(0, 1)}\n"
        "objective: {metric: loss, goal: minimize}\n"
    )
    for limits, match in [
        ("{retries: -1}", r"s\.yaml:5 limits\.retries: must be an integer >= 0, got -1"),
        ("{retries: many}", r"s\.yaml:5 limits\.retries: must be an integer >= 0"),
        ("{max_failures: 0.5}", r"s\.yaml:5 limits\.max_failures: must be an integer >= 0"),
        ("{retry_on: [oops]}", r"s\.yaml:5 limits\.retry_on: must be a list of failed"),
        ("{retry_on: failed}", r"s\.yaml:5 limits\.retry_on: must be a list of failed"),
    ]:
        with pytest.raises(SpecError, match=match) as e:
            load_text(base + f"limits: {limits}\n", "s.yaml")
        assert "\n" not in str(e.value)
    spec = load_text(base + "limits: {retries: 0, retry_on: [failed], max_failures: 0}\n")
    assert (spec.limits.retries, spec.limits.retry_on, spec.limits.max_failures) == (
        0,
        ("failed",),
        0,
    )
    with pytest.raises(SpecError, match=r"limits\.retries"):
        hs.Study("o", space={"x": hs.Float(0, 1)}, storage="memory").optimize(
            _ok, max_trials=1, retries=-1
        )


def _ok(params: dict[str, Any]) -> float:
    return params["x"]


def _raises(params: dict[str, Any]) -> float:
    raise ValueError("the objective is broken")


def _first_attempt_dies(params: dict[str, Any], trial: Any) -> float:
    marker = Path(os.environ["HS_TEST_DIR"]) / f"{params['x']!r}"
    if not marker.exists():  # the first attempt of each trial: killed from outside
        marker.write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    return params["x"]


def _fails_once(params: dict[str, Any]) -> float:
    marker = Path(os.environ["HS_TEST_DIR"]) / f"f{params['x']!r}"
    if not marker.exists():
        marker.write_text("")
        raise RuntimeError("flaky")
    return params["x"]


def test_a_killed_trial_process_is_retried_with_the_same_number_and_params(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HS_TEST_DIR", str(tmp_path))
    study = hs.Study("k", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    study.optimize(_first_attempt_dies, max_trials=2, isolation="process")
    trials = study.trials()
    assert len(trials) == 2  # a retried attempt is not a new trial
    for t in trials:
        assert (t.state, t.attempt) == (TrialState.COMPLETED, 2)
        assert t.value == t.params["x"]
        (rec,) = t.system_attrs["attempts"]
        assert rec["attempt"] == 1 and "worker process died (exit code -9)" in rec["error"]


def test_own_errors_are_retried_only_with_retry_on_failed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HS_TEST_DIR", str(tmp_path))
    plain = hs.Study("p", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    plain.optimize(_fails_once, max_trials=2, max_failures=0)
    assert [(t.state, t.attempt) for t in plain.trials()] == [(TrialState.FAILED, 1)] * 2
    for p in tmp_path.iterdir():
        p.unlink()
    retried = hs.Study("r", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    retried.optimize(_fails_once, max_trials=2, retry_on=["failed"])
    assert [(t.state, t.attempt) for t in retried.trials()] == [(TrialState.COMPLETED, 2)] * 2
    assert "RuntimeError: flaky" in retried.trials()[0].system_attrs["attempts"][0]["error"]


def test_a_timeout_requeues_running_trials_and_the_next_run_completes_them() -> None:
    study = hs.Study("t", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    study.optimize(_sleepy, max_trials=4, max_concurrent=2, timeout=0.3)
    queued = study.trials([TrialState.QUEUED])
    assert queued and not study.trials([TrialState.RUNNING, TrialState.FAILED])
    assert all(
        t.attempt == 2
        and t.system_attrs["attempts"][0]["error"].startswith("interrupted (timeout")
        for t in queued
    )
    study.optimize(_ok, max_trials=4)
    trials = study.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 4
    assert {t.number: t.params for t in queued} == {
        t.number: t.params for t in trials if t.number in {q.number for q in queued}
    }


def _sleepy(params: dict[str, Any]) -> float:
    time.sleep(30)
    return 0.0


# ----------------------------------------------------------------------------------------
# 6. fail fast, validate, delete
# ----------------------------------------------------------------------------------------
def test_optimize_fails_fast_when_the_first_trials_fail_alike() -> None:
    study = hs.Study("ff", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    with pytest.raises(
        HypersweepError,
        match=r"first 3 trials of this run all failed with "
        r"the same error: ValueError: the objective is broken; .*"
        r"max_failures",
    ) as e:
        study.optimize(_raises, max_trials=20)
    assert "\n" not in str(e.value)
    assert len(study.trials()) == 3
    other = hs.Study("ff2", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    other.optimize(_raises, max_trials=5, max_failures=0)  # 0: never stop early
    assert len(other.trials()) == 5
    five = hs.Study("ff5", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    with pytest.raises(HypersweepError, match="first 5 trials"):
        five.optimize(_raises, max_trials=20, max_failures=5)


def _cli_sweep(tmp_path: Path, command: str, name: str = "c", extra: str = "") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(
        f"name: {name}\ncommand: {command}\nspace: {{x: uniform(0, 1)}}\n"
        "objective: {metric: loss, goal: minimize}\n"
        "sampler: {name: random, seed: 2}\n"
        f"limits: {{max_trials: 20}}\n{extra}",
        encoding="utf-8",
    )
    return p


def test_run_stops_at_once_on_a_missing_script_and_exits_non_zero(
    tmp_path: Path,
    main: Any,
) -> None:
    sweep = _cli_sweep(tmp_path, f"{PY} trian.py --x {{x}}")
    r = main("run", str(sweep), "--storage", f"sqlite:///{tmp_path / 's.db'}", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"error: {sweep}:2 command: script 'trian.py' not found in '{tmp_path}'; fix the "
        "path (relative to workdir, the sweep file's folder by default)"
    ]


def test_run_fails_fast_with_one_line_and_exits_non_zero(tmp_path: Path, main: Any) -> None:
    sweep = _cli_sweep(tmp_path, f"{PY} -c \"import sys; sys.exit('no GPU found')\" {{x}}")
    url = f"sqlite:///{tmp_path / 's.db'}"
    r = main("run", str(sweep), "--storage", url, "--progress", "off", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert "first 3 trials of this run all failed with the same error" in line
    assert "no GPU found" in line and "limits.max_failures" in line
    assert len(hs.Study("c", storage=url).trials()) == 3  # not 20
    # re-running a study that completed nothing, with nothing left to run: non-zero too
    full = _cli_sweep(tmp_path, f'{PY} -c "import sys; sys.exit(1)" {{x}}', name="full", extra="")
    r = main(
        "run", str(full), "--storage", url, "--max-trials", "2", "--progress", "off", cwd=tmp_path
    )
    assert r.returncode == 1 and "all 2 trials of this run failed (none completed)" in r.stderr
    r = main(
        "run", str(full), "--storage", url, "--max-trials", "2", "--progress", "off", cwd=tmp_path
    )
    assert (
        r.returncode == 1
        and "no trial ran and the study holds no completed trial" in r.stderr
        and "hypersweep delete full" in r.stderr
    )


def test_validate_reports_every_error_of_a_file_at_once(tmp_path: Path, main: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\ncommand: python t.py --lr {lr}\n"
        "space: {lr: loguniform(0, 1), n: randint(5, 1)}\n"
        "objective: {metric: acc, goal: up}\n"
        "limits: {retries: -1, tmeout: 3}\nsampler: {name: rnd}\n",
        encoding="utf-8",
    )
    r = main("validate", str(bad), cwd=tmp_path)
    assert r.returncode == 2
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    paths = [ln.split(" ")[2].rstrip(":") for ln in errors]
    assert sorted(paths) == sorted(
        [
            "space.lr",
            "space.n",
            "objective.goal",
            "limits.retries",
            "limits.tmeout",
            "sampler.name",
        ]
    )
    assert r.stderr.splitlines()[-1] == f"{bad}: 6 errors"


def test_validate_builds_the_study_without_running_it_and_prints_trial_0(
    tmp_path: Path,
    main: Any,
) -> None:
    sweep = _fast_readme_sweep(tmp_path, max_trials=1)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    r = main("validate", str(sweep), "--storage", url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "studies.db").exists()  # nothing written
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("first trial: "))
    r = main("run", str(sweep), "--storage", url, "--progress", "off", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    study = hs.Study("digits-mlp", storage=url)
    assert line == "first trial: " + rerun_command(study.attrs["sweep"], study.trials()[0].params)


def test_delete_asks_refuses_without_a_terminal_and_deletes_with_yes(
    tmp_path: Path,
    main: Any,
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hs.Study("gone", space={"x": hs.Float(0, 1)}, storage=url, seed=0)
    study.tell(study.ask(), 1.0)
    r = main("delete", "gone", "--storage", url, cwd=tmp_path)  # stdin: not a terminal
    assert r.returncode == 2 and "pass --yes" in r.stderr
    assert [s.name for s in hs.storage.open_storage(url).list_studies()] == ["gone"]
    r = main("delete", "gone", "--storage", url, "--yes", cwd=tmp_path)
    assert r.returncode == 0 and "deleted study 'gone' (1 trials" in r.stdout
    assert hs.storage.open_storage(url).list_studies() == []
    r = main("delete", "gone", "--storage", url, "--yes", cwd=tmp_path)
    assert r.returncode == 2 and "no study named 'gone'" in r.stderr


# ----------------------------------------------------------------------------------------
# 7. trial time is the trial's own time
# ----------------------------------------------------------------------------------------
def _entered(params: dict[str, Any]) -> dict[str, float]:
    return {"value": params["x"], "entered": time.time()}


def test_function_trial_time_starts_when_the_objective_is_entered() -> None:
    study = hs.Study("tt", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    before = time.time()
    study.optimize(_entered, max_trials=4, max_concurrent=2)
    for t in study.trials():
        # the worker processes' start-up (imports, unpickling) is not the trial's time
        assert t.started_at is not None and before <= t.started_at <= t.metrics["entered"]
        assert t.metrics["entered"] - t.started_at < 1.0


def test_command_trial_time_starts_at_spawn(tmp_path: Path, main: Any) -> None:
    script = tmp_path / "t0.py"
    script.write_text("import time\nprint(f'loss={time.time()!r}')\n", encoding="utf-8")
    sweep = _cli_sweep(tmp_path, f"{PY} t0.py --x {{x}}", name="spawn")
    url = f"sqlite:///{tmp_path / 's.db'}"
    r = main(
        "run", str(sweep), "--storage", url, "--max-trials", "2", "--progress", "off", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    for t in hs.Study("spawn", storage=url).trials():
        assert t.started_at is not None and t.started_at <= t.value <= t.finished_at


def test_tell_and_requeue_refuse_bad_arguments_in_one_line() -> None:
    study = hs.Study("args", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    t = study.ask()
    for bad in ("soon", float("nan"), True):
        with pytest.raises(HypersweepError, match=r"^tell: started_at must be a UNIX time"):
            study.tell(t, 1.0, started_at=bad)  # type: ignore[arg-type]
    for bad in ("", None, 3):
        with pytest.raises(HypersweepError, match=r"^requeue: reason must be a non-empty"):
            study.requeue(t, bad)  # type: ignore[arg-type]
    assert study.requeue(t, "preempted").attempt == 2
