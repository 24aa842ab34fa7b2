"""The first ``ask()`` of a fresh process, beyond ``import numpy`` (issue 9, point 8).

Each measurement is a new Python process: ``import numpy``, then the clock starts,
``import hypersweep``, a new two-parameter study with the default sampler, one ask. The
sources are byte-compiled first and ``PYTHONDONTWRITEBYTECODE`` is unset in the children,
as for a pip-installed package (a machine that sets the variable compiles every source
in every process otherwise).

    python benchmarks/first_ask.py --runs 5
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys, time
import numpy
t0 = time.perf_counter()
import hypersweep as hs
s = hs.Study("first", space={"x": hs.Float(0, 1), "n": hs.Int(1, 10)}, storage=sys.argv[1])
s.ask()
print(time.perf_counter() - t0)
"""


def measure(storage: str, runs: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            url = f"sqlite:///{Path(d) / 'first.db'}" if storage == "sqlite" else "memory"
            r = subprocess.run(
                [sys.executable, "-c", CHILD, url],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            out.append(float(r.stdout.strip()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    import hypersweep

    compileall.compile_dir(str(Path(hypersweep.__file__).parent), quiet=1)
    print("| storage | runs | median s | min s | max s |")
    print("|---|---|---|---|---|")
    for storage in ("memory", "sqlite"):
        xs = measure(storage, args.runs)
        print(
            f"| {storage} | {len(xs)} | {statistics.median(xs):.3f} | {min(xs):.3f} | "
            f"{max(xs):.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
