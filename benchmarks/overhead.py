"""Storage overhead: hypersweep vs Optuna, side by side in one run.

Measures, with the random sampler on a 3-parameter space:

1. time per ask+tell at trials 1-100 and 1,901-2,000 of one study, on memory, SQLite and
   PostgreSQL (the objective costs nothing, so this is pure library + storage overhead);
2. throughput of 8 processes sharing one study on SQLite and on PostgreSQL (trials/s), with
   every error counted.

Optuna runs the same workload (RandomSampler, same database server, fresh database per
case) in the same run, and the script prints ratios. Absolute times on a shared machine are
noise; the ratios are the result.

Usage::

    python benchmarks/overhead.py                     # everything
    python benchmarks/overhead.py --trials 2000 --procs 8 --per-proc 100
    python benchmarks/overhead.py --skip-postgres     # no server at hand

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
from collections.abc import Callable
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
    args = ap.parse_args()
    n = args.trials
    lo, hi = (0, min(100, n)), (max(0, n - 100), n)
    tmp = Path(tempfile.mkdtemp(prefix="hs_bench_"))

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
