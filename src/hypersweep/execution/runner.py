"""The optimization loop: ask -> executor -> report/decide -> tell, within limits.

The same loop serves ``Study.optimize`` (function trials) and ``hypersweep run`` (command
trials): only the executor differs.

Stopping the study:

* *soft* reasons (``max_trials``, ``target``, ``patience``, an exhausted grid) stop
  launching new trials and let running ones finish;
* *hard* reasons (``timeout``, ``max_trial_seconds``, a stop request from
  ``hypersweep stop``/``Study.stop``, Ctrl-C) stop running trials too: each goes back to
  the queue for another attempt (up to ``limits.retries`` times, else it ends FAILED with
  reason ``interrupted (...)``), so no trial is left RUNNING and re-running resumes the
  study where it stopped, interrupted trials first.

Retries (``limits.retries``, default 1): a trial lost to a dead worker (stale heartbeat),
a hard stop or a killed process (ended by a signal hypersweep did not send) is re-queued
with the same number and parameters (``Trial.attempt`` + 1; each ended attempt is kept in
``system_attrs["attempts"]``). A trial that fails by its own error (non-zero exit,
exception, NaN) is retried only with ``retry_on: [failed]``.

What counts toward ``max_trials``: every trial of the study that has started (all states
but QUEUED), whatever process ran it. A retried attempt is the same trial, counted once;
a trial waiting in the queue (enqueued, or re-queued for a retry) counts once it runs.

Failing fast (``limits.max_failures``, default 3): when the first ``max_failures`` trials
of a run all fail with the same error, or the command cannot be started at all, or the
first trial ends without reporting its objective metric (``Outcome.config_error``), the run
stops and :attr:`Runner.failed_fast` holds one line naming the cause and the fix.
* a *storage fault* (a write refused: disk full, read-only, connection lost for good; or
  an SQLite file deleted or replaced under the run, see :meth:`Storage.check`) is a hard
  stop too, after which :meth:`Runner.run` raises :class:`StorageError` with one line
  saying what happened and how many trials could not be marked FAILED. Those (the
  storage refused the write) stay RUNNING until the next run of the study recovers them
  (their worker process is gone: re-queued, or FAILED "worker lost" once retries are used).

Every turn of the loop is bounded (the executor's ``poll`` returns within its timeout
plus a bounded amount of work, however much a trial prints), so limits, stop requests
and trial timeouts are honoured while any trial floods its output.

The runner pulls: each turn it asks the executor for events (:meth:`Executor.poll`:
reports and outcomes), decides on each report (the study's stopping policy, then
``max_steps``) and tells the executor which trials to stop (:meth:`Executor.stop`). It
knows the study only through :class:`RunnerStudy`, a few public verbs, and time only
through a :class:`~hypersweep.execution.base.Clock` (a fake one in tests). Progress
displays implement :class:`Progress` (all methods optional).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from hypersweep._validate import one_line
from hypersweep.errors import (
    HypersweepError,
    MaxTrialsReached,
    SpaceExhausted,
    SpecError,
    StorageError,
    TrialNotRunning,
)
from hypersweep.execution.base import (
    SYSTEM_CLOCK,
    Clock,
    Executor,
    Outcome,
    OutcomeStatus,
    Report,
    RunnerStudy,
    StopCause,
)
from hypersweep.execution.interrupts import InterruptLatch
from hypersweep.history import COMPLETED, QUEUED
from hypersweep.limits import Limits, failure_key, failure_line
from hypersweep.stopping.base import Decision
from hypersweep.trial import Trial, TrialState

__all__ = ["Progress", "Runner", "RunnerStudy"]

log = logging.getLogger("hypersweep")

#: Seconds between the loop's syncs with the storage while trials run (a stop request
#: from ``hypersweep stop`` is seen within about this long).
SYNC_INTERVAL = 1.0


def _numbers(ns: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in ns[:10])
    return shown + (f" and {len(ns) - 10} more" if len(ns) > 10 else "")


class Progress(Protocol):
    """What a progress display receives (implement any subset)."""

    def start(self, runner: Runner) -> None: ...
    def update(self, runner: Runner) -> None: ...
    def trial_finished(self, runner: Runner, trial: Trial) -> None: ...
    def end(self, runner: Runner) -> None: ...


class Runner:
    """Runs a study's trials on an executor until a limit is reached.

    Args:
        study: the study (a :class:`~hypersweep.Study`).
        executor: how trials run (functions, commands, ...).
        limits: see :class:`Limits`.
        callbacks: ``callback(study, trial)`` after each finished trial.
        progress: an optional display (see :class:`Progress`).
        heartbeat_interval: seconds between heartbeats of running trials (also how often
            stop requests and lost workers are checked).
        stale_after: seconds without heartbeat after which another worker's trial counts
            as lost.
        clock: where the loop reads the time (``timeout``, ``max_trial_seconds``, trial
            end times); tests pass a :class:`~hypersweep.testing.executors.FakeClock`.
    """

    def __init__(
        self,
        study: RunnerStudy,
        executor: Executor,
        limits: Limits,
        callbacks: Sequence[Callable[[Any, Trial], Any]] = (),
        progress: Progress | None = None,
        heartbeat_interval: float = 5.0,
        stale_after: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if len(study.objectives) > 1 and (limits.target is not None or limits.patience):
            raise SpecError("limits.target/patience: only for single-objective studies")
        self.study = study
        self.executor = executor
        self.limits = limits
        self.callbacks = list(callbacks)
        self.progress = progress
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.clock = clock
        self.running: dict[int, Trial] = {}
        self.finished: list[Trial] = []
        self.stop_reason: str | None = None
        self.hard_stop = False
        self.started_at = clock.time()
        self._t0 = clock.monotonic()
        self._stop_cause: dict[int, StopCause] = {}
        self._told_stop: set[int] = set()  # trials the executor was told to stop
        self._beating = threading.Event()  # set: stop the heartbeat thread
        #: why the run stopped early because its trials kept failing (one line), if it did
        self.failed_fast: str | None = None
        self.retried: list[int] = []  # trials of this run re-queued for another attempt
        self._budget_stop = False  # stopped by max_trials alone: a re-queued trial reopens
        self._failures: list[str] = []  # error lines of this run's failures before a success
        self._succeeded = False
        self._fault: StorageError | None = None  # the storage refused a write
        self.described: dict[str, Any] | None = None  # the last study.describe() it stored
        self.own_max_trials: int | None = None  # a worker's own --max-trials
        self.launched = 0  # trials this run started

    # ------------------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return self.clock.monotonic() - self._t0

    def _call_progress(self, what: str, *args: Any) -> None:
        fn = getattr(self.progress, what, None) if self.progress is not None else None
        if fn is not None:
            try:
                fn(self, *args)
            except Exception:  # a display must never break the study
                log.debug("progress display failed", exc_info=True)

    def _set_stop(self, reason: str, hard: bool = False) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if hard and not self.hard_stop:
            self.hard_stop = True
            for number in list(self.running):
                self._stop_cause.setdefault(number, StopCause.STUDY)
                self._stop_trial(number)

    def _stop_trial(self, number: int, at: Report | None = None) -> None:
        """Tell the executor to stop a trial; its later reports do not count."""
        self._told_stop.add(number)
        self.executor.stop(number, at=at)

    def _interrupted_error(self) -> str:
        """The error text of a trial ended by a hard stop: ``interrupted (<reason>)``."""
        reason = self.stop_reason or "stopped"
        return reason if reason.startswith("interrupted") else f"interrupted ({reason})"

    def _n_started(self) -> int:
        return self.study.history.n_started()

    def _storage_fault(self, e: StorageError) -> None:
        """The storage refused a write (or its file vanished): stop the run, hard."""
        if self._fault is None:
            self._fault = e
            log.debug("storage fault", exc_info=e)
        self._set_stop(f"storage failed: {e}", hard=True)

    def _check_limits(self) -> None:
        try:
            self.study.check()
        except StorageError as e:
            self._storage_fault(e)
        lim = self.limits
        if lim.timeout is not None and self.elapsed >= lim.timeout:
            self._set_stop(f"timeout ({lim.timeout:g} s) reached", hard=True)
        if lim.max_trial_seconds is not None:
            used = self.trial_seconds()
            if used >= lim.max_trial_seconds:
                self._set_stop(
                    f"max_trial_seconds ({lim.max_trial_seconds:g} s) reached: "
                    f"{used:.1f} s of trial time",
                    hard=True,
                )
        req = self.study.attrs.get("stop_requested")
        if req:
            self._set_stop(
                f"stop requested ({req})" if req is not True else "stop requested", hard=True
            )

    def trial_seconds(self) -> float:
        """Total trial time of the study: finished trials' durations plus the elapsed
        time of running ones."""
        now = self.clock.time()
        total = 0.0
        for t in self.study.history.trials:
            if t is None or t.started_at is None:
                continue
            start = t.started_at
            if t.state == TrialState.RUNNING and t.number in self.running:
                start = self.executor.started_at(t.number) or now  # its code's own start
            end = (
                t.finished_at
                if t.finished_at is not None
                else (now if t.state == TrialState.RUNNING else None)
            )
            if end is not None:
                total += max(0.0, end - start)
        return total

    def _check_after_trial(self) -> None:
        lim = self.limits
        if lim.target is None and lim.patience is None:
            return
        h = self.study.history
        # every trial counts, also one from before the space was extended; infeasible
        # trials never reach the target or reset patience
        best_i = h.best_index()
        if best_i is None:
            return
        sign = self.study.objectives[0].sign
        if lim.target is not None and h.Y[best_i, 0] <= sign * lim.target:
            self._set_stop(f"target {lim.target:g} reached by trial {best_i}")
        if lim.patience is not None:
            completed = np.nonzero(h.state == COMPLETED)[0]
            since = int((completed > best_i).sum())
            if since >= lim.patience:
                self._set_stop(f"no improvement in {lim.patience} completed trials")

    def _describe(self) -> None:
        """Store the sampler and policy descriptions when they change (for ``status``)."""
        d = self.study.describe()
        if d != self.described:
            self.study.set_attrs(**d)
            self.described = d

    # ------------------------------------------------------------------------------------
    def _decide(self, r: Report) -> bool:
        """Store a report and decide on it: True when the trial must stop (the policy,
        ``max_steps``, or the study stopping); reports after that do not count."""
        number = r.number
        if number in self._told_stop or self._fault is not None:
            return True
        try:
            decision = self.study.record(self.running.get(number, number), r.step, r.metrics)
        except TrialNotRunning as e:  # fencing: it was reclaimed (or ended) meanwhile
            log.warning("trial %d: report refused, stopping it here: %s", number, e)
            return True
        except StorageError as e:
            self._storage_fault(e)
            return True
        except HypersweepError as e:
            log.warning("trial %d: bad report ignored: %s", number, e)
            return False
        if decision == Decision.STOP:
            self._stop_cause.setdefault(number, StopCause.POLICY)
        lim = self.limits.max_steps
        if lim is not None and decision == Decision.CONTINUE:
            t = self.study.history.trials[number]
            if len(t.reports) >= lim:
                self._stop_cause.setdefault(number, StopCause.MAX_STEPS)
                decision = Decision.STOP
        if decision == Decision.STOP:
            self._told_stop.add(number)
            return True
        return False

    def _retry(self, number: int, reason: str) -> bool:
        """Re-queue a RUNNING trial of this run for another attempt if ``retries`` allow."""
        t = self.study.history.trials[number]
        if t is None or t.attempt > self.limits.retries:
            return False
        try:
            self.study.requeue(self.running.get(number, number), one_line(reason)[:500])
        except TrialNotRunning:
            return False
        self.retried.append(number)
        log.warning(
            "trial %d: %s; re-queued for attempt %d of %d",
            number,
            one_line(reason)[:200],
            t.attempt + 1,
            self.limits.retries + 1,
        )
        return True

    def _finish(self, out: Outcome) -> Trial | None:
        cause = self._stop_cause.pop(out.number, None)
        study, trial = self.study, self.running.get(out.number, out.number)  # its attempt
        start = out.started_at
        self._told_stop.discard(out.number)
        end = self.clock.time()
        if out.system_attrs:  # e.g. the metric intake of a trial that flooded its output
            study.set_system_attrs(out.number, out.system_attrs)
        if out.suggested is not None:  # a define-by-run trial: its params, new parameters
            trial = study.learn(trial, out.suggested)  # (the stored trial, its attempt)
        try:
            if out.status is OutcomeStatus.FAILED:
                error = out.error or "failed"
                if (out.lost or "failed" in self.limits.retry_on) and self._retry(
                    out.number, error
                ):
                    return None
                return study.tell(
                    trial,
                    state=TrialState.FAILED,
                    error=out.error,
                    started_at=start,
                    finished_at=end,
                )
            if cause is StopCause.STUDY and out.status is OutcomeStatus.STOPPED:
                if self._retry(out.number, self._interrupted_error()):
                    return None
                return study.tell(
                    trial,
                    state=TrialState.FAILED,
                    error=self._interrupted_error(),
                    started_at=start,
                    finished_at=end,
                )
            if out.status is OutcomeStatus.STOPPED or cause in (
                StopCause.POLICY,
                StopCause.MAX_STEPS,
            ):
                return study.tell(
                    trial,
                    out.result,
                    state=TrialState.STOPPED,
                    started_at=start,
                    finished_at=end,
                )
            return study.tell(trial, out.result, started_at=start, finished_at=end)
        except TrialNotRunning:
            log.warning("trial %d finished after it was reclaimed; result refused", out.number)
            return None

    def _check_fail_fast(self, t: Trial, out: Outcome) -> None:
        """Stop the run when its first trials all fail alike, or the command cannot start."""
        if t.state != TrialState.FAILED:
            self._succeeded = True
            return
        if self._succeeded or (t.error or "").startswith("interrupted"):
            return
        line = failure_line(t.error)
        n = self.limits.max_failures
        if out.cannot_start:
            self.failed_fast = (
                f"trial {t.number} could not start: {line}; fix the "
                "command (check it with 'hypersweep validate')"
            )
        elif out.config_error and n:
            self.failed_fast = f"trial {t.number} ran but {line}"
        elif n:
            self._failures.append(failure_key(line))
            if len(self._failures) >= n and len(set(self._failures[:n])) == 1:
                self.failed_fast = (
                    f"the first {n} trials of this run all failed with the same error: "
                    f"{line}; fix the cause (the trials' logs say more), or set "
                    "limits.max_failures to go on regardless (0: never stop early)"
                )
        if self.failed_fast is not None:
            self._set_stop(f"failing fast: {self.failed_fast}")

    def _launch(self) -> None:
        lim = self.limits
        if self._budget_stop and not self.hard_stop and self._queued():
            # max_trials ends the creation of trials, not the run of those it numbered: a
            # trial re-queued since (this run's retry, or a lost one reclaimed) still runs
            self.stop_reason, self._budget_stop = None, False
        while self.stop_reason is None and len(self.running) < lim.max_concurrent:
            if self.own_max_trials is not None and self.launched >= self.own_max_trials:
                return self._set_stop(f"--max-trials {self.own_max_trials} of this worker reached")
            if lim.max_trials is not None and self._n_started() >= lim.max_trials:
                return self._stop_at_budget()
            try:  # the storage enforces max_trials atomically (other processes share it)
                trial = self.study.ask(max_trials=lim.max_trials)
            except MaxTrialsReached:
                return self._stop_at_budget()
            except SpaceExhausted as e:
                if self.running:  # a running trial may open new proposals (a PBT member)
                    return
                self._set_stop(f"search space exhausted: {e}")
                return
            budget = trial.budget
            if budget is None:  # the policy's budget (ASHA: max_resource), capped by max_steps
                policy = self.study.policy
                caps = [
                    b
                    for b in (policy.budget(trial.number) if policy else None, lim.max_steps)
                    if b is not None
                ]
                budget = min(caps) if caps else None
            self.running[trial.number] = trial
            self.launched += 1
            self.executor.start(trial, budget)

    def _stop_at_budget(self) -> None:
        self._set_stop(f"max_trials ({self.limits.max_trials}) reached")
        self._budget_stop = self.stop_reason is not None and self.stop_reason.startswith(
            "max_trials"
        )

    def _queued(self) -> bool:
        return bool((self.study.history.state == QUEUED).any())

    def run(self) -> str:
        """Run until a limit is reached; return the stop reason.

        Raises:
            KeyboardInterrupt: after cleaning up (no trial left RUNNING) on Ctrl-C.
        """
        study = self.study
        study.recover(self.stale_after, self.limits.retries)
        study.clear_stop()
        self.executor.open(self._decide)  # only an inline executor calls it
        self._call_progress("start")
        last_beat = last_sync = self.clock.monotonic()
        interrupted = False
        beats = threading.Thread(target=self._heartbeats, name="hypersweep-heartbeat", daemon=True)
        beats.start()
        latch = InterruptLatch().install()  # a Ctrl-C that Python dropped still counts
        try:
            while True:
                try:
                    latch.check()
                    self._check_limits()
                    if self._fault is None:
                        self._describe()
                        self._launch()
                    if not self.running:
                        if self.stop_reason is None:  # nothing ran and nothing was launched
                            self._set_stop("nothing left to run")
                        break
                    events = self.executor.poll(self._poll_timeout())
                    if self._fault is not None:
                        break
                    for ev in events:
                        if self._fault is not None:  # the clean-up marks the rest FAILED
                            break
                        if isinstance(ev, Report):
                            if self._decide(ev):
                                self._stop_trial(ev.number, at=ev)
                        else:
                            self._ended(ev)
                    now = self.clock.monotonic()
                    if now - last_beat >= self.heartbeat_interval:
                        last_beat = last_sync = now
                        study.recover(self.stale_after, self.limits.retries)
                    elif now - last_sync >= SYNC_INTERVAL:  # sees stop requests
                        last_sync = now
                        study.sync()
                except StorageError as e:
                    self._storage_fault(e)
                    break
                self._call_progress("update")
        except KeyboardInterrupt:
            interrupted = True
            self._set_stop("interrupted (Ctrl-C)", hard=True)
        finally:
            self._beating.set()
            try:
                left = self._cleanup()
            finally:
                latch.restore()
            beats.join(5.0)
        self._call_progress("end")
        if interrupted:
            raise KeyboardInterrupt
        if self._fault is not None:
            raise StorageError(self._fault_message(left)) from self._fault
        return self.stop_reason or ""

    def _ended(self, out: Outcome) -> None:
        t = self._finish(out)  # a fault here leaves it to the clean-up
        self.running.pop(out.number, None)
        if t is None:
            return
        self.finished.append(t)
        self._check_fail_fast(t, out)
        self._call_progress("trial_finished", t)
        for cb in self.callbacks:
            cb(self.study, t)
        self._check_after_trial()

    def _fault_message(self, left: list[int]) -> str:
        what = " ".join(str(self._fault).split())
        if not what.startswith("storage"):
            what = f"storage: {what}"
        if getattr(self._fault, "lost", False):  # the file is gone: nothing to say about it
            return f"{what}; the run was stopped"
        if "full" in what.lower():
            what += " (free some space, then run again to resume)"
        if left:
            s = "s" * (len(left) != 1)
            return (
                f"{what}; the run was stopped and trial{s} {_numbers(left)} could not be "
                f"marked FAILED: they show as RUNNING until the next run of this study "
                f"marks them FAILED ('worker lost')"
            )
        return f"{what}; the run was stopped (no trial was left RUNNING)"

    def _heartbeats(self) -> None:
        """Refresh running trials' heartbeats from a thread, so that a long inline trial
        (which blocks the loop) is never mistaken for a lost one."""
        while not self._beating.wait(self.heartbeat_interval):
            try:
                self.study.heartbeat(list(self.running.values()))
            except Exception:  # the next beat retries; staleness needs many misses
                log.debug("heartbeat failed", exc_info=True)

    def _poll_timeout(self) -> float:
        t = min(0.5, self.heartbeat_interval)
        if self.limits.timeout is not None:
            t = min(t, max(0.0, self.limits.timeout - self.elapsed))
        return max(t, 0.01)

    def _cleanup(self) -> list[int]:
        """Close the executor and make sure nothing this run started stays RUNNING.

        Returns the numbers of the trials the storage refused to mark FAILED (a fault)."""
        left: list[int] = []
        try:
            self.executor.close()
        finally:
            for number in list(self.running):
                try:
                    if self._retry(number, self._interrupted_error()):
                        continue
                    self.study.tell(
                        self.running[number],
                        state=TrialState.FAILED,
                        error=self._interrupted_error(),
                        started_at=self.executor.started_at(number),
                        finished_at=self.clock.time(),
                    )
                except TrialNotRunning:
                    pass
                except StorageError as e:
                    if self._fault is None:
                        raise
                    log.debug("trial %d: could not be marked FAILED: %s", number, e)
                    left.append(number)
            self.running.clear()
            try:
                self.study.set_stop_reason(self.stop_reason)
            except Exception:
                log.debug("could not store the stop reason", exc_info=True)
        return sorted(left)
