"""Multi-objective samplers by hypervolume: hypersweep against Optuna and pymoo.

Problems (all on the unit cube, minimized; reference points bound what 100-200
evaluations reach): ZDT1, ZDT2, ZDT3 (2 objectives, ``d = 6``, reference (1.1, 10)),
DTLZ2 (3 objectives, ``d = 7``, reference (2.5, 2.5, 2.5)) and DTLZ7 (3 objectives,
``d = 7``, reference (1.1, 1.1, 25)). Formulas from Zitzler, Deb and Thiele (2000) and Deb,
Thiele, Laumanns and Zitzler (2002); checked against pymoo's implementations at random
points before the runs (when pymoo is installed). And one real task, ``mlp-digits``:
scikit-learn's ``MLPClassifier`` on the bundled digits data (30% held out), minimizing
the validation error and the parameter count (in thousands) over 1-2 hidden layers of
4-64 units, L2 ``alpha`` 1e-6..1e-1 and learning rate 1e-4..1e-1 (log scales, mapped
from the unit cube the same way for every sampler), reference (1, 8).

Samplers, each run for ``--evals`` evaluations per seed in this process:

* hypersweep: ``auto`` (the default: the GP's expected hypervolume improvement for 2-3
  objectives), ``tpe`` (multi-objective), ``nsga2`` (population ``--population``),
  ``random``;
* Optuna: ``GPSampler`` (multi-objective: log EHVI), ``TPESampler`` (multi-objective)
  and ``NSGAIISampler`` (same population);
* pymoo: ``NSGA2`` (same population), through its ask-and-tell interface.

Per problem and budget (each of ``--budgets``), the hypervolume of the evaluated points
(:func:`hypersweep.analysis.hypervolume`) with mean over seeds, and each sampler's mean
rank over problems within the 2- and the 3-objective groups (1 = best).

Usage::

    nice -n 10 python benchmarks/multiobjective.py --seeds 3 --problems zdt1,zdt2,zdt3 \
        --report 2obj.md --json 2obj.jsonl
    nice -n 10 python benchmarks/multiobjective.py --problems mlp-digits --seeds 2 \
        --evals 100 --budgets 50,100
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


def _mlp_digits(u: np.ndarray) -> np.ndarray:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    Xtr, Xva, ytr, yva = _digits()
    layers = 1 + int(min(u[0], 0.999) * 2)
    width = int(round(float(np.exp(np.log(4) + u[1] * (np.log(64) - np.log(4))))))
    alpha = float(10 ** (-6 + 5 * u[2]))
    lr = float(10 ** (-4 + 3 * u[3]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((width,) * layers, alpha=alpha, learning_rate_init=lr, max_iter=30)
        model.set_params(random_state=0).fit(Xtr, ytr)
    n_params = sum(c.size for c in model.coefs_) + sum(b.size for b in model.intercepts_)
    return np.array([1.0 - model.score(Xva, yva), n_params / 1000.0])


_DIGITS: list[np.ndarray] = []


def _digits() -> list[np.ndarray]:
    if not _DIGITS:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        _DIGITS.extend(train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y))
    return _DIGITS


PROBLEMS = {
    "zdt1": Problem("zdt1", 6, 2, _zdt(1), (1.1, 10.0)),
    "zdt2": Problem("zdt2", 6, 2, _zdt(2), (1.1, 10.0)),
    "zdt3": Problem("zdt3", 6, 2, _zdt(3), (1.1, 10.0)),
    "dtlz2": Problem("dtlz2", 7, 3, _dtlz2, (2.5, 2.5, 2.5)),
    "dtlz7": Problem("dtlz7", 7, 3, _dtlz7, (1.1, 1.1, 25.0)),
    "mlp-digits": Problem("mlp-digits", 4, 2, _mlp_digits, (1.0, 8.0)),
}


def _group(p: Problem) -> str:
    """The rank group of a problem: the real task apart from the test problems."""
    return "real task" if p.name.startswith("mlp") else f"{p.n_obj} objectives"


def check_against_pymoo() -> None:
    """Our problem formulas agree with pymoo's at random points (skipped without pymoo)."""
    try:
        from pymoo.problems import get_problem
    except ImportError:
        logging.warning("pymoo not installed: formulas not cross-checked")
        return
    X = np.random.default_rng(0).random((50, 7))
    for name, p in PROBLEMS.items():
        if name.startswith("mlp"):
            continue
        kw = {"n_var": p.dim} if name.startswith("zdt") else {"n_var": p.dim, "n_obj": p.n_obj}
        theirs = get_problem(name, **kw).evaluate(X[:, : p.dim])
        ours = np.array([p.f(x[: p.dim]) for x in X])
        if not np.allclose(ours, theirs, rtol=1e-9, atol=1e-9):
            raise SystemExit(f"{name}: our formula differs from pymoo's")


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
    elif kind == "gp":
        sampler = optuna.samplers.GPSampler(seed=seed)
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


def run_pymoo(p: Problem, evals: int, seed: int, population: int) -> np.ndarray:
    """pymoo's NSGA-II by ask and tell, evaluating its populations one point at a time."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.problems.static import StaticProblem

    problem = PymooProblem(n_var=p.dim, n_obj=p.n_obj, xl=0.0, xu=1.0)
    algo = NSGA2(pop_size=population)
    algo.setup(problem, termination=("n_eval", evals), seed=seed, verbose=False)
    out: list[np.ndarray] = []
    while len(out) < evals:
        pop = algo.ask()
        F = np.array([p.f(x) for x in pop.get("X")])
        out.extend(F)
        algo.evaluator.eval(StaticProblem(problem, F=F), pop)
        algo.tell(infills=pop)
    return np.array(out[:evals])


def main() -> None:
    from hypersweep.analysis import hypervolume
    from hypersweep.samplers.nsga2 import NSGA2Sampler

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--evals", type=int, default=200)
    ap.add_argument("--budgets", default="100,200")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--population", type=int, default=20)
    ap.add_argument(
        "--samplers",
        default="hs-auto,hs-tpe,hs-nsga2,hs-random,optuna-gp,optuna-tpe,optuna-nsga2,pymoo-nsga2",
    )
    ap.add_argument(
        "--run",
        help="run only these of --samplers (default: all; 'none': only report --rows); "
        "the others come from --rows",
    )
    ap.add_argument(
        "--rows",
        default="",
        help="comma-separated --json files of earlier runs to report with (this run's rows "
        "replace theirs for the same problem, sampler and seed)",
    )
    ap.add_argument("--report", help="write the markdown table here")
    ap.add_argument("--json", help="write every run here (JSON lines)")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.evals, args.budgets, args.seeds, args.problems = 30, "15,30", 1, "zdt1,dtlz2"
    budgets = [int(b) for b in args.budgets.split(",")]
    if not set(budgets) <= set(range(1, args.evals + 1)):
        raise SystemExit(f"--budgets {args.budgets}: each must be within --evals {args.evals}")
    samplers = args.samplers.split(",")
    to_run = [] if args.run == "none" else args.run.split(",") if args.run else samplers
    check_against_pymoo()
    rows: list[dict] = []
    for path in filter(None, args.rows.split(",")):
        with open(path) as fh:
            for line in fh:
                r = json.loads(line)
                r["hv"] = {int(b): v for b, v in r["hv"].items()}
                rows.append(r)
    for pname in args.problems.split(","):
        p = PROBLEMS[pname]
        for seed in range(args.seeds):
            for s in to_run:
                t0 = time.perf_counter()
                if s.startswith("hs-"):
                    name = s[3:]
                    spec: object = (
                        NSGA2Sampler(population=args.population) if name == "nsga2" else name
                    )
                    Y = run_hypersweep(p, spec, args.evals, seed)
                elif s.startswith("pymoo-"):
                    try:
                        Y = run_pymoo(p, args.evals, seed, args.population)
                    except ImportError:
                        logging.warning("pymoo not installed: %s skipped", s)
                        continue
                else:
                    try:
                        Y = run_optuna(p, s[7:], args.evals, seed, args.population)
                    except ImportError:
                        logging.warning("optuna not installed: %s skipped", s)
                        continue
                secs = time.perf_counter() - t0
                hv = {b: hypervolume(Y[:b], p.ref) for b in budgets}
                rows = [
                    r for r in rows if (r["problem"], r["sampler"], r["seed"]) != (pname, s, seed)
                ]
                rows.append(
                    {"problem": pname, "sampler": s, "seed": seed, "seconds": secs, "hv": hv}
                )
    load = os.getloadavg()[0]
    lines = [
        f"Hypervolume (mean over {args.seeds} seeds), population {args.population}; load "
        f"average {load:.1f} on {os.cpu_count()} cores; 'seconds' is the mean wall time of "
        f"a run of {args.evals} evaluations, objective included.",
        "",
        "| problem | budget | " + " | ".join(samplers) + " |",
        "|---|---|" + "---|" * len(samplers),
    ]
    ranks: dict[tuple[str, int, str], list[float]] = {}
    for pname in args.problems.split(","):
        for b in budgets:
            means = []
            for s in samplers:
                v = [r["hv"][b] for r in rows if r["problem"] == pname and r["sampler"] == s]
                means.append(float(np.mean(v)) if v else float("nan"))
            order = (-np.array(means)).argsort().argsort() + 1
            for s, rk in zip(samplers, order):
                ranks.setdefault((_group(PROBLEMS[pname]), b, s), []).append(float(rk))
            lines.append(f"| {pname} | {b} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
        secs = [
            np.mean([r["seconds"] for r in rows if r["problem"] == pname and r["sampler"] == s])
            if any(r["problem"] == pname and r["sampler"] == s for r in rows)
            else float("nan")
            for s in samplers
        ]
        lines.append(f"| {pname} | seconds | " + " | ".join(f"{v:.1f}" for v in secs) + " |")
    lines += [
        "",
        "| group | budget | " + " | ".join(samplers) + " |",
        "|---|---|" + "---|" * len(samplers),
    ]
    for g in sorted({k[0] for k in ranks}):
        for b in budgets:
            lines.append(
                f"| {g} | {b} | "
                + " | ".join(f"{np.mean(ranks[(g, b, s)]):.1f}" for s in samplers)
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
