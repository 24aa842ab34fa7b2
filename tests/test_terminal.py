"""What the terminal shows while a sweep runs: the sampler in use (what ``auto`` chose and
why), the stopping policy, and the running trials' current step and latest value, in the
live display, the plain log and ``hypersweep status`` (from another process too)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import hypersweep as hs
from hypersweep.execution.runner import Runner
from hypersweep.limits import Limits
from hypersweep.progress import PlainProgress, RichProgress
from hypersweep.samplers.auto import AutoSampler
from hypersweep.space import Choice, Float
from hypersweep.storage import open_storage
from hypersweep.testing.executors import FakeClock, FakeExecutor, FakePlan
from hypersweep.trial import TrialState
from tests.cli.test_cli import counts, start_run, sweep_file, url_of, wait_for
from tests.cli.test_cli import hs as hs_cli


def _study(name: str, space: Any = None, **kw: Any) -> hs.Study:
    return hs.Study(name, space or {"x": Float(0, 1)}, "loss", storage="memory", seed=0, **kw)


@pytest.mark.parametrize(
    ("space", "objectives", "expect"),
    [
        (
            {"x": Float(0, 1), "y": Float(0, 1)},
            "loss",
            "auto -> gp (1 objective, 2 unconditional parameters, tpe from trial 300)",
        ),
        (
            {"opt": Choice({"adam": {"b1": Float(0.8, 0.99)}, "sgd": {}})},
            "loss",
            "auto -> tpe (conditional space)",
        ),
        (
            {"x": Float(0, 1)},
            ["loss", "cost"],
            "auto -> gp (2 objectives, 1 unconditional parameter, tpe from trial 300)",
        ),
        ({"x": Float(0, 1)}, ["a", "b", "c", "d"], "auto -> tpe (4 objectives > 3)"),
        (
            {"x": Float(0, 1), "act": Choice([f"a{i}" for i in range(20)])},
            "loss",
            "auto -> tpe ('act' has 20 options > max_gp_options 16)",
        ),
        (
            {f"x{i}": Float(0, 1) for i in range(41)},
            "loss",
            "auto -> tpe (41 parameters > max_gp_dim 40)",
        ),
    ],
)
def test_auto_says_which_sampler_it_uses_and_why(space: Any, objectives: Any, expect: str) -> None:
    study = hs.Study("auto", space, objectives, storage="memory")
    assert study.describe()["sampler"]["description"] == expect
    assert study.describe()["policy"] is None


def test_a_run_stores_the_sampler_and_policy_and_rewrites_them_when_auto_hands_over() -> None:
    study = _study(
        "handover",
        sampler=AutoSampler(max_gp_trials=3),
        policy={"policy": "median", "delay": 2},
    )
    writes: list[dict[str, Any]] = []
    set_attrs = study.set_attrs

    def spy(**attrs: Any) -> None:
        if "sampler" in attrs:
            writes.append(attrs)
        set_attrs(**attrs)

    study.set_attrs = spy  # type: ignore[method-assign]
    clock = FakeClock()
    ex = FakeExecutor(lambda t: FakePlan(duration=1.0, result=t.params["x"]), clock)
    runner = Runner(study, ex, Limits(max_trials=5), clock=clock)
    assert runner.run() == "max_trials (5) reached"
    # once at the start, once when trial 3 is the first that tpe proposes: not per trial
    assert [w["sampler"]["description"] for w in writes] == [
        "auto (max_gp_trials=3) -> gp (1 objective, 1 unconditional parameter, tpe from trial 3)",
        "auto (max_gp_trials=3) -> tpe (max_gp_trials 3 reached)",
    ]
    stored = hs.Study.load("handover", storage=study.storage).attrs
    assert stored["sampler"] == {
        "config": {"name": "auto", "seed": 0, "max_gp_trials": 3},
        "description": "auto (max_gp_trials=3) -> tpe (max_gp_trials 3 reached)",
    }
    assert stored["policy"]["description"] == "median (min_trials=1, interval=1, delay=2)"
    assert stored["policy"]["config"]["policy"] == "median"
    assert runner.described == {"sampler": stored["sampler"], "policy": stored["policy"]}


def _reporting(t: Any) -> FakePlan:
    """Trial n reports loss 10 - step - n at 0.5 s, 1.5 s, ...; it ends at 20 s."""
    return FakePlan(
        reports=[(i + 0.5, {"loss": 10.0 - i - t.number, "lr": 0.1}) for i in range(10)],
        duration=20.0,
        result=1.0,
    )


def test_the_plain_log_shows_the_sampler_policy_and_running_trials_step_and_value() -> None:
    study = _study("plain", policy={"policy": "median", "delay": 100})
    buf = io.StringIO()
    clock = FakeClock()
    ex = FakeExecutor(_reporting, clock, max_concurrent=7)
    progress = PlainProgress(buf, interval=0.0)
    limits = Limits(max_trials=7, max_concurrent=7)
    Runner(study, ex, limits, clock=clock, progress=progress).run()
    first, *lines = buf.getvalue().splitlines()
    assert first == (
        "sampler: auto -> gp (1 objective, 1 unconditional parameter, tpe from trial 300); "
        "stopping: median (min_trials=1, interval=1, delay=100)"
    )
    # a periodic line after the third report: each running trial's step, loss and age
    line = next(ln for ln in lines if "trial 0 RUNNING step 2 " in ln)
    assert line.startswith("[0/7] ") and "running=7" in line
    assert "| trial 0 RUNNING step 2 loss=8 (2.5s); trial 1 RUNNING step 2 loss=7 (2.5s);" in line
    assert line.endswith("trial 4 RUNNING step 2 loss=4 (2.5s); and 2 more running")
    assert any(ln.startswith("[7/7] trial 6 COMPLETED") for ln in lines)


def test_the_live_display_shows_the_sampler_policy_and_running_trials() -> None:
    study = _study("rich", sampler="random", policy={"policy": "median", "delay": 100})
    clock = FakeClock()
    frames: list[str] = []
    progress = RichProgress(Console(file=io.StringIO(), width=100, color_system=None))

    def frame(study: Any, trial: Any) -> None:  # after trial 0 ends, trial 1 still runs
        c = Console(file=io.StringIO(), width=100, color_system=None, record=True)
        c.print(progress.render(100))
        frames.append(c.export_text())

    def plan(t: Any) -> FakePlan:
        p = _reporting(t)
        return FakePlan(reports=p.reports, duration=3.0 + 2 * t.number, result=1.0)

    ex = FakeExecutor(plan, clock, max_concurrent=2)
    runner = Runner(
        study, ex, Limits(max_trials=2, max_concurrent=2), [frame], progress, clock=clock
    )
    runner.run()
    text = frames[0]
    assert "sampler  random" in text
    assert "stopping median (min_trials=1, interval=1, delay=100)" in text
    row = next(ln for ln in text.splitlines() if ln.split()[:2] == ["1", "2"])
    assert row.split()[2:] == ["loss=7", "3.0s"]  # trial 1 at step 2, loss 7, running 3 s
    assert "running" in text and "step" in text and "latest" in text


def test_status_from_another_process_shows_running_trials_sampler_and_policy(
    tmp_path: Path,
) -> None:
    sweep = sweep_file(
        tmp_path,
        "watch",
        steps=300,
        sleep=0.1,
        max_trials=4,
        extra="early_stopping: {policy: median, delay: 1000}\n",
    )
    url = url_of(tmp_path)
    proc = start_run(sweep, url, tmp_path)
    try:

        def reporting() -> bool:
            try:
                storage = open_storage(url)
                running = storage.running_trials(storage.get_study("watch").id)
            except Exception:
                return False
            return len(running) == 2 and all((t.last_step or 0) >= 3 for t in running)

        wait_for(reporting, 90, "two running trials past step 3")
        r = hs_cli("status", "watch", "--storage", url, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        out = r.stdout.splitlines()
        js = json.loads(hs_cli("status", "watch", "--storage", url, "--json", cwd=tmp_path).stdout)
        assert hs_cli("stop", "watch", "--storage", url, cwd=tmp_path).returncode == 0
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "sampler:   random" in out
    assert "stopping:  median (min_trials=1, interval=1, delay=1000)" in out
    assert "state:     running (2 trials)" in out
    rows = [ln.split() for ln in out if ln.startswith("  trial ")]
    assert [r[:4] for r in rows] == [
        ["trial", "0", "RUNNING", "step"],
        ["trial", "1", "RUNNING", "step"],
    ]
    for r in rows:  # the loss quad.py printed at that step: (x-1)**2 + y + 0.1 * (299 - step)
        assert int(r[4]) >= 3 and r[5].startswith("loss=") and float(r[5][5:]) > 0
        assert r[6].startswith("(") and r[6].endswith("s)")
    assert [t["number"] for t in js["running"]] == [0, 1]
    assert all(t["step"] >= 3 and "loss" in t["latest"] for t in js["running"])
    assert js["sampler"]["config"] == {"name": "random", "seed": 1}
    assert js["policy"]["config"]["policy"] == "median"
    assert counts(url, "watch").get(TrialState.RUNNING, 0) == 0
