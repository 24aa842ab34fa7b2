"""Many processes writing reports to one study, and PostgreSQL connections dropped mid-run
(issue 17 point 5): no ask fails, and no write is stored twice.

The long forms (8 processes x 250 trials) are in ``benchmarks/concurrent_writes.py``.
"""

from __future__ import annotations

import uuid

import pytest

from hypersweep.storage import open_storage
from hypersweep.testing.processes import audit_reports, run_workers, terminate_backends


def _check(url: str, study: str, procs: int, per_proc: int) -> None:
    numbers, failed = run_workers(url, study, procs, per_proc)
    assert failed == []
    assert sorted(numbers) == list(range(procs * per_proc))
    audit = audit_reports(url, study)
    assert audit == {"trials": procs * per_proc, "reports": procs * per_proc,
                     "duplicate_reports": 0, "trials_without_one_report": 0,
                     "not_completed": 0}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_with_reports_never_fail_an_ask(backend: str, request) -> None:
    """Each trial reports once (the median policy syncs on every report) while other
    processes create and finish trials: before the one-snapshot sync, asks failed here."""
    url = request.getfixturevalue(f"{backend}_url")
    _check(url, "reports", procs=3, per_proc=30)


@pytest.mark.slow
@pytest.mark.postgres
def test_terminated_connections_leave_no_duplicate_rows(postgres_url: str) -> None:
    """The server terminates the workers' connections (pg_terminate_backend) every few
    milliseconds; their retried transactions must neither fail nor write twice."""
    app = f"hs_kill_{uuid.uuid4().hex[:8]}"
    url = f"{postgres_url}&application_name={app}"
    open_storage(postgres_url).close()  # the schema exists before the killing starts
    killer = terminate_backends(postgres_url, app, every=0.3, min_trials=3)
    numbers, failed = run_workers(url, "killed", procs=3, per_proc=60, during=killer)
    assert sum(killer.killed) > 0, "no connection was terminated: the test tested nothing"
    assert failed == []
    assert sorted(numbers) == list(range(180))
    audit = audit_reports(postgres_url, "killed")
    assert audit == {"trials": 180, "reports": 180, "duplicate_reports": 0,
                     "trials_without_one_report": 0, "not_completed": 0}
