"""Several ``hypersweep run`` processes started together on one sweep file (issue 16).

Each repetition uses a fresh database (a new PostgreSQL database, a new SQLite file) and
starts ``--procs`` processes at once on a sweep with ``max_trials: 12`` (random sampler,
one trial at a time per process, a trivial script that prints one ``loss=``). Printed per
backend: repetitions, crashed processes (non-zero exit, a traceback or an "unexpected"
error), and the trial counts seen (exactly 12 every time is the goal).

    python benchmarks/concurrent_start.py --reps 50 --procs 3
    python benchmarks/concurrent_start.py --reps 50 --backends sqlite
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from hypersweep.testing.processes import fresh_postgres_db, start_runs, trial_numbers

PG = os.environ.get("HYPERSWEEP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCRIPT = str(Path(sys.executable).parent / "hypersweep")

TRAIN = 'import sys\nx = float(sys.argv[1])\nprint(f"loss={(x - 1.0) ** 2!r}")\n'


def sweep(d: Path, max_trials: int) -> Path:
    (d / "train.py").write_text(TRAIN)
    p = d / "s.yaml"
    p.write_text(
        textwrap.dedent(f"""\
        name: start
        command: ["{sys.executable}", "train.py", "{{x}}"]
        space: {{x: "uniform(-1, 3)"}}
        objective: {{metric: loss, goal: minimize}}
        sampler: random
        limits: {{max_trials: {max_trials}, max_concurrent: 1}}
        """)
    )
    return p


def one(backend: str, d: Path, file: Path, procs: int, rep: int) -> tuple[int, int, str]:
    def go(url: str) -> tuple[int, int, str]:
        runs = start_runs(
            [SCRIPT, "run", str(file), "--storage", url, "--progress", "off"],
            procs,
            cwd=d,
            timeout=600,
        )
        bad = [r for r in runs if r.crashed]
        first = ""
        if bad:
            lines = (bad[0].stderr or bad[0].stdout).strip().splitlines()
            first = lines[-1] if lines else f"exit {bad[0].returncode}"
        nums = trial_numbers(url, "start")
        dense = nums == list(range(len(nums)))
        return len(bad), len(nums) if dense else -len(nums), first

    if backend == "sqlite":
        return go(f"sqlite:///{d / f'rep{rep}.db'}")
    with fresh_postgres_db(PG) as url:
        return go(url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--procs", type=int, default=3)
    ap.add_argument("--max-trials", type=int, default=12)
    ap.add_argument("--backends", default="postgres,sqlite")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        file = sweep(d, a.max_trials)
        for backend in a.backends.split(","):
            t0 = time.perf_counter()
            crashes, counts, errors = 0, collections.Counter[int](), collections.Counter[str]()
            for rep in range(a.reps):
                c, n, first = one(backend, d, file, a.procs, rep)
                crashes += c
                counts[n] += 1
                if first:
                    errors[first] += 1
            secs = time.perf_counter() - t0
            shown = ", ".join(f"{n} trials x{k}" for n, k in sorted(counts.items()))
            print(
                f"{backend}: {a.reps} repetitions of {a.procs} processes, max_trials "
                f"{a.max_trials}: {crashes} crashed processes; trial counts: {shown} "
                f"({secs:.0f} s)",
                flush=True,
            )
            for e, k in errors.most_common(5):
                print(f"  {k} x {e}", flush=True)


if __name__ == "__main__":
    main()
