"""Parameter importance against known answers: hypersweep, Optuna and SALib on the same trials.

Problems (inputs uniform on the unit cube, one extra dummy parameter the function ignores):

* ``ishigami``: ``sin x1 + 7 sin^2 x2 + 0.1 x3^4 sin x1`` on ``[-pi, pi]^3``;
* ``gfunc``: the Sobol G-function with ``a = (0, 1, 4.5, 9, 99)``.

Both have analytic first-order (S1) and total (ST) Sobol indices. Per problem and seed,
``--trials`` configurations are drawn uniformly at random and evaluated once; every
method reads those same trials:

* hypersweep: ``importance(study, "fanova" | "sobol" | "ped-anova")``;
* Optuna: ``FanovaImportanceEvaluator`` (unnormalized: main effects as variance
  fractions) and ``PedAnovaImportanceEvaluator`` on an Optuna study holding the trials;
* SALib on the given sample: ``rbd_fast`` (S1) and ``delta`` (S1 and Borgonovo's delta).

For reference SALib's ``sobol`` analysis with Saltelli sampling on the true function is
run too: it needs ``N (2D + 2)`` extra evaluations, which a study does not have.

Reported per method (medians over seeds): wall time, the largest error of S1 and of ST
against the analytic values (where the method estimates them), the dummy's estimate, and
whether the total ranking of the parameters that matter (ST > 0.02) is the analytic one.

Usage::

    nice -n 10 python benchmarks/importance.py --seeds 3 --report docs/benchmarks-importance.md
    python benchmarks/importance.py --smoke
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402


# problems --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    name: str
    dim: int  # with the dummy, the last column
    f: Callable[[np.ndarray], np.ndarray]
    s1: np.ndarray
    st: np.ndarray


def _ishigami() -> Problem:
    a, b, pi = 7.0, 0.1, np.pi

    def f(U: np.ndarray) -> np.ndarray:
        x = -pi + 2 * pi * U
        return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])

    v1, v2 = 0.5 * (1 + b * pi**4 / 5) ** 2, a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return Problem(
        "ishigami", 4, f, np.array([v1, v2, 0, 0]) / v, np.array([v1 + v13, v2, v13, 0]) / v
    )


def _gfunc() -> Problem:
    a = np.array([0.0, 1.0, 4.5, 9.0, 99.0])

    def f(U: np.ndarray) -> np.ndarray:
        return np.prod((np.abs(4 * U[:, : a.size] - 2) + a) / (1 + a), axis=1)

    vi = 1 / (3 * (1 + np.append(a, np.inf)) ** 2)
    v = np.prod(1 + vi) - 1
    return Problem("gfunc", 6, f, vi / v, vi * np.prod(1 + vi) / (1 + vi) / v)


PROBLEMS = {"ishigami": _ishigami, "gfunc": _gfunc}


# one result ------------------------------------------------------------------------------
@dataclass
class Row:
    problem: str
    method: str
    seed: int
    seconds: float
    headline: list[float]  # what the method ranks by
    s1: list[float] | None
    st: list[float] | None


def _trials(p: Problem, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    U = np.random.default_rng(seed).random((n, p.dim))
    return U, p.f(U)


def _hs_study(p: Problem, U: np.ndarray, y: np.ndarray, seed: int) -> Any:
    import hypersweep as hs

    space = {f"x{i}": hs.Float(0, 1) for i in range(p.dim)}
    study = hs.Study(f"{p.name}-{seed}", space=space, storage="memory", seed=seed)
    for u, v in zip(U, y):  # the sample's configurations, in order
        study.enqueue({f"x{i}": float(u[i]) for i in range(p.dim)})
        study.tell(study.ask(), float(v))
    return study


def _optuna_study(p: Problem, U: np.ndarray, y: np.ndarray) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dist = {f"x{i}": optuna.distributions.FloatDistribution(0, 1) for i in range(p.dim)}
    study = optuna.create_study()
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={f"x{i}": float(u[i]) for i in range(p.dim)},
                distributions=dist,
                value=float(v),
            )
            for u, v in zip(U, y)
        ]
    )
    return study


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_one(p: Problem, n: int, seed: int, salib_n: int) -> list[Row]:
    from hypersweep.analysis import importance

    U, y = _trials(p, n, seed)
    names = [f"x{i}" for i in range(p.dim)]
    rows: list[Row] = []
    study = _hs_study(p, U, y, seed)
    importance(study, "sobol", n_bootstrap=2)  # pay the imports once, outside the timing
    for m in ("fanova", "sobol", "ped-anova"):
        r, dt = _timed(lambda m=m: importance(study, m, seed=seed))
        head = [r[x].importance for x in names]
        first = [r[x].first for x in names]
        both = m != "ped-anova"
        rows.append(
            Row(
                p.name,
                f"hypersweep {m}",
                seed,
                dt,
                head,
                first if both else None,
                head if both else None,
            )
        )
    try:
        import optuna
    except ImportError:
        logging.warning("optuna not installed: its evaluators are skipped")
    else:
        ostudy = _optuna_study(p, U, y)
        for label, ev, norm in (
            ("optuna fanova", optuna.importance.FanovaImportanceEvaluator(seed=seed), False),
            ("optuna ped-anova", optuna.importance.PedAnovaImportanceEvaluator(), True),
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp, dt = _timed(
                    lambda ev=ev, norm=norm: optuna.importance.get_param_importances(
                        ostudy, evaluator=ev, normalize=norm
                    )
                )
            head = [float(imp[x]) for x in names]
            rows.append(Row(p.name, label, seed, dt, head, head if not norm else None, None))
    try:
        from SALib.analyze import delta, rbd_fast, sobol
        from SALib.sample import sobol as sobol_sample
    except ImportError:
        logging.warning("SALib not installed: skipped (pip install salib)")
        return rows
    problem = {"num_vars": p.dim, "names": names, "bounds": [[0.0, 1.0]] * p.dim}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # its notices
        warnings.simplefilter("ignore")
        r, dt = _timed(lambda: rbd_fast.analyze(problem, U, y, seed=seed))
        rows.append(Row(p.name, "salib rbd-fast", seed, dt, list(r["S1"]), list(r["S1"]), None))
        r, dt = _timed(lambda: delta.analyze(problem, U, y, seed=seed, num_resamples=20))
        rows.append(
            Row(p.name, "salib delta", seed, dt, list(r["delta_raw"]), list(r["S1"]), None)
        )
        X = sobol_sample.sample(problem, salib_n, seed=seed)
        r, dt = _timed(lambda: sobol.analyze(problem, p.f(X), seed=seed))
        rows.append(
            Row(
                p.name,
                f"salib sobol ({X.shape[0]} evals)",
                seed,
                dt,
                list(r["ST"]),
                list(r["S1"]),
                list(r["ST"]),
            )
        )
    return rows


# report ----------------------------------------------------------------------------------
def _rank_ok(p: Problem, headline: list[float]) -> bool:
    matter = [i for i in np.argsort(-p.st) if p.st[i] > 0.02]
    return [int(i) for i in np.argsort(-np.asarray(headline))[: len(matter)]] == matter


def summarize(rows: list[Row], problems: dict[str, Problem]) -> list[dict[str, Any]]:
    out = []
    keys = list(dict.fromkeys((r.problem, r.method) for r in rows))
    for prob, method in keys:
        rs = [r for r in rows if r.problem == prob and r.method == method]
        p = problems[prob]

        def med(vals: list[float]) -> float:
            return float(statistics.median(vals))

        out.append(
            {
                "problem": prob,
                "method": method,
                "seconds": med([r.seconds for r in rs]),
                "s1_err": med([float(np.max(np.abs(np.array(r.s1) - p.s1))) for r in rs])
                if rs[0].s1 is not None
                else None,
                "st_err": med([float(np.max(np.abs(np.array(r.st) - p.st))) for r in rs])
                if rs[0].st is not None
                else None,
                "dummy": med([r.headline[-1] for r in rs]),
                "rank_ok": f"{sum(_rank_ok(p, r.headline) for r in rs)}/{len(rs)}",
            }
        )
    return out


def markdown(
    summary: list[dict[str, Any]], args: argparse.Namespace, load: tuple[float, ...]
) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    lines = [
        f"Importance on {args.trials} random trials, {args.seeds} seeds (medians); "
        f"python {platform.python_version()}, load average {load[0]:.1f} "
        f"on {os.cpu_count()} cores.",
        "",
        "| problem | method | time (s) | max S1 error | max ST error | dummy | total ranking |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['problem']} | {s['method']} | {s['seconds']:.3f} | {f(s['s1_err'])} | "
            f"{f(s['st_err'])} | {s['dummy']:.3f} | {s['rank_ok']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--problems", default="ishigami,gfunc")
    ap.add_argument("--salib-n", type=int, default=1024, help="SALib sobol base samples")
    ap.add_argument("--report", help="write the markdown table here")
    ap.add_argument("--json", help="write every row here (JSON lines)")
    ap.add_argument("--smoke", action="store_true", help="a tiny run that checks the plumbing")
    args = ap.parse_args()
    if args.smoke:
        args.trials, args.seeds, args.salib_n = 60, 1, 64
    problems = {k: PROBLEMS[k]() for k in args.problems.split(",")}
    rows: list[Row] = []
    for p in problems.values():
        for seed in range(args.seeds):
            rows.extend(run_one(p, args.trials, seed, args.salib_n))
    load = os.getloadavg()
    text = markdown(summarize(rows, problems), args, load)
    print(text)
    if args.report:
        with open(args.report, "w") as fh:
            fh.write(text + "\n")
    if args.json:
        with open(args.json, "w") as fh:
            for r in rows:
                fh.write(json.dumps(vars(r)) + "\n")


if __name__ == "__main__":
    main()
