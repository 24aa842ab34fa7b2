#!/usr/bin/env python
"""Transfer from a related study: evaluations to reach a target, against a cold start.

For each BBOB function ``f`` (``cocoex``, see ``benchmarks/bbob.py``), dimension ``d``
and seed ``s``:

1. a *source* study runs ``--source-budget`` evaluations of ``f`` (instance 1) with the
   sampler, cold;
2. two *target* problems:

   * **related**: the same function with its optimum shifted by a random vector of
     length ``--shift`` (of the box ``[-5, 5]^d``) and its values rescaled
     (``2 f(x - delta) + 100``): the source's landscape, moved a little;
   * **unrelated**: another BBOB instance of the function (instance 2: BBOB draws the
     optimum uniformly in ``[-4, 4]^d`` and a new rotation per instance, so what the
     source learned does not carry over);

3. on each target, a *cold* study and a *transfer* study (``warm_start: {mode: prior,
   weight: --weight}``: the source's trials as the history's prior block) run
   ``--budget`` evaluations with the same seed.

The target precision ``tau`` of a (function, d, pair) is fixed from the cold runs
alone: the median over seeds of the cold run's best precision after ``--target-at``
evaluations (a comma-separated list gives one row per target, from the same runs: a
coarse target shows the head start, a fine one whether it lasts). Reported: evaluations
until the best precision is ``<= tau`` (a run that never gets there counts ``budget +
1``), mean over seeds, cold vs transfer, and the ratio transfer / cold per pair kind.

Example (about 2 minutes on a busy 2-core machine)::

    nice -n 10 python benchmarks/transfer.py --samplers tpe --functions 1,2,8,14 \\
        --dims 3 --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bbob import HIGH, LOW, make_problem

Problem = tuple[Callable[[np.ndarray], float], float]


def shifted(function: int, dim: int, shift: float, seed: int) -> Problem:
    """The related target: ``2 f(x - delta) + 100`` with ``|delta| = shift``."""
    f, f_opt = make_problem(function, dim, 1)
    rng = np.random.default_rng(1000 + seed)
    v = rng.normal(size=dim)
    delta = shift * v / np.linalg.norm(v)
    return (lambda x: 2.0 * f(np.asarray(x) - delta) + 100.0), 2.0 * f_opt + 100.0


def run_study(
    name: str,
    fn: Callable[[np.ndarray], float],
    dim: int,
    sampler: str,
    seed: int,
    budget: int,
    storage: Any,
    prior_from: str | None = None,
    weight: float = 0.5,
) -> list[float]:
    import hypersweep as hs

    names = [f"x{k}" for k in range(dim)]
    study = hs.Study(
        name,
        space={n: hs.Float(LOW, HIGH) for n in names},
        storage=storage,
        seed=seed,
        sampler=sampler,
    )
    if prior_from is not None:
        study.warm_start(prior_from, mode="prior", weight=weight)
    ys = []
    for _ in range(budget):
        t = study.ask()
        y = float(fn(np.array([t.params[n] for n in names])))
        study.tell(t, y)
        ys.append(y)
    return ys


def evals_to(trace: Sequence[float], f_opt: float, tau: float) -> int:
    best = np.minimum.accumulate(np.asarray(trace) - f_opt)
    hit = np.flatnonzero(best <= tau)
    return int(hit[0]) + 1 if hit.size else len(trace) + 1


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samplers", default="tpe")
    ap.add_argument("--functions", default="1,2,8,14")
    ap.add_argument("--dims", default="3")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--budget", type=int, default=80)
    ap.add_argument("--source-budget", type=int, default=80)
    ap.add_argument("--target-at", default="40", help="evaluations, comma-separated")
    ap.add_argument("--shift", type=float, default=0.5)
    ap.add_argument("--weight", type=float, default=0.5)
    args = ap.parse_args(argv)
    from hypersweep.storage import open_storage

    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.time()
    ratios: dict[tuple[str, str, int], list[float]] = {}
    targets = [int(x) for x in str(args.target_at).split(",")]
    print(
        "| sampler | f | d | pair | target at | tau | cold evals | transfer evals "
        "| transfer/cold |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for sampler in args.samplers.split(","):
        for function in [int(x) for x in args.functions.split(",")]:
            for dim in [int(x) for x in args.dims.split(",")]:
                storage = open_storage("memory")
                f_src, _ = make_problem(function, dim, 1)
                for s in seeds:
                    run_study(f"src-{s}", f_src, dim, sampler, s, args.source_budget, storage)
                pairs: dict[str, Callable[[int], Problem]] = {
                    "related": lambda s, f=function, d=dim: shifted(f, d, args.shift, s),
                    "unrelated": lambda s, f=function, d=dim: make_problem(f, d, 2),
                }
                for kind, problem in pairs.items():
                    cold, warm = {}, {}
                    for s in seeds:
                        fn, f_opt = problem(s)
                        cold[s] = (
                            run_study(f"c-{kind}-{s}", fn, dim, sampler, s, args.budget, storage),
                            f_opt,
                        )
                        warm[s] = (
                            run_study(
                                f"w-{kind}-{s}",
                                fn,
                                dim,
                                sampler,
                                s,
                                args.budget,
                                storage,
                                prior_from=f"src-{s}",
                                weight=args.weight,
                            ),
                            f_opt,
                        )
                    for target in targets:
                        at = min(target, args.budget) - 1
                        tau = statistics.median(
                            float(np.min(np.asarray(tr[: at + 1]) - fo))
                            for tr, fo in cold.values()
                        )
                        ec = statistics.mean(evals_to(tr, fo, tau) for tr, fo in cold.values())
                        ew = statistics.mean(evals_to(tr, fo, tau) for tr, fo in warm.values())
                        ratios.setdefault((sampler, kind, target), []).append(ew / ec)
                        print(
                            f"| {sampler} | {function} | {dim} | {kind} | {target} | {tau:.3g} "
                            f"| {ec:.1f} | {ew:.1f} | {ew / ec:.2f} |",
                            flush=True,
                        )
    print()
    print("| sampler | pair | target at | mean transfer/cold | worst |")
    print("|---|---|---|---|---|")
    for (sampler, kind, target), rs in sorted(ratios.items()):
        print(f"| {sampler} | {kind} | {target} | {statistics.mean(rs):.2f} | {max(rs):.2f} |")
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
