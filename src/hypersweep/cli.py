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
import difflib
import json
import logging
import math
import os
import shlex
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hypersweep.errors import HypersweepError, SpecError, StorageError, StudyNotFound

if TYPE_CHECKING:
    from hypersweep.storage import Storage, StudyRecord
    from hypersweep.study import Study
    from hypersweep.trial import Objective, Trial

__all__ = ["main"]

DEFAULT_STORAGE = "sqlite:///.hypersweep/studies.db"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

log = logging.getLogger("hypersweep")


class UsageError(HypersweepError):
    """Bad command-line input (exit status 2)."""


class RunFailed(HypersweepError):
    """The sweep ran but could not do its job (exit status 1)."""


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
    common = argparse.ArgumentParser(add_help=False)
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
    from hypersweep import cli_dashboard, cli_report  # the dashboard's modules (issue 10)

    cli_dashboard.add_parser(sub)
    cli_report.add_parsers(sub)
    return p


# ======================================================================================
# Output helpers
# ======================================================================================
def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _storage_hint(msg: str) -> str:
    """A storage error as the database reported it, plus what to do about it."""
    low = msg.lower()
    if ("readonly database" in low or "read-only transaction" in low) and "read-only (" not in low:
        return (
            f"{msg} (the database is read-only: status, ls, best and export can read "
            "it; run and stop need write access)"
        )
    return msg


class _StderrHandler(logging.Handler):
    """Log records as ``warning: ...`` lines on the *current* ``sys.stderr`` (so a live
    display that redirects standard error prints them above itself)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.exc_info and record.levelno >= logging.ERROR:
                msg += "\n" + "".join(traceback.format_exception(*record.exc_info))
            sys.stderr.write(f"{record.levelname.lower()}: {msg}\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


@contextmanager
def _logging(debug: bool) -> Iterator[None]:
    handler = _StderrHandler()
    old_level, old_propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if debug else logging.WARNING)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
        log.propagate = old_propagate


# ======================================================================================
# Signals: Ctrl-C (and SIGTERM) end the run cleanly
# ======================================================================================
@contextmanager
def _interrupts(grace: float) -> Iterator[None]:
    """The first SIGINT/SIGTERM raises KeyboardInterrupt (the runner then ends its trials);
    the next one says to wait; a third abandons the clean-up."""
    count = 0

    def handler(signum: int, frame: Any) -> None:
        nonlocal count
        count += 1
        if count == 1 or count >= 3:
            raise KeyboardInterrupt
        _err(
            f"hypersweep: ending running trials (up to {grace:g}s); press Ctrl-C again to "
            "abandon them"
        )

    try:
        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


# ======================================================================================
# Opening studies
# ======================================================================================
def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return Path(path).expanduser() if path and path != ":memory:" else None


def _target(args: argparse.Namespace) -> tuple[str, str]:
    """The study name and storage URL of a NAME argument (a study name or a sweep file)."""
    name: str = args.name
    storage: str | None = args.storage
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        from hypersweep.spec import load

        spec = load(name)
        if spec.name is None:
            raise UsageError(f"{name} has no name: key; pass the study name instead")
        name = spec.name
        storage = storage or spec.storage
    return name, storage or DEFAULT_STORAGE


def _open_storage(url: str, must_exist: bool = True, read_only: bool = False) -> Storage:
    """``read_only``: the commands that only read open the storage read-only, so a
    database without write permission (file or folder) can still be read."""
    from hypersweep.storage import open_storage

    path = _sqlite_path(url)
    if must_exist and path is not None and not path.exists():
        raise UsageError(
            f"no studies in {url}: {str(path)!r} does not exist (run a sweep "
            "first, or pass --storage)"
        )
    return open_storage(url, read_only=read_only)


def _open_record(
    name: str,
    url: str,
    read_only: bool = True,
) -> tuple[Storage, StudyRecord]:
    """The storage and the stored study of that name (no trial is read)."""
    storage = _open_storage(url, read_only=read_only)
    try:
        return storage, storage.get_study(name)
    except StudyNotFound:
        names = [s.name for s in storage.list_studies()]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = (
            f"; studies: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}"
            if names
            else "; it holds no study yet"
        )
        raise StudyNotFound(f"no study named {name!r} in {url}{hint}{known}") from None


def _open_study(name: str, url: str, read_only: bool = True) -> Study:
    from hypersweep.study import Study

    storage, _ = _open_record(name, url, read_only=read_only)
    return Study.load(name, storage=storage)


@dataclass(frozen=True)
class _View:
    """What printing a study's results needs: its stored record and a way to read one
    trial. ``status``, ``best``, ``ls`` and ``stop`` read only these and the storage's
    aggregates, so their cost does not grow with the study."""

    name: str
    objectives: tuple[Objective, ...]
    attrs: Mapping[str, Any]
    trial: Callable[[int], Trial]
    outside_space: Callable[[], list[int]]
    constraints: tuple[Any, ...] = ()  # a study with constraints is read as a Study
    feasible: Callable[[Trial], bool] = lambda t: True

    @classmethod
    def of_record(cls, storage: Storage, rec: StudyRecord) -> _View:
        def outside() -> list[int]:  # trials from an earlier space: reads the history
            return _outside_space(storage, rec)

        return cls(
            rec.name,
            rec.objectives,
            rec.attrs,
            lambda number: storage.get_trial(rec.id, number),
            outside,
        )

    @classmethod
    def of_study(cls, study: Study) -> _View:
        return cls(
            study.name,
            study.objectives,
            study.attrs,
            lambda number: study.trials()[number],
            study.outside_space,
            study.constraints,
            study.feasible,
        )


# ======================================================================================
# Formatting results
# ======================================================================================
def _value(v: Any) -> str:
    """:func:`hypersweep.progress.fmt_value` for the plain Python numbers a storage returns
    (that module imports numpy, which ``status``/``best``/``ls`` do not need)."""
    if type(v) in (int, float):
        return str(v) if type(v) is int or not math.isfinite(v) else f"{v:.4g}"
    from hypersweep.progress import fmt_value

    return fmt_value(v)


def _exact(params: Mapping[str, Any]) -> str:
    """Parameters with their exact values (what a rerun needs)."""
    from hypersweep.execution.command import format_value

    return " ".join(f"{k}={shlex.quote(format_value(v))}" for k, v in params.items())


def rerun_command(sweep: Mapping[str, Any] | None, params: Mapping[str, Any]) -> str | None:
    """The shell line that reruns a trial of a command sweep, or ``None``.

    ``cd WORKDIR && [VAR=value ...] argv...``: the same argv and parameter environment the
    trial had (see :func:`hypersweep.execution.command.command_line`).
    """
    if not sweep or not sweep.get("command"):
        return None
    from hypersweep.execution.command import command_line

    line = command_line(sweep["command"], params, sweep.get("params_as", "args"))
    workdir = sweep.get("workdir")
    if workdir:
        line = f"cd {shlex.quote(str(workdir))} && {line}"
    return line


def _counts_text(counts: Mapping[str, int]) -> str:
    order = ("COMPLETED", "STOPPED", "FAILED", "RUNNING", "QUEUED")
    parts = [
        f"{counts.get(k, 0)} {k.lower()}"
        for k in order
        if counts.get(k, 0) or k in ("COMPLETED", "FAILED")
    ]
    return ", ".join(parts)


def _print_best(study: _View | Study, trial: Trial | None, label: str = "best: ") -> None:
    if not isinstance(study, _View):
        study = _View.of_study(study)
    metrics = [o.metric for o in study.objectives]
    if trial is None:
        _out(f"{label}no completed trial yet")
        return
    vals = ", ".join(f"{m}={_value(v)}" for m, v in zip(metrics, trial.values or ()))
    note = "  (from an earlier search space)" if trial.number in study.outside_space() else ""
    _out(f"{label}trial {trial.number}  {vals}{note}")
    _out(f"  params: {_exact(trial.params)}")
    if study.constraints:
        _out(f"  constraints: {_constraints_text(study, trial)}")
    sweep = study.attrs.get("sweep")
    line = rerun_command(sweep, trial.params)
    if line:
        _out(f"  command: {line}")
        env_names = (sweep or {}).get("env_names") or []
        if env_names:
            _out(f"  (plus the sweep file's env: {', '.join(env_names)})")
    elif sweep and sweep.get("function"):
        _out(f"  function: {sweep['function']}")
    lin = trial.system_attrs.get("pbt")
    if isinstance(lin, dict) and lin.get("parent") is not None:
        from hypersweep.samplers.pbt import lineage

        chain = lineage(_ancestors(study, trial), trial.number)
        steps = " -> ".join(
            f"#{t.number} from step {t.system_attrs.get('pbt', {}).get('step', 0)} "
            f"{_exact(t.params)}"
            for t in chain
        )
        _out(f"  pbt schedule: {steps}")
        _out(
            f"  (a PBT segment: it resumed from trial {lin['parent']}'s checkpoint; the "
            "command alone trains from scratch with the last parameters)"
        )


def _ancestors(study: _View, trial: Trial) -> list[Trial]:
    """``trial`` and the PBT segments it descends from, read one by one."""
    out, seen, cur = [trial], {trial.number}, trial
    while True:
        lin = cur.system_attrs.get("pbt")
        parent = lin.get("parent") if isinstance(lin, dict) else None
        if not isinstance(parent, int) or parent in seen:
            return out
        try:
            cur = study.trial(parent)
        except (KeyError, IndexError):
            return out
        seen.add(parent)
        out.append(cur)


def _constraints_text(study: _View, trial: Trial) -> str:
    """``feasible (gpu_mem_gb=12.5 <= 16, ...)`` or ``infeasible (...)``."""
    from hypersweep.constraints import metric_value

    parts = []
    for c in study.constraints:
        v = metric_value(trial, c.metric)
        shown = "missing" if v is None else _value(v)
        parts.append(f"{c.metric}={shown} (needs {c.describe()})")
    word = "feasible" if study.feasible(trial) else "infeasible"
    return f"{word}: " + ", ".join(parts)


def _trial_dict(study: _View, t: Trial, with_command: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {
        "number": t.number,
        "state": t.state.value,
        "params": t.params,
        "values": dict(zip([o.metric for o in study.objectives], t.values or ())),
        "duration": t.duration,
    }
    if study.constraints:
        d["feasible"] = study.feasible(t)
    if with_command:
        d["command"] = rerun_command(study.attrs.get("sweep"), t.params)
    return d


# ======================================================================================
# Commands
# ======================================================================================
def cmd_run(args: argparse.Namespace) -> int:
    """``hypersweep run FILE``: create or resume the study and run its trials."""
    from hypersweep.progress import RichProgress, make_progress
    from hypersweep.spec import Overrides, build, load

    spec = load(args.file)
    if args.new_name is not None and args.name is not None:
        raise UsageError("--name and --new-name: give one of them")
    for flag, value in (("--name", args.name), ("--new-name", args.new_name)):
        from hypersweep.study import _NAME_RE

        if value is not None and not _NAME_RE.fullmatch(value):
            raise UsageError(
                f"{flag}: {value!r:.80} is not a valid study name; use letters, "
                "digits, '_', '.', '-'"
            )
    if args.new_name is not None:
        _check_new_name(args.new_name, args.storage or spec.storage or DEFAULT_STORAGE)
        args.name = args.new_name
    for w in spec.warnings:
        _err(f"warning: {w}")
    progress = make_progress(args.progress)
    overrides = Overrides(
        name=args.name,
        storage=args.storage,
        seed=args.seed,
        max_trials=args.max_trials,
        max_concurrent=args.max_concurrent,
        timeout=args.timeout,
        extend_space=args.extend_space,
    )
    study, runner = build(spec, overrides, progress=progress)
    study.sync()
    before = study.history.n
    lim = runner.limits
    what = [
        f"{lim.max_trials} trials" if lim.max_trials else "no trial limit",
        f"{lim.max_concurrent} at a time",
    ]
    if lim.timeout:
        from hypersweep.progress import fmt_duration

        what.append(f"timeout {fmt_duration(lim.timeout)}")
    state = f"resuming with {before} trials" if before else "new study"
    _out(f"hypersweep: study {study.name!r} in {study.storage.url} ({state}); {', '.join(what)}")
    interrupted = False
    try:
        with _interrupts(spec.grace):
            runner.run()
    except KeyboardInterrupt:
        interrupted = True
    except HypersweepError as e:  # the sweep started but could not go on
        raise RunFailed(str(e)) from e
    finally:
        if isinstance(progress, RichProgress):
            progress.close()
    _summary(study, runner, before)
    if interrupted:
        _err(
            "interrupted: running trials were ended and re-queued (up to limits.retries "
            "times); run the same command again to resume"
        )
        return EXIT_INTERRUPTED
    if runner.failed_fast:
        raise RunFailed(f"{runner.failed_fast} (logs under .hypersweep/runs/{study.name}/)")
    return _run_status(study, runner)


def _run_status(study: Study, runner: Any) -> int:
    """``run``'s exit status: a run that completes no trial fails (1), unless it had
    nothing to do for a study that already has results."""
    # trials ended by the stop itself ("interrupted (...)") say nothing about the sweep
    ran = [t for t in runner.finished if not (t.error or "").startswith("interrupted")]
    ok = [t for t in ran if t.state.value in ("COMPLETED", "STOPPED")]
    if ok or (runner.stop_reason or "").startswith("stop requested"):
        return EXIT_OK  # a stop request is the user's decision, like Ctrl-C
    if ran:
        last = next((t for t in reversed(ran) if t.error), None)
        reason = _one_line(last.error)[:300] if last is not None and last.error else "unknown"
        raise RunFailed(
            f"all {len(ran)} trials of this run failed (none completed); the "
            f"last one: {reason} (logs under .hypersweep/runs/{study.name}/)"
        )
    if runner.retried:
        raise RunFailed(
            f"no trial of this run completed: {runner.stop_reason}; the "
            f"{len(runner.retried)} trials it ended were re-queued; run the same "
            "command again to resume (or raise --timeout)"
        )
    counts = study.summary()["states"]
    if counts.get("COMPLETED", 0) or counts.get("STOPPED", 0):
        return EXIT_OK  # nothing left to do (limits reached) for a study with results
    raise RunFailed(
        f"no trial ran and the study holds no completed trial "
        f"({_counts_text(counts)}): {runner.stop_reason or 'nothing to run'}; "
        f"raise --max-trials, or start over with 'hypersweep delete "
        f"{study.name}'"
    )


def _check_new_name(name: str, url: str) -> None:
    """``--new-name NAME``: NAME must not be a study in the storage yet."""
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        return
    storage = _open_storage(url, read_only=True)
    try:
        storage.get_study(name)
    except StudyNotFound:
        return
    finally:
        storage.close()
    raise UsageError(
        f"--new-name: study {name!r} already exists in {url}; choose another "
        f"name, or resume it with --name {name}"
    )


def _summary(study: Study, runner: Any, before: int) -> None:
    """The end of ``run``: stop reason, counts, best trial and its command line."""
    from hypersweep.progress import fmt_duration

    summary = study.summary()
    n = summary["trials"]
    ran = len(runner.finished)
    _out(f"stopped: {runner.stop_reason or 'interrupted'}")
    _out(
        f"trials: {n} in the study ({_counts_text(summary['states'])}); {ran} finished "
        f"in this run, {fmt_duration(runner.elapsed)}"
    )
    if len(study.objectives) == 1:
        _print_best(study, study.best_trial)
    else:
        front = study.best_trials
        _out(f"pareto front: {len(front)} trials (hypersweep best {study.name} lists them)")


def _outside_space(storage: Storage, rec: StudyRecord) -> list[int]:
    """Trials from an earlier search space. Only a study whose space was extended can hold
    any, and only then is the history read (bulk columns): the other commands stay flat."""
    if not rec.attrs.get("space_extended"):
        return []
    from hypersweep.study import Study

    return Study.load(rec.name, storage=storage).outside_space()


def _results(
    storage: Storage,
    rec: StudyRecord,
) -> tuple[_View, Callable[[], list[Trial]], Callable[[], dict[str, Any]], list[int]]:
    """What ``status`` and ``best`` print from: a view of the study, its best trials, its
    summary and its trials from an earlier space. Read from the storage's aggregates, so
    the cost stays flat; a study with constraints reads its history instead (feasibility
    needs every finished trial's constraint metrics)."""
    outside = _outside_space(storage, rec)
    if not rec.attrs.get("constraints"):
        return (
            _View.of_record(storage, rec),
            lambda: storage.best_trials(rec.id),
            lambda: _status(storage, rec, outside),
            outside,
        )
    from hypersweep.study import Study

    study = Study.load(rec.name, storage=storage)

    def best() -> list[Trial]:
        if len(study.objectives) > 1:
            return study.best_trials
        t = study.best_trial
        return [] if t is None else [t]

    return _View.of_study(study), best, study.summary, study.outside_space()


def _status(storage: Storage, rec: StudyRecord, outside: list[int]) -> dict[str, Any]:
    """What ``status --json`` prints (the content of :meth:`Study.summary`), from the
    storage's aggregates."""
    from hypersweep.trial import TrialState

    counts = storage.count_trials(rec.id)
    out: dict[str, Any] = {
        "name": rec.name,
        "trials": sum(counts.values()),
        "states": {s.value: int(counts.get(s, 0)) for s in TrialState},
        "objectives": [o.to_dict() for o in rec.objectives],
    }
    if len(rec.objectives) == 1:
        best = storage.best_trials(rec.id)
        out["best"] = (
            None
            if not best
            else {"number": best[0].number, "value": best[0].value, "params": best[0].params}
        )
    out["outside_space"] = len(outside)  # from an earlier space
    out["stop_reason"] = rec.attrs.get("stop_reason")
    return out


def cmd_status(args: argparse.Namespace) -> int:
    """``hypersweep status NAME``: counts by state, best so far, stop reason."""
    from hypersweep.trial import TrialState

    name, url = _target(args)
    storage, rec = _open_record(name, url)
    view, best_trials, summarize, outside = _results(storage, rec)
    summary = summarize()
    if args.json:
        summary["storage"] = url
        _out(json.dumps(summary, indent=2, default=str))
        return EXIT_OK
    objs = ", ".join(f"{o.goal} {o.metric}" for o in rec.objectives)
    _out(f"study:     {rec.name}  ({url})")
    _out(f"objective: {objs}")
    _out(f"trials:    {summary['trials']} ({_counts_text(summary['states'])})")
    if view.constraints:
        cons = ", ".join(c.describe() for c in view.constraints)
        _out(
            f"feasible:  {summary['feasible']} of {summary['feasible'] + summary['infeasible']}"
            f" finished trials meet {cons}"
        )
    if len(rec.objectives) == 1:
        b = summary["best"]
        if b is None:
            _out(
                "best:      no feasible completed trial yet"
                if view.constraints
                else "best:      no completed trial yet"
            )
        else:
            note = "  (from an earlier search space)" if b["number"] in outside else ""
            _out(
                f"best:      {_value(b['value'])} (trial {b['number']})  "
                f"{_exact(b['params'])}{note}"
            )
    else:
        _out(f"pareto:    {len(best_trials())} trials on the front")
    if outside:
        _out(
            f"space:     {len(outside)} trial{'s' * (len(outside) != 1)} from an earlier "
            "search space (counted and shown; not used by the sampler)"
        )
    running = summary["states"].get("RUNNING", 0)
    if rec.attrs.get("stop_requested") and running:
        _out(f"state:     stop requested ({rec.attrs['stop_requested']})")
    elif running:
        _out("state:     running")
    elif summary.get("stop_reason"):
        _out(f"stopped:   {summary['stop_reason']}")
    t = storage.last_trial(rec.id, TrialState.FAILED)
    if t is not None:
        _out(f"last failure: trial {t.number}: {_one_line(t.error or '')[:200]}")
    return EXIT_OK


def cmd_best(args: argparse.Namespace) -> int:
    """``hypersweep best NAME``: the best trial (or Pareto front) and how to rerun it."""
    name, url = _target(args)
    storage, rec = _open_record(name, url)
    view, best_trials, _, _ = _results(storage, rec)
    if len(rec.objectives) == 1:
        best = best_trials()
        t = best[0] if best else None
        if args.json:
            _out(json.dumps(None if t is None else _trial_dict(view, t), indent=2))
            return EXIT_OK if t is not None else EXIT_FAILED
        if t is None:
            what = "feasible completed" if view.constraints else "completed"
            raise RunFailed(f"study {name!r} has no {what} trial yet")
        _print_best(view, t)
        return EXIT_OK
    front = best_trials()
    if args.json:
        _out(json.dumps([_trial_dict(view, t) for t in front], indent=2))
        return EXIT_OK if front else EXIT_FAILED
    if not front:
        raise RunFailed(f"study {name!r} has no completed trial yet")
    _out(f"pareto front of {rec.name}: {len(front)} trials")
    for t in front:
        _print_best(view, t, label="")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """``hypersweep export NAME --csv FILE | --json FILE``."""
    from hypersweep.study import Study

    name, url = _target(args)
    storage, rec = _open_record(name, url)
    study = Study.load(name, storage=storage)
    path, fmt = (args.csv, "csv") if args.csv else (args.json, "json")
    try:
        out = study.export(path, format=fmt)
    except OSError as e:
        raise RunFailed(f"cannot write {path!r}: {e.strerror or e}") from None
    n = sum(storage.count_trials(rec.id).values())
    _out(f"wrote {n} trials of {study.name!r} to {out}")
    return EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    """``hypersweep ls``: every study with its trial counts and best value."""
    from hypersweep.trial import TrialState

    url = args.storage or DEFAULT_STORAGE
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        _out(f"no studies in {url} (the file does not exist yet)")
        return EXIT_OK
    storage = _open_storage(url, read_only=True)
    studies = storage.list_studies()
    if not studies:
        _out(f"no studies in {url}")
        return EXIT_OK
    rows = [("NAME", "TRIALS", "COMPLETED", "FAILED", "RUNNING", "BEST", "OBJECTIVE")]
    for rec in studies:
        counts = storage.count_trials(rec.id)
        total = sum(counts.values())
        best = "-"
        if len(rec.objectives) == 1:
            top = storage.best_trials(rec.id)
            if top:
                best = _value(top[0].value)
        objective = ", ".join(f"{o.goal} {o.metric}" for o in rec.objectives)
        rows.append(
            (
                rec.name,
                str(total),
                str(counts.get(TrialState.COMPLETED, 0)),
                str(counts.get(TrialState.FAILED, 0)),
                str(counts.get(TrialState.RUNNING, 0)),
                best,
                objective,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        _out("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    """``hypersweep stop NAME``: ask every process running the study to stop."""
    from hypersweep.trial import TrialState

    name, url = _target(args)
    storage, rec = _open_record(name, url, read_only=False)
    storage.update_study(
        rec.id, attrs={"stop_requested": f"'hypersweep stop' from pid {os.getpid()}"}
    )
    running = storage.count_trials(rec.id).get(TrialState.RUNNING, 0)
    note = (
        f"{running} trial{'s' * (running != 1)} running now"
        if running
        else "no trial is running now"
    )
    _out(
        f"asked study {name!r} to stop ({note}); a running 'hypersweep run' ends within a "
        "few seconds"
    )
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """``hypersweep validate FILE``: every error of the file, else its first trial's command."""
    from hypersweep.spec import Overrides, build, check

    spec, errors = check(args.file)
    if spec is None:
        for e in errors:
            _err(f"error: {e}")
        _err(f"{args.file}: {len(errors)} error{'s' * (len(errors) != 1)}")
        return EXIT_USAGE
    for w in spec.warnings:
        _err(f"warning: {w}")
    storage_url = args.storage or spec.storage or DEFAULT_STORAGE
    study, _ = build(spec, Overrides(storage="memory"))  # nothing written, nothing run
    first = study.ask()
    params = _exact(first.params)
    _out(
        f"{args.file}: valid; study {study.name!r} ({len(study.space)} parameters, "
        f"{', '.join(f'{o.goal} {o.metric}' for o in study.objectives)}, sampler "
        f"{study.sampler.name}) in {storage_url}"
    )
    line = rerun_command(spec.sweep_attrs(), first.params)
    if line:
        _out(f"first trial: {line}")
    else:
        _out(f"first trial: {spec.function}({params})")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    """``hypersweep delete NAME [--yes]``: remove a study with its trials."""
    name, url = _target(args)
    study = _open_study(name, url, read_only=False)
    counts = study.summary()["states"]
    total = sum(counts.values())
    what = f"study {name!r} ({total} trials: {_counts_text(counts)}) from {url}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"delete: not deleting {what} without confirmation; pass --yes")
        sys.stderr.write(f"delete {what}? [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            _out(f"kept study {name!r}")
            return EXIT_FAILED
    study.storage.delete_study(name)
    _out(f"deleted {what}")
    return EXIT_OK


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
    with _logging(debug):
        try:
            return func(args)
        except KeyboardInterrupt:
            _err("interrupted")
            return EXIT_INTERRUPTED
        except (RunFailed, StorageError) as e:
            _err(f"error: {_storage_hint(_one_line(str(e)))}")
            if debug:
                traceback.print_exc()
            return EXIT_FAILED
        except (HypersweepError, SpecError) as e:
            _err(f"error: {_one_line(str(e))}")
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
                _err(
                    f"error: unexpected {type(e).__name__}: {_one_line(str(e))[:300]} "
                    "(rerun with --debug for the traceback)"
                )
            return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
