"""Multi-objective samplers by hypervolume: hypersweep against Optuna on standard problems.

Problems (all on the unit cube, minimized; reference points bound what 100-200
evaluations reach): ZDT1, ZDT2, ZDT3 (2 objectives, ``d = 6``, reference (1.1, 10)),
DTLZ2 (3 objectives, ``d = 7``, reference (2.5, 2.5, 2.5)) and DTLZ7 (3 objectives,
``d = 7``, reference (1.1, 1.1, 25)). Formulas from Zitzler, Deb and Thiele (2000) and Deb,
Thiele, Laumanns and Zitzler (2002).

Samplers, each run for ``--evals`` evaluations per seed in this process:

* hypersweep: ``nsga2`` (population ``--population``), ``tpe`` (multi-objective), ``random``;
* Optuna: ``NSGAIISampler`` (same population) and ``TPESampler`` (multi-objective).

Per problem and budget (each of ``--budgets``), the hypervolume of the evaluated points
(:func:`hypersweep.analysis.hypervolume`) with mean over seeds, and each sampler's mean
rank over problems within the 2- and the 3-objective groups (1 = best).

Usage::

    nice -n 10 python benchmarks/multiobjective.py --seeds 3 --report docs/benchmarks-mo.md
    python benchmarks/multiobjective.py --smoke
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402


@dataclass(frozen=True)
class Problem:
    name: str
    dim: int
    n_obj: int
    f: Callable[[np.ndarray], np.ndarray]
    ref: tuple[float, ...]


def _zdt(kind: int) -> Callable[[np.ndarray], np.ndarray]:
    def f(x: np.ndarray) -> np.ndarray:
        f1 = x[0]
        g = 1 + 9 * x[1:].mean()
        r = f1 / g
        if kind == 1:
            h = 1 - np.sqrt(r)
        elif kind == 2:
            h = 1 - r**2
        else:
            h = 1 - np.sqrt(r) - r * np.sin(10 * np.pi * f1)
        return np.array([f1, g * h])

    return f


def _dtlz2(x: np.ndarray, m: int = 3) -> np.ndarray:
    g = np.sum((x[m - 1 :] - 0.5) ** 2)
    t = x[: m - 1] * np.pi / 2
    return (1 + g) * np.array(
        [np.cos(t[0]) * np.cos(t[1]), np.cos(t[0]) * np.sin(t[1]), np.sin(t[0])]
    )


def _dtlz7(x: np.ndarray, m: int = 3) -> np.ndarray:
    f = x[: m - 1]
    g = 1 + 9 / (x.size - m + 1) * np.sum(x[m - 1 :])
    h = m - np.sum(f / (1 + g) * (1 + np.sin(3 * np.pi * f)))
    return np.append(f, (1 + g) * h)


PROBLEMS = {
    "zdt1": Problem("zdt1", 6, 2, _zdt(1), (1.1, 10.0)),
    "zdt2": Problem("zdt2", 6, 2, _zdt(2), (1.1, 10.0)),
    "zdt3": Problem("zdt3", 6, 2, _zdt(3), (1.1, 10.0)),
    "dtlz2": Problem("dtlz2", 7, 3, _dtlz2, (2.5, 2.5, 2.5)),
    "dtlz7": Problem("dtlz7", 7, 3, _dtlz7, (1.1, 1.1, 25.0)),
}


def run_hypersweep(p: Problem, sampler: object, evals: int, seed: int) -> np.ndarray:
    import hypersweep as hs

    space = {f"x{i}": hs.Float(0, 1) for i in range(p.dim)}
    objs = [f"f{i}" for i in range(p.n_obj)]
    study = hs.Study(
        f"{p.name}-{seed}",
        space=space,
        objective=objs,
        sampler=sampler,
        storage="memory",
        seed=seed,
    )
    out = []
    for _ in range(evals):
        t = study.ask()
        y = p.f(np.array([t.params[f"x{i}"] for i in range(p.dim)]))
        study.tell(t, [float(v) for v in y])
        out.append(y)
    return np.array(out)


def run_optuna(p: Problem, kind: str, evals: int, seed: int, population: int) -> np.ndarray:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if kind == "nsga2":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.NSGAIISampler(
            population_size=population, seed=seed
        )
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(directions=["minimize"] * p.n_obj, sampler=sampler)
    out = []

    def objective(trial: optuna.Trial) -> tuple[float, ...]:
        y = p.f(np.array([trial.suggest_float(f"x{i}", 0, 1) for i in range(p.dim)]))
        out.append(y)
        return tuple(float(v) for v in y)

    study.optimize(objective, n_trials=evals)
    return np.array(out)


def main() -> None:
    from hypersweep.analysis import hypervolume
    from hypersweep.samplers.nsga2 import NSGA2Sampler

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--evals", type=int, default=200)
    ap.add_argument("--budgets", default="100,200")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--population", type=int, default=20)
    ap.add_argument("--samplers", default="hs-nsga2,hs-tpe,hs-random,optuna-nsga2,optuna-tpe")
    ap.add_argument("--report", help="write the markdown table here")
    ap.add_argument("--json", help="write every run here (JSON lines)")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.evals, args.budgets, args.seeds, args.problems = 30, "15,30", 1, "zdt1,dtlz2"
    budgets = [int(b) for b in args.budgets.split(",")]
    samplers = args.samplers.split(",")
    rows = []
    for pname in args.problems.split(","):
        p = PROBLEMS[pname]
        for seed in range(args.seeds):
            for s in samplers:
                t0 = time.perf_counter()
                if s.startswith("hs-"):
                    name = s[3:]
                    spec: object = (
                        NSGA2Sampler(population=args.population) if name == "nsga2" else name
                    )
                    Y = run_hypersweep(p, spec, args.evals, seed)
                else:
                    try:
                        Y = run_optuna(p, s[7:], args.evals, seed, args.population)
                    except ImportError:
                        logging.warning("optuna not installed: %s skipped", s)
                        continue
                secs = time.perf_counter() - t0
                hv = {b: hypervolume(Y[:b], p.ref) for b in budgets}
                rows.append(
                    {"problem": pname, "sampler": s, "seed": seed, "seconds": secs, "hv": hv}
                )
    load = os.getloadavg()[0]
    lines = [
        f"Hypervolume (mean over {args.seeds} seeds), population {args.population}; load "
        f"average {load:.1f} on {os.cpu_count()} cores.",
        "",
        "| problem | budget | " + " | ".join(samplers) + " |",
        "|---|---|" + "---|" * len(samplers),
    ]
    ranks: dict[tuple[int, int, str], list[float]] = {}
    for pname in args.problems.split(","):
        for b in budgets:
            means = []
            for s in samplers:
                v = [r["hv"][b] for r in rows if r["problem"] == pname and r["sampler"] == s]
                means.append(float(np.mean(v)) if v else float("nan"))
            order = (-np.array(means)).argsort().argsort() + 1
            for s, rk in zip(samplers, order):
                ranks.setdefault((PROBLEMS[pname].n_obj, b, s), []).append(float(rk))
            lines.append(f"| {pname} | {b} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    lines += [
        "",
        "| group | budget | " + " | ".join(samplers) + " |",
        "|---|---|" + "---|" * len(samplers),
    ]
    for m in sorted({k[0] for k in ranks}):
        for b in budgets:
            lines.append(
                f"| {m} objectives | {b} | "
                + " | ".join(f"{np.mean(ranks[(m, b, s)]):.1f}" for s in samplers)
                + " |"
            )
    text = "\n".join(lines)
    print(text)
    if args.report:
        with open(args.report, "w") as fh:
            fh.write(text + "\n")
    if args.json:
        with open(args.json, "w") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
