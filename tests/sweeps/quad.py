"""A tiny training script for CLI tests: prints ``step=S loss=L`` lines; knows nothing
about hypersweep.

The final loss is ``(x - 1)**2 + y``. Parameters come as options (``--x 0.5 --y=2``) or,
when an option is missing, from ``HYPERSWEEP_PARAM_X`` / ``HYPERSWEEP_PARAM_Y``.
"""

from __future__ import annotations

import argparse
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--y", type=int)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--sleep", type=float, default=0.0)
a = p.parse_args()
x = a.x if a.x is not None else float(os.environ["HYPERSWEEP_PARAM_X"])
y = a.y if a.y is not None else int(os.environ.get("HYPERSWEEP_PARAM_Y", "0"))
final = (x - 1.0) ** 2 + y
for step in range(a.steps):
    time.sleep(a.sleep)
    print(f"step={step} loss={final + 0.1 * (a.steps - 1 - step)!r}", flush=True)
