"""Processes writing reports to one study at once, optionally with PostgreSQL connections
terminated mid-run (issue 17 point 5).

Each worker process does ``--trials`` times: ask, one report (the median policy syncs on
it), tell. Printed per backend: failed asks, failed reports/tells, and an audit of the
stored rows (trials, report rows, (trial, step) pairs stored twice, trials without exactly
one report, trials not COMPLETED). ``--kill S`` terminates the workers' PostgreSQL
connections (pg_terminate_backend) at random intervals averaging S seconds.

    python benchmarks/concurrent_writes.py                      # 8 x 250, SQLite and PostgreSQL
    python benchmarks/concurrent_writes.py --backends postgres --kill 0.3
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

from hypersweep.storage import open_storage
from hypersweep.testing.processes import (
    audit_reports,
    fresh_postgres_db,
    run_workers,
    terminate_backends,
)

PG = os.environ.get("HYPERSWEEP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def one(url: str, procs: int, trials: int, kill: float | None) -> str:
    during = None
    worker_url = url
    if kill:
        app = f"hs_kill_{uuid.uuid4().hex[:8]}"
        worker_url = f"{url}{'&' if '?' in url else '?'}application_name={app}"
        open_storage(url).close()
        during = terminate_backends(url, app, every=kill, min_trials=procs)
    t0 = time.perf_counter()
    numbers, failed = run_workers(worker_url, "writes", procs, trials, during=during)
    secs = time.perf_counter() - t0
    asks = sum(f.startswith(("ask:", "open:")) for f in failed)
    others = len(failed) - asks
    audit = audit_reports(url, "writes")
    dense = sorted(numbers) == list(range(len(numbers)))
    text = (
        f"{asks} of {procs * trials} asks failed, {others} reports/tells failed; "
        f"trial numbers dense and unique: {dense}; audit: "
        + ", ".join(f"{k} {v}" for k, v in audit.items())
        + f" ({secs:.0f} s)"
    )
    if during is not None:
        text += f"; {sum(during.killed)} connections terminated"
    for f in sorted(set(failed))[:3]:
        text += f"\n  e.g. {f[:200]}"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--trials", type=int, default=250, help="per process")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument(
        "--kill",
        type=float,
        default=None,
        help="PostgreSQL only: terminate the workers' connections every ~S s",
    )
    a = ap.parse_args()
    for backend in a.backends.split(","):
        label = f"{backend}: {a.procs} processes x {a.trials} trials, one report each"
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as d:
                url = f"sqlite:///{Path(d) / 'w.db'}"
                print(f"{label}: {one(url, a.procs, a.trials, None)}", flush=True)
        else:
            with fresh_postgres_db(PG) as url:
                kill = f", connections terminated every ~{a.kill:g} s" if a.kill else ""
                print(f"{label}{kill}: {one(url, a.procs, a.trials, a.kill)}", flush=True)


if __name__ == "__main__":
    main()
