"""The short version of ``benchmarks/workers.py`` (issue 15 point 7): 1 and 4 worker
processes on PostgreSQL for a few seconds, and a small simulated fleet. The full curve
(1..64 workers, random and tpe, against Optuna) is in docs/scaling.md."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    # imported by name from a sys.path entry: the spawned worker processes (which get
    # this sys.path) must find the module their target function lives in
    sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module("workers")


@pytest.fixture(autouse=True)
def _pg(postgres_url: str) -> None:
    """Skips (saying so) only where HYPERSWEEP_SKIP_POSTGRES=1."""


@pytest.mark.parametrize("workers", [1, 4])
def test_workers_ask_and_tell_without_errors_and_the_database_time_is_measured(
    bench: ModuleType, workers: int
) -> None:
    row = bench.measure("hypersweep", "random", workers, 2.0)
    assert row["errors"] == 0, row["error_examples"]
    assert row["trials"] > 0 and row["trials_per_s"] > 0
    assert row["ask_p50_ms"] is not None and row["ask_p99_ms"] >= row["ask_p50_ms"]
    assert row["db_ms_per_trial"] is not None and row["db_ms_per_trial"] > 0
    assert 0 < row["worker_cpu_ms_per_trial"] < 2e3 * workers * 2.0 / row["trials"]
    assert "| hypersweep | random |" in bench.table([row])


def test_a_simulated_fleet_finishes_every_trial_and_reports_its_cost(bench: ModuleType) -> None:
    sim = bench.simulate(workers=40, procs=2, trials=80, trial_s=60.0, hb_s=20.0)
    assert sim["errors"] == 0, sim["error_examples"]
    assert sim["trials"] == 80
    assert sim["heartbeats_per_trial"] == 3
    assert sim["db_ms_per_trial"] is not None and sim["db_ms_per_trial"] > 0
