"""Run a Python objective function: in worker processes, or inline in this process.

Process mode keeps ``max_concurrent`` long-lived worker processes (``spawn`` start
method: the same on every platform, no inherited locks or threads). The function is
pickled once per worker, so it must be importable: defined at module level, not a lambda
or a nested function. Each report travels over a pipe and :meth:`FunctionExecutor.poll`
returns it as an event; the worker waits for the answer, given at the next poll (stop if
the runner called :meth:`FunctionExecutor.stop` meanwhile), so ``trial.report`` raises
``TrialStopped`` exactly when the policy says stop. A trial past its timeout has its
worker process killed (and replaced).

Inline mode runs the trial inside :meth:`FunctionExecutor.poll`, in the caller's thread:
each report is answered by the ``decide`` function given to :meth:`FunctionExecutor.open`.

Each trial has a checkpoint directory, ``<runs_dir>/<study>/<trial number>/checkpoint``
(the layout of command trials), created when the trial first asks for it
(``trial.checkpoint_dir``); a trial whose ``Trial.resume_from`` names another
trial gets that trial's checkpoint directory as ``trial.restore_from``.
"""

from __future__ import annotations

import inspect
import multiprocessing as mp
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from hypersweep.errors import HypersweepError, TrialStopped
from hypersweep.execution.base import Decide, Event, Executor, Outcome, OutcomeStatus, Report
from hypersweep.execution.lifeline import watch_parent
from hypersweep.sdk import RunningTrial, set_current
from hypersweep.study_dbr import DefineByRunContext, DefineByRunTrial
from hypersweep.trial import Trial

if TYPE_CHECKING:
    from hypersweep.space import Delivery

__all__ = ["FunctionExecutor"]

#: seconds a worker may take to pick up a trial (start-up and imports) under a trial_timeout
_START_LIMIT = 300.0


def _arity(fn: Callable[..., Any]) -> int:
    """1 if ``fn`` takes only ``params``, else 2 (``params, trial``)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 2
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values()):
        return 2
    if not positional:
        raise HypersweepError("the objective function must take (params) or (params, trial)")
    return 1 if len(positional) == 1 else 2


def _run_one(
    fn: Callable[..., Any],
    arity: int,
    number: int,
    params: dict[str, Any],
    budget: float | None,
    send: Callable[[int, dict[str, float]], bool],
    dirs: tuple[str | None, str | None, int | None] = (None, None, None),
    dbr: tuple[dict[str, Any], int, str, int] | None = None,
) -> tuple[str, Any, dict[str, Any] | None]:
    """Run one trial in this process; return (status, result-or-error-text, what a
    define-by-run trial suggested).

    ``dirs`` is (checkpoint directory, directory to restore from, the trial's seed); ``dbr`` the
    define-by-run context (:meth:`DefineByRunContext.payload`): ``fn`` then gets the
    trial handle (``fn(trial)``, or ``fn(params_so_far, trial)``)."""
    handle: RunningTrial
    if dbr is None:
        handle = RunningTrial(number, params, send, budget, *dirs)
    else:
        handle = DefineByRunTrial(number, params, send, budget, *dirs, dbr)
    set_current(handle)
    try:
        if dbr is None:
            result = fn(params) if arity == 1 else fn(params, handle)
        else:
            result = fn(handle) if arity == 1 else fn(handle.params, handle)
        status = "stopped" if handle.should_stop() else "completed"
    except TrialStopped:
        status, result = "stopped", None
    except Exception:
        status, result = "failed", traceback.format_exc()
    finally:
        set_current(None)
    return status, result, (handle.suggestions() if isinstance(handle, DefineByRunTrial) else None)


def _worker_main(conn: Connection, blob: bytes, arity: int, env: dict[str, str]) -> None:
    """The loop of one worker process: dies with its parent; ``env`` (the trial's
    devices) is set before the objective's module is imported."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl-C
    watch_parent()
    os.environ.update(env)
    fn = pickle.loads(blob)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "exit":
            return
        _, number, params, budget, ckpt, restore, seed, dbr = msg
        conn.send(("started", number, time.time()))  # the trial's own time starts now

        def send(step: int, metrics: dict[str, float], _n: int = number) -> bool:
            conn.send(("report", _n, step, metrics))
            reply = conn.recv()
            return bool(reply[1])

        status, payload, got = _run_one(
            fn, arity, number, params, budget, send, (ckpt, restore, seed), dbr
        )
        try:
            conn.send(("done", number, status, payload, got))
        except Exception as e:  # the result could not be pickled
            error = f"the objective's result could not be sent back: {e!r}"
            conn.send(("done", number, "failed", error, got))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    number: int | None = None
    deadline: float | None = None
    stop_at: float | None = None  # when a stop was requested
    started: float = field(default_factory=time.monotonic)
    code_started: float | None = None  # when the objective was entered (UNIX time)
    waiting: bool = False  # its trial waits for the answer to a report
    env: dict[str, str] = field(default_factory=dict)  # what it was started with


class FunctionExecutor(Executor):
    """Runs ``fn(params, trial)`` (or ``fn(params)``) for each trial.

    Args:
        fn: the objective function.
        max_concurrent: how many trials at once.
        trial_timeout: seconds per trial (process mode only).
        isolation: ``"process"``, ``"inline"`` or ``"auto"`` (inline only when
            ``max_concurrent == 1`` and no ``trial_timeout``).
        grace: seconds a stopped trial has to end by itself before its process is killed.
        study_name: names the trials' directories ``<runs_dir>/<study_name>/<number>/``;
            ``None``: trials get no checkpoint directory.
        runs_dir: where trial directories go.
        delivery: the space's :meth:`~hypersweep.space.Space.delivery`: ``fn`` receives
            the parameters of groups nested (``params["optimizer"]["lr"]``).
        define_by_run: the study's define-by-run context (its trials then get a handle
            with ``suggest_*``; see :mod:`hypersweep.study_dbr`), or ``None``.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        max_concurrent: int = 1,
        trial_timeout: float | None = None,
        isolation: str = "auto",
        grace: float = 5.0,
        study_name: str | None = None,
        runs_dir: str | os.PathLike[str] = ".hypersweep/runs",
        delivery: Delivery | None = None,
        define_by_run: DefineByRunContext | None = None,
    ) -> None:
        if not callable(fn):
            raise HypersweepError(f"optimize: fn must be callable, got {type(fn).__name__}")
        if isolation not in ("auto", "process", "inline"):
            raise HypersweepError(
                f"isolation: must be 'auto', 'process' or 'inline', got {isolation!r}"
            )
        if isolation == "auto":
            isolation = "inline" if max_concurrent == 1 and trial_timeout is None else "process"
        if isolation == "inline" and trial_timeout is not None:
            raise HypersweepError(
                "trial_timeout needs isolation='process': an inline trial cannot be interrupted"
            )
        if isolation == "inline" and max_concurrent != 1:
            raise HypersweepError(
                "isolation='inline' runs one trial at a time: use max_concurrent=1"
            )
        self.fn = fn
        self.delivery = delivery
        self.arity = _arity(fn)
        self.capacity = max_concurrent
        self.trial_timeout = trial_timeout
        self.isolation = isolation
        self.grace = grace
        self.study_name = study_name
        self.runs_dir = os.path.abspath(runs_dir)
        self.define_by_run = define_by_run
        self._decide: Decide | None = None
        self._workers: list[_Worker] = []
        self._inline: list[tuple[Trial, float | None]] = []
        self._stop_inline: set[int] = set()
        #: added to the environment of the next trial's worker process (its devices): a
        #: trial runs in a worker started with the same ``trial_env``
        self.trial_env: dict[str, str] = {}
        self._inline_started: float | None = None
        if isolation == "process":
            self._check_picklable()

    def _check_picklable(self) -> None:
        mod = getattr(self.fn, "__module__", None)
        main = sys.modules.get("__main__")
        if mod == "__main__" and not getattr(main, "__file__", None):
            raise HypersweepError(
                "optimize: the objective function is defined interactively (a notebook or "
                "REPL), so worker processes cannot import it; move it to a module, or use "
                "max_concurrent=1 with isolation='inline'"
            )
        try:
            pickle.dumps(self.fn)
        except Exception as e:
            raise HypersweepError(
                f"optimize: the objective function cannot be sent to worker processes "
                f"({type(e).__name__}: {e}); define it at module level (not a lambda, a "
                "nested function or a bound method of an unpicklable object), or use "
                "max_concurrent=1 with isolation='inline'"
            ) from None

    # ------------------------------------------------------------------------------------
    def open(self, decide: Decide | None = None) -> None:
        self._decide = decide

    @property
    def running(self) -> set[int]:
        if self.isolation == "inline":
            return {t.number for t, _ in self._inline}
        return {w.number for w in self._workers if w.number is not None}

    def start(self, trial: Trial, budget: float | None = None) -> None:
        if self.isolation == "inline":
            self._inline.append((trial, budget))
            return
        env = dict(self.trial_env)
        w = next((w for w in self._workers if w.number is None and w.env == env), None)
        if w is None:
            idle = [w for w in self._workers if w.number is None]
            if len(self._workers) >= self.capacity and idle:
                self._kill(idle[0])  # started for other devices
            if len(self._workers) >= self.capacity:
                raise HypersweepError("executor is full")
            w = self._spawn(env)
        w.number = trial.number
        w.started = time.monotonic()
        w.code_started = None
        # the time limit starts when the worker acknowledges the trial (a fresh worker
        # first imports the objective's module); a worker that never does is failed
        w.deadline = None if self.trial_timeout is None else w.started + _START_LIMIT
        w.stop_at = None
        w.waiting = False
        dbr = None if self.define_by_run is None else self.define_by_run.payload()
        w.conn.send(("run", trial.number, self._params(trial), budget, *self._dirs(trial), dbr))

    def _params(self, trial: Trial) -> dict[str, Any]:
        """The parameters ``fn`` receives: a copy, groups nested."""
        if self.delivery is None:
            return dict(trial.params)
        return self.delivery.nest(trial.params)

    def _dirs(self, trial: Trial) -> tuple[str | None, str | None, int | None]:
        """(its checkpoint directory, the checkpoint directory to restore from, its seed)."""
        if self.study_name is None:
            return None, None, trial.seed
        base = os.path.join(self.runs_dir, self.study_name)
        src = trial.resume_from
        ok = isinstance(src, int) and not isinstance(src, bool) and src >= 0
        return (
            os.path.join(base, str(trial.number), "checkpoint"),
            os.path.join(base, str(src), "checkpoint") if ok else None,
            trial.seed,
        )

    def _spawn(self, env: dict[str, str]) -> _Worker:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=_worker_main,
            args=(child, pickle.dumps(self.fn), self.arity, env),
            daemon=True,
            name="hypersweep-worker",
        )
        proc.start()
        child.close()
        w = _Worker(proc, parent, env=env)
        self._workers.append(w)
        return w

    def _kill(self, w: _Worker) -> None:
        proc = w.process
        if proc.is_alive():
            proc.terminate()
            proc.join(1.0)
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join(1.0)
        w.conn.close()
        self._workers.remove(w)

    def _answer(self, w: _Worker) -> None:
        """Answer the report ``w``'s trial waits on: stop once a stop was requested."""
        if w.waiting:
            w.waiting = False
            try:
                w.conn.send(("decision", w.stop_at is not None))
            except OSError:  # it died meanwhile: poll sees its sentinel
                pass

    def poll(self, timeout: float) -> list[Event]:
        if self.isolation == "inline":
            return list(self._poll_inline())
        busy = [w for w in self._workers if w.number is not None]
        for held in busy:
            self._answer(held)  # continue, unless stop() was called since the report
        if not busy:
            time.sleep(min(timeout, 0.05))
            return []
        out: list[Event] = []
        now = time.monotonic()
        limits = [w.deadline for w in busy if w.deadline is not None]
        limits += [w.stop_at + self.grace for w in busy if w.stop_at is not None]
        wait_for = max(0.0, min([timeout, *(d - now for d in limits)]))
        by_conn = {w.conn: w for w in busy}
        by_sentinel = {w.process.sentinel: w for w in busy}
        ready = wait(list(by_conn) + list(by_sentinel), wait_for)
        handled: set[int] = set()
        for obj in ready:
            w = by_conn.get(obj)  # type: ignore[call-overload]
            if w is None or id(w) in handled:
                continue
            while w.number is not None and w.conn.poll():
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError):
                    break
                self._handle(w, msg, out)
        for obj in ready:
            w = by_sentinel.get(obj)
            if w is None or w not in self._workers or w.number is None:
                continue
            # drain what it said before dying
            try:
                while w.conn.poll():
                    self._handle(w, w.conn.recv(), out)
            except (EOFError, OSError):
                pass
            if w.number is not None:
                w.process.join(1.0)  # reap it: its exit code tells a kill from a crash
                code = w.process.exitcode
                num = w.number
                status = OutcomeStatus.STOPPED if w.stop_at is not None else OutcomeStatus.FAILED
                out.append(
                    Outcome(
                        num,
                        status,
                        error=f"worker process died (exit code {code})",
                        started_at=w.code_started,
                        lost=code is not None and code < 0 and w.stop_at is None,
                    )
                )
                w.number = None
                self._kill(w)
        now = time.monotonic()
        for w in list(self._workers):
            if w.number is None:
                continue
            if w.deadline is not None and now >= w.deadline:
                out.append(
                    Outcome(
                        w.number, OutcomeStatus.FAILED, error="timeout", started_at=w.code_started
                    )
                )
                w.number = None
                self._kill(w)
            elif w.stop_at is not None and now >= w.stop_at + self.grace:
                out.append(
                    Outcome(
                        w.number,
                        OutcomeStatus.STOPPED,
                        error="killed after stop request",
                        started_at=w.code_started,
                    )
                )
                w.number = None
                self._kill(w)
        return out

    def _handle(self, w: _Worker, msg: tuple[Any, ...], out: list[Event]) -> None:
        kind = msg[0]
        if kind == "started":
            if w.number == msg[1]:
                w.code_started = msg[2]
                if self.trial_timeout is not None:
                    w.deadline = time.monotonic() + self.trial_timeout
            return
        if kind == "report":
            _, number, step, metrics = msg
            w.waiting = True
            if w.stop_at is not None:  # reports after a stop request do not count
                self._answer(w)
            else:
                out.append(Report(number, step, metrics))
        elif kind == "done":
            _, number, status, payload, got = msg
            if status == "failed":
                out.append(
                    Outcome(
                        number,
                        OutcomeStatus.FAILED,
                        error=str(payload),
                        started_at=w.code_started,
                        suggested=got,
                    )
                )
            else:
                if w.stop_at is not None:
                    status = "stopped"
                out.append(
                    Outcome(
                        number, status, result=payload, started_at=w.code_started, suggested=got
                    )
                )
            w.number = None
            w.deadline = None
            w.stop_at = None

    def _poll_inline(self) -> list[Outcome]:
        if not self._inline:
            return []
        trial, budget = self._inline.pop(0)
        n = trial.number
        stopped = n in self._stop_inline

        def send(step: int, metrics: dict[str, float]) -> bool:
            nonlocal stopped
            if not stopped and self._decide is not None:
                stopped = self._decide(Report(n, step, metrics))
            return stopped

        began = self._inline_started = time.time()
        dbr = None if self.define_by_run is None else self.define_by_run.payload()
        try:
            status, payload, got = _run_one(
                self.fn, self.arity, n, self._params(trial), budget, send, self._dirs(trial), dbr
            )
        finally:
            self._inline_started = None
        self._stop_inline.discard(n)
        if status == "failed":
            return [
                Outcome(
                    n, OutcomeStatus.FAILED, error=str(payload), started_at=began, suggested=got
                )
            ]
        if stopped:
            status = "stopped"
        return [Outcome(n, OutcomeStatus(status), result=payload, started_at=began, suggested=got)]

    def started_at(self, number: int) -> float | None:
        if self.isolation == "inline":
            return self._inline_started
        return next((w.code_started for w in self._workers if w.number == number), None)

    def stop(self, number: int, at: Report | None = None) -> None:
        # ``at`` needs nothing here: a function trial waits at each report for its answer
        if self.isolation == "inline":
            self._stop_inline.add(number)
            return
        for w in self._workers:
            if w.number == number and w.stop_at is None:
                w.stop_at = time.monotonic()
                self._answer(w)

    def close(self) -> None:
        self._inline.clear()
        for w in list(self._workers):
            if w.number is None and w.process.is_alive():
                try:
                    w.conn.send(("exit",))
                except OSError:
                    pass
        deadline = time.monotonic() + 2.0
        for w in list(self._workers):
            if w.number is None:
                w.process.join(max(0.0, deadline - time.monotonic()))
            self._kill(w)
