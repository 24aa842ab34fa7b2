"""Large studies: what a *fresh process* pays to read or join a study of 1k-100k trials.

Every study has 10 float parameters and 5 intermediate reports per trial (plus about 1 %
FAILED trials and 3 trials left RUNNING), the shape of issue 18. The SQLite studies are
built through hypersweep's public API (``Study.ask`` / ``report`` / ``tell``, random
sampler), once, and reused by later runs (``--workdir``); the PostgreSQL ones are copied
row for row from them into one ``hs_large_*`` database (see :func:`pg_copy` for why).

Then each measurement runs in a fresh ``python`` process (so imports, connection and
every load are paid, as a CLI command or a joining worker pays them) and records its wall
time and peak RSS (``ru_maxrss`` of the child):

* ``open+ask tpe``: ``Study(name, storage=..., sampler="tpe")`` and one ``ask()``;
* ``status`` / ``best`` / ``ls``: the ``hypersweep`` command, as a user runs it;
* ``export``: ``hypersweep export NAME --csv FILE``.

Optuna's equivalents run in the same run on the same database kind: ``load_study`` + one
``ask()`` with ``TPESampler``; ``optuna best-trial``; ``study.trials_dataframe()`` written
with ``to_csv``. Optuna's studies are built as rows of Optuna's own tables, written in
bulk through its SQLAlchemy models (the same trials: params, value, 5 intermediate values;
the rows ``study.add_trials`` would write), since its API builds 100k trials in hours on
this machine; ``--optuna-sizes`` says which sizes get one.

Usage::

    python benchmarks/large.py                                  # 1k, 10k, 100k; both DBs
    python benchmarks/large.py --sizes 1000,10000 --backends sqlite
    python benchmarks/large.py --build-only --jobs 2            # build (resumable) only
    python benchmarks/large.py --build-only --only optuna       # one library's studies
    python benchmarks/large.py --drop                           # drop the PostgreSQL DB

Results go to ``benchmarks/results/large.json`` (``--out``) and a table on stdout: wall
and CPU seconds (user + system, of the child process), peak RSS, and the ratio of each
CPU time to the 1k-trial one. On a shared, overloaded machine wall times are mostly
waiting; CPU times are the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DIM = 10
N_REPORTS = 5
FAIL_EVERY = 97
LEFT_RUNNING = 3
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------
# the trials (identical for hypersweep and Optuna)
# --------------------------------------------------------------------------------------
def loss(params: dict[str, float]) -> float:
    return sum((params[f"x{i}"] - 0.3) ** 2 for i in range(DIM))


def report_values(value: float) -> list[float]:
    return [value * (1.0 + (N_REPORTS - 1 - k) / N_REPORTS) for k in range(N_REPORTS)]


def study_name(n: int) -> str:
    return f"large-{n}"


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------
def _hs_space() -> dict[str, Any]:
    import hypersweep as hs

    return {f"x{i}": hs.Float(0.0, 1.0) for i in range(DIM)}


def _hs_build_part(url: str, name: str, count: int, leave_running: int, seed: int) -> None:
    import hypersweep as hs

    study = hs.Study(
        name, space=_hs_space(), objective="loss", sampler="random", storage=url, seed=seed
    )
    for i in range(count):
        t = study.ask()
        y = loss(t.params)
        for k, v in enumerate(report_values(y)):
            study.report(t, step=k, loss=v)
        if i >= count - leave_running:
            continue  # stays RUNNING
        if t.number % FAIL_EVERY == FAIL_EVERY - 1:
            study.tell(t, error="benchmark: a failed trial")
        else:
            study.tell(t, y)
    study.storage.close()


def hs_build(url: str, n: int, jobs: int) -> float:
    """Build (or finish building) study ``large-n`` in ``url``; return the seconds taken."""
    from hypersweep.storage import open_storage

    storage = open_storage(url)
    try:
        have = storage.get_study(study_name(n)).id
        counts = storage.count_trials(have)
        done = sum(counts.values())
    except Exception:
        done = 0
    storage.close()
    todo = n - done
    if todo <= 0:
        return 0.0
    t0 = time.perf_counter()
    jobs = max(1, min(jobs, todo))
    shares = [todo // jobs + (1 if j < todo % jobs else 0) for j in range(jobs)]
    if jobs == 1:
        _hs_build_part(url, study_name(n), todo, LEFT_RUNNING if done == 0 else 0, done)
    else:
        ctx = mp.get_context("spawn")
        procs = [
            ctx.Process(
                target=_hs_build_part,
                args=(
                    url,
                    study_name(n),
                    s,
                    LEFT_RUNNING if (j == 0 and done == 0) else 0,
                    done + j,
                ),
            )
            for j, s in enumerate(shares)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
            if p.exitcode:
                raise SystemExit(f"a build process failed (exit {p.exitcode})")
    return time.perf_counter() - t0


def hs_bulk_build(url: str, n: int) -> float:
    """Write study ``large-n`` at the SQL level, in exactly the rows the public API writes
    (one sequence number per create, report and finish; the same JSON texts), for sizes
    where ask/report/tell would take hours on this shared machine (about 20-70 ms per
    trial with 5 reports under load). The study itself is created through ``Study``."""
    import numpy as np
    import sqlalchemy as sa

    import hypersweep as hs
    from hypersweep.storage.sql import reports, studies, trials

    name = study_name(n)
    study = hs.Study(
        name, space=_hs_space(), objective="loss", sampler="random", storage=url, seed=0
    )
    sid = study._id
    have = sum(study.storage.count_trials(sid).values())
    study.storage.close()
    if have >= n:
        return 0.0
    if have:
        raise SystemExit(f"{name} in {url} is partly built ({have} trials); delete it first")
    t0 = time.perf_counter()
    rng = np.random.default_rng(n)
    eng = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    dumps = json.dumps
    seq, now, worker = 0, time.time() - n * 0.02, f"bulk:{os.getpid()}:00000000"
    last_trial_seq = last_report_seq = 0
    with eng.begin() as conn:
        for start in range(0, n, 5000):
            t_rows: list[dict[str, Any]] = []
            r_rows: list[dict[str, Any]] = []
            for number in range(start, min(n, start + 5000)):
                x = rng.random(DIM).tolist()
                params = {f"x{i}": x[i] for i in range(DIM)}
                y = loss(params)
                seq += 1
                started = now
                for k, v in enumerate(report_values(y)):
                    seq += 1
                    now += 0.002
                    r_rows.append(
                        {
                            "study_id": sid,
                            "trial_id": None,
                            "number": number,
                            "step": k,
                            "metrics": dumps({"loss": v}, separators=(",", ":")),
                            "created_at": now,
                            "seq": seq,
                        }
                    )
                last_report_seq = seq
                running = number >= n - LEFT_RUNNING
                failed = not running and number % FAIL_EVERY == FAIL_EVERY - 1
                row = {
                    "study_id": sid,
                    "number": number,
                    "params": dumps(params, separators=(",", ":")),
                    "started_at": started,
                    "heartbeat_at": now,
                    "worker_id": worker,
                    "user_attrs": "{}",
                    "system_attrs": "{}",
                    "dedup_key": None,
                }
                if running:
                    row.update(
                        state="RUNNING",
                        trial_values=None,
                        metrics=None,
                        finished_at=None,
                        error=None,
                        seq=seq - N_REPORTS,
                    )
                else:
                    seq += 1
                    now += 0.001
                    row.update(
                        state="FAILED" if failed else "COMPLETED",
                        trial_values=None if failed else dumps([y]),
                        metrics="{}" if failed else dumps({"loss": y}, separators=(",", ":")),
                        finished_at=now,
                        seq=seq,
                        error="benchmark: a failed trial" if failed else None,
                    )
                last_trial_seq = max(last_trial_seq, row["seq"])
                t_rows.append(row)
                now += 0.005
            conn.execute(trials.insert(), t_rows)
            ids = dict(
                conn.execute(
                    sa.select(trials.c.number, trials.c.id).where(
                        trials.c.study_id == sid,
                        trials.c.number >= start,
                        trials.c.number < start + 5000,
                    )
                ).all()
            )
            for r in r_rows:
                r["trial_id"] = ids[r["number"]]
            conn.execute(reports.insert(), r_rows)
        conn.execute(
            studies.update()
            .where(studies.c.id == sid)
            .values(seq=seq, trial_seq=last_trial_seq, report_seq=last_report_seq, n_trials=n)
        )
    eng.dispose()
    return time.perf_counter() - t0


def pg_copy(sqlite_url: str, pg_url: str, n: int) -> float:
    """Copy study ``large-n`` row for row from SQLite into PostgreSQL (same trials, reports,
    sequence numbers): building 100k trials through ask/report/tell on PostgreSQL takes
    about 50 minutes on this shared machine, so only the SQLite studies are built that way.
    """
    import sqlalchemy as sa

    from hypersweep.storage import open_storage
    from hypersweep.storage.sql import reports, studies, trials

    name = study_name(n)
    dst = open_storage(pg_url)  # creates the schema
    try:
        rec = dst.get_study(name)
        if sum(dst.count_trials(rec.id).values()) >= n:
            return 0.0
        dst.delete_study(name)
    except Exception:
        pass
    dst.close()
    t0 = time.perf_counter()
    src = sa.create_engine(sqlite_url)
    eng = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with src.connect() as s, eng.begin() as d:
        srow = s.execute(sa.select(studies).where(studies.c.name == name)).mappings().one()
        new = dict(srow)
        old_id = new.pop("id")
        sid = d.execute(studies.insert().values(**new).returning(studies.c.id)).scalar()
        old_ids: dict[int, int] = {}
        rows = [
            dict(r)
            for r in s.execute(
                sa.select(trials).where(trials.c.study_id == old_id).order_by(trials.c.id)
            ).mappings()
        ]
        for r in rows:
            r["study_id"] = sid
            old_ids[r.pop("id")] = r["number"]
        for i in range(0, len(rows), 5000):
            d.execute(trials.insert(), rows[i : i + 5000])
        by_number = dict(
            d.execute(
                sa.select(trials.c.number, trials.c.id).where(trials.c.study_id == sid)
            ).all()
        )
        ids = {old: by_number[num] for old, num in old_ids.items()}
        batch: list[dict[str, Any]] = []
        for r in s.execute(
            sa.select(reports).where(reports.c.study_id == old_id).order_by(reports.c.id)
        ).mappings():
            r = dict(r)
            r.pop("id")
            r["study_id"], r["trial_id"] = sid, ids[r["trial_id"]]
            batch.append(r)
            if len(batch) == 5000:
                d.execute(reports.insert(), batch)
                batch = []
        if batch:
            d.execute(reports.insert(), batch)
    src.dispose()
    eng.dispose()
    return time.perf_counter() - t0


def optuna_build(url: str, n: int) -> float:
    """Build (or complete) Optuna's study of ``n`` trials: the study through Optuna's API,
    the trials as rows of Optuna's own tables (its SQLAlchemy models), in bulk.

    ``optuna.create_trial`` + ``add_trials`` runs at a few hundred trials/s on SQLite (4/s
    under heavy load), too slow for 100k; the rows are the ones ``add_trials`` writes
    (states, value types and distribution JSON from Optuna's own enums and helpers), so
    Optuna and optuna-dashboard read the study as they would one it built.
    """
    import datetime as dt

    import numpy as np
    import optuna
    import sqlalchemy as sa
    from optuna.distributions import FloatDistribution, distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name(n)
    study = optuna.create_study(study_name=name, storage=url, load_if_exists=True)
    done = len(study.get_trials(deepcopy=False, states=None))
    if done >= n:
        return 0.0
    t0 = time.perf_counter()
    study_id = study._study_id
    rng = np.random.default_rng(done)
    dist_json = distribution_to_json(FloatDistribution(0.0, 1.0))
    finite_v = models.TrialValueModel.TrialValueType.FINITE
    finite_i = models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE
    eng = sa.create_engine(url)
    with eng.begin() as c:
        first_id = (
            c.execute(
                sa.select(sa.func.coalesce(sa.func.max(models.TrialModel.trial_id), 0))
            ).scalar_one()
            + 1
        )
        now = dt.datetime.now()
        for lo in range(done, n, 5000):
            trials, params, values, inter = [], [], [], []
            for number in range(lo, min(n, lo + 5000)):
                tid = first_id + number - done
                x = {f"x{i}": float(rng.random()) for i in range(DIM)}
                y = loss(x)
                if number >= n - LEFT_RUNNING:
                    state = TrialState.RUNNING
                elif number % FAIL_EVERY == FAIL_EVERY - 1:
                    state = TrialState.FAIL
                else:
                    state = TrialState.COMPLETE
                    values.append(
                        {"trial_id": tid, "objective": 0, "value": y, "value_type": finite_v}
                    )
                ended = None if state == TrialState.RUNNING else now
                trials.append(
                    {
                        "trial_id": tid,
                        "number": number,
                        "study_id": study_id,
                        "state": state,
                        "datetime_start": now,
                        "datetime_complete": ended,
                    }
                )
                params += [
                    {
                        "trial_id": tid,
                        "param_name": k,
                        "param_value": v,
                        "distribution_json": dist_json,
                    }
                    for k, v in x.items()
                ]
                inter += [
                    {
                        "trial_id": tid,
                        "step": step,
                        "intermediate_value": v,
                        "intermediate_value_type": finite_i,
                    }
                    for step, v in enumerate(report_values(y))
                ]
            c.execute(sa.insert(models.TrialModel), trials)
            c.execute(sa.insert(models.TrialParamModel), params)
            c.execute(sa.insert(models.TrialValueModel), values)
            c.execute(sa.insert(models.TrialIntermediateValueModel), inter)
    eng.dispose()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------
# databases
# --------------------------------------------------------------------------------------
def pg_database_url(admin_url: str, db: str, create: bool) -> str:
    import sqlalchemy as sa

    eng = sa.create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with eng.connect() as c:
        exists = c.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).first()
        if exists is None and create:
            c.exec_driver_sql(f'CREATE DATABASE "{db}"')
    eng.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{db}"


def pg_drop(admin_url: str, db: str) -> None:
    import sqlalchemy as sa

    eng = sa.create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with eng.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    eng.dispose()


def storage_urls(args: argparse.Namespace, backend: str, n: int) -> tuple[str, str]:
    """(hypersweep URL, Optuna URL) of the study of ``n`` trials on ``backend``."""
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        return (f"sqlite:///{work / f'hs-{n}.db'}", f"sqlite:///{work / f'optuna-{n}.db'}")
    hs_url = pg_database_url(args.pg_url, f"{args.pg_db}_hs", create=True)
    op_url = pg_database_url(args.pg_url, f"{args.pg_db}_optuna", create=True)
    return hs_url, op_url.replace("postgresql://", "postgresql+psycopg://", 1)


# --------------------------------------------------------------------------------------
# measuring, each in a fresh process
# --------------------------------------------------------------------------------------
HS_OPEN_ASK = """
import sys, time
t0 = time.perf_counter()
import hypersweep as hs
study = hs.Study(sys.argv[1], storage=sys.argv[2], sampler="tpe")
t = study.ask()
took = time.perf_counter() - t0
study.tell(t, sum((v - 0.3) ** 2 for v in t.params.values()))
print(f"INPROC {took:.4f}")
"""

OPTUNA_OPEN_ASK = """
import sys, time
t0 = time.perf_counter()
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name=sys.argv[1], storage=sys.argv[2],
                          sampler=optuna.samplers.TPESampler(seed=0))
t = study.ask()
xs = [t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(10)]
took = time.perf_counter() - t0
study.tell(t, sum((v - 0.3) ** 2 for v in xs))
print(f"INPROC {took:.4f}")
"""

OPTUNA_EXPORT = """
import sys, time
t0 = time.perf_counter()
import optuna
study = optuna.load_study(study_name=sys.argv[1], storage=sys.argv[2])
study.trials_dataframe().to_csv(sys.argv[3], index=False)
print(f"INPROC {time.perf_counter() - t0:.4f}")
"""


def run_fresh(argv: list[str], timeout: float) -> dict[str, Any]:
    """Run ``argv`` in a fresh process: wall seconds, CPU seconds (user + system), peak
    RSS (MB), exit status, and the machine's 1-minute load average when it started. GNU
    time is the child's parent: a child forked from this (larger) process would report
    this process's RSS as its peak."""
    load = round(os.getloadavg()[0], 1)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "HSMEASURE %M %U %S", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"wall_s": None, "timeout_s": timeout, "load": load}
    wall = time.perf_counter() - t0
    lines = proc.stderr.strip().splitlines()
    mark = next((ln for ln in reversed(lines) if ln.startswith("HSMEASURE ")), None)
    res: dict[str, Any] = {"wall_s": round(wall, 4), "rc": proc.returncode, "load": load}
    if mark is not None:
        kb, user, sys_ = mark.split()[1:]
        res.update(cpu_s=round(float(user) + float(sys_), 3), rss_mb=round(int(kb) / 1024, 1))
    for line in proc.stdout.splitlines():
        if line.startswith("INPROC "):
            res["inproc_s"] = float(line.split()[1])
    if proc.returncode:
        res["stderr"] = [ln for ln in lines if not ln.startswith("HSMEASURE ")][-1:]
    return res


def measure(args: argparse.Namespace, backend: str, n: int, optuna: bool) -> dict[str, Any]:
    hs_url, op_url = storage_urls(args, backend, n)
    name = study_name(n)
    py = sys.executable
    work = Path(args.workdir)
    cli = [py, "-m", "hypersweep.cli"]
    out: dict[str, Any] = {"backend": backend, "trials": n, "hypersweep": {}, "optuna": {}}
    h = out["hypersweep"]
    h["open_ask_tpe"] = run_fresh([py, "-c", HS_OPEN_ASK, name, hs_url], args.timeout)
    h["status"] = run_fresh([*cli, "status", name, "--storage", hs_url], args.timeout)
    h["best"] = run_fresh([*cli, "best", name, "--storage", hs_url], args.timeout)
    h["ls"] = run_fresh([*cli, "ls", "--storage", hs_url], args.timeout)
    csv_path = work / f"hs-{backend}-{n}.csv"
    h["export_csv"] = run_fresh(
        [*cli, "export", name, "--csv", str(csv_path), "--storage", hs_url], args.timeout
    )
    h["export_csv"]["bytes"] = csv_path.stat().st_size if csv_path.exists() else None
    if optuna:
        o = out["optuna"]
        o["open_ask_tpe"] = run_fresh([py, "-c", OPTUNA_OPEN_ASK, name, op_url], args.timeout)
        optuna_cli = [str(Path(py).parent / "optuna")]
        o["best"] = run_fresh(
            [*optuna_cli, "best-trial", "--study-name", name, "--storage", op_url], args.timeout
        )
        o["ls"] = run_fresh([*optuna_cli, "studies", "--storage", op_url], args.timeout)
        op_csv = work / f"optuna-{backend}-{n}.csv"
        o["export_csv"] = run_fresh(
            [py, "-c", OPTUNA_EXPORT, name, op_url, str(op_csv)], args.timeout
        )
    return out


def _fmt(r: dict[str, Any] | None) -> str:
    if not r:
        return "-"
    if r.get("wall_s") is None:
        return f">{r['timeout_s']:.0f}s"
    bad = " (failed)" if r.get("rc") else ""
    return f"{r['wall_s']:.2f}s/{r['cpu_s']:.2f}c {r['rss_mb']:.0f}MB{bad}"


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    keys = ["open_ask_tpe", "status", "best", "ls", "export_csv"]
    base: dict[tuple[str, str, str], float] = {}
    for r in sorted(results, key=lambda r: (r["backend"], r["trials"])):
        for lib in ("hypersweep", "optuna"):
            for k in keys:
                m = r[lib].get(k)
                if m and m.get("wall_s") and (r["backend"], lib, k) not in base:
                    base[(r["backend"], lib, k)] = m["cpu_s"]
    lines.append("wall s / CPU s (user+sys), peak RSS, and xN: CPU time over the smallest size's")
    lines.append(f"{'backend':8} {'trials':>7} {'lib':10} " + " ".join(f"{k:>30}" for k in keys))
    for r in sorted(results, key=lambda r: (r["backend"], r["trials"])):
        for lib in ("hypersweep", "optuna"):
            if not r[lib]:
                continue
            cells = []
            for k in keys:
                m = r[lib].get(k)
                b = base.get((r["backend"], lib, k))
                ratio = f" x{m['cpu_s'] / b:.1f}" if m and m.get("wall_s") and b else ""
                cells.append(f"{_fmt(m) + ratio:>30}")
            lines.append(f"{r['backend']:8} {r['trials']:>7} {lib:10} " + " ".join(cells))
    return "\n".join(lines)


OPS = [
    ("open_ask_tpe", "open + first ask (tpe)", "load_study + ask (TPESampler)"),
    ("status", "`hypersweep status`", None),
    ("best", "`hypersweep best`", "`optuna best-trial`"),
    ("ls", "`hypersweep ls`", "`optuna studies`"),
    ("export_csv", "`hypersweep export --csv`", "trials_dataframe().to_csv"),
]


def markdown(results: list[dict[str, Any]], backend: str) -> str:
    """A markdown table of one backend's results: CPU s / wall s / peak RSS per size, and
    the CPU-time ratio of each size to the smallest."""
    rs = sorted((r for r in results if r["backend"] == backend), key=lambda r: r["trials"])
    sizes = sorted({r["trials"] for r in rs})
    head = [
        "operation",
        "library",
        *[f"{n:,}" for n in sizes],
        *[f"{n // 1000}k / {sizes[0] // 1000}k" for n in sizes[1:]],
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, hs_label, op_label in OPS:
        for lib, label in (("hypersweep", hs_label), ("optuna", op_label)):
            if label is None:
                continue
            cells, cpu = [], []
            for n in sizes:
                m = next((r[lib].get(key) for r in rs if r["trials"] == n and r[lib]), None)
                if not m or m.get("wall_s") is None:
                    cells.append("-")
                    cpu.append(None)
                    continue
                cells.append(f"{m['cpu_s']:.2f} / {m['wall_s']:.1f} s, {m['rss_mb']:.0f} MB")
                cpu.append(m["cpu_s"])
            ratios = [f"{c / cpu[0]:.2f}x" if c is not None and cpu[0] else "-" for c in cpu[1:]]
            if any(c != "-" for c in cells):
                lines.append(f"| {label} | {lib} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument(
        "--optuna-sizes",
        default="1000,10000,100000",
        help="sizes that also get an Optuna study ('' for none)",
    )
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "hs-large"))
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--pg-db", default="hs_large_bench")
    ap.add_argument(
        "--api-max",
        type=int,
        default=10000,
        help="larger SQLite studies are written in bulk (see hs_bulk_build)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="processes building a study")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--only", choices=("hypersweep", "optuna"), help="build one library's")
    ap.add_argument("--drop", action="store_true", help="drop the PostgreSQL databases")
    ap.add_argument(
        "--markdown",
        nargs="+",
        metavar="JSON",
        help="print markdown tables of earlier results files and exit",
    )
    ap.add_argument("--out", default=str(HERE / "results" / "large.json"))
    args = ap.parse_args()
    if args.markdown:
        results = [r for f in args.markdown for r in json.loads(Path(f).read_text())["results"]]
        for backend in ("sqlite", "postgres"):
            if any(r["backend"] == backend for r in results):
                print(f"\n{backend}:\n\n{markdown(results, backend)}")
        return
    if args.drop:
        for suffix in ("_hs", "_optuna"):
            pg_drop(args.pg_url, args.pg_db + suffix)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    op_sizes = {int(s) for s in args.optuna_sizes.split(",") if s}
    backends = [b for b in args.backends.split(",") if b]
    builds: dict[str, Any] = {}
    for backend in backends:
        for n in sizes:
            hs_url, op_url = storage_urls(args, backend, n)
            if args.only in (None, "hypersweep"):
                if backend == "sqlite" and n > args.api_max:
                    secs = hs_bulk_build(hs_url, n)
                elif backend == "sqlite":
                    secs = hs_build(hs_url, n, args.jobs)
                else:
                    secs = pg_copy(storage_urls(args, "sqlite", n)[0], hs_url, n)
                builds[f"hypersweep/{backend}/{n}"] = round(secs, 1)
                print(f"built hypersweep {backend} {n}: {secs:.0f}s", flush=True)
            if n in op_sizes and args.only in (None, "optuna"):
                secs = optuna_build(op_url, n)
                builds[f"optuna/{backend}/{n}"] = round(secs, 1)
                print(f"built optuna {backend} {n}: {secs:.0f}s", flush=True)
    if args.build_only:
        return
    results = []
    for backend in backends:
        for n in sizes:
            r = measure(args, backend, n, n in op_sizes)
            results.append(r)
            print(json.dumps(r), flush=True)
    print(table(results))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "load_avg": os.getloadavg(),
                "builds_s": builds,
                "results": results,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
