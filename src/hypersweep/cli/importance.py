"""``hypersweep importance NAME``: which parameters matter (see :mod:`hypersweep.analysis`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["add_parser", "format_importance", "run"]

EPILOG = """\
examples:
  hypersweep importance digits-mlp
  hypersweep importance digits-mlp --method ped-anova --quantile 0.2
  hypersweep importance sweep.yaml --method sobol --objective latency --json

fanova and sobol report each parameter's total effect (the fraction of the objective's
variance it takes part in) and its main effect, from a random forest fit to the finished
trials (no trial is run); ped-anova reports how much each parameter matters for reaching
the top quantile of trials. Intervals are bootstrap percentile intervals. fanova and
sobol need scikit-learn: pip install 'hypersweep[analysis]'."""


def add_parser(sub: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add the ``importance`` sub-command to ``sub`` (an argparse sub-parsers object).

    Imports nothing heavy: the method name is checked by ``importance`` itself (with a
    did-you-mean), so building the parser for another command never loads numpy."""
    p = sub.add_parser(
        "importance",
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        help="rank the parameters by how much they matter",
        description="Parameter importance and sensitivity from a study's finished trials.",
    )
    p.add_argument("name", metavar="NAME", help="study name (or a sweep file)")
    p.add_argument("--method", default="fanova", help="fanova (default), sobol or ped-anova")
    p.add_argument("--objective", metavar="METRIC", help="objective of a multi-objective study")
    p.add_argument("--params", metavar="A,B,...", help="only these parameters")
    p.add_argument("--quantile", type=float, default=0.1, help="ped-anova's top fraction")
    p.add_argument("--bootstrap", type=int, default=100, metavar="N", help="replicates")
    p.add_argument("--seed", type=int, default=0, metavar="N")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def format_importance(result: Any, study: str) -> str:
    """The text ``hypersweep importance`` prints for an :class:`Importance`."""
    pct = f"{result.level:.0%}"
    head = (
        f"importance for {result.objective} in {study} ({result.method}, "
        f"{result.n_trials} trials, {pct} intervals)"
    )
    width = max(9, *(len(p.name) for p in result.params))
    both = result.method != "ped-anova"
    label = "total" if both else "importance"
    lines = [head, f"  {'parameter':<{width}}  {label:<22}" + ("  main" if both else "")]
    for p in result.params:
        row = f"  {p.name:<{width}}  {p.importance:6.3f} [{p.low:6.3f}, {p.high:6.3f}]"
        if both:
            row += f"  {p.first:6.3f} [{p.first_low:6.3f}, {p.first_high:6.3f}]"
        lines.append(row)
    it = result.interaction
    if it is not None:
        a, b = it.params
        lines.append(f"interaction {a} x {b}: {it.value:.3f} [{it.low:.3f}, {it.high:.3f}]")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``hypersweep importance``; return the exit status."""
    from hypersweep.analysis.importance import importance
    from hypersweep.cli._common import open_record, print_out, target
    from hypersweep.study import Study

    name, url = target(args)
    storage, rec = open_record(name, url)
    study = Study.load(rec.name, storage=storage)
    params = None if args.params is None else [p.strip() for p in args.params.split(",")]
    result = importance(
        study,
        args.method,
        params=params,
        objective=0 if args.objective is None else args.objective,
        n_bootstrap=args.bootstrap,
        quantile=args.quantile,
        seed=args.seed,
    )
    print_out(
        json.dumps(result.as_dict(), indent=2) if args.json else format_importance(result, name)
    )
    return 0
