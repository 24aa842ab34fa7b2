#!/usr/bin/env python
"""Chaos test: workers, trial processes and the coordinator SIGKILLed at random moments.

One study of command trials (``sh trial.sh {x}``: two reports ``loss=...`` around a short
``sleep``) runs on a storage shared by a coordinator (``hypersweep run sweep.yaml``) and
``--workers`` workers (``hypersweep worker --storage URL --study NAME``), all on this
machine. A chaos loop SIGKILLs, at random moments (exponential gaps of mean ``--gap``
seconds), one of: a worker, a trial process, the coordinator (weights 4 : 4 : 1). A killed
worker or coordinator is started again after a short random delay (the coordinator with
the same command line: it resumes the study). The study allows enough retries
(``limits.retries``) that no kill can fail a trial.

When every process has ended by itself (the study reached ``max_trials``), the audit:

* ``lost``: trial numbers of ``0..max_trials-1`` missing, or not in an end state;
* ``twice``: trial numbers held by more than one row or COMPLETED more than once;
  ``wrong_value``: COMPLETED trials whose value is not their own (each reports its ``x``);
  ``runs_to_the_end``: trial processes that ran to their end (more than ``completed``:
  runs whose result was refused, or ended by a kill after their last line);
* ``running`` / ``queued``: trials left RUNNING / QUEUED;
* ``count``: trials in the study (must be exactly ``max_trials``), ``completed``,
  ``failed`` (must be 0: retries absorb every kill);
* ``orphans``: live processes that carry this run's marker variable
  (``HYPERSWEEP_CHAOS=<run id>``, inherited by every process the run starts: workers,
  trials, their children, the trial watchdogs), a few seconds after the last process
  ended;
* ``fenced``: log lines of refused late reports / tells ("report refused", "result
  refused") in the processes' logs.

Besides the kills, ``--pauses`` times a worker that runs trials is SIGSTOPped for longer
than the stale time (3 heartbeat intervals) and then SIGCONTed: its trials are reclaimed
meanwhile and what it sends when it wakes must be refused (``fenced``).

Usage::

    python benchmarks/chaos.py --backend sqlite --trials 1000 --kills 100
    python benchmarks/chaos.py --backend postgresql --trials 1000 --kills 100 \
        --storage postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/chaos.py --backend both --trials 40 --kills 8      # a short run

Prints one JSON object per backend and exits 1 when an audit figure is wrong. The short
version runs in the test suite (``tests/test_chaos.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER = "HYPERSWEEP_CHAOS"
TOKEN = "HYPERSWEEP_TRIAL_TOKEN"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"

TRIAL_SH = """\
x="$1"
echo "loss=$x"
sleep {sleep}
echo "loss=$x"
echo "$HYPERSWEEP_TRIAL" >> done.log
"""

SWEEP = """\
name: {name}
command: sh trial.sh {{x}}
space: {{x: uniform(0, 1)}}
objective: {{metric: loss, goal: minimize}}
sampler: {{name: random, seed: 0}}
limits: {{max_trials: {trials}, max_concurrent: {concurrent}, retries: 1000, max_failures: 0}}
grace: 1s
"""


def environ_of(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


def marked(run_id: str) -> list[int]:
    """Live (not zombie) processes that carry this run's marker."""
    me = os.getpid()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        if environ_of(pid).get(MARKER) != run_id:
            continue
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.append(pid)
    return out


def parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def trial_pids(run_id: str) -> list[int]:
    """This run's trial processes (the command's own process, not its children)."""
    out = []
    for pid in marked(run_id):
        env = environ_of(pid)
        if TOKEN not in env:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if len(cmd) > 1 and cmd[1] == b"trial.sh":
            out.append(pid)
    return out


@dataclass
class Role:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None
    paused_until: float | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)


class Chaos:
    def __init__(self, args: argparse.Namespace, backend: str, url: str, root: Path) -> None:
        self.args = args
        self.backend = backend
        self.url = url
        self.root = root
        self.run_id = uuid.uuid4().hex[:12]
        self.name = f"chaos-{backend}-{self.run_id}"
        self.rng = random.Random(args.seed)
        self.kills: dict[str, int] = {"worker": 0, "trial": 0, "coordinator": 0}
        self.pauses = 0
        (root / "trial.sh").write_text(TRIAL_SH.format(sleep=args.trial_sleep))
        (root / "sweep.yaml").write_text(
            SWEEP.format(name=self.name, trials=args.trials, concurrent=args.concurrent)
        )
        hs = [sys.executable, "-m", "hypersweep"]
        beat = ["--heartbeat", str(args.heartbeat), "--progress", "off"]
        self.roles = [
            Role("coordinator", [*hs, "run", "sweep.yaml", "--storage", url, *beat], root / "c")
        ]
        for i in range(args.workers):
            self.roles.append(
                Role(
                    f"worker{i}",
                    [
                        *hs,
                        "worker",
                        "--storage",
                        url,
                        "--study",
                        self.name,
                        "--wait",
                        "120",
                        *beat,
                    ],
                    root / f"w{i}",
                )
            )
        self.env = {**os.environ, MARKER: self.run_id}

    def start(self, role: Role) -> None:
        log = role.log.with_name(f"{role.log.name}.{role.starts}.log")
        role.logs.append(log)
        role.starts += 1
        with open(log, "wb") as f:
            role.proc = subprocess.Popen(
                role.argv, cwd=self.root, env=self.env, stdout=f, stderr=subprocess.STDOUT
            )
        role.restart_at = None

    def kill_one(self, kind: str) -> bool:
        """SIGKILL one process of ``kind`` (a worker or the coordinator that runs trials
        is picked three times in four when there is one); False: none to kill now."""
        trials = trial_pids(self.run_id)
        if kind == "trial":
            if not trials:
                return False
            try:
                os.kill(self.rng.choice(trials), signal.SIGKILL)
            except OSError:
                return False
            self.kills[kind] += 1
            return True
        live = [
            r
            for r in self.roles
            if r.proc is not None
            and r.proc.poll() is None
            and (r.name == "coordinator") == (kind == "coordinator")
        ]
        if not live:
            return False
        parents = {parent_of(pid) for pid in trials}
        busy = [r for r in live if r.proc is not None and r.proc.pid in parents]
        role = self.rng.choice(busy if busy and self.rng.random() < 0.75 else live)
        assert role.proc is not None
        role.proc.kill()
        role.proc.wait()  # reaped at once: its pid is gone for the others' checks
        role.restart_at = time.monotonic() + self.rng.uniform(0.2, 2.0)
        self.kills[kind] += 1
        return True

    def pause_one(self, now: float) -> bool:
        """SIGSTOP a worker that runs trials for longer than the stale time (3 heartbeat
        intervals), SIGCONT it later: its trials are reclaimed meanwhile, and what it
        sends when it wakes must be refused (fencing)."""
        trials = trial_pids(self.run_id)
        parents = {parent_of(pid) for pid in trials}
        busy = [
            r
            for r in self.roles[1:]
            if r.proc is not None
            and r.proc.poll() is None
            and r.paused_until is None
            and r.proc.pid in parents
        ]
        if not busy:
            return False
        role = self.rng.choice(busy)
        assert role.proc is not None
        role.proc.send_signal(signal.SIGSTOP)
        role.paused_until = now + 3 * self.args.heartbeat + self.rng.uniform(1.0, 3.0)
        self.pauses += 1
        return True

    def run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        self.start(self.roles[0])
        time.sleep(1.0)
        for r in self.roles[1:]:
            self.start(r)
        next_kill: float | None = None  # the kills begin once trials run (or after 10 s)
        next_pause: float | None = None
        kind: str | None = None
        deadline = t0 + self.args.limit
        while time.monotonic() < deadline:
            now = time.monotonic()
            for r in self.roles:
                if r.restart_at is not None and now >= r.restart_at:
                    self.start(r)
                if r.paused_until is not None and now >= r.paused_until:
                    r.paused_until = None
                    if r.proc is not None and r.proc.poll() is None:
                        r.proc.send_signal(signal.SIGCONT)
            alive = [r for r in self.roles if r.proc is not None and r.proc.poll() is None]
            pending = [r for r in self.roles if r.restart_at is not None]
            if not alive and not pending:
                break
            if next_kill is None and (now - t0 > 10.0 or trial_pids(self.run_id)):
                next_kill = now + self.rng.expovariate(1 / self.args.gap)
                next_pause = now + self.rng.expovariate(1 / (3 * self.args.gap))
            if (
                next_pause is not None
                and self.pauses < self.args.pauses
                and now >= next_pause
                and self.pause_one(now)
            ):
                next_pause = now + self.rng.expovariate(1 / (3 * self.args.gap))
            if (
                next_kill is not None
                and sum(self.kills.values()) < self.args.kills
                and now >= next_kill
            ):
                # a worker, a trial or the coordinator (4 : 4 : 1); one with nothing to
                # kill now is tried again at the next turns, for up to 3 s
                if kind is None or now >= next_kill + 3.0:
                    kind = self.rng.choices(["worker", "trial", "coordinator"], [4, 4, 1])[0]
                    next_kill = now
                if self.kill_one(kind):
                    kind = None
                    next_kill = now + self.rng.expovariate(1 / self.args.gap)
            time.sleep(0.05)
        timed_out = time.monotonic() >= deadline
        for r in self.roles:  # past the limit: stop what is left (the audit says so)
            if r.proc is not None and r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()
        seconds = time.monotonic() - t0
        orphans = marked(self.run_id)
        wait_until = time.monotonic() + 10.0
        while orphans and time.monotonic() < wait_until:
            time.sleep(0.2)
            orphans = marked(self.run_id)
        audit = self.audit()
        fenced = sum(
            log.read_text(errors="replace").count("refused")
            for r in self.roles
            for log in r.logs
            if log.exists()
        )
        for pid in orphans:  # leave nothing behind, after counting it
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return {
            "backend": self.backend,
            "study": self.name,
            "trials": self.args.trials,
            "workers": self.args.workers,
            "kills": dict(self.kills, total=sum(self.kills.values())),
            "pauses": self.pauses,
            "seconds": round(seconds, 1),
            "timed_out": timed_out,
            **audit,
            "orphans": len(orphans),
            "fenced": fenced,
            "restarts": {r.name: r.starts - 1 for r in self.roles},
        }

    def audit(self) -> dict[str, Any]:
        from hypersweep import Study
        from hypersweep.trial import TrialState

        study = Study.load(self.name, storage=self.url)
        try:
            trials = study.trials()
        finally:
            study.storage.close()
        numbers = [t.number for t in trials]
        by_state: dict[str, int] = {}
        for t in trials:
            by_state[t.state.value] = by_state.get(t.state.value, 0) + 1
        held = set(numbers)
        ended = {t.number for t in trials if t.state.is_finished}
        lost = [n for n in range(self.args.trials) if n not in held or n not in ended]
        done = [t.number for t in trials if t.state == TrialState.COMPLETED]
        twice = len(numbers) - len(held) + len(done) - len(set(done))
        wrong = sum(  # a value that is not its own trial's (the trial reports loss=x)
            1
            for t in trials
            if t.state == TrialState.COMPLETED
            and (not t.values or abs(t.values[0] - float(t.params["x"])) > 1e-9)
        )
        log = self.root / "done.log"
        runs = log.read_text().split() if log.exists() else []
        retried = sum(1 for t in trials if t.attempt > 1)  # attempts count from 1
        return {
            "count": len(trials),
            "completed": by_state.get("COMPLETED", 0),
            "failed": by_state.get("FAILED", 0),
            "stopped": by_state.get("STOPPED", 0),
            "running": by_state.get("RUNNING", 0),
            "queued": by_state.get("QUEUED", 0),
            "lost": len(lost),
            "twice": twice,
            "wrong_value": wrong,
            "runs_to_the_end": len(runs),
            "retried_trials": retried,
            "attempts": sum(t.attempt for t in trials),
        }


def ok(result: dict[str, Any], trials: int) -> bool:
    return (
        not result["timed_out"]
        and result["lost"] == 0
        and result["twice"] == 0
        and result["wrong_value"] == 0
        and result["running"] == 0
        and result["queued"] == 0
        and result["count"] == trials
        and result["completed"] + result["failed"] + result["stopped"] == trials
        and result["failed"] == 0
        and result["orphans"] == 0
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--storage", default=PG_DEFAULT, help="the PostgreSQL URL")
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--concurrent", type=int, default=2, help="trials at once per process")
    p.add_argument("--kills", type=int, default=100)
    p.add_argument("--gap", type=float, default=1.0, help="mean seconds between kills")
    p.add_argument("--pauses", type=int, default=10, help="workers SIGSTOPped past the stale time")
    p.add_argument("--heartbeat", type=float, default=1.0)
    p.add_argument("--trial-sleep", type=float, default=0.3)
    p.add_argument("--limit", type=float, default=3600.0, help="give up after (seconds)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", help="where the run's temporary folder goes")
    p.add_argument("--keep", action="store_true", help="keep the run's folder (logs)")
    args = p.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    good = True
    for b in backends:
        tmp = tempfile.mkdtemp(prefix="hs-chaos-", dir=args.dir)
        try:
            root = Path(tmp)
            url = f"sqlite:///{root / 'chaos.db'}" if b == "sqlite" else args.storage
            result = Chaos(args, b, url, root).run()
            result["ok"] = ok(result, args.trials)
            good = good and result["ok"]
            print(json.dumps(result), flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
