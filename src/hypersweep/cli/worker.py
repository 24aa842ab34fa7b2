"""``hypersweep worker``: join a running study by name and run its trials here.

A worker needs only the storage URL, the study name and the trials' code on its machine:
the sweep (command template, ``params_as``, metrics, limits, early stopping, ``env``,
resources) comes from the run configuration ``hypersweep run`` stored with the study
(:mod:`hypersweep.spec.stored`). It pulls trials (re-queued ones first, then the
sampler's proposals) until the study is done (``max_trials``, a stop request, ...) or
its own ``--max-trials`` is reached, through the same code as ``hypersweep run``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from hypersweep.errors import StudyNotFound

__all__ = ["add_parser", "add_run_options", "cmd_worker"]

EPILOG = """\
examples:
  hypersweep worker --storage postgresql://host/db --study digits-mlp
  hypersweep worker --storage postgresql://host/db --study digits-mlp --gpus 0,1 --max-trials 20
  hypersweep worker --storage sqlite:///shared/studies.db --study demo --wait 60

The study must have been started once with 'hypersweep run sweep.yaml' (which stores its
run configuration). Relative paths of the sweep resolve against the sweep file's folder
when it exists on this machine, else against --dir (default: the current folder).
Trials of a worker that dies are re-queued by the others once their heartbeat is 3
intervals old (--heartbeat)."""


def _devices(text: str) -> tuple[str, ...]:
    from hypersweep.resources import parse_devices

    try:
        return tuple(parse_devices(text))
    except Exception as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[-1]) from None


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``worker`` share: ``--gpus`` and ``--heartbeat``."""
    p.add_argument(
        "--gpus",
        type=_devices,
        metavar="0,1,...",
        default=None,
        help="GPU devices to give trials (resources.gpus each, CUDA_VISIBLE_DEVICES set "
        "per trial; 'none' for none); default: the devices visible to this process",
    )
    p.add_argument(
        "--heartbeat",
        type=_seconds,
        metavar="SECONDS",
        default=None,
        help="heartbeat interval of running trials; another worker's trial is lost (and "
        "re-queued) after 3 intervals without one (default 5)",
    )


def add_parser(
    sub: Any, parents: Any = (), run_parser: argparse.ArgumentParser | None = None
) -> None:
    """Add ``worker`` to ``sub`` (and its shared options to ``run_parser``)."""
    w = sub.add_parser(
        "worker",
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        help="join a running study and run its trials on this machine",
        description="Pull trials of a study (by name) from the storage and run them here, "
        "until the study is done or --max-trials is reached.",
    )
    w.add_argument("--study", required=True, metavar="NAME", help="the study to join")
    w.add_argument(
        "--max-trials",
        dest="own_max_trials",
        type=_count,
        metavar="N",
        help="run at most N trials in this worker",
    )
    w.add_argument("--dir", metavar="DIR", help="where the sweep's relative paths resolve")
    w.add_argument(
        "--wait",
        type=_seconds,
        metavar="SECONDS",
        default=None,
        help="wait up to this long for the study to appear",
    )
    w.add_argument(
        "--progress",
        choices=("auto", "rich", "plain", "off"),
        default="auto",
        help="live display (auto)",
    )
    add_run_options(w)
    w.set_defaults(func=cmd_worker)
    if run_parser is not None:
        add_run_options(run_parser)


def _attrs(url: str, name: str, wait: float | None) -> dict[str, Any]:
    from hypersweep.cli._common import open_storage_at
    from hypersweep.spec.stored import RUN_ATTR

    deadline = time.monotonic() + (wait or 0.0)
    while True:
        try:
            storage = open_storage_at(url, must_exist=wait is None)
            try:
                attrs = dict(storage.get_study(name).attrs)
            finally:
                storage.close()
            if RUN_ATTR in attrs or time.monotonic() >= deadline:
                return attrs
        except StudyNotFound:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.5)


def cmd_worker(args: argparse.Namespace) -> int:
    """``hypersweep worker --storage URL --study NAME``."""
    from hypersweep.cli._common import DEFAULT_STORAGE
    from hypersweep.cli.run import execute
    from hypersweep.progress import make_progress
    from hypersweep.spec import Overrides, build
    from hypersweep.spec.stored import spec_from_study

    url = args.storage or DEFAULT_STORAGE
    attrs = _attrs(url, args.study, args.wait)
    spec, kept = spec_from_study(attrs, args.study, args.dir)
    progress = make_progress(args.progress)
    overrides = Overrides(name=args.study, storage=url, gpus=args.gpus, **kept)
    study, runner = build(spec, overrides, progress=progress)
    return execute(study, runner, spec.grace, progress, args)
