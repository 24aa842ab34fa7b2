"""The commands that change a study: ``hypersweep stop`` and ``delete``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from hypersweep.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    counts_text,
    open_record,
    open_study,
    print_out,
    target,
)


def cmd_stop(args: argparse.Namespace) -> int:
    """``hypersweep stop NAME``: ask every process running the study to stop."""
    from hypersweep.trial import TrialState

    name, url = target(args)
    storage, rec = open_record(name, url, read_only=False)
    storage.update_study(
        rec.id, attrs={"stop_requested": f"'hypersweep stop' from pid {os.getpid()}"}
    )
    running = storage.count_trials(rec.id).get(TrialState.RUNNING, 0)
    note = (
        f"{running} trial{'s' * (running != 1)} running now"
        if running
        else "no trial is running now"
    )
    print_out(
        f"asked study {name!r} to stop ({note}); a running 'hypersweep run' ends within a "
        "few seconds"
    )
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    """``hypersweep delete NAME [--yes]``: remove a study with its trials."""
    name, url = target(args)
    study = open_study(name, url, read_only=False)
    counts = study.summary()["states"]
    total = sum(counts.values())
    what = f"study {name!r} ({total} trials: {counts_text(counts)}) from {url}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"delete: not deleting {what} without confirmation; pass --yes")
        sys.stderr.write(f"delete {what}? [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print_out(f"kept study {name!r}")
            return EXIT_FAILED
    study.storage.delete_study(name)
    print_out(f"deleted {what}")
    return EXIT_OK
