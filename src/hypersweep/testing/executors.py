"""The executor contract suite, and fakes to test the runner without processes or sleep.

Every :class:`~hypersweep.execution.base.Executor` passes :class:`ExecutorContract`
(start, poll, stop, timeouts, reports round-trip, no orphan process). Use it for a new
executor by subclassing with a ``make`` fixture that builds the executor so that it runs
the trials of :mod:`hypersweep.testing.contract_trials`::

    import pytest
    from hypersweep.testing.executors import ExecutorContract

    class TestMyExecutor(ExecutorContract):
        @pytest.fixture
        def make(self):
            def make(trial_timeout=None, max_concurrent=1, grace=0.5):
                return MyExecutor(function_trial, trial_timeout=trial_timeout, ...)
            return make

:class:`FakeClock` and :class:`FakeExecutor` let runner limits (``timeout``,
``max_trial_seconds``, ``patience``, ...) be tested without sleeping: the fake executor
runs scripted trials (:class:`FakePlan`) on the fake clock, advancing it in
:meth:`FakeExecutor.poll` instead of waiting::

    clock = FakeClock()
    ex = FakeExecutor(lambda trial: FakePlan(duration=10.0, result=1.0), clock)
    Runner(study, ex, Limits(timeout=25), clock=clock).run()   # returns at once
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from hypersweep.execution.base import Decide, Event, Executor, Outcome, OutcomeStatus, Report
from hypersweep.testing.contract_trials import LOSSES, RESULT
from hypersweep.trial import Trial, TrialState

__all__ = ["ExecutorContract", "FakeClock", "FakeExecutor", "FakePlan", "contract_plan"]


class FakeClock:
    """A clock that moves only when told (:meth:`advance`); starts at ``start`` (UNIX
    seconds, default: now), so times stored from it sit next to real ones."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._t0 = self._now

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._t0

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock does not go back ({seconds})")
        self._now += seconds


@dataclass(frozen=True)
class FakePlan:
    """What a fake trial does, in seconds since it started.

    Attributes:
        reports: ``(at, metrics)`` per report; the steps are 0, 1, 2, ...
        duration: when it ends by itself (``None``: it runs until stopped).
        result: what it returns when it ends by itself.
        error: it fails with this error (at ``duration``) instead.
        stop_delay: seconds a stopped trial takes to end (after a stop request).
        honours_stop: False: it ignores stop requests and is killed after ``grace``.
    """

    reports: Sequence[tuple[float, Mapping[str, float]]] = ()
    duration: float | None = 1.0
    result: Any = None
    error: str | None = None
    stop_delay: float = 0.0
    honours_stop: bool = True


@dataclass
class _Run:
    trial: Trial
    plan: FakePlan
    started: float
    sent: int = 0  # reports returned so far
    stop_at: float | None = None
    deadline: float | None = None

    def next_time(self, grace: float) -> float:
        times = [math.inf]
        if self.stop_at is None and self.sent < len(self.plan.reports):
            times.append(self.started + self.plan.reports[self.sent][0])
        if self.plan.duration is not None:
            times.append(self.started + self.plan.duration)
        if self.stop_at is not None:
            delay = self.plan.stop_delay if self.plan.honours_stop else grace
            times.append(self.stop_at + delay)
        if self.deadline is not None:
            times.append(self.deadline)
        return min(times)


class FakeExecutor(Executor):
    """Runs scripted trials on a :class:`FakeClock`: no process, no sleep.

    Args:
        plan: ``plan(trial) -> FakePlan``.
        clock: the clock it advances (share it with the runner).
        max_concurrent: trials at once.
        trial_timeout: seconds per trial; then it fails with ``"timeout"``.
        grace: seconds a trial that ignores a stop request runs on before it is killed.

    Attributes:
        started: the trials started, with the budget each was given, in order.
        stop_requests: the trial numbers :meth:`stop` was called for, in order.
    """

    def __init__(
        self,
        plan: Callable[[Trial], FakePlan],
        clock: FakeClock,
        max_concurrent: int = 1,
        trial_timeout: float | None = None,
        grace: float = 5.0,
    ) -> None:
        self.plan = plan
        self.clock = clock
        self.capacity = max_concurrent
        self.trial_timeout = trial_timeout
        self.grace = grace
        self.started: list[tuple[Trial, float | None]] = []
        self.stop_requests: list[int] = []
        self._runs: dict[int, _Run] = {}

    def open(self, decide: Decide | None = None) -> None:
        """Nothing to prepare (``decide`` is not used: reports come back from poll)."""

    @property
    def running(self) -> set[int]:
        return set(self._runs)

    def start(self, trial: Trial, budget: float | None = None) -> None:
        if len(self._runs) >= self.capacity:
            raise RuntimeError("executor is full")
        now = self.clock.time()
        deadline = None if self.trial_timeout is None else now + self.trial_timeout
        self._runs[trial.number] = _Run(trial, self.plan(trial), now, deadline=deadline)
        self.started.append((trial, budget))

    def started_at(self, number: int) -> float | None:
        run = self._runs.get(number)
        return None if run is None else run.started

    def stop(self, number: int, at: Report | None = None) -> None:
        self.stop_requests.append(number)
        run = self._runs.get(number)
        if run is not None and run.stop_at is None:
            run.stop_at = self.clock.time()

    def poll(self, timeout: float) -> list[Event]:
        now = self.clock.time()
        due = min((r.next_time(self.grace) for r in self._runs.values()), default=math.inf)
        if due > now + timeout:
            self.clock.advance(max(0.0, timeout))
            return []
        self.clock.advance(max(0.0, due - now))
        now = self.clock.time()
        out: list[Event] = []
        for number, run in list(self._runs.items()):
            while run.next_time(self.grace) <= now:
                ended = self._step(run, now, out)
                if ended is not None:
                    out.append(ended)
                    del self._runs[number]
                    break
        return out

    def _step(self, run: _Run, now: float, out: list[Event]) -> Outcome | None:
        """Carry out the next thing ``run`` does (due at or before ``now``): a report
        goes to ``out``; returns its outcome if it ends."""
        plan, n = run.plan, run.trial.number
        report_at = (
            run.started + plan.reports[run.sent][0]
            if run.stop_at is None and run.sent < len(plan.reports)
            else math.inf
        )
        if report_at <= now and report_at <= run.next_time(self.grace):
            out.append(Report(n, run.sent, dict(plan.reports[run.sent][1])))
            run.sent += 1
            return None
        if run.deadline is not None and run.deadline <= now:
            return Outcome(n, OutcomeStatus.FAILED, error="timeout", started_at=run.started)
        if run.stop_at is not None:
            delay = plan.stop_delay if plan.honours_stop else self.grace
            if run.stop_at + delay <= now:
                return Outcome(n, OutcomeStatus.STOPPED, result=None, started_at=run.started)
        if plan.error is not None:
            return Outcome(n, OutcomeStatus.FAILED, error=plan.error, started_at=run.started)
        return Outcome(n, OutcomeStatus.COMPLETED, result=plan.result, started_at=run.started)

    def close(self) -> None:
        self._runs.clear()


# ------------------------------------------------------------------------------------------
# the contract suite
# ------------------------------------------------------------------------------------------
Make = Callable[..., Executor]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is gone for every purpose but its table entry
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def contract_plan(trial: Trial) -> FakePlan:
    """The behaviours of :mod:`hypersweep.testing.contract_trials` as fake plans."""
    kind = trial.params["behaviour"]
    if kind == "report":
        reports = [(0.1 * (i + 1), {"loss": v}) for i, v in enumerate(LOSSES)]
        return FakePlan(reports, duration=0.4, result=RESULT)
    if kind == "fail":
        return FakePlan(duration=0.1, error="RuntimeError: contract trial failed")
    if kind == "hang":
        return FakePlan([(0.05 * i, {"loss": 1.0 / (i + 1)}) for i in range(10_000)], None)
    if kind == "stubborn":
        return FakePlan([(0.0, {"loss": 1.0})], duration=None, honours_stop=False)
    raise ValueError(f"unknown contract behaviour {kind!r}")


class ExecutorContract:
    """What every executor guarantees (see :mod:`hypersweep.execution.base`).

    A subclass defines the fixture ``make``: ``make(trial_timeout=None,
    max_concurrent=1, grace=0.5) -> Executor`` whose trials run
    :mod:`hypersweep.testing.contract_trials` (the trial's parameters name the behaviour).
    Class attributes say what the executor can do:

    * ``runs_in_caller``: trials run inside :meth:`~Executor.poll` in the caller's thread
      (inline): its reports go to ``decide``, and nothing runs between polls;
    * ``spawns_processes``: trials run in processes of their own, which must all be gone
      once a trial has ended and after :meth:`~Executor.close`;
    * ``enforces_timeouts``: ``trial_timeout`` is supported.
    """

    runs_in_caller = False
    spawns_processes = True
    enforces_timeouts = True
    #: seconds one contract check may take (processes start slowly on a loaded machine)
    limit = 60.0

    @pytest.fixture
    def make(self) -> Make:  # pragma: no cover - always overridden
        raise NotImplementedError("define a 'make' fixture")

    # helpers ----------------------------------------------------------------------------
    def trial(self, number: int, behaviour: str, folder: Any) -> Trial:
        return Trial(number, TrialState.RUNNING, {"behaviour": behaviour, "dir": str(folder)})

    def drive(
        self,
        ex: Executor,
        until: set[int],
        stop_when: Callable[[Report], bool] = lambda r: False,
    ) -> list[Event]:
        """Poll until every trial in ``until`` has an outcome; answer each report with
        ``stop_when`` (by ``decide`` inline, else by :meth:`Executor.stop`)."""
        events: list[Event] = []

        def decide(r: Report) -> bool:
            events.append(r)
            return stop_when(r)

        ex.open(decide)
        end = time.monotonic() + self.limit
        done: set[int] = set()
        stopped: set[int] = set()  # told to stop in an earlier poll
        while not until <= done:
            assert time.monotonic() < end, f"no outcome within {self.limit} s: {events}"
            now_stopped: set[int] = set()
            for ev in ex.poll(0.2):
                events.append(ev)
                if isinstance(ev, Report):
                    assert not self.runs_in_caller, "an inline executor returned a report"
                    assert ev.number not in stopped, "a report came after the stop"
                    if ev.number not in now_stopped and stop_when(ev):
                        ex.stop(ev.number, at=ev)
                        now_stopped.add(ev.number)
                else:
                    done.add(ev.number)
            stopped |= now_stopped
        return events

    def wait_pids(self, ex: Executor, folder: Any, numbers: Sequence[int]) -> list[int]:
        end = time.monotonic() + self.limit
        paths = [os.path.join(str(folder), f"{n}.pid") for n in numbers]
        while not all(os.path.exists(p) and os.path.getsize(p) for p in paths):
            assert time.monotonic() < end, "the trials never started"
            assert not [e for e in ex.poll(0.1) if isinstance(e, Outcome)], "a trial ended"
        return [int(open(p, encoding="utf-8").read()) for p in paths]

    def assert_gone(self, pids: Sequence[int]) -> None:
        end = time.monotonic() + 10.0
        while any(_alive(p) for p in pids) and time.monotonic() < end:
            time.sleep(0.05)
        assert not [p for p in pids if _alive(p)], "a trial process outlived its trial"

    # the contract -----------------------------------------------------------------------
    def test_reports_round_trip_in_order_before_the_outcome(
        self, make: Make, tmp_path: Any
    ) -> None:
        ex = make()
        try:
            ex.open()
            ex.start(self.trial(7, "report", tmp_path))
            assert ex.running == {7}
            events = self.drive(ex, {7})
        finally:
            ex.close()
        reports = [(e.number, e.step, e.metrics) for e in events if isinstance(e, Report)]
        assert reports == [(7, i, {"loss": v}) for i, v in enumerate(LOSSES)]
        assert isinstance(events[-1], Outcome) and events[-1].status == "completed"
        result = events[-1].result
        assert (result["loss"] if isinstance(result, dict) else result) == RESULT
        assert ex.running == set()

    def test_a_failing_trial_ends_failed_with_its_error(self, make: Make, tmp_path: Any) -> None:
        ex = make()
        try:
            ex.open()
            ex.start(self.trial(0, "fail", tmp_path))
            (out,) = [e for e in self.drive(ex, {0}) if isinstance(e, Outcome)]
        finally:
            ex.close()
        assert out.status == "failed" and "contract trial failed" in (out.error or "")

    def test_stop_after_a_report_ends_the_trial_as_stopped(
        self, make: Make, tmp_path: Any
    ) -> None:
        ex = make(max_concurrent=2)
        try:
            ex.open()
            ex.start(self.trial(0, "hang", tmp_path))
            ex.start(self.trial(1, "report", tmp_path))
            events = self.drive(ex, {0, 1}, stop_when=lambda r: r.number == 0 and r.step == 2)
        finally:
            ex.close()
        steps0 = [e.step for e in events if isinstance(e, Report) and e.number == 0]
        assert steps0[:3] == [0, 1, 2]  # (those read with step 2 may follow; not later)
        outs = {e.number: e for e in events if isinstance(e, Outcome)}
        assert outs[0].status == "stopped" and outs[1].status == "completed"

    def test_a_trial_that_ignores_stop_is_ended_after_the_grace(
        self, make: Make, tmp_path: Any
    ) -> None:
        if self.runs_in_caller:
            pytest.skip("an inline trial cannot be ended from outside")
        ex = make(grace=0.3)
        try:
            ex.open()
            ex.start(self.trial(0, "stubborn", tmp_path))
            pids = self.wait_pids(ex, tmp_path, [0]) if self.spawns_processes else []
            ex.stop(0)
            t0 = time.monotonic()
            (out,) = [e for e in self.drive(ex, {0}) if isinstance(e, Outcome)]
            took = time.monotonic() - t0
        finally:
            ex.close()
        assert out.status == "stopped"
        assert took < self.limit
        self.assert_gone(pids)

    def test_a_trial_past_its_timeout_fails_with_timeout(self, make: Make, tmp_path: Any) -> None:
        if not self.enforces_timeouts:
            pytest.skip("this executor has no trial_timeout")
        ex = make(trial_timeout=1.0, grace=0.3)
        try:
            ex.open()
            ex.start(self.trial(0, "stubborn", tmp_path))
            (out,) = [e for e in self.drive(ex, {0}) if isinstance(e, Outcome)]
            pids = self.wait_pids(ex, tmp_path, [0]) if self.spawns_processes else []
        finally:
            ex.close()
        assert out.status == "failed" and out.error == "timeout"
        self.assert_gone(pids)

    def test_close_ends_every_running_trial_and_its_process(
        self, make: Make, tmp_path: Any
    ) -> None:
        if self.runs_in_caller:
            pytest.skip("nothing runs between polls of an inline executor")
        ex = make(max_concurrent=2, grace=0.3)
        ex.open()
        ex.start(self.trial(0, "stubborn", tmp_path))
        ex.start(self.trial(1, "hang", tmp_path))
        pids = self.wait_pids(ex, tmp_path, [0, 1]) if self.spawns_processes else []
        assert ex.running == {0, 1}
        ex.close()
        assert ex.running == set()
        self.assert_gone(pids)

    def test_capacity_is_how_many_run_at_once(self, make: Make, tmp_path: Any) -> None:
        ex = make(max_concurrent=2)
        assert ex.capacity == 2
        ex.close()
