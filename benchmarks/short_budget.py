#!/usr/bin/env python
"""Short budgets: trials of a trivial objective in one second, hypersweep against Optuna.

Each measurement is a fresh Python process (the same start conditions for both
libraries: nothing imported, an in-memory study, the default sampler, Optuna's logging
quiet), running the same define-by-run objective::

    def objective(trial):
        x = trial.suggest_float("x", -10, 10)
        return (x - 2) ** 2

with ``study.optimize(objective, timeout=BUDGET)``, from compiled bytecode (a warm-up
round first; ``PYTHONDONTWRITEBYTECODE`` is dropped for the runs), counted two ways:

* ``from call``: the trials of ``optimize(timeout=BUDGET)`` (the clock starts at the call);
* ``from start``: the whole process gets BUDGET seconds from its first line: imports and
  study creation are paid from the budget (``timeout = BUDGET - elapsed``).

The libraries alternate, ``--rounds`` times each; the report gives each one's median and
the ratio, with the load average (a shared machine: ratios, not absolute figures).

Example::

    nice -n 10 python benchmarks/short_budget.py --rounds 5
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # the process's first line: imports count from here

# ruff: noqa: E402  (the clock starts before the imports)
import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any

LIBS = ("hypersweep", "optuna")


def objective(trial: Any) -> float:
    x = trial.suggest_float("x", -10, 10)
    return float((x - 2) ** 2)


def child(lib: str, budget: float, clock: str) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    if lib == "optuna":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study: Any = optuna.create_study()
    else:
        import hypersweep

        study = hypersweep.create_study()
    ready = time.perf_counter() - T0
    timeout = budget if clock == "call" else budget - ready
    t = time.perf_counter()
    if timeout > 0:  # else the imports alone took the budget: no trial
        study.optimize(objective, timeout=timeout)
    spent = time.perf_counter() - t
    trials = study.trials if lib == "optuna" else study.trials()
    return {"lib": lib, "clock": clock, "trials": len(trials), "ready_s": ready, "run_s": spent}


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=1.0, help="seconds")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--child", choices=LIBS, help=argparse.SUPPRESS)
    p.add_argument("--clock", choices=("call", "start"), default="call", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.budget, args.clock)))
        return
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    # both libraries start from compiled bytecode, as an installed package does (an
    # editable checkout under PYTHONDONTWRITEBYTECODE would compile every module anew)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print(f"load average before: {load()}")
    for r in range(args.rounds + 1):  # round 0 warms up (writes the bytecode), not counted
        for clock in ("call", "start"):
            for lib in LIBS:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", lib, "--clock", clock,
                     "--budget", str(args.budget)],
                    capture_output=True, text=True, check=True, timeout=300, env=env,
                )  # fmt: skip
                if r:
                    rows.setdefault((lib, clock), []).append(
                        json.loads(out.stdout.splitlines()[-1])
                    )
    print(f"load average after: {load()}")
    print(f"\ntrials in {args.budget:g} s (median of {args.rounds} fresh processes each)\n")
    print("| counted from | hypersweep | optuna | ratio | ready (s): hypersweep | optuna |")
    print("|---|---|---|---|---|---|")
    for clock, label in (("call", "optimize() call"), ("start", "process start")):
        med = {lib: statistics.median(r["trials"] for r in rows[(lib, clock)]) for lib in LIBS}
        ready = {lib: statistics.median(r["ready_s"] for r in rows[(lib, clock)]) for lib in LIBS}
        ratio = med["hypersweep"] / med["optuna"] if med["optuna"] else float("inf")
        print(
            f"| {label} | {med['hypersweep']:g} | {med['optuna']:g} | {ratio:.2f}x | "
            f"{ready['hypersweep']:.3f} | {ready['optuna']:.3f} |"
        )


if __name__ == "__main__":
    main()
