#!/usr/bin/env python
"""hypersweep's samplers against Optuna and Hyperopt on the COCO BBOB suite.

The suite is the 24 noiseless single-objective BBOB functions (Hansen et al., "Real-Parameter
Black-Box Optimization Benchmarking 2009: Noiseless Functions Definitions", INRIA RR-6829;
Hansen et al., "COCO: a platform for comparing continuous optimizers in a black-box
setting", Optimization Methods and Software 36(1), 2021) from PyPI ``coco-experiment``
(module ``cocoex``), on the box ``[-5, 5]^d``. Every sampler gets the same problems
(function, dimension, instance), the same budget of evaluations, and is seeded by the
instance number:

* ours: every search sampler in :data:`hypersweep.samplers.REGISTRY` (not ``grid``, nor
  ``pbt``, which needs intermediate reports),
  driven through ``hypersweep.Study(storage="memory", seed=instance)`` ask/tell over a
  space of ``d`` ``Float(-5, 5)`` parameters;
* Optuna: ``optuna-tpe`` (``TPESampler`` defaults), ``optuna-tpe-mv``
  (``TPESampler(multivariate=True)``), ``optuna-gp`` (``GPSampler``, needs torch),
  ``optuna-cmaes`` (``CmaEsSampler``), driven by ``study.ask()/tell()``;
* Hyperopt: ``hyperopt-tpe`` (``tpe.suggest``) and ``hyperopt-anneal``
  (``anneal.suggest``) through ``fmin(..., rstate=np.random.default_rng(instance))``.

The precision of an evaluation is ``f(x) - f_opt``. ``f_opt`` comes from
``cocoex.BareProblem(...).best_value()`` (coco-experiment 2.8 no longer exposes
``final_target_fvalue1`` on suite problems); every run first checks that the suite's
problem evaluated at ``BareProblem.best_parameter()`` returns exactly that value.

Results: one JSON line per (sampler, function, dimension, instance, budget) run, holding the
best precision after each evaluation (``trace``) and the wall-clock seconds of the run,
appended to ``--out`` as runs finish. A restarted command skips the runs already in the
file, so an interrupted benchmark resumes where it stopped.

GP subset: Optuna's ``GPSampler`` costs 10-45 s per 100-evaluation run on a 2-core machine
(idle to busy), so the GP samplers (``gp``, ``auto`` -- which is GP within 100 evaluations
-- and ``optuna-gp``) can be restricted with ``--gp-instances`` / ``--gp-functions`` /
``--gp-dims``; by default they run on every problem. Our ``gp`` and Optuna's always run on
exactly the same subset, and when it is smaller than the full set the report adds tables
restricted to the problems every sampler ran.

Report (printed; written as markdown to ``--report`` when given): mean
``log10(max(precision, 1e-8))`` after each ``--checkpoints`` count (default 25 and 50) and
``budget`` evaluations per dimension; the average rank of each sampler per (function,
dimension, instance) after ``budget`` evaluations (ties share their mean rank), over the
problems every compared sampler ran; and mean seconds per run. Absolute seconds on a
shared machine are noise: compare ratios.

Examples:
    A quick subset while developing::

        nice -n 10 python benchmarks/bbob.py --samplers random,sobol,anneal,hyperopt-anneal \\
            --functions 1,2,8,15 --dims 2,5 --instances 1,2

    The full benchmark (all samplers, all 360 problems; about 2 hours on 2 cores, most of
    it Optuna's GPSampler)::

        nice -n 10 python benchmarks/bbob.py --jobs 2 --report benchmarks/results/bbob-report.md

    Longer studies (where ``auto`` hands over from GP to TPE)::

        python benchmarks/bbob.py --samplers gp,auto,tpe,anneal,cmaes,optuna-tpe --dims 5,10 \\
            --instances 1 --gp-instances 1 --budget 400 --checkpoints 50,100,200,300 \\
            --out benchmarks/results/bbob-400.jsonl --jobs 2

Threads: the script pins BLAS/OpenMP/torch to one thread per process (set before numpy is
imported) so that ``--jobs`` processes do not oversubscribe the cores; ``--jobs 1`` is the
fairest setting for the seconds column.
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import logging
import math
import multiprocessing as mp
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FLOOR = 1e-8  # precision floor of the log10 tables (BBOB's final target)
LOW, HIGH = -5.0, 5.0
NON_SEARCH = {"grid", "pbt", "bohb"}  # registry names that are not black-box search samplers
GP_SAMPLERS = {"gp", "auto", "optuna-gp"}  # auto is GP within 100 evaluations
PEERS = (
    "optuna-tpe",
    "optuna-tpe-mv",
    "optuna-gp",
    "optuna-cmaes",
    "hyperopt-tpe",
    "hyperopt-anneal",
)
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bbob.jsonl"


# ==========================================================================================
# problems
# ==========================================================================================

_SUITE: Any = None


def make_problem(function: int, dim: int, instance: int) -> tuple[Callable[[Any], float], float]:
    """The BBOB problem as a callable, and its optimal value ``f_opt``.

    Raises:
        RuntimeError: the suite's problem at the documented optimum does not give ``f_opt``.
    """
    import cocoex

    global _SUITE
    if _SUITE is None:
        _SUITE = cocoex.Suite("bbob", "", "")
    problem = _SUITE.get_problem_by_function_dimension_instance(function, dim, instance)
    bare = cocoex.BareProblem("bbob", function, dim, instance)
    f_opt = float(bare.best_value())
    x_opt = np.asarray(bare.best_parameter(), dtype=float)
    at_opt = float(problem(x_opt))
    if not math.isclose(at_opt, f_opt, rel_tol=1e-12, abs_tol=1e-9):
        raise RuntimeError(
            f"bbob f{function} d{dim} i{instance}: f(x_opt) = {at_opt!r} but f_opt = {f_opt!r}"
        )
    return problem, f_opt


# ==========================================================================================
# one run per sampler family
# ==========================================================================================


def _ours(
    name: str, fn: Callable[[np.ndarray], float], dim: int, instance: int, budget: int
) -> list[float]:
    import hypersweep as hs

    names = [f"x{k}" for k in range(dim)]
    study = hs.Study(
        "bbob",
        space={n: hs.Float(LOW, HIGH) for n in names},
        storage="memory",
        seed=instance,
        sampler=name,
    )
    ys = []
    for _ in range(budget):
        trial = study.ask()
        y = fn(np.array([trial.params[n] for n in names]))
        study.tell(trial, y)
        ys.append(y)
    return ys


def _optuna(
    name: str, fn: Callable[[np.ndarray], float], dim: int, instance: int, budget: int
) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    samplers: dict[str, Callable[[], Any]] = {
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=instance),
        "optuna-tpe-mv": lambda: optuna.samplers.TPESampler(multivariate=True, seed=instance),
        "optuna-gp": lambda: optuna.samplers.GPSampler(seed=instance),
        "optuna-cmaes": lambda: optuna.samplers.CmaEsSampler(seed=instance),
    }
    study = optuna.create_study(sampler=samplers[name]())
    ys = []
    for _ in range(budget):
        trial = study.ask()
        x = np.array([trial.suggest_float(f"x{k}", LOW, HIGH) for k in range(dim)])
        y = fn(x)
        study.tell(trial, y)
        ys.append(y)
    return ys


def _hyperopt(
    name: str, fn: Callable[[np.ndarray], float], dim: int, instance: int, budget: int
) -> list[float]:
    import hyperopt

    logging.getLogger("hyperopt").setLevel(logging.WARNING)
    algo = {"hyperopt-tpe": hyperopt.tpe.suggest, "hyperopt-anneal": hyperopt.anneal.suggest}
    space = {f"x{k}": hyperopt.hp.uniform(f"x{k}", LOW, HIGH) for k in range(dim)}
    ys: list[float] = []

    def objective(p: dict[str, float]) -> float:
        y = fn(np.array([p[f"x{k}"] for k in range(dim)]))
        ys.append(y)
        return y

    hyperopt.fmin(
        objective,
        space,
        algo=algo[name],
        max_evals=budget,
        trials=hyperopt.Trials(),
        rstate=np.random.default_rng(instance),
        show_progressbar=False,
    )
    return ys


def _driver(name: str) -> Callable[..., list[float]]:
    if name.startswith("optuna-"):
        return _optuna
    if name.startswith("hyperopt-"):
        return _hyperopt
    return _ours


def run_one(task: tuple[str, int, int, int, int]) -> dict[str, Any]:
    """Run one sampler on one problem; the JSON-lines record (``error`` set on failure)."""
    name, function, dim, instance, budget = task
    rec: dict[str, Any] = {
        "sampler": name,
        "function": function,
        "dim": dim,
        "instance": instance,
        "budget": budget,
    }
    try:
        problem, f_opt = make_problem(function, dim, instance)
        start = time.perf_counter()
        ys = _driver(name)(name, lambda x: float(problem(x)), dim, instance, budget)
        seconds = time.perf_counter() - start
    except Exception as e:  # report and go on: one broken run must not end the benchmark
        rec["error"] = f"{type(e).__name__}: {e}"
        return rec
    prec = np.minimum.accumulate(np.maximum(np.asarray(ys, dtype=float) - f_opt, 0.0))
    rec.update(f_opt=f_opt, seconds=round(seconds, 4), trace=[float(f"{p:.5g}") for p in prec])
    return rec


# ==========================================================================================
# selection, availability, resume
# ==========================================================================================


def _ints(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def our_search_samplers() -> list[str]:
    """Registry names of hypersweep's search samplers (registry order)."""
    from hypersweep.samplers import REGISTRY

    return [n for n in REGISTRY if n not in NON_SEARCH]


def available(name: str) -> str | None:
    """``None`` when sampler ``name`` can run here, else why not."""
    if name.startswith("optuna-"):
        if name not in PEERS:
            return f"unknown Optuna sampler {name!r}; known: {', '.join(PEERS[:4])}"
        try:
            import optuna  # noqa: F401
        except ImportError:
            return "optuna is not installed (pip install 'hypersweep[bench]')"
        if name == "optuna-gp":
            try:
                import torch  # noqa: F401
            except ImportError:
                return "Optuna's GPSampler needs torch (pip install torch)"
        return None
    if name.startswith("hyperopt-"):
        if name not in PEERS:
            return f"unknown Hyperopt sampler {name!r}; known: hyperopt-tpe, hyperopt-anneal"
        try:
            import hyperopt  # noqa: F401
        except ImportError:
            return "hyperopt is not installed (pip install 'hypersweep[bench]')"
        return None
    from hypersweep.samplers import REGISTRY, sampler_class

    if name not in REGISTRY:
        return "not in hypersweep.samplers.REGISTRY (not written yet?)"
    if name in NON_SEARCH:
        return "not a search sampler"
    try:
        sampler_class(name)
    except ImportError as e:
        return f"cannot import it: {e}"
    return None


def select_samplers(spec: str) -> list[str]:
    """Expand ``all`` / ``ours`` / ``peers`` and drop (with a message) what cannot run."""
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part == "all":
            names += our_search_samplers() + list(PEERS)
        elif part == "ours":
            names += our_search_samplers()
        elif part == "peers":
            names += list(PEERS)
        else:
            names.append(part)
    out = []
    for n in dict.fromkeys(names):
        why = available(n)
        if why is None:
            out.append(n)
        else:
            print(f"skipping sampler {n!r}: {why}", file=sys.stderr)
    return out


def load_records(path: Path) -> list[dict[str, Any]]:
    """The successful runs recorded in a JSON-lines file (a torn last line is ignored)."""
    if not path.exists():
        return []
    out = []
    with path.open() as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "trace" in rec:
                out.append(rec)
    return out


def _key(rec: dict[str, Any]) -> tuple[str, int, int, int, int]:
    return (rec["sampler"], rec["function"], rec["dim"], rec["instance"], rec["budget"])


Task = tuple[str, int, int, int, int]


def make_tasks(args: argparse.Namespace, samplers: Sequence[str]) -> list[Task]:
    """Every (sampler, function, dim, instance, budget) selected, GP subset applied."""
    tasks = []
    for name in samplers:
        for dim in args.dims:
            for function in args.functions:
                for instance in args.instances:
                    if name in GP_SAMPLERS and not (
                        instance in args.gp_instances
                        and function in args.gp_functions
                        and dim in args.gp_dims
                    ):
                        continue
                    tasks.append((name, function, dim, instance, args.budget))
    return tasks


# ==========================================================================================
# report
# ==========================================================================================


def _lp(trace: Sequence[float], evals: int) -> float:
    return math.log10(max(trace[min(evals, len(trace)) - 1], FLOOR))


def _fmt(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.2f}"


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _problems(recs: Iterable[dict[str, Any]]) -> set[tuple[int, int, int]]:
    return {(r["function"], r["dim"], r["instance"]) for r in recs}


def precision_table(
    by_sampler: dict[str, dict[tuple[int, int, int], dict[str, Any]]],
    problems: set[tuple[int, int, int]] | None,
    dims: Sequence[int],
    checkpoints: Sequence[int],
) -> str:
    """Mean log10 precision at the checkpoints per dimension (over ``problems``, or each
    sampler's own runs when ``None``)."""
    cps = " / ".join(str(c) for c in checkpoints)
    header = ["sampler", "runs", *[f"d={d} ({cps})" for d in dims]]
    rows = []
    for name, runs in by_sampler.items():
        keys = [k for k in runs if problems is None or k in problems]
        row = [name, str(len(keys))]
        for d in dims:
            kd = [k for k in keys if k[1] == d]
            if not kd:
                row.append("—")
                continue
            means = [float(np.mean([_lp(runs[k]["trace"], c) for k in kd])) for c in checkpoints]
            row.append(" / ".join(_fmt(m) for m in means))
        rows.append(row)
    return _md_table(header, rows)


def rank_table(
    by_sampler: dict[str, dict[tuple[int, int, int], dict[str, Any]]],
    problems: set[tuple[int, int, int]],
    dims: Sequence[int],
    budget: int,
) -> str:
    """Average rank (1 = best, ties share the mean rank) per dimension at ``budget``."""
    from scipy.stats import rankdata

    names = list(by_sampler)
    ranks: dict[str, dict[int, list[float]]] = {n: defaultdict(list) for n in names}
    for prob in sorted(problems):
        vals = [_lp(by_sampler[n][prob]["trace"], budget) for n in names]
        for n, r in zip(names, rankdata(vals)):
            ranks[n][prob[1]].append(float(r))
    header = ["sampler", *[f"d={d}" for d in dims], "all"]
    rows = []
    flat = {n: [r for d in dims for r in ranks[n][d]] for n in names}
    for n in sorted(names, key=lambda n: np.mean(flat[n]) if flat[n] else np.inf):
        allr = flat[n]
        rows.append(
            [
                n,
                *[_fmt(np.mean(ranks[n][d])) if ranks[n][d] else "—" for d in dims],
                _fmt(np.mean(allr)) if allr else "—",
            ]
        )
    counts = ", ".join(f"d={d}: {sum(1 for p in problems if p[1] == d)}" for d in dims)
    return _md_table(header, rows) + f"\n\nProblems ranked: {counts}."


def seconds_table(
    by_sampler: dict[str, dict[tuple[int, int, int], dict[str, Any]]], dims: Sequence[int]
) -> str:
    header = ["sampler", *[f"d={d}" for d in dims], "all"]
    rows = []
    for n, runs in by_sampler.items():
        row = [n]
        for d in dims:
            s = [r["seconds"] for k, r in runs.items() if k[1] == d]
            row.append(f"{np.mean(s):.3g}" if s else "—")
        s = [r["seconds"] for r in runs.values()]
        row.append(f"{np.mean(s):.3g}" if s else "—")
        rows.append(row)
    return _md_table(header, rows)


def build_report(
    records: Sequence[dict[str, Any]],
    samplers: Sequence[str],
    args: argparse.Namespace,
    command: str,
) -> str:
    """The markdown report over the records of the selected runs."""
    tasks = set(make_tasks(args, samplers))
    by_sampler: dict[str, dict[tuple[int, int, int], dict[str, Any]]] = {n: {} for n in samplers}
    for r in records:
        if _key(r) in tasks:
            by_sampler[r["sampler"]][(r["function"], r["dim"], r["instance"])] = r
    by_sampler = {n: runs for n, runs in by_sampler.items() if runs}
    if not by_sampler:
        return "No runs recorded for this selection yet.\n"
    dims = [d for d in args.dims if any(k[1] == d for runs in by_sampler.values() for k in runs)]
    checkpoints = sorted({c for c in (*args.checkpoints, args.budget) if c <= args.budget})
    sets = {n: set(runs) for n, runs in by_sampler.items()}
    common = set.intersection(*sets.values())
    largest = max(sets.values(), key=len)
    full = [n for n in by_sampler if sets[n] >= largest]
    out = [
        "# BBOB benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"Budget {args.budget} evaluations, box [{LOW:g}, {HIGH:g}]^d, functions "
        f"{_span(args.functions)}, dimensions {', '.join(map(str, args.dims))}, instances "
        f"{_span(args.instances)}; GP samplers ({', '.join(sorted(GP_SAMPLERS))}) on instances "
        f"{_span(args.gp_instances)}, functions {_span(args.gp_functions)}, dimensions "
        f"{', '.join(map(str, args.gp_dims))}. Precision is f - f_opt; tables show "
        f"log10(max(precision, {FLOOR:g})), lower is better.",
        "",
        f"## Mean log10 precision after {' / '.join(map(str, checkpoints))} evaluations "
        "(each sampler's runs)",
        "",
        precision_table(by_sampler, None, dims, checkpoints),
        "",
    ]
    if len(full) > 1 and common != largest:
        sub = {n: by_sampler[n] for n in full}
        out += [
            f"## Average rank after {args.budget} evaluations "
            f"(samplers that ran every selected problem)",
            "",
            rank_table(sub, largest, dims, args.budget),
            "",
        ]
    if common:
        if common != largest:
            out += [
                "## Mean log10 precision on the problems every sampler ran",
                "",
                precision_table(by_sampler, common, dims, checkpoints),
                "",
            ]
        out += [
            f"## Average rank after {args.budget} evaluations (all samplers, problems every "
            "sampler ran)",
            "",
            rank_table(by_sampler, common, dims, args.budget),
            "",
        ]
    out += [
        "## Mean seconds per run",
        "",
        seconds_table(by_sampler, dims),
        "",
        (
            "Seconds were measured by the runs that wrote the results file (this report was "
            "printed with --report-only)"
            if args.report_only
            else f"Runs executed with --jobs {args.jobs}"
        )
        + "; seconds include the objective "
        "(microseconds per BBOB evaluation). On a shared machine compare ratios, not "
        "absolute times.",
        "",
    ]
    return "\n".join(out)


def _span(xs: Sequence[int]) -> str:
    xs = sorted(set(xs))
    if xs and xs == list(range(xs[0], xs[-1] + 1)) and len(xs) > 2:
        return f"{xs[0]}-{xs[-1]}"
    return ",".join(map(str, xs))


# ==========================================================================================
# main
# ==========================================================================================


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="hypersweep samplers vs Optuna and Hyperopt on COCO BBOB (resumable).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--samplers",
        default="all",
        help="comma list of sampler names: ours (registry names such as random, "
        "tpe, gp, anneal, cmaes, auto), peers (" + ", ".join(PEERS) + "), or the "
        "groups all / ours / peers",
    )
    p.add_argument(
        "--functions",
        type=_ints,
        default=list(range(1, 25)),
        help="BBOB function numbers, e.g. 1,2,8,15 or 1-24",
    )
    p.add_argument("--dims", type=_ints, default=[2, 5, 10])
    p.add_argument("--instances", type=_ints, default=[1, 2, 3, 4, 5])
    p.add_argument("--budget", type=int, default=100, help="evaluations per run")
    p.add_argument(
        "--checkpoints",
        type=_ints,
        default=[25, 50],
        help="evaluation counts at which the precision tables report, besides the budget",
    )
    p.add_argument(
        "--gp-instances",
        type=_ints,
        default=[1, 2, 3, 4, 5],
        help="instances on which the GP samplers (gp, optuna-gp) run",
    )
    p.add_argument(
        "--gp-functions",
        type=_ints,
        default=list(range(1, 25)),
        help="functions on which the GP samplers run",
    )
    p.add_argument(
        "--gp-dims", type=_ints, default=[2, 5, 10], help="dimensions on which the GP samplers run"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON-lines results file")
    p.add_argument(
        "--report", type=Path, default=None, help="also write the markdown report to this path"
    )
    p.add_argument("--report-only", action="store_true", help="run nothing; report only")
    p.add_argument("--jobs", type=int, default=1, help="parallel processes")
    args = p.parse_args(argv)
    if args.budget < 1:
        p.error("--budget must be >= 1")
    bad = [f for f in args.functions if not 1 <= f <= 24]
    if bad:
        p.error(f"--functions: BBOB has functions 1-24, got {bad}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/bbob.py " + " ".join(sys.argv[1:] if argv is None else argv)
    samplers = select_samplers(args.samplers)
    if not samplers:
        print("no sampler to run", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {_key(r) for r in load_records(args.out)}
    todo = [t for t in make_tasks(args, samplers) if t not in done]
    if not args.report_only and todo:
        print(f"{len(todo)} runs to do ({len(done)} recorded in {args.out})", file=sys.stderr)
        t0 = time.perf_counter()
        n_err = 0
        with args.out.open("a") as f:
            pool = mp.get_context("spawn").Pool(args.jobs) if args.jobs > 1 else None
            results = pool.imap_unordered(run_one, todo) if pool else map(run_one, todo)
            for i, rec in enumerate(results, 1):
                if "error" in rec:
                    n_err += 1
                    print(f"FAILED {_key(rec)}: {rec['error']}", file=sys.stderr)
                    continue
                f.write(json.dumps(rec) + "\n")
                f.flush()
                if i % 20 == 0 or i == len(todo):
                    el = time.perf_counter() - t0
                    print(
                        f"  {i}/{len(todo)} runs, {el:.0f} s elapsed, "
                        f"~{el / i * (len(todo) - i):.0f} s left",
                        file=sys.stderr,
                    )
            if pool:
                pool.close()
                pool.join()
        if n_err:
            print(f"{n_err} runs failed (not recorded; rerun to retry)", file=sys.stderr)
    report = build_report(load_records(args.out), samplers, args, command)
    print(report)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
