#!/usr/bin/env python
"""Sampler overhead: milliseconds per ask + tell, in memory, as a study grows.

Compares hypersweep's ``tpe`` and ``gp`` with Optuna's ``TPESampler`` (defaults) and
``GPSampler`` in one run, on two spaces:

* ``floats``: 10 ``Float(-5, 5)``;
* ``mixed``: 5 ``Float(-5, 5)`` and 5 categoricals of 4 options.

Each sampler runs one study of ``--max-trials`` trials (GP samplers ``--gp-max-trials``) on
a cheap objective (a sphere plus a penalty per categorical), seeded with ``--seed``, and
the time of every ``ask`` + ``tell`` is recorded. The table gives the mean per window of
trials (1-100, 201-300, 901-1,000, 4,901-5,000: those that fit the study; 201-300 is the
last window of the GP samplers) and the ratio of ours to
Optuna's. The objective's own time (microseconds) is excluded, and so are one-time costs:
each sampler first runs a short throwaway study (imports made on the first proposal).

``--prefill random`` fills the trials before each window with random configurations
(told through the library's cheapest path: enqueued trials, and Optuna's ``add_trials``)
instead of running the sampler on them: much faster, and the cost per ask depends mostly on
the number of trials, but the history is then not the sampler's own; the default runs the
sampler on every trial.

Any sampler that is not available (not registered yet, or its package missing) is skipped
with a message, so the script also runs with ``--samplers random,sobol``.

Example::

    nice -n 10 python benchmarks/overhead_samplers.py
    nice -n 10 python benchmarks/overhead_samplers.py --samplers tpe,optuna-tpe --max-trials 1000
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

WINDOWS = ((1, 100), (201, 300), (901, 1000), (4901, 5000))
OPTIONS = ["a", "b", "c", "d"]
GP_NAMES = {"gp", "optuna-gp"}
PAIRS = (("tpe", "optuna-tpe"), ("gp", "optuna-gp"))


def objective(p: dict[str, Any]) -> float:
    num = sum(v * v for k, v in p.items() if k.startswith("x"))
    return float(num + sum(OPTIONS.index(v) for k, v in p.items() if k.startswith("c")))


def space_names(kind: str) -> tuple[list[str], list[str]]:
    """(float names, categorical names) of a space kind."""
    if kind == "floats":
        return [f"x{i}" for i in range(10)], []
    return [f"x{i}" for i in range(5)], [f"c{i}" for i in range(5)]


def random_configs(kind: str, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    floats, cats = space_names(kind)
    out = []
    for _ in range(n):
        p: dict[str, Any] = {k: float(rng.uniform(-5, 5)) for k in floats}
        p.update({k: OPTIONS[int(rng.integers(4))] for k in cats})
        out.append(p)
    return out


def windows_for(n: int) -> list[tuple[int, int]]:
    return [w for w in WINDOWS if w[1] <= n]


def _in_window(i: int, wins: Sequence[tuple[int, int]]) -> bool:
    return any(a <= i <= b for a, b in wins)


# ------------------------------------------------------------------------------------------
# drivers: each returns {trial number (1-based): seconds of ask + tell}
# ------------------------------------------------------------------------------------------


def run_ours(name: str, kind: str, n: int, seed: int, prefill: bool) -> dict[int, float]:
    import hypersweep as hs

    floats, cats = space_names(kind)
    space: dict[str, Any] = {k: hs.Float(-5, 5) for k in floats}
    space.update({k: hs.Choice(OPTIONS) for k in cats})
    study = hs.Study("overhead", space=space, storage="memory", seed=seed, sampler=name)
    wins = windows_for(n)
    rng = np.random.default_rng(seed + 1)
    times: dict[int, float] = {}
    for i in range(1, n + 1):
        if prefill and not _in_window(i, wins):
            study.enqueue(random_configs(kind, 1, rng)[0])
            t = study.ask()
            study.tell(t, objective(t.params))
            continue
        t0 = time.perf_counter()
        t = study.ask()
        t1 = time.perf_counter()
        y = objective(t.params)
        t2 = time.perf_counter()
        study.tell(t, y)
        times[i] = (t1 - t0) + (time.perf_counter() - t2)
    return times


def run_optuna(name: str, kind: str, n: int, seed: int, prefill: bool) -> dict[int, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    make: dict[str, Callable[[], Any]] = {
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed),
    }
    study = optuna.create_study(sampler=make[name]())
    floats, cats = space_names(kind)
    dists: dict[str, Any] = {k: optuna.distributions.FloatDistribution(-5, 5) for k in floats}
    dists.update({k: optuna.distributions.CategoricalDistribution(OPTIONS) for k in cats})
    wins = windows_for(n)
    rng = np.random.default_rng(seed + 1)
    times: dict[int, float] = {}
    i = 1
    while i <= n:
        if prefill and not _in_window(i, wins):
            nxt = min([a for a, _ in wins if a > i], default=n + 1)
            cfgs = random_configs(kind, nxt - i, rng)
            study.add_trials(
                [
                    optuna.trial.create_trial(params=p, distributions=dists, value=objective(p))
                    for p in cfgs
                ]
            )
            i = nxt
            continue
        t0 = time.perf_counter()
        trial = study.ask()
        p: dict[str, Any] = {k: trial.suggest_float(k, -5, 5) for k in floats}
        p.update({k: trial.suggest_categorical(k, OPTIONS) for k in cats})
        t1 = time.perf_counter()
        y = objective(p)
        t2 = time.perf_counter()
        study.tell(trial, y)
        times[i] = (t1 - t0) + (time.perf_counter() - t2)
        i += 1
    return times


# ------------------------------------------------------------------------------------------


def available(name: str) -> str | None:
    if name in ("optuna-tpe", "optuna-gp"):
        try:
            import optuna  # noqa: F401

            if name == "optuna-gp":
                import torch  # noqa: F401
        except ImportError as e:
            return f"{e.name} is not installed (pip install -e '.[bench]')"
        return None
    if name.startswith("optuna-"):
        return "only optuna-tpe and optuna-gp are measured here"
    from hypersweep.samplers import REGISTRY, sampler_class

    if name not in REGISTRY:
        return "not in hypersweep.samplers.REGISTRY (not written yet?)"
    try:
        sampler_class(name)
    except ImportError as e:
        return f"cannot import it: {e}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="ms per ask+tell of hypersweep's tpe/gp vs Optuna's TPE/GP samplers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--samplers",
        default="tpe,optuna-tpe,gp,optuna-gp",
        help="comma list: hypersweep registry names and optuna-tpe, optuna-gp",
    )
    p.add_argument("--spaces", default="floats,mixed", help="floats and/or mixed")
    p.add_argument("--max-trials", type=int, default=5000)
    p.add_argument("--gp-max-trials", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--prefill",
        choices=["none", "random"],
        default="none",
        help="how trials outside the timed windows are made",
    )
    args = p.parse_args(argv)
    names = []
    for n in (s.strip() for s in args.samplers.split(",") if s.strip()):
        why = available(n)
        if why:
            print(f"skipping sampler {n!r}: {why}", file=sys.stderr)
        else:
            names.append(n)
    kinds = [k.strip() for k in args.spaces.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ("floats", "mixed")]
    if bad:
        p.error(f"--spaces: unknown {bad}; use floats and/or mixed")
    results: dict[tuple[str, str], dict[tuple[int, int], float]] = {}
    # Warm-up: a short throwaway study per sampler, so that one-time costs (imports done on
    # the first proposal, such as scipy's qmc module for a Sobol start; caches) are not
    # charged to the first window of either library.
    for name in names:
        run = run_optuna if name.startswith("optuna-") else run_ours
        run(name, kinds[0], 12, args.seed + 1000, False)
    for kind in kinds:
        for name in names:
            n = min(args.max_trials, args.gp_max_trials) if name in GP_NAMES else args.max_trials
            run = run_optuna if name.startswith("optuna-") else run_ours
            t0 = time.perf_counter()
            times = run(name, kind, n, args.seed, args.prefill == "random")
            print(
                f"{kind:6s} {name:12s} {n} trials in {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
            )
            results[(kind, name)] = {
                (a, b): 1000 * float(np.mean([times[i] for i in range(a, b + 1)]))
                for a, b in windows_for(n)
            }
    wins = [w for w in WINDOWS if any(w in r for r in results.values())]
    header = ["space", "sampler", *[f"{a}-{b}" for a, b in wins]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (kind, name), r in results.items():
        cells = [f"{r[w]:.2f}" if w in r else "—" for w in wins]
        lines.append(f"| {kind} | {name} | " + " | ".join(cells) + " |")
    for ours, peer in PAIRS:
        for kind in kinds:
            a, b = results.get((kind, ours)), results.get((kind, peer))
            if a and b:
                cells = [f"{a[w] / b[w]:.3f}" if w in a and w in b else "—" for w in wins]
                lines.append(f"| {kind} | {ours} / {peer} | " + " | ".join(cells) + " |")
    print(
        f"Milliseconds per ask + tell (mean over each window of trials; prefill: "
        f"{args.prefill}; ratio rows: ours / Optuna's, lower is cheaper)\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
