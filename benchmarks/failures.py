#!/usr/bin/env python
"""Failed trials and constraints: hypersweep against Optuna and random search.

Two groups of problems, every sampler on the same problems and seeds in the same run:

**(a) crash regions.** The 24 noiseless COCO BBOB functions (``cocoex``, driven as in
``benchmarks/bbob.py``) at d = 2 and 5, instances 1-3, on ``[-5, 5]^d``, where a fixed
region of the box crashes the trial: ``x_0 + x_1 > 2.2540`` (the unit-cube coordinates
``u = (x + 5) / 10`` then satisfy ``u_0 + u_1 > 2 - sqrt(0.6)``, which is 30.0% of the box
in any dimension). A crashed trial is FAILED in hypersweep (``study.tell(trial,
error=...)``) and ``TrialState.FAIL`` in Optuna (``study.tell(trial,
state=TrialState.FAIL)``, what an Optuna user's objective raising an exception gives).
The regret is ``best completed value - f_opt`` (``f_opt`` of the whole box: where the
optimum lies in the crash region this is a lower bound of the true regret, the same for
every sampler).

**(b) constrained problems** with known optima, the constraints given to every sampler:
hypersweep through ``constraints=`` (metrics with ``max`` / ``min``), Optuna through
``TPESampler(constraints_func=...)`` and ``GPSampler(constraints_func=...)`` (the same
constraint values, ``<= 0`` feasible, set as user attributes before ``tell``); random
search sees them only in the result.

* ``gardner``: Gardner et al. 2014 (ICML), section 5.1: ``cos(2 x) cos(y) + sin(x)``
  s.t. ``cos(x) cos(y) - sin(x) sin(y) <= 0.5`` on ``[0, 6]^2``;
* ``branin-disk``: Branin on ``[-5, 10] x [0, 15]`` s.t. ``(x - 2.5)^2 + (y - 7.5)^2
  <= 50`` (a disk that excludes two of Branin's three minima);
* ``g4``: Himmelblau's problem as G4 of Michalewicz & Schoenauer / Runarsson & Yao 2000,
  5 variables, three metrics with two-sided bounds, ``f* = -30665.539``;
* ``g8``: G8, 2 variables, two constraints, ``f* = -0.0958250``;
* ``g9``: G9, 7 variables, four constraints, ``f* = 680.630057``.

The optima of ``gardner`` and ``branin-disk`` are computed here (a 2001 x 2001 grid,
then SLSQP from the best feasible grid points); the G-problems use the published values.

Samplers: ``auto`` (hypersweep's default), ``tpe`` (hypersweep's TPE; c-TPE with
constraints), ``random`` (hypersweep's random sampler), ``optuna-tpe`` and ``optuna-gp``
(with ``constraints_func`` in group b). Each run is seeded by the instance (a) or the
seed (b).

Report per group: mean log10 regret of the best feasible value after the budget (floor
1e-8; a run without any feasible completed trial counts as the worst log10 regret any
run reached on that problem, and is counted in the ``none`` column), the percentage of
trials spent failing (a) or infeasible (b), the average rank per problem (ties share
their mean rank; no feasible value ranks last), and mean seconds per run (noise on a
shared machine: compare ratios).

Results are JSON lines appended to ``--out`` (a rerun skips recorded runs).

Examples: the full benchmark (instances 1-3, seeds 1-3)::

    nice -n 10 python benchmarks/failures.py --jobs 2 \\
        --report benchmarks/results/failures-report.md

and the run recorded in docs/benchmarks.md (instance 1, seed 1)::

    nice -n 10 python benchmarks/failures.py --jobs 2 --functions 1-24 --instances 1 \\
        --seeds 1 --report benchmarks/results/failures-report.md
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FLOOR = 1e-8
LOW, HIGH = -5.0, 5.0
CRASH_SUM = 10.0 * (2.0 - math.sqrt(0.6)) - 10.0  # x0 + x1 above this crashes: 30% of the box
SAMPLERS = ("auto", "tpe", "random", "optuna-tpe", "optuna-gp")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "failures.jsonl"


def crashes(x: np.ndarray) -> bool:
    """The crash region of group (a)."""
    return bool(x[0] + x[1] > CRASH_SUM)


# ==========================================================================================
# constrained problems
# ==========================================================================================


@dataclass(frozen=True)
class Problem:
    name: str
    bounds: tuple[tuple[float, float], ...]
    f: Callable[[np.ndarray], float]
    #: metric name -> (function, min, max): the constraint ``min <= g(x) <= max``
    metrics: dict[str, tuple[Callable[[np.ndarray], float], float | None, float | None]]
    f_opt: float | None  # None: computed numerically (2-D problems)

    def violations(self, x: np.ndarray) -> list[float]:
        """Every bound as ``value <= 0`` (Optuna's convention)."""
        out = []
        for g, lo, hi in self.metrics.values():
            v = g(x)
            if hi is not None:
                out.append(v - hi)
            if lo is not None:
                out.append(lo - v)
        return out

    def feasible(self, x: np.ndarray) -> bool:
        return all(v <= 0 for v in self.violations(x))


def _branin(x: np.ndarray) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return float(a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s)


def _g4_u(x: np.ndarray) -> float:
    return float(
        85.334407 + 0.0056858 * x[1] * x[4] + 0.0006262 * x[0] * x[3] - 0.0022053 * x[2] * x[4]
    )


def _g4_v(x: np.ndarray) -> float:
    return float(
        80.51249 + 0.0071317 * x[1] * x[4] + 0.0029955 * x[0] * x[1] + 0.0021813 * x[2] ** 2
    )


def _g4_w(x: np.ndarray) -> float:
    return float(
        9.300961 + 0.0047026 * x[2] * x[4] + 0.0012547 * x[0] * x[2] + 0.0019085 * x[2] * x[3]
    )


def _g8(x: np.ndarray) -> float:
    return float(
        -(math.sin(2 * math.pi * x[0]) ** 3)
        * math.sin(2 * math.pi * x[1])
        / (x[0] ** 3 * (x[0] + x[1]))
    )


def _g9(x: np.ndarray) -> float:
    x1, x2, x3, x4, x5, x6, x7 = x
    return float(
        (x1 - 10) ** 2
        + 5 * (x2 - 12) ** 2
        + x3**4
        + 3 * (x4 - 11) ** 2
        + 10 * x5**6
        + 7 * x6**2
        + x7**4
        - 4 * x6 * x7
        - 10 * x6
        - 8 * x7
    )


PROBLEMS: dict[str, Problem] = {
    "gardner": Problem(
        "gardner",
        ((0.0, 6.0), (0.0, 6.0)),
        lambda x: float(math.cos(2 * x[0]) * math.cos(x[1]) + math.sin(x[0])),
        {
            "c": (
                lambda x: float(math.cos(x[0]) * math.cos(x[1]) - math.sin(x[0]) * math.sin(x[1])),
                None,
                0.5,
            )
        },
        None,
    ),
    "branin-disk": Problem(
        "branin-disk",
        ((-5.0, 10.0), (0.0, 15.0)),
        _branin,
        {"disk": (lambda x: float((x[0] - 2.5) ** 2 + (x[1] - 7.5) ** 2), None, 50.0)},
        None,
    ),
    "g4": Problem(
        "g4",
        ((78.0, 102.0), (33.0, 45.0), (27.0, 45.0), (27.0, 45.0), (27.0, 45.0)),
        lambda x: float(
            5.3578547 * x[2] ** 2 + 0.8356891 * x[0] * x[4] + 37.293239 * x[0] - 40792.141
        ),
        {"u": (_g4_u, 0.0, 92.0), "v": (_g4_v, 90.0, 110.0), "w": (_g4_w, 20.0, 25.0)},
        -30665.539,
    ),
    "g8": Problem(
        "g8",
        ((0.0, 10.0), (0.0, 10.0)),
        _g8,
        {
            "g1": (lambda x: float(x[0] ** 2 - x[1] + 1), None, 0.0),
            "g2": (lambda x: float(1 - x[0] + (x[1] - 4) ** 2), None, 0.0),
        },
        -0.0958250415,
    ),
    "g9": Problem(
        "g9",
        ((-10.0, 10.0),) * 7,
        _g9,
        {
            "g1": (
                lambda x: float(2 * x[0] ** 2 + 3 * x[1] ** 4 + x[2] + 4 * x[3] ** 2 + 5 * x[4]),
                None,
                127.0,
            ),
            "g2": (
                lambda x: float(7 * x[0] + 3 * x[1] + 10 * x[2] ** 2 + x[3] - x[4]),
                None,
                282.0,
            ),
            "g3": (lambda x: float(23 * x[0] + x[1] ** 2 + 6 * x[5] ** 2 - 8 * x[6]), None, 196.0),
            "g4": (
                lambda x: float(
                    4 * x[0] ** 2
                    + x[1] ** 2
                    - 3 * x[0] * x[1]
                    + 2 * x[2] ** 2
                    + 5 * x[5]
                    - 11 * x[6]
                ),
                None,
                0.0,
            ),
        },
        680.6300573,
    ),
}

_OPT_CACHE: dict[str, float] = {}


def optimum(p: Problem) -> float:
    """The problem's optimal feasible value (published, or computed for 2-D problems)."""
    if p.f_opt is not None:
        return p.f_opt
    if p.name in _OPT_CACHE:
        return _OPT_CACHE[p.name]
    from scipy.optimize import minimize

    (a0, b0), (a1, b1) = p.bounds
    g0, g1 = np.meshgrid(np.linspace(a0, b0, 2001), np.linspace(a1, b1, 2001))
    pts = np.column_stack([g0.ravel(), g1.ravel()])
    vals = np.array([p.f(x) if p.feasible(x) else np.inf for x in pts])
    best = float(vals.min())
    cons = [
        {"type": "ineq", "fun": (lambda x, i=i: -p.violations(x)[i])}
        for i in range(len(p.violations(pts[0])))
    ]
    for i in np.argsort(vals)[:20]:
        res = minimize(
            p.f,
            pts[i],
            method="SLSQP",
            bounds=p.bounds,
            constraints=cons,
            options={"ftol": 1e-12, "maxiter": 200},
        )
        if res.success and p.feasible(res.x):
            best = min(best, float(res.fun))
    _OPT_CACHE[p.name] = best
    return best


# ==========================================================================================
# one run
# ==========================================================================================


def _evaluate(group: str, problem: Any, x: np.ndarray) -> tuple[float | None, dict[str, float]]:
    """``(value or None when the trial crashes, constraint metrics)``."""
    if group == "crash":
        return (None, {}) if crashes(x) else (float(problem(x)), {})
    return problem.f(x), {m: g(x) for m, (g, _, _) in problem.metrics.items()}


def _ours(
    name: str,
    group: str,
    problem: Any,
    bounds: Sequence[tuple[float, float]],
    seed: int,
    budget: int,
) -> list[tuple[float | None, bool]]:
    import hypersweep as hs

    names = [f"x{k}" for k in range(len(bounds))]
    constraints = None
    if group == "constrained":
        constraints = [
            {
                "metric": m,
                **({"min": lo} if lo is not None else {}),
                **({"max": hi} if hi is not None else {}),
            }
            for m, (_, lo, hi) in problem.metrics.items()
        ]
    study = hs.Study(
        "failures",
        space={n: hs.Float(a, b) for n, (a, b) in zip(names, bounds)},
        storage="memory",
        seed=seed,
        sampler=name,
        constraints=constraints,
    )
    out: list[tuple[float | None, bool]] = []
    for _ in range(budget):
        trial = study.ask()
        x = np.array([trial.params[n] for n in names])
        y, metrics = _evaluate(group, problem, x)
        if y is None:
            study.tell(trial, error="crashed")
            out.append((None, False))
        else:
            study.tell(trial, {"value": y, **metrics})
            out.append((y, group == "crash" or problem.feasible(x)))
    return out


def _optuna(
    name: str,
    group: str,
    problem: Any,
    bounds: Sequence[tuple[float, float]],
    seed: int,
    budget: int,
) -> list[tuple[float | None, bool]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    kw: dict[str, Any] = {"seed": seed}
    if group == "constrained":
        kw["constraints_func"] = lambda t: t.user_attrs["constraints"]
    sampler = (
        optuna.samplers.TPESampler(**kw)
        if name == "optuna-tpe"
        else optuna.samplers.GPSampler(**kw)
    )
    study = optuna.create_study(sampler=sampler)
    out: list[tuple[float | None, bool]] = []
    for _ in range(budget):
        trial = study.ask()
        x = np.array([trial.suggest_float(f"x{k}", a, b) for k, (a, b) in enumerate(bounds)])
        y, _ = _evaluate(group, problem, x)
        if y is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            out.append((None, False))
            continue
        if group == "constrained":
            trial.set_user_attr("constraints", problem.violations(x))
        study.tell(trial, y)
        out.append((y, group == "crash" or problem.feasible(x)))
    return out


Task = tuple[str, str, str, int, int]  # sampler, group, problem id, seed, budget


def run_one(task: Task) -> dict[str, Any]:
    name, group, pid, seed, budget = task
    rec: dict[str, Any] = {
        "sampler": name,
        "group": group,
        "problem": pid,
        "seed": seed,
        "budget": budget,
    }
    try:
        if group == "crash":
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from bbob import make_problem

            f, d, _ = (int(s[1:]) for s in pid.split("-"))
            problem, f_opt = make_problem(f, d, seed)
            bounds: Sequence[tuple[float, float]] = [(LOW, HIGH)] * d
        else:
            problem = PROBLEMS[pid]
            f_opt, bounds = optimum(problem), problem.bounds
        drive = _optuna if name.startswith("optuna-") else _ours
        start = time.perf_counter()
        res = drive(name, group, problem, bounds, seed, budget)
        seconds = time.perf_counter() - start
    except Exception as e:  # report and go on
        rec["error"] = f"{type(e).__name__}: {e}"
        return rec
    good = [y for y, ok in res if y is not None and ok]
    rec.update(
        f_opt=f_opt,
        seconds=round(seconds, 3),
        n_failed=sum(y is None for y, _ in res),
        n_infeasible=sum(y is not None and not ok for y, ok in res),
        best=min(good) if good else None,
    )
    return rec


# ==========================================================================================
# tasks, report
# ==========================================================================================


def make_tasks(args: argparse.Namespace) -> list[Task]:
    tasks: list[Task] = []
    for name in args.samplers:
        if "crash" in args.groups:
            for d in args.dims:
                for f in args.functions:
                    for i in args.instances:
                        tasks.append((name, "crash", f"f{f}-d{d}-i{i}", i, args.budget))
        if "constrained" in args.groups:
            for pid in args.problems:
                for s in args.seeds:
                    tasks.append((name, "constrained", pid, s, args.budget))
    return tasks


def _key(r: dict[str, Any]) -> Task:
    return (r["sampler"], r["group"], r["problem"], r["seed"], r["budget"])


def load_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "error" not in rec:
            out.append(rec)
    return out


def _subgroup(r: dict[str, Any]) -> str:
    if r["group"] == "crash":
        return f"crash d={r['problem'].split('-')[1][1:]}"
    return f"constrained {r['problem']}"


def summarize(
    records: Sequence[dict[str, Any]], samplers: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{group: {sampler: {regret, waste, rank, none, seconds, runs}}}`` over the problems
    (problem, seed) every sampler ran; groups are ``crash d=2``, ``crash d=5``,
    ``constrained`` (all constrained problems) and one per constrained problem."""
    by: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        if r["sampler"] in samplers:
            by[(r["group"], r["problem"], r["seed"])][r["sampler"]] = r
    cells = {k: v for k, v in by.items() if all(s in v for s in samplers)}
    # the worst log10 regret reached on each problem stands for "no feasible value"
    worst: dict[str, float] = {}
    for (_, pid, _), runs in cells.items():
        for r in runs.values():
            if r["best"] is not None:
                lr = math.log10(max(r["best"] - r["f_opt"], FLOOR))
                worst[pid] = max(worst.get(pid, -8.0), lr)
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (group, pid, _), runs in cells.items():
        lrs = {}
        for s, r in runs.items():
            lrs[s] = (
                math.log10(max(r["best"] - r["f_opt"], FLOOR))
                if r["best"] is not None
                else math.inf
            )
        order = sorted(lrs.values())
        ranks = {
            s: np.mean([i + 1 for i, v in enumerate(order) if v == lr]) for s, lr in lrs.items()
        }
        names = [_subgroup(runs[samplers[0]])]
        if group == "constrained":
            names.append("constrained")
        for s, r in runs.items():
            lr = lrs[s] if math.isfinite(lrs[s]) else worst.get(pid, 0.0)
            waste = (r["n_failed"] + r["n_infeasible"]) / r["budget"]
            for g in names:
                a = acc[g]
                a[f"{s}|regret"].append(lr)
                a[f"{s}|waste"].append(100.0 * waste)
                a[f"{s}|rank"].append(float(ranks[s]))
                a[f"{s}|none"].append(float(r["best"] is None))
                a[f"{s}|seconds"].append(r["seconds"])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for g, a in acc.items():
        out[g] = {}
        for s in samplers:
            vals = {k.split("|")[1]: v for k, v in a.items() if k.startswith(s + "|")}
            out[g][s] = {
                k: float(np.sum(v) if k == "none" else np.mean(v)) for k, v in vals.items()
            }
            out[g][s]["runs"] = float(len(vals["rank"]))
    return out


def _group_order(g: str) -> tuple[int, str]:
    return (0 if g.startswith("crash") else 1 if g == "constrained" else 2, g)


def build_report(records: Sequence[dict[str, Any]], samplers: Sequence[str], command: str) -> str:
    summary = summarize(records, samplers)
    lines = [
        "# Failures and constraints: hypersweep vs Optuna and random search",
        "",
        f"Command: `{command}`",
        "",
        "Per group: mean log10 regret of the best feasible value (floor 1e-8), % of trials "
        "failed (crash groups) or infeasible (constrained groups), average rank per problem "
        "(1 = best), runs without any feasible value, mean seconds per run.",
        "",
    ]
    for g in sorted(summary, key=_group_order):
        rows = summary[g]
        n = int(next(iter(rows.values()))["runs"])
        waste = "% failed" if g.startswith("crash") else "% infeasible"
        lines += [
            f"## {g} ({n} runs per sampler)",
            "",
            f"| sampler | log10 regret | {waste} | rank | none | seconds |",
            "|---|---|---|---|---|---|",
        ]
        for s in sorted(samplers, key=lambda s: rows[s]["rank"]):
            r = rows[s]
            lines.append(
                f"| {s} | {r['regret']:.2f} | {r['waste']:.1f} | {r['rank']:.2f} | "
                f"{int(r['none'])} | {r['seconds']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samplers", default=",".join(SAMPLERS))
    p.add_argument("--groups", default="crash,constrained")
    p.add_argument("--functions", default="1-24", type=_ints)
    p.add_argument("--dims", default="2,5", type=_ints)
    p.add_argument("--instances", default="1-3", type=_ints)
    p.add_argument(
        "--problems",
        default="gardner,branin-disk,g4,g8",
        help=f"known: {', '.join(PROBLEMS)} (g9 costs Optuna's GP ~5 min a run)",
    )
    p.add_argument("--seeds", default="1-3", type=_ints)
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--jobs", type=int, default=1, help="parallel processes (at most 2 here)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--report", type=Path, default=None)
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    args.samplers = [s for s in args.samplers.split(",") if s]
    args.groups = [g for g in args.groups.split(",") if g]
    args.problems = [q for q in args.problems.split(",") if q]
    bad = [s for s in args.samplers if s not in SAMPLERS]
    if bad:
        p.error(f"--samplers: unknown {bad}; known: {', '.join(SAMPLERS)}")
    bad = [q for q in args.problems if q not in PROBLEMS]
    if bad:
        p.error(f"--problems: unknown {bad}; known: {', '.join(PROBLEMS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/failures.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {_key(r) for r in load_records(args.out)}
    todo = [t for t in make_tasks(args) if t not in done]
    # slow runs first, so the pool's last minutes are not one long run
    todo.sort(key=lambda t: (t[0] != "optuna-gp", t[0] != "auto", t))
    if not args.report_only and todo:
        print(f"{len(todo)} runs to do ({len(done)} recorded in {args.out})", file=sys.stderr)
        t0 = time.perf_counter()
        with args.out.open("a") as f:
            pool = mp.get_context("spawn").Pool(args.jobs) if args.jobs > 1 else None
            results = pool.imap_unordered(run_one, todo) if pool else map(run_one, todo)
            for i, rec in enumerate(results, 1):
                if "error" in rec:
                    print(f"FAILED {_key(rec)}: {rec['error']}", file=sys.stderr)
                    continue
                f.write(json.dumps(rec) + "\n")
                f.flush()
                if i % 25 == 0 or i == len(todo):
                    el = time.perf_counter() - t0
                    print(f"  {i}/{len(todo)} runs, {el:.0f} s", file=sys.stderr)
            if pool:
                pool.close()
                pool.join()
    report = build_report(load_records(args.out), args.samplers, command)
    print(report)
    if args.report:
        args.report.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
