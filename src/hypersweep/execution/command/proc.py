"""A command trial's process as the executor tracks it, and the process-level helpers:
the trial environment, exit checks, notices to the trial, its process tree's pids."""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field

from hypersweep.execution.base import Report
from hypersweep.execution.command.capture import Tail
from hypersweep.execution.command.template import PARAM_ENV_PREFIX, PROTOCOL_ENV
from hypersweep.metrics import Source

__all__ = [
    "KILL_WAIT",
    "REPORT_BURST",
    "REPORT_RATE",
    "TOKEN_VAR",
    "Proc",
    "base_env",
    "has_exited",
    "notify",
    "token_pids",
]

log = logging.getLogger("hypersweep")

#: Reports per second stored per trial (a token bucket that holds at most
#: :data:`REPORT_BURST`); reports over it are not stored, but still count for the trial's
#: final value and are summarised in its ``system_attrs["intake"]``.
REPORT_RATE = 20.0
REPORT_BURST = 200

# ------------------------------------------------------------------------------------------
# The executor
# ------------------------------------------------------------------------------------------
PHASE_RUNNING, PHASE_INT, PHASE_TERM, PHASE_KILL = range(4)
#: Seconds to wait for a process to end after SIGKILL before giving up on it.
KILL_WAIT = 5.0


def base_env() -> dict[str, str]:
    """``os.environ`` without the trial-protocol variables."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in PROTOCOL_ENV and not k.startswith(PARAM_ENV_PREFIX)
    }


def has_exited(popen: subprocess.Popen[bytes]) -> bool:
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


TOKEN_VAR = "HYPERSWEEP_TRIAL_TOKEN"


def notify(run_dir: str, text: str) -> None:
    """Tell a running trial something (one line appended to its ``NOTICE`` file, which
    :func:`hypersweep.notices` reads in the trial)."""
    try:
        with open(os.path.join(run_dir, "NOTICE"), "a", encoding="utf-8") as f:
            f.write(" ".join(text.split()) + "\n")
    except OSError:
        log.debug("could not write the notice of %s", run_dir, exc_info=True)


def token_pids(token: str) -> list[int]:
    """The live processes whose environment holds ``HYPERSWEEP_TRIAL_TOKEN=token``: a
    trial's whole process tree, including children that left its process group or
    session (``setsid``), found through ``/proc`` (Linux; elsewhere: none)."""
    entry = f"{TOKEN_VAR}={token}".encode()
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
class Proc:
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
    stderr: Tail | None = None
    sources: list[Source] = field(default_factory=list)  # tracker readers (mlflow, ...)
    sources_at: float = 0.0  # when to poll the sources next
    structured: bool = False  # the SDK or a tracker reported (see MetricsConfig.auto)
    names: set[str] = field(default_factory=set)  # metric names seen beyond the declared
    invalid: str | None = None  # why the trial fails (a bad objective value)
    stop_kind: str | None = None  # "stop" (decision / stop()), "timeout", "invalid", "close"
    exited: bool = False  # the main process has ended (not yet reaped)
    phase: int = PHASE_RUNNING
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
