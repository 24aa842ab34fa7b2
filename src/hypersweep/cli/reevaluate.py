"""``hypersweep reevaluate NAME --top K --seeds S``: run the best configurations again
with new seeds, and rank them by their mean (see :mod:`hypersweep.reevaluate`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "robust_best", "run"]

EPILOG = """\
examples:
  hypersweep reevaluate sweep.yaml --top 3 --seeds 5    # queue and run them, then rank
  hypersweep reevaluate digits-mlp --top 3 --seeds 5    # queue only (run the sweep later)
  hypersweep reevaluate digits-mlp --show               # the ranking so far
  hypersweep best digits-mlp --robust

Each re-evaluation is a new trial with the original's parameters and a new seed
({seed}, HYPERSWEEP_SEED, hypersweep.seed()), linked by system_attrs.reevaluates. Given
a sweep file, the queued trials are run at once with its command (limits.max_concurrent
at a time); given a study name they wait for the next `hypersweep run`."""


def add_parser(sub: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add the ``reevaluate`` sub-command to ``sub`` (an argparse sub-parsers object)."""
    p = sub.add_parser(
        "reevaluate",
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        help="re-run the best configurations with new seeds",
        description="Re-run the top K configurations with S new seeds each; print mean "
        "± std per configuration and the re-ranking.",
    )
    p.add_argument("name", metavar="NAME", help="study name (or a sweep file: also runs)")
    p.add_argument("--top", type=int, default=3, metavar="K", help="configurations (3)")
    p.add_argument("--seeds", type=int, default=3, metavar="S", help="new seeds each (3)")
    p.add_argument("--show", action="store_true", help="queue nothing: print the ranking")
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    p.set_defaults(func=run)


def _print_ranking(study: Any, as_json: bool) -> list[Any]:
    from dataclasses import asdict

    from hypersweep.cli._common import print_out
    from hypersweep.reevaluate import format_ranking

    rows = study.robust_ranking()
    if as_json:
        print_out(json.dumps([asdict(r) for r in rows], indent=2, default=str))
    else:
        print_out(f"re-evaluated configurations of {study.name} (best mean first):")
        print_out(format_ranking(rows, study.objectives[0].metric))
    return list(rows)


def run(args: argparse.Namespace) -> int:
    """Run ``hypersweep reevaluate``; return the exit status."""
    from hypersweep.cli._common import EXIT_OK, RunFailed, open_record, print_out, target
    from hypersweep.errors import HypersweepError
    from hypersweep.study import Study

    name, url = target(args)
    storage, rec = open_record(name, url, read_only=args.show)
    study = Study.load(rec.name, storage=storage)
    if not args.show:
        try:
            queued = study.reevaluate(top=args.top, seeds=args.seeds)
        except HypersweepError as e:
            raise RunFailed(str(e)) from None
        print_out(f"queued {len(queued)} re-evaluation trials in {rec.name}")
        sweep = Path(args.name)
        if sweep.suffix in (".yaml", ".yml") and sweep.is_file():
            from hypersweep.spec import Overrides, build, load

            study.sync()
            spec = load(args.name)
            _, runner = build(spec, Overrides(storage=args.storage, max_trials=study.history.n))
            runner.run()
            if runner.failed_fast:
                raise RunFailed(runner.failed_fast)
            study.sync()
        else:
            print_out("run the sweep (hypersweep run FILE) to evaluate them")
    _print_ranking(study, args.json)
    return EXIT_OK


def robust_best(args: argparse.Namespace) -> int:
    """``hypersweep best NAME --robust``: the configuration with the best re-evaluated
    mean."""
    from hypersweep.cli._common import EXIT_OK, RunFailed, open_record, print_out, target
    from hypersweep.study import Study

    name, url = target(args)
    storage, rec = open_record(name, url)
    study = Study.load(rec.name, storage=storage)
    rows = study.robust_ranking()
    if not rows:
        raise RunFailed(
            f"study {rec.name!r} has no re-evaluated configuration; run "
            f"`hypersweep reevaluate {args.name} --top 3 --seeds 3` first"
        )
    r = rows[0]
    if args.json:
        from dataclasses import asdict

        print_out(json.dumps(asdict(r), indent=2, default=str))
        return EXIT_OK
    metric = study.objectives[0].metric
    print_out(
        f"robust best: trial {r.number}: {metric} {r.mean:.6g} ± {r.std:.3g} over "
        f"{len(r.values)} seeds (rank {r.original_rank} by its first run)"
    )
    print_out("  " + " ".join(f"{k}={v}" for k, v in r.params.items()))
    return EXIT_OK
