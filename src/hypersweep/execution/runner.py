"""The optimization loop: ask -> executor -> report/decide -> tell, within limits.

The same loop serves ``Study.optimize`` (function trials) and ``hypersweep run`` (command
trials): only the executor differs.

Stopping the study:

* *soft* reasons (``max_trials``, ``target``, ``patience``, an exhausted grid) stop
  launching new trials and let running ones finish;
* *hard* reasons (``timeout``, ``max_trial_seconds``, a stop request from
  ``hypersweep stop``/``Study.stop``, Ctrl-C) stop running trials too: they end FAILED
  with reason ``interrupted (...)``, so no trial is left RUNNING; re-running resumes the
  study.
* a *storage fault* (a write refused: disk full, read-only, connection lost for good; or
  an SQLite file deleted or replaced under the run, see :meth:`Storage.check`) is a hard
  stop too, after which :meth:`Runner.run` raises :class:`StorageError` with one line
  saying what happened and how many trials could not be marked FAILED. Those (the
  storage refused the write) stay RUNNING until the next run of the study marks them
  FAILED ("worker lost": their worker process is gone).

Every turn of the loop is bounded (the executor's ``poll`` returns within its timeout
plus a bounded amount of work, however much a trial prints), so limits, stop requests
and trial timeouts are honoured while any trial floods its output.

Progress displays implement :class:`Progress` (all methods optional).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hypersweep.errors import (
    HypersweepError,
    SpaceExhausted,
    SpecError,
    StorageError,
    TrialNotRunning,
)
from hypersweep.execution.base import Executor, Outcome
from hypersweep.samplers.base import COMPLETED, STOPPED
from hypersweep.stopping.base import Decision
from hypersweep.trial import Trial, TrialState

if TYPE_CHECKING:
    from hypersweep.study import Study

__all__ = ["Limits", "Progress", "Runner"]

log = logging.getLogger("hypersweep")

#: Seconds between the loop's syncs with the storage while trials run (a stop request
#: from ``hypersweep stop`` is seen within about this long).
SYNC_INTERVAL = 1.0


def _numbers(ns: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in ns[:10])
    return shown + (f" and {len(ns) - 10} more" if len(ns) > 10 else "")


def _pos(name: str, v: Any, integer: bool, allow_zero: bool = False) -> None:
    if v is None:
        return
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    ok = ok and abs(v) <= 2**63 - 1 and math.isfinite(v)  # huge ints: no float overflow
    ok = ok and (v >= 0 if allow_zero else v > 0)
    if integer:
        ok = ok and float(v).is_integer()
    if not ok:
        kind = "a positive integer" if integer else "a positive number of seconds"
        shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:30] + "..."
        if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > 2**63 - 1:
            kind += " of at most 2**63-1"
        raise SpecError(f"limits.{name}: must be {kind}, got {shown}")


@dataclass(frozen=True)
class Limits:
    """When to stop launching trials and when to stop the study.

    Attributes:
        max_trials: total trials in the study (all states but QUEUED).
        max_concurrent: trials running at once.
        timeout: seconds for this run.
        trial_timeout: seconds per trial.
        max_steps: a trial is STOPPED once it has reported this many steps.
        target: stop once the best value reaches this (single objective).
        patience: stop after this many COMPLETED trials without improvement.
        max_trial_seconds: a cost cap: stop the study (like ``timeout``, running trials
            too) once the total trial time of the study (durations of finished trials plus
            the elapsed time of running ones) reaches this many seconds.
    """

    max_trials: int | None = None
    max_concurrent: int = 1
    timeout: float | None = None
    trial_timeout: float | None = None
    max_steps: int | None = None
    target: float | None = None
    patience: int | None = None
    max_trial_seconds: float | None = None

    def __post_init__(self) -> None:
        _pos("max_trials", self.max_trials, True)
        _pos("max_concurrent", self.max_concurrent, True)
        _pos("timeout", self.timeout, False)
        _pos("trial_timeout", self.trial_timeout, False)
        _pos("max_steps", self.max_steps, True)
        _pos("patience", self.patience, True)
        _pos("max_trial_seconds", self.max_trial_seconds, False)
        if self.target is not None and (
            isinstance(self.target, bool) or not isinstance(self.target, (int, float))
            or not math.isfinite(self.target)
        ):
            raise SpecError(f"limits.target: must be a finite number, got {self.target!r}")


class Progress(Protocol):
    """What a progress display receives (implement any subset)."""

    def start(self, runner: Runner) -> None: ...
    def update(self, runner: Runner) -> None: ...
    def trial_finished(self, runner: Runner, trial: Trial) -> None: ...
    def end(self, runner: Runner) -> None: ...


class Runner:
    """Runs a study's trials on an executor until a limit is reached.

    Args:
        study: the study.
        executor: how trials run (functions, commands, ...).
        limits: see :class:`Limits`.
        callbacks: ``callback(study, trial)`` after each finished trial.
        progress: an optional display (see :class:`Progress`).
        heartbeat_interval: seconds between heartbeats of running trials (also how often
            stop requests and lost workers are checked).
        stale_after: seconds without heartbeat after which another worker's trial counts
            as lost.
    """

    def __init__(
        self,
        study: Study,
        executor: Executor,
        limits: Limits,
        callbacks: Sequence[Callable[[Study, Trial], Any]] = (),
        progress: Progress | None = None,
        heartbeat_interval: float = 5.0,
        stale_after: float = 60.0,
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
        self.running: dict[int, Trial] = {}
        self.finished: list[Trial] = []
        self.stop_reason: str | None = None
        self.hard_stop = False
        self.started_at = time.time()
        self._t0 = time.monotonic()
        self._stop_cause: dict[int, str] = {}
        self._beating = threading.Event()  # set: stop the heartbeat thread
        self._fault: StorageError | None = None  # the storage refused a write

    # ------------------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

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
                self._stop_cause.setdefault(number, "study")
                self.executor.stop(number)

    def _interrupted_error(self) -> str:
        """The error text of a trial ended by a hard stop: ``interrupted (<reason>)``."""
        reason = self.stop_reason or "stopped"
        return reason if reason.startswith("interrupted") else f"interrupted ({reason})"

    def _n_started(self) -> int:
        h = self.study.history
        return int((h.state != 0).sum())  # every state but QUEUED

    def _storage_fault(self, e: StorageError) -> None:
        """The storage refused a write (or its file vanished): stop the run, hard."""
        if self._fault is None:
            self._fault = e
            log.debug("storage fault", exc_info=e)
        self._set_stop(f"storage failed: {e}", hard=True)

    def _check_limits(self) -> None:
        try:
            self.study.storage.check()
        except StorageError as e:
            self._storage_fault(e)
        lim = self.limits
        if lim.timeout is not None and self.elapsed >= lim.timeout:
            self._set_stop(f"timeout ({lim.timeout:g} s) reached", hard=True)
        if lim.max_trial_seconds is not None:
            used = self.trial_seconds()
            if used >= lim.max_trial_seconds:
                self._set_stop(f"max_trial_seconds ({lim.max_trial_seconds:g} s) reached: "
                               f"{used:.1f} s of trial time", hard=True)
        req = self.study.attrs.get("stop_requested")
        if req:
            self._set_stop(f"stop requested ({req})" if req is not True else "stop requested",
                           hard=True)

    def trial_seconds(self) -> float:
        """Total trial time of the study: finished trials' durations plus the elapsed
        time of running ones."""
        now = time.time()
        total = 0.0
        for t in self.study.history.trials:
            if t is None or t.started_at is None:
                continue
            end = t.finished_at if t.finished_at is not None else (
                now if t.state == TrialState.RUNNING else None)
            if end is not None:
                total += max(0.0, end - t.started_at)
        return total

    def _check_after_trial(self) -> None:
        lim = self.limits
        if lim.target is None and lim.patience is None:
            return
        h = self.study.history
        # every trial counts, also one from before the space was extended
        ok = np.isin(h.state, (COMPLETED, STOPPED)) & ~np.isnan(h.Y[:, 0])
        if not ok.any():
            return
        y = np.where(ok, h.Y[:, 0], np.inf)
        best_i = int(np.argmin(y))
        sign = self.study.objectives[0].sign
        if lim.target is not None and y[best_i] <= sign * lim.target:
            self._set_stop(f"target {lim.target:g} reached by trial {best_i}")
        if lim.patience is not None:
            completed = np.nonzero(h.state == COMPLETED)[0]
            since = int((completed > best_i).sum())
            if since >= lim.patience:
                self._set_stop(f"no improvement in {lim.patience} completed trials")

    # ------------------------------------------------------------------------------------
    def _on_report(self, number: int, step: int, metrics: dict[str, float]) -> Decision:
        if self._fault is not None:
            return Decision.STOP
        try:
            decision = self.study.report(number, step, **metrics)
        except TrialNotRunning:
            return Decision.STOP
        except StorageError as e:
            self._storage_fault(e)
            return Decision.STOP
        except HypersweepError as e:
            log.warning("trial %d: bad report ignored: %s", number, e)
            return Decision.CONTINUE
        if decision == Decision.STOP:
            self._stop_cause.setdefault(number, "policy")
        lim = self.limits.max_steps
        if lim is not None and decision == Decision.CONTINUE:
            t = self.study.history.trials[number]
            if len(t.reports) >= lim:
                self._stop_cause.setdefault(number, "max_steps")
                decision = Decision.STOP
        if number in self._stop_cause and self._stop_cause[number] == "study":
            decision = Decision.STOP
        return decision

    def _finish(self, out: Outcome) -> Trial | None:
        cause = self._stop_cause.pop(out.number, None)
        study = self.study
        if out.system_attrs:  # e.g. the metric intake of a trial that flooded its output
            t = study.history.trials[out.number]
            if t is not None and t.id is not None:
                study.storage.set_trial_attrs(study._id, t.id, system=out.system_attrs)
        try:
            if out.status == "failed":
                return study.tell(out.number, state=TrialState.FAILED, error=out.error)
            if cause == "study" and out.status == "stopped":
                return study.tell(out.number, state=TrialState.FAILED,
                                  error=self._interrupted_error())
            if out.status == "stopped" or cause in ("policy", "max_steps"):
                return study.tell(out.number, out.result, state=TrialState.STOPPED)
            return study.tell(out.number, out.result)
        except TrialNotRunning:
            log.warning("trial %d finished after it was marked lost; result dropped",
                        out.number)
            return None

    def _launch(self) -> None:
        lim = self.limits
        while self.stop_reason is None and len(self.running) < lim.max_concurrent:
            if lim.max_trials is not None and self._n_started() >= lim.max_trials:
                self._set_stop(f"max_trials ({lim.max_trials}) reached")
                return
            try:
                trial = self.study.ask()
            except SpaceExhausted as e:
                if self.running:  # a running trial may open new proposals (a PBT member)
                    return
                self._set_stop(f"search space exhausted: {e}")
                return
            budget = trial.system_attrs.get("budget")
            if budget is None:  # the policy's budget (ASHA: max_resource), capped by max_steps
                policy = self.study.policy
                caps = [b for b in (policy.budget(trial.number) if policy else None,
                                    lim.max_steps) if b is not None]
                budget = min(caps) if caps else None
            self.running[trial.number] = trial
            self.executor.start(trial, budget)

    def run(self) -> str:
        """Run until a limit is reached; return the stop reason.

        Raises:
            KeyboardInterrupt: after cleaning up (no trial left RUNNING) on Ctrl-C.
        """
        study = self.study
        study.recover(self.stale_after)
        if study.attrs.get("stop_requested"):
            study._set_attrs(stop_requested=None)
        study._set_attrs(stop_reason=None)
        self.executor.open(self._on_report)
        self._call_progress("start")
        last_beat = last_sync = time.monotonic()
        interrupted = False
        beats = threading.Thread(target=self._heartbeats, name="hypersweep-heartbeat",
                                 daemon=True)
        beats.start()
        try:
            while True:
                try:
                    self._check_limits()
                    if self._fault is None:
                        self._launch()
                    if not self.running:
                        if self.stop_reason is None:  # nothing ran and nothing was launched
                            self._set_stop("nothing left to run")
                        break
                    outs = self.executor.poll(self._poll_timeout())
                    if self._fault is not None:
                        break
                    for out in outs:
                        if self._fault is not None:  # the clean-up marks the rest FAILED
                            break
                        t = self._finish(out)  # a fault here leaves it to the clean-up
                        self.running.pop(out.number, None)
                        if t is None:
                            continue
                        self.finished.append(t)
                        self._call_progress("trial_finished", t)
                        for cb in self.callbacks:
                            cb(study, t)
                        self._check_after_trial()
                    now = time.monotonic()
                    if now - last_beat >= self.heartbeat_interval:
                        last_beat = last_sync = now
                        study.recover(self.stale_after)
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
            left = self._cleanup()
            beats.join(5.0)
        self._call_progress("end")
        if interrupted:
            raise KeyboardInterrupt
        if self._fault is not None:
            raise StorageError(self._fault_message(left)) from self._fault
        return self.stop_reason or ""

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
            return (f"{what}; the run was stopped and trial{s} {_numbers(left)} could not be "
                    f"marked FAILED: they show as RUNNING until the next run of this study "
                    f"marks them FAILED ('worker lost')")
        return f"{what}; the run was stopped (no trial was left RUNNING)"

    def _heartbeats(self) -> None:
        """Refresh running trials' heartbeats from a thread, so that a long inline trial
        (which blocks the loop) is never mistaken for a lost one."""
        storage, study_id = self.study.storage, self.study._id
        while not self._beating.wait(self.heartbeat_interval):
            ids = [t.id for t in list(self.running.values())]
            try:
                storage.heartbeat(study_id, ids)
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
                    self.study.tell(number, state=TrialState.FAILED,
                                    error=self._interrupted_error())
                except TrialNotRunning:
                    pass
                except StorageError as e:
                    if self._fault is None:
                        raise
                    log.debug("trial %d: could not be marked FAILED: %s", number, e)
                    left.append(number)
            self.running.clear()
            try:
                self.study._set_attrs(stop_reason=self.stop_reason)
            except Exception:
                log.debug("could not store the stop reason", exc_info=True)
        return sorted(left)
