"""Trial processes die with the process that runs them, even after ``kill -9``.

Two mechanisms, because neither covers everything alone:

* :func:`die_with_parent` (a ``preexec_fn``, Linux): the kernel sends the trial SIGKILL
  when its parent dies (``prctl(PR_SET_PDEATHSIG)``). The kernel ties this to the parent
  *thread* that forked the child, so trials must be started from a thread that lives as
  long as the runner (the runner's own loop, as the executors do). It does not reach the
  trial's own children (a launcher's workers, a data loader's processes).
* :class:`Watchdog`: one small process per executor that outlives it. The executor
  registers each trial's process group on the watchdog's stdin; when the executor dies
  (for any reason, on any POSIX system) the pipe reaches end-of-file and the watchdog
  kills every registered process group, then (Linux) every process whose environment
  carries the executor's marker (``HYPERSWEEP_LIFELINE=<marker>``): the trial's whole
  tree, also children that left its process group or session.

A marker is inherited through ``exec`` and ``fork``; a process that clears its own
environment escapes the scan (but not its process group's kill).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable

__all__ = [
    "MARKER_VAR",
    "Watchdog",
    "die_with_parent",
    "marked_pids",
    "set_pdeathsig",
    "watch_parent",
]

log = logging.getLogger("hypersweep")

#: the environment variable that marks every process of one executor's trials
MARKER_VAR = "HYPERSWEEP_LIFELINE"
_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):
    try:  # loaded here, in the parent: the child after fork only calls it
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        _libc = None


def set_pdeathsig(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent thread dies
    (Linux); False where that is not available."""
    if _libc is None:
        return False
    return int(_libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0


def die_with_parent(parent: int | None = None) -> Callable[[], None]:
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child gets SIGKILL when the
    process that starts it dies (and exits at once if that already happened)."""
    ppid = os.getpid() if parent is None else parent

    def preexec() -> None:  # runs after start_new_session's setsid()
        set_pdeathsig(signal.SIGKILL)
        if os.getppid() != ppid:  # the parent died before prctl: nobody would kill us
            os._exit(137)

    return preexec


def watch_parent(interval: float = 0.5) -> None:
    """In a child process: exit at once when the parent process is gone (a thread that
    polls the parent pid; the portable half of :func:`set_pdeathsig`)."""
    parent = os.getppid()
    set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent or parent == 1:
        os._exit(137)

    def loop() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(137)

    threading.Thread(target=loop, name="hypersweep-lifeline", daemon=True).start()


def marked_pids(marker: str, proc: str = "/proc") -> list[int]:
    """Live processes whose environment holds ``HYPERSWEEP_LIFELINE=marker`` (Linux)."""
    entry = f"{MARKER_VAR}={marker}".encode()
    me = os.getpid()
    out = []
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"{proc}/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if entry in env.split(b"\0"):
            out.append(int(name))
    return out


def _kill_all(marker: str, groups: set[int]) -> int:
    killed = 0
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
            killed += 1
    for _ in range(3):  # a process may fork while we scan: look again
        pids = marked_pids(marker)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.05)
    return killed


def _main(argv: list[str]) -> int:
    """The watchdog process: ``python -m hypersweep.execution.lifeline MARKER``.

    Reads ``+PGID`` / ``-PGID`` lines on stdin; at end-of-file kills what is left (a
    ``q`` line first means a clean exit: the executor ended its trials itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    marker = argv[0]
    groups: set[int] = set()
    clean = False
    for line in sys.stdin:
        line = line.strip()
        if line == "q":
            clean = True
            break
        with contextlib.suppress(ValueError):
            if line.startswith("+"):
                groups.add(int(line[1:]))
            elif line.startswith("-"):
                groups.discard(int(line[1:]))
    if not clean:
        _kill_all(marker, groups)
    return 0


class Watchdog:
    """Kills an executor's trial processes once the executor's process is gone.

    Start it with :meth:`start`; give each trial process the environment entry
    :attr:`env` and register its process group with :meth:`add`; :meth:`close` ends the
    watchdog after a clean shutdown. Without ``/proc`` and without ``os.killpg`` it
    does nothing (a best effort)."""

    def __init__(self, marker: str | None = None) -> None:
        self.marker = marker or f"{os.getpid()}.{uuid.uuid4().hex[:12]}"
        self.env = {MARKER_VAR: self.marker}
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        try:
            self._proc = subprocess.Popen(
                # the file itself, not -m: it imports only the standard library
                [sys.executable, "-I", os.path.abspath(__file__), self.marker],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,  # a terminal's Ctrl-C or a group kill spares it
                close_fds=True,
            )
        except OSError:
            log.debug("could not start the trial watchdog", exc_info=True)
            self._proc = None

    def _send(self, line: str) -> None:
        with self._lock:
            p = self._proc
            if p is None or p.stdin is None:
                return
            try:
                p.stdin.write(line + "\n")
                p.stdin.flush()
            except (OSError, ValueError):
                log.debug("trial watchdog gone", exc_info=True)

    def add(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def remove(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    def close(self) -> None:
        p = self._proc
        if p is None:
            return
        self._send("q")
        with contextlib.suppress(OSError, ValueError):
            if p.stdin is not None:
                p.stdin.close()
        try:
            p.wait(5.0)
        except subprocess.TimeoutExpired:
            p.kill()
        self._proc = None


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
