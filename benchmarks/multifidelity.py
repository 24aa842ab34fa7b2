"""Early stopping on real learning curves: hypersweep's policies against Optuna's pruners.

Every trial really trains a scikit-learn model epoch by epoch (``partial_fit``) and
reports its validation accuracy after each epoch; epochs are the resource (at most
``--epochs``). Nothing is cached across configurations: every method, seed and trial
trains from scratch.

Tasks (bundled data only, fixed train/validation splits, standard scaling fit on train):

* ``digits-mlp``: ``MLPClassifier`` (one hidden layer, Adam) on ``load_digits``;
  ``lr`` (log), ``hidden`` (int, log), ``alpha`` (log), ``batch_size`` (choice).
* ``digits-sgd``: ``SGDClassifier`` (a linear model, ``invscaling`` step sizes) on
  ``load_digits`` with another split; ``eta0`` (log), ``alpha`` (log), ``loss`` (choice),
  ``penalty`` (choice).

Methods, each run with the same trial budget per seed:

* hypersweep (``Study.optimize``, function trials in this process): early-stopping
  policies ``none``, ``median``, ``bandit``, ``truncation``, ``asha``, ``hyperband`` with
  the ``tpe`` sampler (``random`` where TPE is not registered), and ``bohb`` when
  ``bohb`` is registered (skipped with a message otherwise);
* Optuna: ``TPESampler`` + ``MedianPruner`` and ``TPESampler`` + ``HyperbandPruner``, with a
  report per epoch.

Per run: total epochs trained, wall time, the best validation accuracy (a trial's value
is its accuracy at its last trained epoch, for stopped/pruned trials too), and the
epochs needed to reach within 0.5 percentage points of the best accuracy that the
``none`` run of the same seed found: the cumulative epoch count when the run's first
trial with a value at that level finished. The table shows medians over seeds.

Usage::

    nice -n 10 python benchmarks/multifidelity.py --report docs/benchmarks-multifidelity.md
    python benchmarks/multifidelity.py --smoke     # a tiny run that checks the plumbing
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core per run: no thread oversubscription

import argparse  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

#: Within this many accuracy points of the ``none`` run's best counts as "reached".
TOLERANCE = 0.005
METRIC = "val_accuracy"

#: hypersweep's early-stopping settings: each policy's defaults, plus what it requires.
#: ``{max}`` is replaced by ``--epochs``.
POLICIES: dict[str, dict[str, Any] | None] = {
    "none": None,
    "median": {"policy": "median"},
    "bandit": {"policy": "bandit", "slack_factor": 0.1},
    "truncation": {"policy": "truncation", "percentage": 20},
    "asha": {"policy": "asha", "max_resource": "{max}"},
    "hyperband": {"policy": "hyperband", "max_resource": "{max}"},
    "bohb": {"policy": "hyperband", "max_resource": "{max}"},
}
OPTUNA = ("optuna-median", "optuna-hyperband")


# ======================================================================================
# Tasks
# ======================================================================================
@dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: np.ndarray


def _digits(split_seed: int) -> Data:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    xt, xv, yt, yv = train_test_split(x, y, test_size=0.3, random_state=split_seed, stratify=y)
    scaler = StandardScaler().fit(xt)
    return Data(scaler.transform(xt), yt, scaler.transform(xv), yv, np.unique(y))


@dataclass(frozen=True)
class Task:
    """A learning-curve task: its data, its space (both libraries) and its model."""

    name: str
    data: Callable[[], Data]
    space: Callable[[], dict[str, Any]]  # hypersweep parameters
    suggest: Callable[[Any], dict[str, Any]]  # the same space through an Optuna trial
    model: Callable[[dict[str, Any], int], Any]  # (params, seed) -> an untrained model


def _mlp_space() -> dict[str, Any]:
    import hypersweep as hs

    return {
        "lr": hs.Float(1e-4, 0.3, log=True),
        "hidden": hs.Int(16, 128, log=True),
        "alpha": hs.Float(1e-6, 1e-1, log=True),
        "batch_size": hs.Choice([32, 64, 128, 256]),
    }


def _mlp_suggest(trial: Any) -> dict[str, Any]:
    return {
        "lr": trial.suggest_float("lr", 1e-4, 0.3, log=True),
        "hidden": trial.suggest_int("hidden", 16, 128, log=True),
        "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
    }


def _mlp_model(p: dict[str, Any], seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(int(p["hidden"]),),
        solver="adam",
        learning_rate_init=p["lr"],
        alpha=p["alpha"],
        batch_size=int(p["batch_size"]),
        random_state=seed,
    )


def _sgd_space() -> dict[str, Any]:
    import hypersweep as hs

    return {
        "eta0": hs.Float(1e-5, 1.0, log=True),
        "alpha": hs.Float(1e-7, 1e-1, log=True),
        "loss": hs.Choice(["hinge", "log_loss", "modified_huber"]),
        "penalty": hs.Choice(["l2", "l1", "elasticnet"]),
    }


def _sgd_suggest(trial: Any) -> dict[str, Any]:
    return {
        "eta0": trial.suggest_float("eta0", 1e-5, 1.0, log=True),
        "alpha": trial.suggest_float("alpha", 1e-7, 1e-1, log=True),
        "loss": trial.suggest_categorical("loss", ["hinge", "log_loss", "modified_huber"]),
        "penalty": trial.suggest_categorical("penalty", ["l2", "l1", "elasticnet"]),
    }


def _sgd_model(p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(
        loss=p["loss"],
        penalty=p["penalty"],
        alpha=p["alpha"],
        learning_rate="invscaling",
        eta0=p["eta0"],
        power_t=0.5,
        random_state=seed,
    )


TASKS = {
    "digits-mlp": Task("digits-mlp", lambda: _digits(0), _mlp_space, _mlp_suggest, _mlp_model),
    "digits-sgd": Task("digits-sgd", lambda: _digits(1), _sgd_space, _sgd_suggest, _sgd_model),
}


# ======================================================================================
# One run: a method on a task with a seed
# ======================================================================================
@dataclass
class Run:
    """What one run measured."""

    task: str
    method: str
    seed: int
    sampler: str
    trials: int = 0
    epochs: int = 0
    wall: float = 0.0
    best: float = -math.inf
    #: (cumulative epochs when a trial finished, that trial's value), in finishing order
    finished: list[tuple[int, float]] = field(default_factory=list)
    note: str = ""

    def epochs_to(self, level: float) -> float:
        """Cumulative epochs when the first trial with a value >= ``level`` finished."""
        return next((float(e) for e, v in self.finished if v >= level - 1e-12), math.inf)


class _Trainer:
    """Trains one configuration epoch by epoch and counts every epoch it trains."""

    def __init__(self, task: Task, seed: int, max_epochs: int) -> None:
        self.task = task
        self.data = task.data()
        self.seed = seed
        self.max_epochs = max_epochs
        self.epochs = 0

    def curve(self, params: dict[str, Any]) -> Any:
        """Yield (epoch, validation accuracy) after each epoch."""
        d = self.data
        model = self.task.model(params, self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # divergent configurations warn; they are data
            for epoch in range(1, self.max_epochs + 1):
                model.partial_fit(d.x_train, d.y_train, classes=d.classes)
                self.epochs += 1
                acc = float(model.score(d.x_val, d.y_val))
                yield epoch, acc if math.isfinite(acc) else 0.0


def _hypersweep_sampler(seed: int) -> tuple[dict[str, Any], str]:
    from hypersweep.samplers import REGISTRY

    name = "tpe" if "tpe" in REGISTRY else "random"
    return {"name": name, "seed": seed}, name


def run_hypersweep(task: Task, method: str, seed: int, n_trials: int, max_epochs: int) -> Run:
    import hypersweep as hs
    from hypersweep.samplers import REGISTRY, sampler_class

    policy = POLICIES[method]
    if policy is not None:
        policy = {k: (max_epochs if v == "{max}" else v) for k, v in policy.items()}
    if method == "bohb":
        import inspect

        opts = inspect.signature(sampler_class("bohb").__init__).parameters
        sampler: dict[str, Any] = {"name": "bohb", "seed": seed}
        if "max_resource" in opts:
            sampler["max_resource"] = max_epochs
        name = "bohb"
    else:
        sampler, name = _hypersweep_sampler(seed)
    assert name in REGISTRY
    trainer = _Trainer(task, seed, max_epochs)
    run = Run(task.name, method, seed, name)

    def objective(params: dict[str, Any], trial: Any) -> float:
        acc = 0.0
        for epoch, acc in trainer.curve(params):
            trial.report(step=epoch, **{METRIC: acc})  # raises TrialStopped when stopped
        return acc

    def finished(study: Any, trial: Any) -> None:
        if trial.values is not None:
            run.finished.append((trainer.epochs, float(trial.value)))

    study = hs.Study(
        f"{task.name}-{method}-{seed}",
        space=task.space(),
        objective={"metric": METRIC, "goal": "maximize"},
        sampler=sampler,
        policy=policy,
        storage="memory",
        seed=seed,
    )
    t0 = time.perf_counter()
    study.optimize(objective, max_trials=n_trials, callbacks=[finished], isolation="inline")
    run.wall = time.perf_counter() - t0
    run.trials = len(study.trials())
    run.epochs = trainer.epochs
    run.best = max((v for _, v in run.finished), default=-math.inf)
    return run


def run_optuna(task: Task, method: str, seed: int, n_trials: int, max_epochs: int) -> Run:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if method == "optuna-median":
        pruner: Any = optuna.pruners.MedianPruner()
    else:
        pruner = optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max_epochs, reduction_factor=3
        )
    trainer = _Trainer(task, seed, max_epochs)
    run = Run(task.name, method, seed, "optuna-tpe")

    def objective(trial: Any) -> float:
        acc = 0.0
        for epoch, acc in trainer.curve(task.suggest(trial)):
            trial.report(acc, epoch)
            if trial.should_prune():
                run.finished.append((trainer.epochs, acc))  # its value: the last accuracy
                raise optuna.TrialPruned()
        run.finished.append((trainer.epochs, acc))
        return acc

    # a fixed study name: HyperbandPruner assigns brackets by a hash of it (reproducible)
    study = optuna.create_study(
        study_name=f"{task.name}-{method}-{seed}",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner,
    )
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    run.wall = time.perf_counter() - t0
    run.trials = len(study.trials)
    run.epochs = trainer.epochs
    run.best = max((v for _, v in run.finished), default=-math.inf)
    return run


def run_one(args: tuple[str, str, int, int, int]) -> Run:
    task_name, method, seed, n_trials, max_epochs = args
    task = TASKS[task_name]
    logging.getLogger("hypersweep").setLevel(logging.WARNING)
    try:
        if method in OPTUNA:
            return run_optuna(task, method, seed, n_trials, max_epochs)
        return run_hypersweep(task, method, seed, n_trials, max_epochs)
    except Exception as e:  # one broken method must not lose the other rows
        return Run(task_name, method, seed, "?", note=f"failed: {type(e).__name__}: {e}")


# ======================================================================================
# Summary
# ======================================================================================
def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else math.nan


def _fmt_epochs(x: float) -> str:
    return "not reached" if math.isinf(x) else f"{x:,.0f}"


@dataclass
class Row:
    method: str
    sampler: str
    epochs: float
    ratio: float
    wall: float
    best: float
    delta: float
    to_target: float
    reached: int
    seeds: int


def summarize(runs: list[Run], task: str, methods: list[str]) -> list[Row]:
    base = {r.seed: r for r in runs if r.task == task and r.method == "none" and not r.note}
    rows = []
    for m in methods:
        rs = [
            r for r in runs if r.task == task and r.method == m and r.seed in base and not r.note
        ]
        if not rs:
            continue
        levels = {r.seed: base[r.seed].best - TOLERANCE for r in rs}
        to = [r.epochs_to(levels[r.seed]) for r in rs]
        rows.append(
            Row(
                method=m,
                sampler=rs[0].sampler,
                epochs=_median([r.epochs for r in rs]),
                ratio=_median([r.epochs / base[r.seed].epochs for r in rs]),
                wall=_median([r.wall for r in rs]),
                best=_median([r.best for r in rs]),
                delta=_median([r.best - base[r.seed].best for r in rs]),
                to_target=_median(to),
                reached=sum(not math.isinf(t) for t in to),
                seeds=len(rs),
            )
        )
    return rows


def table(rows: list[Row]) -> str:
    out = [
        "| method | sampler | epochs | vs none | wall s | best acc | Δ best vs none "
        "| epochs to within 0.5 pt | reached |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r.method} | {r.sampler} | {r.epochs:,.0f} | {r.ratio:.0%} | "
            f"{r.wall:.1f} | {r.best:.4f} | {r.delta:+.4f} | "
            f"{_fmt_epochs(r.to_target)} | {r.reached}/{r.seeds} |"
        )
    return "\n".join(out)


def targets(rows: list[Row]) -> list[str]:
    """The issue's "Done when" checks on one task's rows, one line each."""
    by = {r.method: r for r in rows}
    lines = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    for m in ("asha", "bohb"):
        r = by.get(m)
        if r is None:
            lines.append(f"- {m}: not run")
            continue
        ok = r.delta >= -TOLERANCE and r.ratio <= 0.35
        lines.append(
            f"- {verdict(ok)} {m}: best within 0.5 pt of none ({r.delta:+.4f}) with "
            f"at most 35% of its epochs ({r.ratio:.0%})"
        )
    ours = [r for r in rows if r.method not in OPTUNA and r.method != "none"]
    hb = by.get("optuna-hyperband")
    if ours and hb is not None:
        best = min(ours, key=lambda r: (r.to_target, r.epochs))
        ok = best.to_target < hb.to_target
        lines.append(
            f"- {verdict(ok)} hypersweep's best policy ({best.method}) reaches the "
            f"level in {_fmt_epochs(best.to_target)} epochs vs Optuna TPE + "
            f"HyperbandPruner {_fmt_epochs(hb.to_target)}"
        )
    r = by.get("median")
    if r is not None:
        ok = r.ratio <= 0.75 and r.delta >= -TOLERANCE
        lines.append(
            f"- {verdict(ok)} median saves at least 25% of epochs ({1 - r.ratio:.0%} "
            f"saved) with no loss beyond 0.5 pt ({r.delta:+.4f})"
        )
    return lines


# ======================================================================================
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument(
        "--methods",
        nargs="+",
        default=None,
        choices=[*POLICIES, *OPTUNA],
        help="default: every policy (bohb when registered) and both Optuna rows",
    )
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=60, help="trials per run")
    ap.add_argument("--epochs", type=int, default=50, help="most epochs per trial")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    ap.add_argument("--report", type=Path, default=None, help="also write the tables here")
    ap.add_argument("--smoke", action="store_true", help="2 seeds, 8 trials, 6 epochs")
    args = ap.parse_args(argv)
    if args.smoke:
        args.seeds, args.trials, args.epochs = 2, 8, 6

    from hypersweep.samplers import REGISTRY

    methods = args.methods or [*POLICIES, *OPTUNA]
    notes = []
    if "bohb" in methods and "bohb" not in REGISTRY:
        methods.remove("bohb")
        notes.append("bohb: skipped, no `bohb` sampler in hypersweep.samplers.REGISTRY yet")
        print(notes[-1], flush=True)
    if "none" not in methods:
        methods.insert(0, "none")  # the reference of every comparison
    jobs = [
        (t, m, s, args.trials, args.epochs)
        for s in range(args.seeds)
        for t in args.tasks
        for m in methods
    ]
    t0 = time.perf_counter()
    runs: list[Run] = []
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            for r in pool.imap_unordered(run_one, jobs):
                runs.append(r)
                _progress(r, len(runs), len(jobs), t0)
    else:
        for j in jobs:
            r = run_one(j)
            runs.append(r)
            _progress(r, len(runs), len(jobs), t0)
    total = time.perf_counter() - t0
    notes += [f"{r.task} {r.method} seed {r.seed}: {r.note}" for r in runs if r.note]

    import optuna
    import sklearn

    sampler = _hypersweep_sampler(0)[1]
    head = [
        "# Multi-fidelity benchmark (real learning curves)",
        "",
        f"`python benchmarks/multifidelity.py --seeds {args.seeds} --trials {args.trials} "
        f"--epochs {args.epochs} --jobs {args.jobs}`: {args.trials} trials per run, at most "
        f"{args.epochs} epochs per trial, {args.seeds} seeds, medians over seeds; hypersweep "
        f"sampler `{sampler}`, Optuna {optuna.__version__} `TPESampler`; scikit-learn "
        f"{sklearn.__version__}, Python {platform.python_version()}, {total / 60:.1f} min "
        f"in all. Policy settings: "
        + ", ".join(
            f"{m} `{_policy_text(POLICIES[m], args.epochs)}`"
            for m in methods
            if m in POLICIES and m != "none"
        )
        + "; Optuna `MedianPruner()` and "
        f"`HyperbandPruner(min_resource=1, max_resource={args.epochs}, reduction_factor=3)`.",
        "",
        '"epochs to within 0.5 pt": cumulative epochs when the run\'s first trial whose '
        'value is within 0.005 of the `none` run\'s best (same seed) finished; "reached": '
        "seeds where that happened. Wall time on a shared machine is noise; epochs are exact.",
    ]
    head += [f"\n{n}" for n in notes]
    parts = ["\n".join(head)]
    for task in args.tasks:
        rows = summarize(runs, task, methods)
        parts.append(
            f'## {task}\n\n{table(rows)}\n\nTargets (issue 5, "Done when"):\n\n'
            + "\n".join(targets(rows))
        )
    text = "\n\n".join(parts) + "\n"
    print("\n" + text)
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text, encoding="utf-8")
        print(f"written to {args.report}")
    return 0


def _policy_text(policy: dict[str, Any] | None, max_epochs: int) -> str:
    if policy is None:
        return "none"
    opts = {k: (max_epochs if v == "{max}" else v) for k, v in policy.items()}
    return "{" + ", ".join(f"{k}: {v}" for k, v in opts.items()) + "}"


def _progress(r: Run, done: int, total: int, t0: float) -> None:
    if r.note:
        print(
            f"[{done}/{total}] {r.task} {r.method} seed {r.seed}: {r.note}",
            file=sys.stderr,
            flush=True,
        )
        return
    print(
        f"[{done}/{total} {time.perf_counter() - t0:6.0f}s] {r.task} {r.method} seed {r.seed}: "
        f"{r.trials} trials, {r.epochs} epochs, best {r.best:.4f}, {r.wall:.1f}s",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
