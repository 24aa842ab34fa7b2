"""Several ``hypersweep run`` processes started together on one sweep file, on a fresh
PostgreSQL database and a fresh SQLite file (issues 14 and 16): no process crashes and the
study ends with exactly ``max_trials`` trials, numbered 0 .. max_trials - 1.

The long form (50 repetitions per backend) is ``benchmarks/concurrent_start.py``.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hypersweep.testing.processes import fresh_postgres_db, start_runs, trial_numbers
from tests.conftest import PG_URL, SKIP_PG

HERE = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(sys.executable).parent / "hypersweep")
MAX_TRIALS = 8


def _sweep(tmp_path: Path, name: str) -> Path:
    shutil.copy(HERE / "sweeps" / "quad.py", tmp_path / "quad.py")
    p = tmp_path / f"{name}.yaml"
    p.write_text(
        textwrap.dedent(f"""\
        name: {name}
        command: ["{sys.executable}", "quad.py", "--x", "{{x}}", "--steps", "1"]
        space:
          x: uniform(-1, 3)
        objective: {{metric: loss, goal: minimize}}
        sampler: random
        limits: {{max_trials: {MAX_TRIALS}, max_concurrent: 1}}
        """),
        encoding="utf-8",
    )
    return p


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh database per call: a new SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        counter = iter(range(10**6))

        def make() -> Iterator[str]:
            yield f"sqlite:///{tmp_path / f'runs{next(counter)}.db'}"
    else:
        if SKIP_PG:
            pytest.skip("PostgreSQL tests skipped because HYPERSWEEP_SKIP_POSTGRES=1")

        def make() -> Iterator[str]:
            with fresh_postgres_db(PG_URL) as url:
                yield url

    yield make  # type: ignore[misc]


@pytest.mark.slow
@pytest.mark.parametrize(("procs", "reps"), [(2, 1), (3, 1), (8, 1)])
def test_processes_started_together_leave_exactly_max_trials(
    procs: int, reps: int, fresh_url, tmp_path: Path
) -> None:
    sweep = _sweep(tmp_path, f"together{procs}")
    for rep in range(reps):
        for url in fresh_url():
            runs = start_runs(
                [SCRIPT, "run", str(sweep), "--storage", url, "--progress", "off"],
                procs,
                cwd=tmp_path,
                timeout=240,
            )
            crashed = [r for r in runs if r.crashed]
            assert not crashed, (rep, crashed[0].stdout[-2000:], crashed[0].stderr[-2000:])
            assert trial_numbers(url, sweep.stem) == list(range(MAX_TRIALS)), rep
