"""The command executor: launches trial processes, tails their output, enforces limits
and ends process trees (see :mod:`hypersweep.execution.command`)."""

from __future__ import annotations

import functools
import logging
import os
import select
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypersweep.errors import HypersweepError
from hypersweep.execution.base import Decide, Event, Executor, Outcome, OutcomeStatus, Report
from hypersweep.execution.command.capture import (
    Tail,
    tail_text,
)
from hypersweep.execution.command.intake import (
    READ_PER_POLL,
    REDUCE,
    REPORT_BURST,
    REPORT_RATE,
    MetricIntake,
)
from hypersweep.execution.command.launch import (
    check_options,
    check_program,
    check_script,
    fill,
    per_trial_argv,
    protocol_env,
    trial_context,
)
from hypersweep.execution.command.proc import (
    KILL_WAIT,
    PHASE_INT,
    PHASE_KILL,
    PHASE_TERM,
    TOKEN_VAR,
    Proc,
    base_env,
    has_exited,
    token_pids,
)
from hypersweep.execution.command.template import (
    PARAMS_AS,
    parse_template,
    render_command,
    split_command,
)
from hypersweep.execution.lifeline import Watchdog, die_with_parent
from hypersweep.metrics import LineParser, MetricsConfig
from hypersweep.trial import Trial

if TYPE_CHECKING:
    from hypersweep.space import Delivery

__all__ = ["CommandExecutor"]

log = logging.getLogger("hypersweep")


#: Seconds between reads of a running trial's output files while :meth:`poll` waits.
TAIL_INTERVAL = 0.05
#: On :meth:`CommandExecutor.close`, the SIGINT grace is at most this many seconds.
CLOSE_GRACE = 2.0


class CommandExecutor(Executor, MetricIntake):
    """Runs each trial as an external command (see the module docs for the protocol).

    Args:
        command: the argv template: a string (split with shell rules, never run by a
            shell) or a list; ``{name}`` placeholders take parameter values.
        study_name: names the trial directory ``<runs_dir>/<study_name>/<number>/`` and
            ``HYPERSWEEP_STUDY``.
        metrics: the declared metric names (objectives, constraints): the ``name value``
            form is read for them, and one reported as text, NaN or infinite stops the
            trial, which FAILS with that reason. Every other numeric metric a trial
            reports is kept too.
        required: the metrics a trial that exits 0 must have reported (default:
            ``metrics``); one missing FAILS it with the names it did report and the
            closest one (``Outcome.config_error``: the runner fails fast on it).
        metrics_config: where metrics are read from (:class:`~hypersweep.metrics.MetricsConfig`
            or the mapping of the ``metrics:`` key; default: ``source: auto``).
        reduce: the trial's final value of each metric over its reports: ``"last"``,
            ``"min"`` or ``"max"``.
        params_as: how parameters that no placeholder uses are delivered: ``"args"``,
            ``"env"`` or ``"json"`` (see :func:`render_command`).
        max_concurrent: trials at once.
        trial_timeout: seconds per trial; then it is stopped and FAILS with "timeout".
        grace: seconds between SIGINT and SIGTERM when a trial is stopped (on
            :meth:`close` at most :data:`CLOSE_GRACE`).
        workdir: the trials' working directory (default: this process's); with
            ``per_trial`` the folder their script and ``{workdir}`` refer to.
        per_trial: run each trial in a fresh folder of its own, ``<run folder>/work/``.
        env: variables added to the trials' environment.
        runs_dir: where trial directories go.
        report_rate: reports per second stored per trial (bursts of ``report_burst``);
            see "Metric intake" in the module docs.
        report_burst: reports a trial may send at once before the rate applies.
        read_per_poll: bytes read per poll from each output file of a trial.
        delivery: the space's :meth:`~hypersweep.space.Space.delivery`: group parameters
            reach ``HYPERSWEEP_PARAMS`` / ``params.json`` nested, and an argument whose
            placeholder names an inactive conditional parameter is dropped.

    Raises:
        HypersweepError: an invalid argument, or a program that cannot be found.

    Example:
        >>> ex = CommandExecutor("python -c 'import sys; print(sys.argv)' --lr {lr}",
        ...                      study_name="demo", metrics=["val_acc"], max_concurrent=2)
        >>> ex.capacity
        2
    """

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        study_name: str,
        metrics: Sequence[str],
        required: Sequence[str] | None = None,
        metrics_config: MetricsConfig | Mapping[str, Any] | None = None,
        reduce: str = "last",
        params_as: str = "args",
        max_concurrent: int = 1,
        trial_timeout: float | None = None,
        grace: float = 10.0,
        workdir: str | None = None,
        per_trial: bool = False,
        env: Mapping[str, str] | None = None,
        runs_dir: str | os.PathLike[str] = ".hypersweep/runs",
        report_rate: float = REPORT_RATE,
        report_burst: int = REPORT_BURST,
        read_per_poll: int = READ_PER_POLL,
        delivery: Delivery | None = None,
    ) -> None:
        argv = split_command(command)
        for item in argv:
            parse_template(item)  # braces are checked now, not at the first trial
        if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
            raise HypersweepError(
                f"metrics: give the objective metric names as a list, got {metrics!r}"
            )
        for m in metrics:
            if not isinstance(m, str) or not m or m == "step":
                raise HypersweepError(f"metrics: {m!r} cannot be a metric name")
        if reduce not in REDUCE:
            raise HypersweepError(
                f"metrics.reduce: must be one of {', '.join(REDUCE)}, got {reduce!r}"
            )
        if params_as not in PARAMS_AS:
            raise HypersweepError(
                f"params_as: must be one of {', '.join(PARAMS_AS)}, got {params_as!r}"
            )
        check_options(
            max_concurrent, trial_timeout, grace, report_rate, report_burst, read_per_poll
        )
        if workdir is not None and not os.path.isdir(workdir):
            raise HypersweepError(f"workdir: {workdir!r} is not a directory")
        extra = dict(env or {})
        for name, value in extra.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise HypersweepError(
                    f"env: names and values must be strings, got {name!r}: {value!r}"
                )
        if not isinstance(metrics_config, MetricsConfig):
            metrics_config = MetricsConfig.parse(metrics_config)
        self.command = command
        self.study_name = study_name
        self.metrics = tuple(metrics)
        self.required = self.metrics if required is None else tuple(required)
        self.metrics_config = metrics_config
        self.per_trial = bool(per_trial)
        self.reduce = reduce
        self.params_as = params_as
        self.delivery = delivery
        self.capacity = max_concurrent
        self.trial_timeout = None if trial_timeout is None else float(trial_timeout)
        self.grace = float(grace)
        self.workdir = workdir
        self.env = extra
        self.runs_dir = str(Path(runs_dir).resolve())
        self.report_rate = float(report_rate)
        self.report_burst = int(report_burst)
        self.read_per_poll = int(read_per_poll)
        check_program(argv[0], self.workdir, self.env)
        check_script(argv, self.workdir)
        self._parser = LineParser(self.metrics, metrics_config.patterns)
        self._procs: dict[int, Proc] = {}
        self._pending: list[Outcome] = []
        self._stuck: list[subprocess.Popen[bytes]] = []
        self._closing = False
        self._base_env = base_env()
        self.trial_env: dict[str, str] = {}  # added to the next trial's env (its devices)
        self._watchdog = Watchdog()  # kills the trials if this process dies

    # ------------------------------------------------------------------------------------
    def open(self, decide: Decide | None = None) -> None:
        """Prepare to run; the trials' environment is based on ``os.environ`` as of now.
        (``decide`` is not used: reports come back from :meth:`poll`.)"""
        self._closing = False
        self._base_env = base_env()
        self._watchdog.start()

    @property
    def running(self) -> set[int]:
        return set(self._procs)

    def start(self, trial: Trial, budget: float | None = None) -> None:
        if len(self._procs) + len(self._pending) >= self.capacity:
            raise HypersweepError("executor is full")
        number = trial.number
        run_dir = os.path.join(self.runs_dir, self.study_name, str(number))
        src = trial.resume_from
        restore = (
            os.path.join(self.runs_dir, self.study_name, str(src), "checkpoint")
            if isinstance(src, int) and not isinstance(src, bool) and src >= 0
            else None
        )
        try:
            self._launch(number, dict(trial.params), budget, run_dir, restore, trial.seed)
        except (HypersweepError, OSError, ValueError) as e:
            msg = str(e)
            if isinstance(e, OSError):
                msg = f"cannot start the command: {e}"
            self._pending.append(
                Outcome(
                    number, OutcomeStatus.FAILED, error=msg, cannot_start=isinstance(e, OSError)
                )
            )

    def _launch(
        self,
        number: int,
        params: dict[str, Any],
        budget: float | None,
        run_dir: str,
        restore: str | None = None,
        seed: int | None = None,
    ) -> None:
        os.makedirs(run_dir, exist_ok=True)
        join = os.path.join
        stop_file = join(run_dir, "STOP")  # the names protocol_env hands the trial
        metrics_path = join(run_dir, "metrics.jsonl")
        params_path = join(run_dir, "params.json")
        stdout_path = join(run_dir, "stdout.log")
        try:  # a directory reused by a retry, or an earlier study of the same name
            os.unlink(stop_file)
        except FileNotFoundError:
            pass
        for old in ("mlruns", "wandb"):  # the trackers' stores of an earlier attempt
            shutil.rmtree(join(run_dir, old), ignore_errors=True)
        base = self.workdir or os.getcwd()
        context = trial_context(number, run_dir, self.study_name, base)
        argv, extra = render_command(
            self.command,
            params,
            self.params_as,
            params_file=params_path if self.params_as == "json" else None,
            context=context,
            delivery=self.delivery,
            seed=seed,
        )
        cwd, module = self.workdir, False
        if self.per_trial:
            cwd = join(run_dir, "work")
            os.makedirs(cwd, exist_ok=True)
            argv, module = per_trial_argv(argv, base)
        cfg = self.metrics_config
        logdirs = [fill(d, params, context) for d in cfg.logdirs]
        if self.params_as == "json":
            with open(params_path, "w", encoding="utf-8") as f:
                f.write(extra["HYPERSWEEP_PARAMS"])
        with open(metrics_path, "wb"):
            pass
        env = dict(self._base_env)
        env.update(cfg.env(run_dir))  # MLflow / W&B write into the run folder
        env.update(self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")  # print() reaches stdout.log at once
        if module:  # python -m pkg found pkg in the working directory
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [base, env.get("PYTHONPATH")]))
        env.update(extra)
        env.update(protocol_env(run_dir, number, self.study_name, base, seed, restore, budget))
        token = env[TOKEN_VAR] = f"{os.getpid()}.{number}.{uuid.uuid4().hex}"
        env.update({**self.trial_env, **self._watchdog.env})
        os.makedirs(env["HYPERSWEEP_CHECKPOINT_DIR"], exist_ok=True)
        with open(stdout_path, "wb") as out, open(join(run_dir, "stderr.log"), "wb") as err:
            spawned = time.time()
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
                preexec_fn=die_with_parent(),
            )
        self._watchdog.add(popen.pid)  # its process group (a session leader)
        now = time.monotonic()
        proc = self._procs[number] = Proc(  # tracked at once: it must never be forgotten
            number=number,
            popen=popen,
            run_dir=run_dir,
            stdout=Tail(stdout_path, split_cr=True),
            stderr=Tail(join(run_dir, "stderr.log"), split_cr=True),
            sources=cfg.open(run_dir, cwd or os.getcwd(), env, logdirs, since=spawned),
            metrics_file=Tail(metrics_path),
            stop_file=stop_file,
            pidfd=None,
            deadline=None if self.trial_timeout is None else now + self.trial_timeout,
            started_at=spawned,
            token=token,
            tokens=float(self.report_burst),
            tokens_at=now,
        )
        if hasattr(os, "pidfd_open"):  # wakes poll() the moment the process ends
            try:
                proc.pidfd = os.pidfd_open(popen.pid)
            except OSError:
                pass

    # ------------------------------------------------------------------------------------
    def poll(self, timeout: float) -> list[Event]:
        end = time.monotonic() + max(0.0, timeout)
        out: list[Event] = []
        for p in self._procs.values():
            p.marks.clear()  # the runner has seen the reports of the last poll
        while True:
            if self._pending:
                out.extend(self._pending)
                self._pending.clear()
            self._service(out)
            now = time.monotonic()
            if out or now >= end:
                return out
            if not self._procs:
                time.sleep(min(end - now, TAIL_INTERVAL))
                return out
            wait = min(end - now, TAIL_INTERVAL)
            marks = [
                t
                for p in self._procs.values()
                if (t := p.deadline if p.stop_kind is None else p.next_at) is not None
            ]
            if marks:
                wait = max(0.0, min(wait, min(marks) - now))
            self._wait_exit(wait)

    def _wait_exit(self, wait: float) -> None:
        """Sleep up to ``wait`` seconds, waking as soon as a trial process exits."""
        fds = [p.pidfd for p in self._procs.values() if p.pidfd is not None]
        if fds and len(fds) == len(self._procs):
            poller = select.poll()
            for fd in fds:
                poller.register(fd, select.POLLIN)
            poller.poll(wait * 1000.0)
            return
        end = time.monotonic() + wait  # no pidfd: check often
        while True:
            if any(has_exited(p.popen) for p in self._procs.values()):
                return
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.005))

    def _service(self, out: list[Event]) -> None:
        """Read new output, enforce deadlines, collect ended trials."""
        now = time.monotonic()
        for p in list(self._procs.values()):
            if p.code is None:
                p.exited = has_exited(p.popen)
            more = self._read(p, final=p.exited)
            out.extend(p.reports)  # before its outcome
            p.reports.clear()
            if p.exited:
                if p.code is None:
                    self._kill_tree(p)  # whatever is left of its process tree
                    p.code = p.popen.wait()  # reap the main process only now
                if more:  # output still to read: drain it over the next polls
                    continue
                self._procs.pop(p.number)
                out.append(self._finish(p))
                continue
            if p.stop_kind is None and p.deadline is not None and now >= p.deadline:
                self._begin_stop(p, "timeout")
            elif p.next_at is not None and now >= p.next_at:
                if p.phase == PHASE_KILL:  # SIGKILL did not end it: stuck in the kernel
                    self._procs.pop(p.number)
                    self._stuck.append(p.popen)
                    self._release(p)
                    out.append(
                        Outcome(
                            p.number,
                            OutcomeStatus.FAILED,
                            error=(
                                f"process {p.popen.pid} did not end after SIGKILL "
                                f"({p.stop_kind or 'stop'})"
                            ),
                        )
                    )
                else:
                    self._escalate(p, now)
        self._stuck = [s for s in self._stuck if s.poll() is None]

    # ------------------------------------------------------------------------------------
    def _signal(self, p: Proc, sig: signal.Signals) -> None:
        """Signal the trial's process group, and every process of its tree that left the
        group (found by its ``HYPERSWEEP_TRIAL_TOKEN``)."""
        try:
            os.killpg(p.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        if p.token is not None:
            for pid in token_pids(p.token):
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass

    def _kill_tree(self, p: Proc) -> None:
        """SIGKILL what is left of a trial's process tree (its main process has ended):
        its process group, then every process holding its token, until none is found."""
        try:
            os.killpg(p.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if p.token is None:
            return
        for _ in range(50):  # a process may fork between a scan and its kill
            pids = token_pids(p.token)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.002)
        log.warning(
            "trial %d: processes %s did not end after SIGKILL", p.number, token_pids(p.token)
        )

    def _term_wait(self) -> float:
        return min(2.0, max(0.5, self.grace / 5))

    def _begin_stop(self, p: Proc, kind: str, grace: float | None = None) -> None:
        if p.stop_kind is not None or p.exited:
            return
        p.stop_kind = kind
        try:
            with open(p.stop_file, "w", encoding="utf-8") as f:
                f.write(kind + "\n")
        except OSError:
            pass
        self._signal(p, signal.SIGINT)
        p.phase = PHASE_INT
        p.next_at = time.monotonic() + (self.grace if grace is None else grace)

    def _escalate(self, p: Proc, now: float) -> None:
        if p.phase == PHASE_INT:
            self._signal(p, signal.SIGTERM)
            p.phase = PHASE_TERM
            p.next_at = now + self._term_wait()
        elif p.phase == PHASE_TERM:
            self._signal(p, signal.SIGKILL)
            p.phase = PHASE_KILL
            p.next_at = now + KILL_WAIT

    def _finish(self, p: Proc) -> Outcome:
        """The outcome of a trial whose main process has ended (and been reaped, its
        process tree killed) and whose output is read; clean up after it."""
        code = p.code if p.code is not None else p.popen.wait()
        self._release(p)
        result = dict(p.agg)
        at = p.started_at
        attrs = None
        tails = [p.stdout, p.metrics_file, *([p.stderr] if p.stderr else [])]
        if p.dropped or p.coalesced:
            attrs = {
                "intake": {
                    "reports": p.received,
                    "stored": p.stored,
                    "dropped": p.dropped,
                    "coalesced": p.coalesced,
                    "max_per_second": self.report_rate,
                    "bytes": sum(t.bytes for t in tails),
                    "skipped_bytes": sum(t.skipped for t in tails),
                }
            }
        done = functools.partial(Outcome, p.number, started_at=at, system_attrs=attrs)
        if p.stop_kind == "timeout":
            return done(OutcomeStatus.FAILED, error="timeout")
        if p.invalid is not None:
            return done(OutcomeStatus.FAILED, error=p.invalid)
        if p.stop_kind is not None:
            return done(OutcomeStatus.STOPPED, result=result or None)
        missing = [m for m in self.required if m not in result]
        if code == 0 and missing:
            error = self.missing_metric(p, missing[0], sorted(result))
            return done(
                OutcomeStatus.FAILED, result=result or None, error=error, config_error=True
            )
        if code == 0:
            return done(OutcomeStatus.COMPLETED, result=result)
        if code < 0:
            try:
                what = f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                what = f"killed by signal {-code}"
        else:
            what = f"exit code {code}"
        tail = tail_text(os.path.join(p.run_dir, "stderr.log"))
        error = f"{what}; stderr ends with:\n{tail}" if tail else f"{what} (stderr is empty)"
        # lost: a signal we did not send (retried)
        return done(OutcomeStatus.FAILED, result=result or None, error=error, lost=code < 0)

    def started_at(self, number: int) -> float | None:
        p = self._procs.get(number)
        return None if p is None else p.started_at

    def _release(self, p: Proc) -> None:
        self._watchdog.remove(p.popen.pid)
        p.stdout.close()
        p.metrics_file.close()
        if p.stderr is not None:
            p.stderr.close()
        for source in p.sources:
            source.close()
        if p.pidfd is not None:
            try:
                os.close(p.pidfd)
            except OSError:
                pass
            p.pidfd = None

    # ------------------------------------------------------------------------------------
    def stop(self, number: int, at: Report | None = None) -> None:
        p = self._procs.get(number)
        if p is None:
            return
        mark = next((m for m in p.marks if m[0] is at), None) if at is not None else None
        if mark is not None and p.stop_kind is None:  # what followed it does not count
            p.agg, p.stored = dict(mark[1]), mark[2]
            p.marks.clear()
        self._begin_stop(p, "stop")

    def close(self) -> None:
        """End every trial quickly: the same SIGINT / SIGTERM / SIGKILL sequence with the
        SIGINT grace cut to at most :data:`CLOSE_GRACE` seconds; returns once every trial
        process has ended. Outcomes of trials ended here are dropped (the runner fails
        them as interrupted)."""
        self._closing = True
        self._pending.clear()
        for p in [p for p in self._procs.values() if p.code is not None]:
            self._procs.pop(p.number)  # ended, only its output was left to read
            self._release(p)
        grace = min(self.grace, CLOSE_GRACE)
        now = time.monotonic()
        for p in self._procs.values():
            if p.stop_kind is None:
                self._begin_stop(p, "close", grace)
            elif p.phase == PHASE_INT and p.next_at is not None:
                p.next_at = min(p.next_at, now + grace)
        limit = now + grace + self._term_wait() + 2.0
        dropped: list[Event] = []
        while self._procs and time.monotonic() < limit:
            self._service(dropped)
            if self._procs:
                self._wait_exit(TAIL_INTERVAL)
        for p in list(self._procs.values()):  # still there: a process stuck in the kernel
            self._kill_tree(p)
            self._release(p)
            self._stuck.append(p.popen)
        self._procs.clear()
        for popen in self._stuck:
            try:
                popen.wait(1.0)
            except subprocess.TimeoutExpired:
                log.warning("process %d did not end after SIGKILL", popen.pid)
        self._stuck.clear()
        self._watchdog.close()
