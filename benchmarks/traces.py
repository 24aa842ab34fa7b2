#!/usr/bin/env python
"""Exact proposal traces of hypersweep's samplers on BBOB problems: a refactoring check.

A refactoring of a sampler must not change what it proposes. This script records, for
each sampler and problem of a representative subset of ``benchmarks/bbob.py``'s setup
(the 24 noiseless BBOB functions on ``[-5, 5]^d``, ``Study(storage="memory",
seed=instance)`` ask/tell), the full sequence of proposed parameter vectors and observed
values, and compares two such recordings:

* ``tpe``, ``anneal``, ``random``, ``sobol``, ``cmaes``: the traces must be identical
  (every parameter, every value, bit for bit; JSON floats round-trip exactly);
* ``gp`` and ``auto`` (GP within 100 evaluations): its hyperparameter fits are numerical
  optimizations whose optimum may move with the order of floating-point work, so the
  report gives the first differing evaluation and compares the final precision
  ``min f - f_opt`` in ``log10`` (mean and largest absolute difference over the
  problems); "within noise" is for the reader to judge against the spread between
  problems.

``--reopen`` re-creates the study (and so a fresh sampler instance, as in a fresh
process) before every ask, on the same storage: a sampler whose proposals depend only on
(space, history, seed) gives the same trace with and without it.

Examples:
    Record (a few minutes on a busy 2-core machine)::

        nice -n 10 python benchmarks/traces.py --out /work/bench/traces-8bdbeb6.json

    Compare the current tree against the recording::

        nice -n 10 python benchmarks/traces.py --compare /work/bench/traces-8bdbeb6.json

    GP in a fresh sampler per ask against the recording::

        nice -n 10 python benchmarks/traces.py --samplers gp --reopen \\
            --compare /work/bench/traces-8bdbeb6.json
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bbob import HIGH, LOW, _ints, make_problem

DEFAULT_SAMPLERS = "tpe,anneal,random,sobol,cmaes,gp,auto"
EXACT = {"tpe", "anneal", "random", "sobol", "cmaes", "grid"}  # must match bit for bit


def trace(
    name: str, function: int, dim: int, instance: int, budget: int, reopen: bool
) -> dict[str, Any]:
    """Every proposal (parameter vector) and value of one run."""
    import hypersweep as hs
    from hypersweep.storage import open_storage

    problem, f_opt = make_problem(function, dim, instance)
    names = [f"x{k}" for k in range(dim)]
    space = {n: hs.Float(LOW, HIGH) for n in names}
    storage = open_storage("memory")

    def open_study() -> Any:
        return hs.Study("trace", space=space, storage=storage, seed=instance, sampler=name)

    study = open_study()
    xs: list[list[float]] = []
    ys: list[float] = []
    start = time.perf_counter()
    for _ in range(budget):
        if reopen:
            study = open_study()
        trial = study.ask()
        x = [float(trial.params[n]) for n in names]
        y = float(problem(np.array(x)))
        study.tell(trial, y)
        xs.append(x)
        ys.append(y)
    return {
        "sampler": name,
        "function": function,
        "dim": dim,
        "instance": instance,
        "budget": budget,
        "f_opt": f_opt,
        "x": xs,
        "y": ys,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["sampler"], r["function"], r["dim"], r["instance"], r["budget"])


def _lp(r: dict[str, Any]) -> float:
    return math.log10(max(min(r["y"]) - r["f_opt"], 1e-8))


def _first_diff(a: dict[str, Any], b: dict[str, Any]) -> int | None:
    for i, (xa, ya, xb, yb) in enumerate(zip(a["x"], a["y"], b["x"], b["y"])):
        if xa != xb or ya != yb:
            return i
    return None if len(a["y"]) == len(b["y"]) else min(len(a["y"]), len(b["y"]))


def compare(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> int:
    """Print a per-sampler verdict; return 1 if an exact sampler differs, else 0."""
    by_key = {_key(r): r for r in old}
    status = 0
    for name in dict.fromkeys(r["sampler"] for r in new):
        runs = [r for r in new if r["sampler"] == name and _key(r) in by_key]
        if not runs:
            print(f"{name:8s} no recorded runs to compare")
            continue
        diffs = [(r, _first_diff(by_key[_key(r)], r)) for r in runs]
        bad = [(r, i) for r, i in diffs if i is not None]
        exact = name in EXACT
        verdict = "identical" if not bad else ("DIFFERENT" if exact else "differs")
        if bad and exact:
            status = 1
        old_lp = [_lp(by_key[_key(r)]) for r in runs]
        dl = [_lp(r) - o for r, o in zip(runs, old_lp)]
        print(
            f"{name:8s} {verdict:9s} {len(runs) - len(bad)}/{len(runs)} traces identical; "
            f"final log10 precision new - old: mean {np.mean(dl):+.3f}, "
            f"max |.| {np.max(np.abs(dl)):.3f}, mean old {np.mean(old_lp):.3f}"
        )
        for r, i in bad[:5]:
            where = f"f{r['function']} d{r['dim']} i{r['instance']}"
            print(f"    {where}: first difference at evaluation {i}")
    return status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samplers", default=DEFAULT_SAMPLERS)
    p.add_argument("--functions", default="1-24")
    p.add_argument("--dims", default="2,5")
    p.add_argument("--instances", default="1")
    p.add_argument("--budget", type=int, default=60, help="evaluations per run")
    p.add_argument("--reopen", action="store_true", help="a fresh Study before every ask")
    p.add_argument("--out", type=Path, help="write the traces (JSON) here")
    p.add_argument("--compare", type=Path, help="compare against this recording")
    args = p.parse_args(argv)
    if not (args.out or args.compare):
        p.error("give --out and/or --compare")
    runs = []
    for name in args.samplers.split(","):
        t0 = time.perf_counter()
        for function in _ints(args.functions):
            for dim in _ints(args.dims):
                for instance in _ints(args.instances):
                    runs.append(trace(name, function, dim, instance, args.budget, args.reopen))
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if args.out:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"commit": commit, "reopen": args.reopen, "runs": runs}
        args.out.write_text(json.dumps(doc) + "\n")
    if args.compare:
        old = json.loads(args.compare.read_text())["runs"]
        return compare(old, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
