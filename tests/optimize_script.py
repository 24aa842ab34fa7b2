"""Run ``Study.optimize`` in its own process (driven by tests/execution/test_optimize.py).

Usage: ``python tests/optimize_script.py STORAGE_URL STUDY MAX_TRIALS``

Prints ``finished <number>`` after every finished trial (so the test knows when to send
SIGINT), and ``interrupted`` before exiting with status 130 on Ctrl-C.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.objectives


def main() -> int:
    import hypersweep as hs
    from tests.objectives import slow_quadratic

    url, name, max_trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
    study = hs.Study(name, space={"x": hs.Float(0, 2)}, storage=url, seed=0)

    def announce(_study: Any, trial: Any) -> None:
        print(f"finished {trial.number}", flush=True)

    try:
        study.optimize(
            slow_quadratic, max_trials=max_trials, max_concurrent=2, callbacks=[announce]
        )
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return 130
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
