"""``hypersweep enqueue NAME FILE.json | --from STUDY --top K``: queue configurations to
run before any proposal (expert guesses, or an earlier study's best; see
``docs/transfer.md``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["add_parser", "run"]

EPILOG = """\
examples:
  hypersweep enqueue digits-mlp guesses.json          # one {param: value} object or a list
  hypersweep enqueue digits-mlp --from digits-v1 --top 5
  hypersweep enqueue digits-mlp --from digits-v1 --from-storage sqlite:///old.db

Every configuration is checked against the study's space first (nothing is queued
unless all fit). --from skips configurations the study already holds. The next
`hypersweep run` runs the queued trials first."""


def add_parser(sub: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add the ``enqueue`` sub-command to ``sub`` (an argparse sub-parsers object)."""
    p = sub.add_parser(
        "enqueue",
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        help="queue configurations to run first",
        description="Queue configurations (a JSON file, or another study's best trials) "
        "to run before any proposal.",
    )
    p.add_argument("name", metavar="NAME", help="study name (or a sweep file)")
    p.add_argument("file", metavar="FILE.json", nargs="?", help="configurations to queue")
    p.add_argument("--from", dest="source", metavar="STUDY", help="queue this study's best")
    p.add_argument("--top", type=int, default=10, metavar="K", help="with --from (default 10)")
    p.add_argument("--from-storage", metavar="URL", help="the --from study's storage")
    p.set_defaults(func=run)


def _configs(path: str) -> list[dict[str, Any]]:
    from hypersweep.cli._common import UsageError

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not JSON: {e.msg} at line {e.lineno}") from None
    items = data if isinstance(data, list) else [data]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise UsageError(f"{path}[{i}]: expected an object of parameters")
    return items


def run(args: argparse.Namespace) -> int:
    """Run ``hypersweep enqueue``; return the exit status."""
    from hypersweep.cli._common import EXIT_OK, UsageError, open_record, print_out, target
    from hypersweep.errors import HypersweepError
    from hypersweep.study import Study

    if (args.file is None) == (args.source is None):
        raise UsageError("enqueue: give a FILE.json or --from STUDY (one of them)")
    name, url = target(args)
    storage, rec = open_record(name, url, read_only=False)
    study = Study.load(rec.name, storage=storage)
    if args.source is not None:
        try:
            n = study.warm_start(
                args.source, storage=args.from_storage, top=args.top, mode="enqueue"
            )
        except HypersweepError as e:
            raise UsageError(str(e)) from None
        print_out(f"queued {n} configuration{'s' * (n != 1)} of {args.source} in {rec.name}")
        return EXIT_OK
    items = _configs(args.file)
    clean = []
    for i, params in enumerate(items):
        try:
            clean.append(study.space.validate(params, f"{args.file}[{i}]"))
        except HypersweepError as e:
            raise UsageError(f"{args.file}[{i}]: {e}") from None
    for params in clean:
        study.enqueue(params, user_attrs={"enqueued_from": str(args.file)})
    print_out(f"queued {len(clean)} configuration{'s' * (len(clean) != 1)} in {rec.name}")
    return EXIT_OK
