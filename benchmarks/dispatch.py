"""Dispatch overhead of command trials: hypersweep vs Optuna, side by side in one run.

Every trial runs ``python -c "print('loss=1')" --x=<value>``: a process that exits at
once, so what remains beyond the bare process spawn is the cost of dispatching a trial.

* **spawn**: ``subprocess.run([python, "-c", "pass"])``, the operating system's floor;
* **hypersweep**: a :class:`~hypersweep.study.Study` on a SQLite file, random sampler,
  :class:`~hypersweep.execution.command.CommandExecutor` (``max_concurrent=1``, stdout to
  its log file, metrics read from it) and the :class:`~hypersweep.execution.runner.Runner`;
* **optuna**: ``optuna.create_study`` on a SQLite file, ``RandomSampler``, and an objective
  that runs the same command with ``subprocess.run`` and parses ``loss=`` from its stdout.

The three run in interleaved blocks (spawn, hypersweep, optuna, spawn, ...) so that load
from other users of a shared machine falls on all of them alike; overhead = time per trial
minus the spawn time per trial measured in the same run. Absolute times on a shared
machine are noise; compare the overheads and their ratio.

Usage::

    python benchmarks/dispatch.py                  # 200 trials each, in 10 blocks
    python benchmarks/dispatch.py --trials 400 --blocks 8
    python benchmarks/dispatch.py --profile        # and cProfile hypersweep's share
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TRIAL = [sys.executable, "-c", "print('loss=1')"]
SPAWN = [sys.executable, "-c", "pass"]


def time_spawn(n: int) -> float:
    """Seconds for ``n`` bare spawns of ``python -c pass``."""
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(SPAWN, check=True)
    return time.perf_counter() - t0


class HypersweepCase:
    """One hypersweep study, run on in blocks (each block resumes it)."""

    def __init__(self, tmp: Path) -> None:
        import hypersweep as hs

        self.study = hs.Study(
            "dispatch",
            space={"x": hs.Float(0, 1)},
            objective="loss",
            sampler="random",
            storage=f"sqlite:///{tmp / 'hs.db'}",
            seed=0,
        )
        self.runs_dir = tmp / "runs"
        self.done = 0

    def run(self, n: int) -> float:
        from hypersweep.execution.command import CommandExecutor
        from hypersweep.execution.runner import Runner
        from hypersweep.limits import Limits

        self.done += n
        ex = CommandExecutor(
            TRIAL,
            study_name="dispatch",
            metrics=["loss"],
            max_concurrent=1,
            runs_dir=self.runs_dir,
        )
        t0 = time.perf_counter()
        Runner(self.study, ex, Limits(max_trials=self.done, max_concurrent=1)).run()
        return time.perf_counter() - t0

    def check(self) -> None:
        trials = self.study.trials()
        ok = [t for t in trials if t.state.value == "COMPLETED" and t.value == 1.0]
        if len(ok) != self.done:
            errors = {t.error for t in trials if t.error}
            raise SystemExit(f"hypersweep: {len(ok)}/{self.done} trials completed: {errors}")


class OptunaCase:
    """The same trials driven by Optuna from an objective function."""

    def __init__(self, tmp: Path) -> None:
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        self.study = optuna.create_study(
            study_name="dispatch",
            storage=f"sqlite:///{tmp / 'optuna.db'}",
            sampler=optuna.samplers.RandomSampler(seed=0),
        )

    @staticmethod
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        proc = subprocess.run([*TRIAL, f"--x={x!r}"], capture_output=True, text=True, check=True)
        for line in proc.stdout.splitlines():
            if line.startswith("loss="):
                return float(line[5:])
        raise RuntimeError("no loss reported")

    def run(self, n: int) -> float:
        t0 = time.perf_counter()
        self.study.optimize(self.objective, n_trials=n)
        return time.perf_counter() - t0

    def check(self, n: int) -> None:
        done = [t for t in self.study.trials if t.value == 1.0]
        if len(done) != n:
            raise SystemExit(f"optuna: {len(done)}/{n} trials completed")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=200, help="trials per library")
    ap.add_argument("--blocks", type=int, default=10, help="interleaved blocks")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="cProfile hypersweep's blocks and print the top functions",
    )
    args = ap.parse_args(argv)
    if args.trials % args.blocks:
        ap.error("--trials must be a multiple of --blocks")
    try:
        import optuna
    except ImportError:
        raise SystemExit("optuna is not installed: pip install -e '.[bench]'") from None
    import hypersweep

    per = args.trials // args.blocks
    spawn = hs_t = op_t = 0.0
    prof = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="hs-dispatch-") as d:
        tmp = Path(d)
        hs_case, op_case = HypersweepCase(tmp), OptunaCase(tmp)
        time_spawn(5)  # warm the page cache for the interpreter
        for _ in range(args.blocks):
            spawn += time_spawn(per)
            if prof is not None:
                prof.enable()
            hs_t += hs_case.run(per)
            if prof is not None:
                prof.disable()
            op_t += op_case.run(per)
        hs_case.check()
        op_case.check(args.trials)

    n = args.trials
    s_ms, h_ms, o_ms = (1000 * t / n for t in (spawn, hs_t, op_t))
    h_over, o_over = h_ms - s_ms, o_ms - s_ms
    print(
        f"dispatch overhead: {n} trials each of `python -c \"print('loss=1')\"`, "
        f"max_concurrent=1, random sampler, SQLite, {args.blocks} interleaved blocks"
    )
    print(
        f"python {platform.python_version()}, hypersweep {hypersweep.__version__}, "
        f"optuna {optuna.__version__}, {platform.system()} {platform.release()}"
    )
    print()
    print(f"{'':28}{'ms/trial':>10}{'overhead':>10}")
    print(f"{'spawn (python -c pass)':28}{s_ms:10.2f}{'':>10}")
    print(f"{'hypersweep':28}{h_ms:10.2f}{h_over:10.2f}")
    print(f"{'optuna (subprocess.run)':28}{o_ms:10.2f}{o_over:10.2f}")
    ratio = h_over / o_over if o_over > 0 else float("nan")
    print(f"\noverhead ratio hypersweep / optuna: {ratio:.2f}")
    if prof is not None:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
        print(buf.getvalue())


if __name__ == "__main__":
    main()
