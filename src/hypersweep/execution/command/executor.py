"""The command executor: launches trial processes, tails their output, enforces limits
and ends process trees (see :mod:`hypersweep.execution.command`)."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import select
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypersweep.errors import HypersweepError
from hypersweep.execution.base import Decide, Event, Executor, Outcome, Report
from hypersweep.execution.command.capture import (
    STEP_KEYS,
    STEP_RE,
    Tail,
    json_step,
    parse_number,
    tail_text,
)
from hypersweep.execution.command.template import (
    PARAM_ENV_PREFIX,
    PARAMS_AS,
    PROTOCOL_ENV,
    format_value,
    parse_template,
    render_command,
    split_command,
)
from hypersweep.trial import Trial

__all__ = ["CommandExecutor"]

log = logging.getLogger("hypersweep")

REDUCE = ("last", "min", "max")

#: Seconds between reads of a running trial's output files while :meth:`poll` waits.
TAIL_INTERVAL = 0.05
#: On :meth:`CommandExecutor.close`, the SIGINT grace is at most this many seconds.
CLOSE_GRACE = 2.0
#: Bytes read per poll from each output file of a trial (``stdout.log``, ``metrics.jsonl``);
#: the rest waits for the next poll, so a trial that floods its output never holds the loop.
READ_PER_POLL = 1 << 20
#: ... and for at most this many seconds of parsing, in pieces of :data:`READ_PIECE` bytes.
READ_SECONDS = 0.05
READ_PIECE = 1 << 16
#: Reports per second stored per trial (a token bucket that holds at most
#: :data:`REPORT_BURST`); reports over it are not stored, but still count for the trial's
#: final value and are summarised in its ``system_attrs["intake"]``.
REPORT_RATE = 20.0
REPORT_BURST = 200


# ------------------------------------------------------------------------------------------
# The executor
# ------------------------------------------------------------------------------------------
_RUNNING, _INT, _TERM, _KILL = range(4)
#: Seconds to wait for a process to end after SIGKILL before giving up on it.
KILL_WAIT = 5.0


def _base_env() -> dict[str, str]:
    """``os.environ`` without the trial-protocol variables."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in PROTOCOL_ENV and not k.startswith(PARAM_ENV_PREFIX)
    }


def _has_exited(popen: subprocess.Popen[bytes]) -> bool:
    """True once the process has ended, without reaping it (its pid stays reserved)."""
    if popen.returncode is not None:
        return True
    try:
        info = os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return popen.poll() is not None
    except AttributeError:  # no waitid on this platform
        return popen.poll() is not None
    return info is not None


_TOKEN_VAR = "HYPERSWEEP_TRIAL_TOKEN"


def _notify(run_dir: str, text: str) -> None:
    """Tell a running trial something (one line appended to its ``NOTICE`` file, which
    :func:`hypersweep.notices` reads in the trial)."""
    try:
        with open(os.path.join(run_dir, "NOTICE"), "a", encoding="utf-8") as f:
            f.write(" ".join(text.split()) + "\n")
    except OSError:
        log.debug("could not write the notice of %s", run_dir, exc_info=True)


def _token_pids(token: str) -> list[int]:
    """The live processes whose environment holds ``HYPERSWEEP_TRIAL_TOKEN=token``: a
    trial's whole process tree, including children that left its process group or
    session (``setsid``), found through ``/proc`` (Linux; elsewhere: none)."""
    entry = f"{_TOKEN_VAR}={token}".encode()
    me = os.getpid()
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    out = []
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:  # gone, or another user's
            continue
        if entry in env and entry in env.split(b"\0"):
            out.append(int(name))
    return out


@dataclass
class _Proc:
    number: int
    popen: subprocess.Popen[bytes]
    run_dir: str
    stdout: Tail
    metrics_file: Tail
    stop_file: str
    pidfd: int | None
    deadline: float | None
    agg: dict[str, float] = field(default_factory=dict)
    last_step: int = -1
    sdk_seen: bool = False
    invalid: str | None = None  # why the trial fails (a bad objective value)
    stop_kind: str | None = None  # "stop" (decision / stop()), "timeout", "invalid", "close"
    exited: bool = False  # the main process has ended (not yet reaped)
    phase: int = _RUNNING
    next_at: float | None = None  # when to escalate to the next signal
    started_at: float | None = None  # UNIX time of the spawn: the trial's own time starts
    token: str | None = None  # HYPERSWEEP_TRIAL_TOKEN of its process tree
    code: int | None = None  # exit status, once reaped (its output may still be draining)
    # metric intake: the reports parsed in this poll, in order (see _flush)
    batch: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)  # passed on, for poll to return
    # per report returned by the last poll: (it, the aggregate and the stored count just
    # after it), so a stop at that report leaves out what came after (see stop())
    marks: list[tuple[Report, dict[str, float], int]] = field(default_factory=list)
    tokens: float = float(REPORT_BURST)  # report budget (token bucket)
    tokens_at: float = 0.0
    received: int = 0  # reports parsed
    stored: int = 0  # reports passed on to the runner
    coalesced: int = 0  # reports merged into a later one of the same step
    dropped: int = 0  # reports over the rate, not passed on
    warned: bool = False


class CommandExecutor(Executor):
    """Runs each trial as an external command (see the module docs for the protocol).

    Args:
        command: the argv template: a string (split with shell rules, never run by a
            shell) or a list; ``{name}`` placeholders take parameter values.
        study_name: names the trial directory ``<runs_dir>/<study_name>/<number>/`` and
            ``HYPERSWEEP_STUDY``.
        metrics: the metric names to capture from stdout (the objective metrics). An
            objective metric reported as text, NaN or infinite stops the trial, which
            FAILS with that reason. Other metrics that the SDK reports are kept too.
        reduce: the trial's final value of each metric over its reports: ``"last"``,
            ``"min"`` or ``"max"``.
        params_as: how parameters that no placeholder uses are delivered: ``"args"``,
            ``"env"`` or ``"json"`` (see :func:`render_command`).
        max_concurrent: trials at once.
        trial_timeout: seconds per trial; then it is stopped and FAILS with "timeout".
        grace: seconds between SIGINT and SIGTERM when a trial is stopped (on
            :meth:`close` at most :data:`CLOSE_GRACE`).
        workdir: the trials' working directory (default: this process's).
        env: variables added to the trials' environment.
        runs_dir: where trial directories go.
        report_rate: reports per second stored per trial (bursts of ``report_burst``);
            see "Metric intake" in the module docs.
        report_burst: reports a trial may send at once before the rate applies.
        read_per_poll: bytes read per poll from each output file of a trial.

    Raises:
        HypersweepError: an invalid argument, or a program that cannot be found.

    Example:
        >>> ex = CommandExecutor("python train.py --lr {lr}", study_name="demo",
        ...                      metrics=["val_acc"], max_concurrent=2)
        >>> ex.capacity
        2
    """

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        study_name: str,
        metrics: Sequence[str],
        reduce: str = "last",
        params_as: str = "args",
        max_concurrent: int = 1,
        trial_timeout: float | None = None,
        grace: float = 10.0,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        runs_dir: str | os.PathLike[str] = ".hypersweep/runs",
        report_rate: float = REPORT_RATE,
        report_burst: int = REPORT_BURST,
        read_per_poll: int = READ_PER_POLL,
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
        if (
            isinstance(max_concurrent, bool)
            or not isinstance(max_concurrent, int)
            or max_concurrent < 1
        ):
            raise HypersweepError(
                f"max_concurrent: must be a positive integer, got {max_concurrent!r}"
            )
        if trial_timeout is not None and not (
            isinstance(trial_timeout, (int, float)) and trial_timeout > 0
        ):
            raise HypersweepError(
                f"trial_timeout: must be a positive number of seconds, got {trial_timeout!r}"
            )
        if not isinstance(grace, (int, float)) or isinstance(grace, bool) or not grace >= 0:
            raise HypersweepError(f"grace: must be >= 0 seconds, got {grace!r}")
        for key, v, low in (
            ("report_rate", report_rate, 0),
            ("report_burst", report_burst, 1),
            ("read_per_poll", read_per_poll, 1),
        ):
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not (math.isfinite(v) and v >= low)
                or (key != "report_rate" and v != int(v))
            ):
                raise HypersweepError(f"{key}: must be a number >= {low}, got {v!r}")
        if workdir is not None and not os.path.isdir(workdir):
            raise HypersweepError(f"workdir: {workdir!r} is not a directory")
        extra = dict(env or {})
        for name, value in extra.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise HypersweepError(
                    f"env: names and values must be strings, got {name!r}: {value!r}"
                )
        self.command = command
        self.study_name = study_name
        self.metrics = tuple(metrics)
        self.reduce = reduce
        self.params_as = params_as
        self.capacity = max_concurrent
        self.trial_timeout = None if trial_timeout is None else float(trial_timeout)
        self.grace = float(grace)
        self.workdir = workdir
        self.env = extra
        self.runs_dir = str(Path(runs_dir).resolve())
        self.report_rate = float(report_rate)
        self.report_burst = int(report_burst)
        self.read_per_poll = int(read_per_poll)
        self._check_program(argv[0])
        self._check_script(argv)
        names = "|".join(re.escape(m) for m in sorted(self.metrics, key=len, reverse=True))
        self._pair_re = re.compile(rf"(?<![\w.\-/])(['\"]?)({names})\1\s*[:=]\s*([^\s,;]+)")
        self._procs: dict[int, _Proc] = {}
        self._pending: list[Outcome] = []
        self._stuck: list[subprocess.Popen[bytes]] = []
        self._closing = False
        self._base_env = _base_env()

    def _check_program(self, program: str) -> None:
        if "{" in program:
            return
        path = (self.env.get("PATH") or os.environ.get("PATH")) or os.defpath
        if os.sep in program:
            full = os.path.join(self.workdir or os.getcwd(), program)
            ok = os.path.isfile(full) and os.access(full, os.X_OK)
        else:
            ok = shutil.which(program, path=path) is not None
        if not ok:
            where = f" in {self.workdir!r}" if os.sep in program else " on the PATH"
            raise HypersweepError(
                f"command: program {program!r} not found{where} (or not executable)"
            )

    def _check_script(self, argv: Sequence[str]) -> None:
        """``python missing.py ...`` would fail every trial alike: refuse it now."""
        if not re.fullmatch(r"python[\d.]*", os.path.basename(argv[0])) or len(argv) < 2:
            return
        script = argv[1]
        if script.startswith("-") or "{" in script or not script.endswith(".py"):
            return
        full = os.path.join(self.workdir or os.getcwd(), os.path.expanduser(script))
        if not os.path.isfile(full):
            raise HypersweepError(
                f"command: script {script!r} not found in {self.workdir or os.getcwd()!r}; "
                "fix the path (relative to workdir, the sweep file's folder by default)"
            )

    # ------------------------------------------------------------------------------------
    def open(self, decide: Decide | None = None) -> None:
        """Prepare to run; the trials' environment is based on ``os.environ`` as of now.
        (``decide`` is not used: reports come back from :meth:`poll`.)"""
        self._closing = False
        self._base_env = _base_env()

    @property
    def running(self) -> set[int]:
        return set(self._procs)

    def start(self, trial: Trial, budget: float | None = None) -> None:
        if len(self._procs) + len(self._pending) >= self.capacity:
            raise HypersweepError("executor is full")
        number = trial.number
        run_dir = os.path.join(self.runs_dir, self.study_name, str(number))
        src = trial.system_attrs.get("restore_from")
        restore = (
            os.path.join(self.runs_dir, self.study_name, str(src), "checkpoint")
            if isinstance(src, int) and not isinstance(src, bool) and src >= 0
            else None
        )
        try:
            self._launch(number, dict(trial.params), budget, run_dir, restore)
        except (HypersweepError, OSError, ValueError) as e:
            msg = str(e)
            if isinstance(e, OSError):
                msg = f"cannot start the command: {e}"
            self._pending.append(
                Outcome(number, "failed", error=msg, cannot_start=isinstance(e, OSError))
            )

    def _launch(
        self,
        number: int,
        params: dict[str, Any],
        budget: float | None,
        run_dir: str,
        restore: str | None = None,
    ) -> None:
        os.makedirs(run_dir, exist_ok=True)
        join = os.path.join
        stop_file = join(run_dir, "STOP")
        metrics_path = join(run_dir, "metrics.jsonl")
        params_path = join(run_dir, "params.json")
        stdout_path = join(run_dir, "stdout.log")
        try:  # a directory reused by an earlier study of the same name
            os.unlink(stop_file)
        except FileNotFoundError:
            pass
        argv, extra = render_command(
            self.command,
            params,
            self.params_as,
            params_file=params_path if self.params_as == "json" else None,
        )
        if self.params_as == "json":
            with open(params_path, "w", encoding="utf-8") as f:
                f.write(extra["HYPERSWEEP_PARAMS"])
        with open(metrics_path, "wb"):
            pass
        env = dict(self._base_env)
        env.update(self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")  # print() reaches stdout.log at once
        env.update(extra)
        env["HYPERSWEEP_METRICS_FILE"] = metrics_path
        env["HYPERSWEEP_STOP_FILE"] = stop_file
        env["HYPERSWEEP_NOTICE_FILE"] = join(run_dir, "NOTICE")  # what we tell the trial
        env["HYPERSWEEP_TRIAL"] = str(number)
        env["HYPERSWEEP_STUDY"] = self.study_name
        env["HYPERSWEEP_RUN_DIR"] = run_dir
        token = f"{os.getpid()}.{number}.{uuid.uuid4().hex}"
        env[_TOKEN_VAR] = token
        env["HYPERSWEEP_CHECKPOINT_DIR"] = join(run_dir, "checkpoint")
        os.makedirs(env["HYPERSWEEP_CHECKPOINT_DIR"], exist_ok=True)
        if restore is not None:
            env["HYPERSWEEP_RESTORE_FROM"] = restore
        if budget is not None:
            env["HYPERSWEEP_BUDGET"] = format_value(budget)
        with open(stdout_path, "wb") as out, open(join(run_dir, "stderr.log"), "wb") as err:
            spawned = time.time()
            popen = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        now = time.monotonic()
        proc = self._procs[number] = _Proc(  # tracked at once: it must never be forgotten
            number=number,
            popen=popen,
            run_dir=run_dir,
            stdout=Tail(stdout_path, split_cr=True),
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
            if any(_has_exited(p.popen) for p in self._procs.values()):
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
                p.exited = _has_exited(p.popen)
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
                if p.phase == _KILL:  # SIGKILL did not end it: stuck in the kernel
                    self._procs.pop(p.number)
                    self._stuck.append(p.popen)
                    self._release(p)
                    out.append(
                        Outcome(
                            p.number,
                            "failed",
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
    def _read(self, p: _Proc, final: bool = False) -> bool:
        """Parse the trial's new output, in pieces, for at most :data:`READ_SECONDS` and
        ``read_per_poll`` bytes, then pass the poll's reports on (:meth:`_flush`).
        Returns True while output is still waiting. Once the trial was asked to stop,
        what it writes is not counted, so it is skipped unread."""
        if p.stop_kind is not None:
            p.metrics_file.skip()
            p.stdout.skip()
            p.batch.clear()
            return False
        end = time.monotonic() + READ_SECONDS
        budget = self.read_per_poll
        while True:
            piece = min(READ_PIECE, budget)
            budget -= piece
            self._read_metrics_file(p, p.metrics_file.lines(final, piece))
            for raw in p.stdout.lines(final, piece):
                if p.sdk_seen:
                    continue  # drain: a trial that uses the SDK is read from its metrics file
                self._parse_stdout(p, raw)
            more = p.metrics_file.more or p.stdout.more
            if not more or budget <= 0 or p.stop_kind is not None or time.monotonic() >= end:
                break
        if p.stop_kind is None:
            self._flush(p, last=p.exited and not more)
        return more and p.stop_kind is None

    def _read_metrics_file(self, p: _Proc, lines: list[bytes]) -> None:
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                log.warning(
                    "trial %d: metrics.jsonl: ignored a line that is not a JSON object: %.80r",
                    p.number,
                    line,
                )
                continue
            p.sdk_seen = True
            step = json_step(obj.pop("step", None))
            self._record(p, step, {str(k): parse_number(v) for k, v in obj.items()})

    def _parse_stdout(self, p: _Proc, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            return
        found: dict[str, float | str] = {}
        step: int | None = None
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                for m in self.metrics:
                    if m in obj:
                        found[m] = parse_number(obj[m])
                for k in STEP_KEYS:
                    if step is None and k in obj:
                        step = json_step(obj[k])
                if found:
                    self._record(p, step, found)
                return
        for pair in self._pair_re.finditer(line):
            found[pair.group(2)] = parse_number(pair.group(3))
        if not found:
            return
        s = STEP_RE.search(line)
        if s is not None:
            step = int(s.group(2))
        self._record(p, step, found)

    def _record(self, p: _Proc, step: int | None, values: dict[str, float | str]) -> None:
        """One report: validate, aggregate, add it to the poll's batch (see :meth:`_flush`)."""
        if p.stop_kind is not None:
            return  # reports after a stop request are not counted
        if step is None:
            step = p.last_step + 1
        p.last_step = step
        numeric: dict[str, float] = {}
        for k, v in values.items():
            if isinstance(v, str):
                if k in self.metrics and p.invalid is None:
                    p.invalid = f"metric {k!r} is not a number: {v!r} (step {step})"
                continue
            if k in self.metrics and not math.isfinite(v) and p.invalid is None:
                p.invalid = f"metric {k!r} is {v!r} (step {step})"
            numeric[k] = v
        if numeric:
            p.received += 1
            p.batch.append((step, numeric))
        if p.invalid is not None:
            self._flush(p, last=True)
            self._begin_stop(p, "invalid")

    def _flush(self, p: _Proc, last: bool = False) -> None:
        """Pass the poll's reports on (``p.reports``, returned by :meth:`poll`), one per
        step, within the trial's report rate (:data:`REPORT_RATE`, bursts of
        :data:`REPORT_BURST`). Over the rate, the newest steps are passed on and the older ones are
        counted as dropped (their values still count for the trial's final value).
        ``last``: the trial's output is read to its end; its last report always goes."""
        if not p.batch:
            return
        batch, p.batch = p.batch, []
        merged: dict[int, dict[str, float]] = {}
        final_at: dict[int, int] = {}  # step -> index of its last report in the batch
        for i, (step, values) in enumerate(batch):
            if step in merged:
                p.coalesced += 1
                merged[step].update(values)
            else:
                merged[step] = dict(values)
            final_at[step] = i
        forward = not self._closing
        send: set[int] = set()
        if forward:
            now = time.monotonic()
            p.tokens = min(
                float(self.report_burst), p.tokens + (now - p.tokens_at) * self.report_rate
            )
            p.tokens_at = now
            steps = sorted(merged)
            allowed = max(int(p.tokens), 1 if last else 0)
            if allowed < len(steps):
                p.dropped += len(steps) - allowed
                steps = steps[len(steps) - allowed :] if allowed else []
                if not p.warned:
                    p.warned = True
                    log.warning(
                        "trial %d: more than %g reports per second; storing at most that "
                        "many (the others still count for its final value; see "
                        "system_attrs 'intake')",
                        p.number,
                        self.report_rate,
                    )
                    _notify(
                        p.run_dir,
                        f"more than {self.report_rate:g} reports per second:"
                        f" hypersweep stores at most {self.report_rate:g} per second "
                        "(the newest steps; every value still counts for the final "
                        "value); report less often",
                    )
            send = set(steps)
        for i, (step, values) in enumerate(batch):
            for k, v in values.items():
                self._aggregate(p, k, v)
            if step not in send or final_at[step] != i:
                continue
            p.tokens -= 1
            p.stored += 1
            report = Report(p.number, step, merged[step])
            p.reports.append(report)
            p.marks.append((report, dict(p.agg), p.stored))

    def _aggregate(self, p: _Proc, k: str, v: float) -> None:
        old = p.agg.get(k)
        if old is None or self.reduce == "last" or (math.isnan(old) and not math.isnan(v)):
            p.agg[k] = v
        elif not math.isnan(v):
            p.agg[k] = min(old, v) if self.reduce == "min" else max(old, v)

    # ------------------------------------------------------------------------------------
    def _signal(self, p: _Proc, sig: signal.Signals) -> None:
        """Signal the trial's process group, and every process of its tree that left the
        group (found by its ``HYPERSWEEP_TRIAL_TOKEN``)."""
        try:
            os.killpg(p.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        if p.token is not None:
            for pid in _token_pids(p.token):
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass

    def _kill_tree(self, p: _Proc) -> None:
        """SIGKILL what is left of a trial's process tree (its main process has ended):
        its process group, then every process holding its token, until none is found."""
        try:
            os.killpg(p.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if p.token is None:
            return
        for _ in range(50):  # a process may fork between a scan and its kill
            pids = _token_pids(p.token)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.002)
        log.warning(
            "trial %d: processes %s did not end after SIGKILL", p.number, _token_pids(p.token)
        )

    def _term_wait(self) -> float:
        return min(2.0, max(0.5, self.grace / 5))

    def _begin_stop(self, p: _Proc, kind: str, grace: float | None = None) -> None:
        if p.stop_kind is not None or p.exited:
            return
        p.stop_kind = kind
        try:
            with open(p.stop_file, "w", encoding="utf-8") as f:
                f.write(kind + "\n")
        except OSError:
            pass
        self._signal(p, signal.SIGINT)
        p.phase = _INT
        p.next_at = time.monotonic() + (self.grace if grace is None else grace)

    def _escalate(self, p: _Proc, now: float) -> None:
        if p.phase == _INT:
            self._signal(p, signal.SIGTERM)
            p.phase = _TERM
            p.next_at = now + self._term_wait()
        elif p.phase == _TERM:
            self._signal(p, signal.SIGKILL)
            p.phase = _KILL
            p.next_at = now + KILL_WAIT

    def _finish(self, p: _Proc) -> Outcome:
        """The outcome of a trial whose main process has ended (and been reaped, its
        process tree killed) and whose output is read; clean up after it."""
        code = p.code if p.code is not None else p.popen.wait()
        self._release(p)
        result = dict(p.agg)
        at = p.started_at
        attrs = None
        if p.dropped or p.coalesced:
            attrs = {
                "intake": {
                    "reports": p.received,
                    "stored": p.stored,
                    "dropped": p.dropped,
                    "coalesced": p.coalesced,
                    "max_per_second": self.report_rate,
                    "bytes": p.stdout.bytes + p.metrics_file.bytes,
                    "skipped_bytes": p.stdout.skipped + p.metrics_file.skipped,
                }
            }
        if p.stop_kind == "timeout":
            return Outcome(p.number, "failed", error="timeout", started_at=at, system_attrs=attrs)
        if p.invalid is not None:
            return Outcome(p.number, "failed", error=p.invalid, started_at=at, system_attrs=attrs)
        if p.stop_kind is not None:
            return Outcome(
                p.number, "stopped", result=result or None, started_at=at, system_attrs=attrs
            )
        if code == 0:
            return Outcome(p.number, "completed", result=result, started_at=at, system_attrs=attrs)
        if code < 0:
            try:
                what = f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                what = f"killed by signal {-code}"
        else:
            what = f"exit code {code}"
        tail = tail_text(os.path.join(p.run_dir, "stderr.log"))
        error = f"{what}; stderr ends with:\n{tail}" if tail else f"{what} (stderr is empty)"
        return Outcome(
            p.number,
            "failed",
            result=result or None,
            error=error,
            started_at=at,
            lost=code < 0,
            system_attrs=attrs,
        )  # a signal we did not send: retried

    def started_at(self, number: int) -> float | None:
        p = self._procs.get(number)
        return None if p is None else p.started_at

    def _release(self, p: _Proc) -> None:
        p.stdout.close()
        p.metrics_file.close()
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
            elif p.phase == _INT and p.next_at is not None:
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
