"""Real processes against real databases: fresh PostgreSQL databases, several
``hypersweep run`` processes started together on one sweep file.

Used by the concurrency tests and ``benchmarks/concurrent_start.py``::

    with fresh_postgres_db("postgresql://postgres@127.0.0.1:5432/postgres") as url:
        runs = start_runs(["hypersweep", "run", "s.yaml", "--storage", url], 3, cwd)
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunResult", "fresh_postgres_db", "start_runs", "trial_numbers"]


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


def start_runs(argv: Sequence[str], n: int, cwd: str | Path, timeout: float = 300,
               env: dict[str, str] | None = None) -> list[RunResult]:
    """Start ``n`` copies of ``argv`` at once in ``cwd``; wait for all of them."""
    procs = [
        subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
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
