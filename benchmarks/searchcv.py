"""hypersweep's SearchCV against scikit-learn's RandomizedSearchCV on the digits data.

Task: ``SVC`` (RBF kernel) on ``load_digits`` (bundled with scikit-learn, 1797 images),
``C`` log-uniform in [1e-2, 1e3] and ``gamma`` log-uniform in [1e-5, 1]: the same
``scipy.stats.loguniform`` distributions for both, the same budget (``--trials``
configurations, 40 by default), the same 5-fold stratified CV, ``refit=True``, one
process each (``n_jobs=1``), one BLAS thread.

Runs, per seed:

* ``RandomizedSearchCV(n_iter=trials)``;
* ``SearchCV`` with the TPE sampler and no early stopping;
* ``SearchCV`` with the TPE sampler and the median stopping policy across folds
  (``early_stopping="median"``: a trial whose best fold so far is below the median of the
  other trials' running CV means at that fold fits no more folds).

Per run: the best mean CV accuracy (``best_score_``, over completed trials), the folds
fitted, and the wall time of ``fit`` (refit included). The table shows each run and the
median over seeds.

Usage::

    nice -n 10 python benchmarks/searchcv.py                 # 40 trials, seeds 0 1 2
    python benchmarks/searchcv.py --methods randomized tpe+median   # the two that matter
    python benchmarks/searchcv.py --trials 8 --seeds 0       # a quick look
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402


def run(method: str, trials: int, seed: int) -> dict[str, Any]:
    from scipy.stats import loguniform
    from sklearn.datasets import load_digits
    from sklearn.model_selection import RandomizedSearchCV
    from sklearn.svm import SVC

    from hypersweep.sklearn import SearchCV

    X, y = load_digits(return_X_y=True)
    dists = {"C": loguniform(1e-2, 1e3), "gamma": loguniform(1e-5, 1e0)}
    if method == "randomized":
        search: Any = RandomizedSearchCV(SVC(), dists, n_iter=trials, cv=5, random_state=seed)
    else:
        search = SearchCV(
            SVC(),
            dists,
            n_trials=trials,
            cv=5,
            sampler="tpe",
            early_stopping="median" if method == "tpe+median" else None,
            random_state=seed,
        )
    t0 = time.perf_counter()
    search.fit(X, y)
    wall = time.perf_counter() - t0
    res = search.cv_results_
    folds = sum(int(not math.isnan(v)) for k in range(5) for v in res[f"split{k}_test_score"])
    return {
        "method": method,
        "seed": seed,
        "score": float(search.best_score_),
        "folds": folds,
        "seconds": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--methods",
        nargs="+",
        default=["randomized", "tpe", "tpe+median"],
        choices=["randomized", "tpe", "tpe+median"],
    )
    args = ap.parse_args()
    methods = args.methods
    rows = []
    for seed in args.seeds:
        for m in methods:
            r = run(m, args.trials, seed)
            rows.append(r)
            print(
                f"seed {seed} {m:12s} best_score={r['score']:.4f} folds={r['folds']:4d} "
                f"wall={r['seconds']:.1f}s",
                flush=True,
            )
    print(f"\nmedian over seeds {args.seeds}, {args.trials} trials, 5-fold CV:")
    print("| method | best CV accuracy | folds fitted | wall time (s) |")
    print("| --- | --- | --- | --- |")
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        print(
            f"| {m} | {statistics.median(r['score'] for r in mine):.4f} "
            f"| {statistics.median(r['folds'] for r in mine):.0f} "
            f"| {statistics.median(r['seconds'] for r in mine):.1f} |"
        )
    load = os.getloadavg()
    print(f"\nload average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
