"""Storage overhead: hypersweep vs Optuna, side by side in one run.

Measures, with the random sampler on a 3-parameter space:

1. time per ask+tell at trials 1-100 and 1,901-2,000 of one study, on memory, SQLite and
   PostgreSQL (the objective costs nothing, so this is pure library + storage overhead);
2. throughput of 8 processes sharing one study on SQLite and on PostgreSQL (trials/s), with
   every error counted;
3. ``--report``: the cost of one intermediate report with the median policy (hypersweep
   ``study.report``; Optuna ``trial.report`` + ``trial.should_prune`` with its
   ``MedianPruner``) once earlier trials have reported, on memory and SQLite; and
   Optuna's pruning example (optuna-examples ``simple_pruning.py``: ``SGDClassifier``
   on iris, 100 partial fits per trial, median pruning, TPE, 100 trials) run by both.

Optuna runs the same workload (RandomSampler, same database server, fresh database per
case) in the same run, and the script prints ratios. Absolute times on a shared machine are
noise; the ratios are the result.

Usage::

    python benchmarks/overhead.py                     # everything
    python benchmarks/overhead.py --trials 2000 --procs 8 --per-proc 100
    python benchmarks/overhead.py --skip-postgres     # no server at hand
    python benchmarks/overhead.py --report-only       # only the report cases (3.)

PostgreSQL: ``--pg-url`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) must
allow ``CREATE DATABASE``; the script creates and drops ``hs_bench_*`` databases.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _space_hs() -> dict[str, Any]:
    import hypersweep as hs

    return {
        "x": hs.Float(-5, 5),
        "y": hs.Float(1e-4, 1, log=True),
        "c": hs.Choice(["a", "b", "c"]),
    }


def _objective(x: float, y: float, c: str) -> float:
    return x * x + y + (0.1 if c == "a" else 0.0)


# --------------------------------------------------------------------------------------
# sequential ask+tell
# --------------------------------------------------------------------------------------
def hs_sequential(url: str, n: int) -> list[float]:
    import hypersweep as hs

    study = hs.Study(
        f"seq-{uuid.uuid4().hex[:8]}", space=_space_hs(), storage=url, sampler="random", seed=0
    )
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        t = study.ask()
        study.tell(t, _objective(**t.params))
        times.append(time.perf_counter() - t0)
    return times


def optuna_sequential(url: str | None, n: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=url,
        sampler=optuna.samplers.RandomSampler(seed=0),
        study_name=f"seq-{uuid.uuid4().hex[:8]}",
    )
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        t = study.ask()
        x = t.suggest_float("x", -5, 5)
        y = t.suggest_float("y", 1e-4, 1, log=True)
        c = t.suggest_categorical("c", ["a", "b", "c"])
        study.tell(t, _objective(x, y, c))
        times.append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------------------
# 8 processes
# --------------------------------------------------------------------------------------
def _hs_proc(url: str, name: str, n: int, start: Any, out: Any) -> None:
    import hypersweep as hs

    errors = []
    study = hs.Study(name, space=_space_hs(), storage=url, sampler="random")
    start.wait()
    t0 = time.perf_counter()
    done = 0
    for _ in range(n):
        try:
            t = study.ask()
            study.tell(t, _objective(**t.params))
            done += 1
        except Exception as e:
            errors.append(repr(e)[:200])
    out.put((t0, time.perf_counter(), done, errors))


def _optuna_proc(url: str, name: str, n: int, start: Any, out: Any) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    errors = []
    study = None
    for _ in range(20):  # concurrent load_study on a fresh database can race; retry
        try:
            study = optuna.load_study(
                study_name=name, storage=url, sampler=optuna.samplers.RandomSampler()
            )
            break
        except Exception as e:
            errors.append(repr(e)[:200])
            time.sleep(0.1)
    start.wait()
    t0 = time.perf_counter()
    done = 0
    for _ in range(n):
        try:
            t = study.ask()  # type: ignore[union-attr]
            x = t.suggest_float("x", -5, 5)
            y = t.suggest_float("y", 1e-4, 1, log=True)
            c = t.suggest_categorical("c", ["a", "b", "c"])
            study.tell(t, _objective(x, y, c))  # type: ignore[union-attr]
            done += 1
        except Exception as e:
            errors.append(repr(e)[:200])
    out.put((t0, time.perf_counter(), done, errors))


def parallel(kind: str, url: str, procs: int, per_proc: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    name = f"par-{uuid.uuid4().hex[:8]}"
    if kind == "optuna":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        optuna.create_study(study_name=name, storage=url)
        target: Callable[..., None] = _optuna_proc
    else:
        import hypersweep as hs

        hs.Study(name, space=_space_hs(), storage=url)
        target = _hs_proc
    start = ctx.Event()
    out = ctx.Queue()
    ps = [ctx.Process(target=target, args=(url, name, per_proc, start, out)) for _ in range(procs)]
    for p in ps:
        p.start()
    time.sleep(3.0)  # let every process import and connect before the clock starts
    start.set()
    res = [out.get(timeout=1800) for _ in ps]
    for p in ps:
        p.join(60)
    t0 = min(r[0] for r in res)
    t1 = max(r[1] for r in res)
    done = sum(r[2] for r in res)
    errors = [e for r in res for e in r[3]]
    failed = 0
    if kind == "optuna":
        import optuna

        s = optuna.load_study(study_name=name, storage=url)
        failed = sum(t.state != optuna.trial.TrialState.COMPLETE for t in s.trials)
    else:
        import hypersweep as hs

        failed = sum(
            t.state != hs.TrialState.COMPLETED for t in hs.Study.load(name, storage=url).trials()
        )
    return {"rate": done / (t1 - t0), "done": done, "errors": errors, "failed": failed}


# --------------------------------------------------------------------------------------
# reports with the median policy; Optuna's pruning example
# --------------------------------------------------------------------------------------
def hs_reports(url: str, prior: int, steps: int) -> list[float]:
    """Seconds per ``study.report`` of one trial after ``prior`` trials reported
    ``steps`` steps each (median policy: every report is judged)."""
    import hypersweep as hs

    study = hs.Study(
        f"rep-{uuid.uuid4().hex[:8]}",
        space=_space_hs(),
        storage=url,
        sampler="random",
        policy={"policy": "median"},
        seed=0,
    )
    for i in range(prior):
        t = study.ask()
        for s in range(steps):
            study.report(t, step=s, value=float(i + s))
        study.tell(t, float(i))
    t = study.ask()
    times = []
    for s in range(steps):
        t0 = time.perf_counter()
        study.report(t, step=s, value=0.5 * s)
        times.append(time.perf_counter() - t0)
    return times


def optuna_reports(url: str | None, prior: int, steps: int) -> list[float]:
    """Seconds per ``trial.report`` + ``trial.should_prune`` (MedianPruner), as above."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=url,
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1),
        study_name=f"rep-{uuid.uuid4().hex[:8]}",
    )
    for i in range(prior):
        t = study.ask()
        t.suggest_float("x", -5, 5)
        for s in range(steps):
            t.report(float(i + s), s)
        study.tell(t, float(i))
    t = study.ask()
    t.suggest_float("x", -5, 5)
    times = []
    for s in range(steps):
        t0 = time.perf_counter()
        t.report(0.5 * s, s)
        t.should_prune()
        times.append(time.perf_counter() - t0)
    return times


def _iris() -> tuple[Any, ...]:
    import sklearn.datasets
    import sklearn.model_selection

    iris = sklearn.datasets.load_iris()
    split = sklearn.model_selection.train_test_split(
        iris.data, iris.target, test_size=0.25, random_state=0
    )
    return (*split, sorted(set(iris.target)))


def pruning_hypersweep(url: str, trials: int, seed: int | None = None) -> tuple[float, list[int]]:
    """optuna-examples simple_pruning.py ported to hypersweep; seconds for the run and
    the number of steps each trial ran."""
    import sklearn.linear_model

    import hypersweep as hs

    train_x, valid_x, train_y, valid_y, classes = _iris()

    ran: list[int] = []

    def objective(params: dict[str, Any], trial: Any) -> float:
        clf = sklearn.linear_model.SGDClassifier(alpha=params["alpha"])
        ran.append(0)
        for step in range(100):
            ran[-1] += 1
            clf.partial_fit(train_x, train_y, classes=classes)
            trial.report(step=step, error=1.0 - clf.score(valid_x, valid_y))
        return 1.0 - clf.score(valid_x, valid_y)

    t0 = time.perf_counter()
    study = hs.Study(
        f"prune-{uuid.uuid4().hex[:8]}",
        space={"alpha": hs.Float(1e-5, 1e-1, log=True)},
        objective="error",
        storage=url,
        sampler="tpe",
        seed=seed,
        # Optuna's MedianPruner rule (completed trials' values at the step, 5 startup
        # trials), so that both runs stop the same kind of trials
        policy={"policy": "median", "compare": "value", "min_trials": 5},
    )
    study.optimize(objective, max_trials=trials)
    return time.perf_counter() - t0, ran


def pruning_optuna(
    url: str | None, trials: int, seed: int | None = None
) -> tuple[float, list[int]]:
    """optuna-examples simple_pruning.py as published; seconds and steps per trial."""
    import optuna
    import sklearn.linear_model

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train_x, valid_x, train_y, valid_y, classes = _iris()

    ran: list[int] = []

    def objective(trial: Any) -> float:
        alpha = trial.suggest_float("alpha", 1e-5, 1e-1, log=True)
        clf = sklearn.linear_model.SGDClassifier(alpha=alpha)
        ran.append(0)
        for step in range(100):
            ran[-1] += 1
            clf.partial_fit(train_x, train_y, classes=classes)
            trial.report(1.0 - clf.score(valid_x, valid_y), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 1.0 - clf.score(valid_x, valid_y)

    t0 = time.perf_counter()
    study = optuna.create_study(
        storage=url,
        study_name=f"prune-{uuid.uuid4().hex[:8]}",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(),
    )
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - t0, ran


def report_cases(
    tmp: Path, prior: int, steps: int, trials: int, seeds: int, storages: Sequence[str]
) -> None:
    print(
        f"\n## one report with the median policy after {prior} trials of {steps} steps "
        "(median ms; optuna: report + should_prune)\n"
    )
    print("| storage | hypersweep | optuna | hypersweep / optuna |")
    print("|---|---|---|---|")
    for name in ("memory", "sqlite"):
        tag = uuid.uuid4().hex[:6]
        h_url = "memory" if name == "memory" else f"sqlite:///{tmp}/hs_rep_{tag}.db"
        o_url = None if name == "memory" else f"sqlite:///{tmp}/optuna_rep_{tag}.db"
        h, o = _ms(hs_reports(h_url, prior, steps)), _ms(optuna_reports(o_url, prior, steps))
        print(f"| {name} | {h:.2f} | {o:.2f} | {h / o:.2f} |", flush=True)
    print(
        f"\n## Optuna's pruning example (simple_pruning.py), {trials} trials, sampler seeds "
        f"0-{seeds - 1} (seconds: mean over the seeds, min-max)\n"
    )
    print(
        "| storage | hypersweep | optuna | hypersweep / optuna | mean steps run (stopped "
        "trials) | ms per step run | per-step ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in storages:
        runs: dict[str, list[tuple[float, list[int]]]] = {"hs": [], "optuna": []}
        for seed in range(seeds):
            tag = uuid.uuid4().hex[:6]
            h_url = "memory" if name == "memory" else f"sqlite:///{tmp}/hs_prune_{tag}.db"
            o_url = None if name == "memory" else f"sqlite:///{tmp}/optuna_prune_{tag}.db"
            runs["hs"].append(pruning_hypersweep(h_url, trials, seed))
            runs["optuna"].append(pruning_optuna(o_url, trials, seed))
        summary = {}
        for key, rs in runs.items():
            walls = [w for w, _ in rs]
            steps = [sum(r) for _, r in rs]
            summary[key] = {
                "mean": statistics.mean(walls),
                "lo": min(walls),
                "hi": max(walls),
                "steps": statistics.mean(steps),
                "stopped": statistics.mean(sum(x < 100 for x in r) for _, r in rs),
                "per_step": 1000 * sum(walls) / sum(steps),
            }
        h, o = summary["hs"], summary["optuna"]
        print(
            f"| {name} | {h['mean']:.1f} ({h['lo']:.1f}-{h['hi']:.1f}) | "
            f"{o['mean']:.1f} ({o['lo']:.1f}-{o['hi']:.1f}) | {h['mean'] / o['mean']:.2f} | "
            f"{h['steps']:.0f} ({h['stopped']:.0f}) / {o['steps']:.0f} ({o['stopped']:.0f}) | "
            f"{h['per_step']:.2f} / {o['per_step']:.2f} | {h['per_step'] / o['per_step']:.2f} |",
            flush=True,
        )


# --------------------------------------------------------------------------------------
def _pg_database(base: str) -> tuple[str, Callable[[], None]]:
    import sqlalchemy as sa

    dbname = f"hs_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{dbname}"')
    url = base.rsplit("/", 1)[0] + "/" + dbname

    def drop() -> None:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.dispose()

    return url, drop


def _ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--per-proc", type=int, default=100)
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--skip-parallel", action="store_true")
    ap.add_argument("--report", action="store_true", help="also run the report cases")
    ap.add_argument("--report-only", action="store_true", help="only the report cases")
    ap.add_argument("--report-prior", type=int, default=30, help="trials before the timed one")
    ap.add_argument("--report-steps", type=int, default=50, help="reports per trial")
    ap.add_argument("--pruning-trials", type=int, default=100)
    ap.add_argument("--pruning-seeds", type=int, default=5, help="runs of the pruning example")
    ap.add_argument(
        "--pruning-storages", default="memory,sqlite", help="storages of the pruning example"
    )
    args = ap.parse_args()
    n = args.trials
    lo, hi = (0, min(100, n)), (max(0, n - 100), n)
    tmp = Path(tempfile.mkdtemp(prefix="hs_bench_"))

    def reports() -> None:
        report_cases(
            tmp,
            args.report_prior,
            args.report_steps,
            args.pruning_trials,
            args.pruning_seeds,
            args.pruning_storages.split(","),
        )

    if args.report_only:
        reports()
        return

    backends: list[tuple[str, Callable[[], tuple[str | None, str, Callable[[], None]]]]] = [
        ("memory", lambda: (None, "memory", lambda: None)),
    ]

    def sqlite_pair() -> tuple[str | None, str, Callable[[], None]]:
        tag = uuid.uuid4().hex[:6]
        return (f"sqlite:///{tmp}/optuna_{tag}.db", f"sqlite:///{tmp}/hs_{tag}.db", lambda: None)

    backends.append(("sqlite", sqlite_pair))
    if not args.skip_postgres:

        def pg_pair() -> tuple[str | None, str, Callable[[], None]]:
            u1, d1 = _pg_database(args.pg_url)
            u2, d2 = _pg_database(args.pg_url)
            return (
                u1.replace("postgresql://", "postgresql+psycopg://", 1),
                u2,
                lambda: (d1(), d2()),
            )

        backends.append(("postgresql", pg_pair))

    print(
        f"## ask+tell per trial (random sampler, median ms), trials {lo[0] + 1}-{lo[1]} "
        f"and {hi[0] + 1}-{hi[1]}\n"
    )
    print(
        "| storage | hypersweep 1-100 | optuna 1-100 | ratio | hypersweep late | "
        "optuna late | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, make in backends:
        o_url, h_url, cleanup = make()
        try:
            h = hs_sequential(h_url, n)
            o = optuna_sequential(o_url, n)
        finally:
            cleanup()
        h1, o1 = _ms(h[lo[0] : lo[1]]), _ms(o[lo[0] : lo[1]])
        h2, o2 = _ms(h[hi[0] : hi[1]]), _ms(o[hi[0] : hi[1]])
        print(
            f"| {name} | {h1:.2f} | {o1:.2f} | {o1 / h1:.1f}x | {h2:.2f} | {o2:.2f} | "
            f"{o2 / h2:.1f}x |",
            flush=True,
        )

    if args.report:
        reports()
    if args.skip_parallel:
        return
    print(f"\n## {args.procs} processes x {args.per_proc} trials on one study (trials/s)\n")
    print(
        "| storage | hypersweep | optuna | ratio | hypersweep errors/failed | "
        "optuna errors/failed |"
    )
    print("|---|---|---|---|---|---|")
    for name, make in backends[1:]:
        o_url, h_url, cleanup = make()
        try:
            rh = parallel("hypersweep", h_url, args.procs, args.per_proc)
            ro = parallel("optuna", o_url or "", args.procs, args.per_proc)
        finally:
            cleanup()
        print(
            f"| {name} | {rh['rate']:.1f} | {ro['rate']:.1f} | "
            f"{rh['rate'] / ro['rate']:.1f}x | {len(rh['errors'])}/{rh['failed']} | "
            f"{len(ro['errors'])}/{ro['failed']} |",
            flush=True,
        )
        for e in (rh["errors"] + ro["errors"])[:5]:
            print(f"  error: {e}")


if __name__ == "__main__":
    main()
