"""The ``hypersweep`` command.

::

    hypersweep run sweep.yaml             # create or resume the study, run trials, live progress
    hypersweep status NAME                # counts by state, best so far, stop reason
    hypersweep best NAME                  # best parameters and the command line that reruns it
    hypersweep export NAME --csv out.csv  # every trial (or --json out.json)
    hypersweep ls                         # every study in the storage
    hypersweep stop NAME                  # ask a running sweep to stop (through the storage)
    hypersweep validate sweep.yaml        # check a file completely, print the first command
    hypersweep delete NAME [--yes]        # remove a study with its trials

Exit status: 0 success, 2 bad input (an invalid sweep file, an unknown study, a bad
option), 1 when the sweep could not run (or every trial of it failed), 130 after Ctrl-C
(once running trials were ended and marked FAILED, so a re-run resumes cleanly).

Errors are one line on standard error, ``error: <what and how to fix it>``; ``--debug``
adds the traceback of unexpected errors.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from hypersweep._validate import one_line
from hypersweep.cli._common import (
    DEFAULT_STORAGE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    RunFailed,
    logging_to_stderr,
    print_err,
    storage_hint,
)
from hypersweep.cli._common import (
    UsageError as UsageError,
)
from hypersweep.cli._common import (
    print_best as print_best,
)
from hypersweep.cli.manage import cmd_delete, cmd_stop
from hypersweep.cli.results import cmd_best, cmd_export, cmd_ls, cmd_status
from hypersweep.cli.run import cmd_run, cmd_validate
from hypersweep.errors import HypersweepError, SpecError, StorageError

__all__ = ["main"]


# ======================================================================================
# Argument parsing
# ======================================================================================
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: <message> (see 'hypersweep run --help')``."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r:.80}"
        ) from None
    if not 1 <= v < 2**63:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer below 2**63, got {text!r:.80}"
        )
    return v


def _int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r:.80}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to 2**63-1, got {text!r:.80}"
        )
    return v


def _duration(text: str) -> float:
    from hypersweep.spec import parse_duration

    try:
        v = parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"cannot read {text!r:.80} as a duration; use seconds or e.g. 90s, 10m, 2h, 1h30m"
        ) from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive duration, got {text!r:.80}")
    return v


def _storage_url(text: str) -> str:
    from hypersweep.storage import url_problem  # not spec: status/best/ls import little

    problem = url_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


EPILOGS = {
    "main": """\
examples:
  hypersweep run examples/digits/sweep.yaml
  hypersweep status digits-mlp
  hypersweep best digits-mlp
  hypersweep export digits-mlp --csv trials.csv
  hypersweep ls
  hypersweep stop digits-mlp

Studies live in --storage (default sqlite:///.hypersweep/studies.db, relative to the
current directory). Run 'hypersweep COMMAND --help' for the options of each command.""",
    "run": """\
examples:
  hypersweep run sweep.yaml
  hypersweep run sweep.yaml --max-trials 50 --max-concurrent 4 --timeout 1h
  hypersweep run sweep.yaml --name digits-try2 --seed 1
  hypersweep run sweep.yaml --storage postgresql://user@host/db
  hypersweep run job-sweep.yml       # an Azure ML sweep job or a W&B sweep config, as is

Re-running the same file resumes the study of that name: max_trials counts every trial
of the study, so an interrupted sweep continues up to the same total. Ctrl-C (or
'hypersweep stop NAME' from another shell) ends running trials cleanly.""",
    "status": """\
examples:
  hypersweep status digits-mlp
  hypersweep status examples/digits/sweep.yaml     # name and storage from the file
  hypersweep status digits-mlp --json""",
    "best": """\
examples:
  hypersweep best digits-mlp
  hypersweep best digits-mlp --json
  hypersweep best digits-mlp --storage sqlite:///runs/studies.db

For a command sweep the last line is a shell command that reruns the best trial.""",
    "export": """\
examples:
  hypersweep export digits-mlp --csv trials.csv
  hypersweep export digits-mlp --json trials.json""",
    "ls": """\
examples:
  hypersweep ls
  hypersweep ls --storage postgresql://user@host/db""",
    "validate": """\
examples:
  hypersweep validate sweep.yaml

Checks the whole file and reports every error at once (one line each), then builds the
study in memory (nothing is written to the storage, nothing runs) and prints the exact
command of its first trial.""",
    "delete": """\
examples:
  hypersweep delete digits-mlp          # asks for confirmation
  hypersweep delete digits-mlp --yes

Removes the study with its trials and reports from the storage (trial logs under
.hypersweep/runs/ stay). Without --yes it asks first, and refuses when there is no
terminal to ask on.""",
    "stop": """\
examples:
  hypersweep stop digits-mlp

The running 'hypersweep run' sees the request through the storage within a few seconds,
ends its running trials (marked FAILED, reason 'interrupted') and exits with status 0.""",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hypersweep`` command."""
    fmt = argparse.RawDescriptionHelpFormatter
    common = _Parser(add_help=False)
    common.add_argument(
        "--storage",
        metavar="URL",
        type=_storage_url,
        default=None,
        help="storage URL: sqlite:///path.db, postgresql://user@host/db or memory "
        f"(default: the sweep file's, else {DEFAULT_STORAGE})",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show debug logs and the traceback of unexpected errors",
    )

    p = _Parser(
        prog="hypersweep",
        formatter_class=fmt,
        epilog=EPILOGS["main"],
        description="Hyperparameter sweeps: run a sweep file, watch it, read its results.",
    )
    from hypersweep import __version__

    p.add_argument("--version", action="version", version=f"hypersweep {__version__}")
    p.add_argument(
        "--debug",
        action="store_true",
        default=False,
        help="show debug logs and the traceback of unexpected errors",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    r = sub.add_parser(
        "run",
        parents=[common],
        formatter_class=fmt,
        epilog=EPILOGS["run"],
        help="create or resume a study and run its trials",
        description="Run the sweep a sweep file describes (live progress).",
    )
    r.add_argument("file", metavar="FILE", help="the sweep file (sweep.yaml)")
    r.add_argument("--name", help="study name (overrides the file's name)")
    r.add_argument(
        "--new-name",
        metavar="NAME",
        help="run as a new study NAME (refused if NAME exists: resume it with --name)",
    )
    r.add_argument(
        "--extend-space",
        action="store_true",
        help="resume although the file's space differs from the study's: the "
        "file's space becomes the study's, earlier trials stay (counted and "
        "shown; those that do not fit are left out of the sampler's model)",
    )
    r.add_argument(
        "--max-trials", type=_positive_int, metavar="N", help="total trials of the study"
    )
    r.add_argument(
        "--max-concurrent", type=_positive_int, metavar="N", help="trials running at once"
    )
    r.add_argument(
        "--timeout",
        type=_duration,
        metavar="DURATION",
        help="time limit of this run (90s, 10m, 2h, 1h30m or seconds)",
    )
    r.add_argument("--seed", type=_int, metavar="N", help="sampler seed")
    r.add_argument(
        "--progress",
        choices=("auto", "rich", "plain", "off"),
        default="auto",
        help="live display: rich on a terminal, plain lines otherwise (auto)",
    )
    r.set_defaults(func=cmd_run)

    s = sub.add_parser(
        "status",
        parents=[common],
        formatter_class=fmt,
        epilog=EPILOGS["status"],
        help="show a study's progress",
        description="Counts by state, the best trial so far and the stop reason of a study.",
    )
    s.add_argument("name", metavar="NAME", help="study name (or a sweep file)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_status)

    b = sub.add_parser(
        "best",
        parents=[common],
        formatter_class=fmt,
        epilog=EPILOGS["best"],
        help="print the best trial and how to rerun it",
        description="The best trial's value and parameters, and for a "
        "command sweep the exact command line that reruns it.",
    )
    b.add_argument("name", metavar="NAME", help="study name (or a sweep file)")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.add_argument("--robust", action="store_true", help="by the re-evaluated mean")
    b.set_defaults(func=cmd_best)

    e = sub.add_parser(
        "export",
        parents=[common],
        formatter_class=fmt,
        epilog=EPILOGS["export"],
        help="write every trial to CSV or JSON",
        description="Write every trial of a study to a CSV or JSON file.",
    )
    e.add_argument("name", metavar="NAME", help="study name (or a sweep file)")
    fmt_group = e.add_mutually_exclusive_group(required=True)
    fmt_group.add_argument("--csv", metavar="FILE", help="write CSV (one row per trial)")
    fmt_group.add_argument(
        "--json", metavar="FILE", help="write JSON (with every intermediate report)"
    )
    e.set_defaults(func=cmd_export)

    ls = sub.add_parser(
        "ls",
        parents=[common],
        formatter_class=fmt,
        epilog=EPILOGS["ls"],
        help="list the studies in the storage",
        description="Every study in the storage, with trial counts and best value.",
    )
    ls.set_defaults(func=cmd_ls)

    st = sub.add_parser(
        "stop",
        parents=[common],
        formatter_class=fmt,
        epilog=EPILOGS["stop"],
        help="ask a running sweep to stop",
        description="Ask every process running the study to stop.",
    )
    st.add_argument("name", metavar="NAME", help="study name (or a sweep file)")
    st.set_defaults(func=cmd_stop)

    v = sub.add_parser(
        "validate",
        parents=[common],
        formatter_class=fmt,
        epilog=EPILOGS["validate"],
        help="check a sweep file without running it",
        description="Check a sweep file completely (every error at once), "
        "build its study without running it and print the first "
        "trial's command.",
    )
    v.add_argument("file", metavar="FILE", help="the sweep file (sweep.yaml)")
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser(
        "delete",
        parents=[common],
        formatter_class=fmt,
        epilog=EPILOGS["delete"],
        help="remove a study and its trials",
        description="Remove a study with its trials from the storage.",
    )
    d.add_argument("name", metavar="NAME", help="study name (or a sweep file)")
    d.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    d.set_defaults(func=cmd_delete)
    from hypersweep.cli import convert, dashboard, enqueue, importance, reevaluate, report, worker

    convert.add_parser(sub)
    importance.add_parser(sub, parents=[common])
    enqueue.add_parser(sub, parents=[common])
    reevaluate.add_parser(sub, parents=[common])
    worker.add_parser(sub, parents=[common], run_parser=r)
    dashboard.add_parser(sub)
    report.add_parsers(sub)
    return p


# ======================================================================================
# Entry point
# ======================================================================================
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hypersweep`` command; return the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        parser.print_help()
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already printed
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    func: Callable[[argparse.Namespace], int] = args.func
    with logging_to_stderr(debug):
        try:
            return func(args)
        except KeyboardInterrupt:
            print_err("interrupted")
            return EXIT_INTERRUPTED
        except (RunFailed, StorageError) as e:
            print_err(f"error: {storage_hint(one_line(str(e)))}")
            if debug:
                traceback.print_exc()
            return EXIT_FAILED
        except (HypersweepError, SpecError) as e:
            print_err(f"error: {one_line(str(e))}")
            if debug:
                traceback.print_exc()
            return EXIT_USAGE
        except BrokenPipeError:  # `hypersweep ls | head`
            try:
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
            except OSError:
                pass
            return EXIT_OK
        except Exception as e:
            if debug:
                traceback.print_exc()
            else:
                print_err(
                    f"error: unexpected {type(e).__name__}: {one_line(str(e))[:300]} "
                    "(rerun with --debug for the traceback)"
                )
            return EXIT_FAILED
