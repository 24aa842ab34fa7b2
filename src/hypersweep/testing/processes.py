"""Real processes against real databases: fresh PostgreSQL databases, several
``hypersweep run`` processes started together on one sweep file.

Used by the concurrency tests and ``benchmarks/concurrent_start.py``::

    with fresh_postgres_db("postgresql://postgres@127.0.0.1:5432/postgres") as url:
        runs = start_runs(["hypersweep", "run", "s.yaml", "--storage", url], 3, cwd)
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import subprocess
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RunResult",
    "audit_reports",
    "fresh_postgres_db",
    "run_workers",
    "start_runs",
    "terminate_backends",
    "trial_numbers",
]


@contextlib.contextmanager
def fresh_postgres_db(server_url: str) -> Iterator[str]:
    """Create a uniquely named database (``hs_<hex>``) on the server of ``server_url``
    (any database of it that can be connected to), yield its URL, then drop it."""
    import sqlalchemy as sa

    base = sa.engine.make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"hs_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
        yield url.replace("postgresql+psycopg://", "postgresql://", 1)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass(frozen=True)
class RunResult:
    """One finished process: exit status and its output."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def crashed(self) -> bool:
        """Exited non-zero, or printed a traceback / an unexpected error."""
        text = self.stdout + self.stderr
        return self.returncode != 0 or "Traceback" in text or "unexpected" in text


def start_runs(
    argv: Sequence[str],
    n: int,
    cwd: str | Path,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> list[RunResult]:
    """Start ``n`` copies of ``argv`` at once in ``cwd``; wait for all of them."""
    procs = [
        subprocess.Popen(
            list(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(n)
    ]
    out = []
    for p in procs:
        try:
            so, se = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            so, se = p.communicate()
            se += f"\n[killed after {timeout} s]"
        out.append(RunResult(p.returncode, so, se))
    return out


def trial_numbers(url: str, study: str) -> list[int]:
    """The trial numbers a study holds, in order."""
    from hypersweep.storage import open_storage

    s = open_storage(url)
    try:
        return [t.number for t in s.get_trials(s.get_study(study).id)]
    finally:
        s.close()


def _ask_report_tell(url: str, study: str, n: int, policy: str | None, out: Any) -> None:
    """One worker process: ``n`` times ask, one report, tell; every failure is counted."""
    import hypersweep as hs

    failed: list[str] = []
    numbers: list[int] = []
    try:
        s = hs.Study(
            study,
            space={"x": hs.Float(-1, 1), "c": hs.Choice(["a", "b"])},
            storage=url,
            sampler="random",
            policy=policy,
        )
        for _ in range(n):
            try:
                t = s.ask()
            except Exception as e:
                failed.append(f"ask: {type(e).__name__}: {e}")
                continue
            numbers.append(t.number)
            try:
                s.report(t, step=0, loss=t.params["x"] ** 2 + 1.0)
                s.tell(t, t.params["x"] ** 2)
            except Exception as e:
                failed.append(f"report/tell: {type(e).__name__}: {e}")
    except Exception as e:
        failed.append(f"open: {type(e).__name__}: {e}")
    out.put((numbers, failed))


def run_workers(
    url: str,
    study: str,
    procs: int,
    per_proc: int,
    policy: str | None = "median",
    timeout: float = 1200,
    during: Any = None,
) -> tuple[list[int], list[str]]:
    """Start ``procs`` processes doing ``per_proc`` ask / report / tell each on one study;
    return every trial number handed out and every failure message. ``during()``, if
    given, runs in a thread of this process until the workers are done (fault
    injection); it gets a :class:`threading.Event` that is set when they are."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [
        ctx.Process(target=_ask_report_tell, args=(url, study, per_proc, policy, q))
        for _ in range(procs)
    ]
    for p in ps:
        p.start()
    done = threading.Event()
    th = None
    if during is not None:
        th = threading.Thread(target=during, args=(done,), daemon=True)
        th.start()
    try:
        results = [q.get(timeout=timeout) for _ in ps]
    finally:
        done.set()
        if th is not None:
            th.join(30)
        for p in ps:
            p.join(60)
    return ([n for nums, _ in results for n in nums], [f for _, fs in results for f in fs])


def terminate_backends(
    url: str, application_name: str, every: float = 0.05, min_trials: int = 1
) -> Any:
    """A ``during`` function for :func:`run_workers`: from its own connection, terminates
    the PostgreSQL backends whose ``application_name`` matches (the workers' connections,
    given ``?application_name=...`` in their URL) at random intervals of 0.2 to 1.8 x
    ``every`` seconds, the first at once when the database holds ``min_trials`` trials
    and such a backend is connected (the workers have opened the study: trials of other
    studies in the same database do not count as a start, or every round could fall
    before the workers connect or after they finish). The returned function's
    ``.killed`` lists the number terminated per round."""
    import random

    import sqlalchemy as sa

    killed: list[int] = []
    kill = sa.text(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = :app AND pid <> pg_backend_pid()"
    )
    count = sa.text("SELECT count(*) FROM hs_trials")
    connected = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = :app AND pid <> pg_backend_pid()"
    )

    def during(done: threading.Event) -> None:
        engine = sa.create_engine(
            url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
        )
        try:
            with engine.connect() as c:
                while not done.wait(0.05):
                    if int(c.execute(count).scalar() or 0) >= min_trials and int(
                        c.execute(connected, {"app": application_name}).scalar() or 0
                    ):
                        break
                while not done.is_set():  # the first round at once: they are connected
                    killed.append(int(c.execute(kill, {"app": application_name}).scalar() or 0))
                    if done.wait(every * random.uniform(0.2, 1.8)):
                        break
        finally:
            engine.dispose()

    during.killed = killed  # type: ignore[attr-defined]
    return during


def audit_reports(url: str, study: str) -> dict[str, int]:
    """Counts an audit of a study's rows needs: trials, report rows, (trial, step) pairs
    stored more than once, trials without exactly one report, trials not COMPLETED."""
    import sqlalchemy as sa

    from hypersweep.storage import open_storage

    s = open_storage(url)
    try:
        sid = s.get_study(study).id
        with s._engine.connect() as c:  # type: ignore[attr-defined]

            def one(q: str) -> int:
                return int(c.execute(sa.text(q), {"sid": sid}).scalar() or 0)

            return {
                "trials": one("SELECT count(*) FROM hs_trials WHERE study_id = :sid"),
                "reports": one("SELECT count(*) FROM hs_reports WHERE study_id = :sid"),
                "duplicate_reports": one(
                    "SELECT count(*) FROM (SELECT trial_id, step FROM hs_reports "
                    "WHERE study_id = :sid GROUP BY trial_id, step HAVING count(*) > 1) d"
                ),
                "trials_without_one_report": one(
                    "SELECT count(*) FROM hs_trials t WHERE t.study_id = :sid AND "
                    "(SELECT count(*) FROM hs_reports r WHERE r.trial_id = t.id) <> 1"
                ),
                "not_completed": one(
                    "SELECT count(*) FROM hs_trials WHERE study_id = :sid AND state <> 'COMPLETED'"
                ),
            }
    finally:
        s.close()
