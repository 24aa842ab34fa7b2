"""A trial that floods its output with metric lines, next to one that must time out.

Two command trials run at once on a SQLite study: one prints ``--lines`` metric lines
(``step=<i> loss=<v>``, default 1,000,000) as fast as it can and exits; the other prints
one line and hangs, with a ``trial_timeout`` of ``--timeout`` seconds. Printed: how long
the flood took to be read, how many reports it sent and how many were stored, and how late
the hanging trial's timeout was honoured (seconds past its deadline, which includes the
SIGINT grace and the SIGTERM wait). Then a second run with an endless flood measures how
long a ``Study.stop()`` from another process (what ``hypersweep stop`` does) takes to end
the run.

Before the bounded intake (issue 17), the flood went into storage at ~131 reports per
second and held the loop: the timeout and the stop request waited until it was through.

Usage::

    python benchmarks/flood.py                 # 1,000,000 lines, 4 s trial timeout
    python benchmarks/flood.py --lines 200000
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import hypersweep as hs
from hypersweep.execution.command import CommandExecutor
from hypersweep.execution.runner import Runner
from hypersweep.limits import Limits

SCRIPT = str(Path(__file__).resolve().parents[1] / "tests" / "scripts" / "flood.py")


def _stop_later(url: str, after: float, stamp: str) -> None:
    study = hs.Study.load("endless", storage=url)
    time.sleep(after)
    study.stop("benchmark")
    Path(stamp).write_text(repr(time.time()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--timeout", type=float, default=4.0)
    ap.add_argument("--grace", type=float, default=1.0)
    args = ap.parse_args()
    logging.getLogger("hypersweep").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{d}/s.db"
        study = hs.Study(
            "flood",
            space={"mode": hs.Choice(["lines", "hang"])},
            objective="loss",
            storage=url,
            sampler="random",
            seed=0,
        )
        study.enqueue({"mode": "lines"})
        study.enqueue({"mode": "hang"})
        ex = CommandExecutor(
            [sys.executable, SCRIPT],
            study_name="flood",
            metrics=["loss"],
            runs_dir=f"{d}/runs",
            params_as="env",
            grace=args.grace,
            max_concurrent=2,
            trial_timeout=args.timeout,
            env={"FLOOD_LINES": str(args.lines)},
        )
        t0 = time.monotonic()
        Runner(study, ex, Limits(max_trials=2, max_concurrent=2, trial_timeout=args.timeout)).run()
        total = time.monotonic() - t0
        flood, hang = study.trials()
        intake = flood.system_attrs.get("intake", {})
        late = (hang.duration or 0) - args.timeout
        print(
            f"flood: {args.lines:,} lines ({intake.get('bytes', 0) / 1e6:.1f} MB) read in "
            f"{flood.duration:.1f} s ({args.lines / (flood.duration or 1):,.0f} lines/s); "
            f"{intake.get('reports', 0):,} reports, {intake.get('stored', 0):,} stored, "
            f"{intake.get('dropped', 0):,} dropped; final value {flood.value}"
        )
        print(
            f"hanging trial: {hang.state.value} ({hang.error}) after {hang.duration:.2f} s: "
            f"{late:.2f} s past its {args.timeout:g} s trial_timeout (grace "
            f"{args.grace:g} s + SIGTERM wait included)"
        )
        print(f"run: {total:.1f} s")

        study = hs.Study(
            "endless",
            space={"mode": hs.Choice(["forever"])},
            objective="loss",
            storage=url,
            sampler="random",
            seed=0,
        )
        ex = CommandExecutor(
            [sys.executable, SCRIPT],
            study_name="endless",
            metrics=["loss"],
            runs_dir=f"{d}/runs",
            params_as="env",
            grace=args.grace,
        )
        stopper = multiprocessing.get_context("spawn").Process(
            target=_stop_later, args=(url, 3.0, f"{d}/stamp")
        )
        stopper.start()
        reason = Runner(study, ex, Limits(max_trials=1)).run()
        ended = time.time()
        stopper.join()
        [t] = study.trials()
        took = ended - float(Path(f"{d}/stamp").read_text())
        size = Path(f"{d}/runs/endless/0/stdout.log").stat().st_size
        print(
            f"endless flood ({size / 1e6:.1f} MB written), stop request from another "
            f"process: the run ended {took:.2f} s after it ({reason}); trial "
            f"{t.state.value} ({t.error})"
        )


if __name__ == "__main__":
    main()
