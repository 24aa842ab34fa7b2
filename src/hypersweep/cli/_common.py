"""What the sub-commands share: exit codes, one-line output, logging, Ctrl-C handling,
opening a study, formatting trials."""

from __future__ import annotations

import argparse
import logging
import math
import shlex
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypersweep._validate import did_you_mean
from hypersweep.errors import HypersweepError, StudyNotFound

if TYPE_CHECKING:
    from hypersweep.storage import Storage, StudyRecord
    from hypersweep.study import Study
    from hypersweep.trial import Objective, Trial


DEFAULT_STORAGE = "sqlite:///.hypersweep/studies.db"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

log = logging.getLogger("hypersweep")


class UsageError(HypersweepError):
    """Bad command-line input (exit status 2)."""


class RunFailed(HypersweepError):
    """The sweep ran but could not do its job (exit status 1)."""


# ======================================================================================
# Output helpers
# ======================================================================================
def print_out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def storage_hint(msg: str) -> str:
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
def logging_to_stderr(debug: bool) -> Iterator[None]:
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
def interrupts(grace: float) -> Iterator[None]:
    """The first SIGINT/SIGTERM raises KeyboardInterrupt (the runner then ends its trials);
    the next one says to wait; a third abandons the clean-up."""
    count = 0

    def handler(signum: int, frame: Any) -> None:
        nonlocal count
        count += 1
        if count == 1 or count >= 3:
            raise KeyboardInterrupt
        print_err(
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
def sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return Path(path).expanduser() if path and path != ":memory:" else None


def target(args: argparse.Namespace) -> tuple[str, str]:
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


def open_storage_at(url: str, must_exist: bool = True, read_only: bool = False) -> Storage:
    """``read_only``: the commands that only read open the storage read-only, so a
    database without write permission (file or folder) can still be read."""
    from hypersweep.storage import open_storage

    path = sqlite_path(url)
    if must_exist and path is not None and not path.exists():
        raise UsageError(
            f"no studies in {url}: {str(path)!r} does not exist (run a sweep "
            "first, or pass --storage)"
        )
    return open_storage(url, read_only=read_only)


def open_record(
    name: str,
    url: str,
    read_only: bool = True,
) -> tuple[Storage, StudyRecord]:
    """The storage and the stored study of that name (no trial is read)."""
    storage = open_storage_at(url, read_only=read_only)
    try:
        return storage, storage.get_study(name)
    except StudyNotFound:
        names = [s.name for s in storage.list_studies()]
        hint = did_you_mean(name, names)
        known = (
            f"; studies: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}"
            if names
            else "; it holds no study yet"
        )
        raise StudyNotFound(f"no study named {name!r} in {url}{hint}{known}") from None


def open_study(name: str, url: str, read_only: bool = True) -> Study:
    from hypersweep.study import Study

    storage, _ = open_record(name, url, read_only=read_only)
    return Study.load(name, storage=storage)


@dataclass(frozen=True)
class View:
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
    def of_record(cls, storage: Storage, rec: StudyRecord) -> View:
        def outside() -> list[int]:  # trials from an earlier space: reads the history
            return outside_space_trials(storage, rec)

        return cls(
            rec.name,
            rec.objectives,
            rec.attrs,
            lambda number: storage.get_trial(rec.id, number),
            outside,
        )

    @classmethod
    def of_study(cls, study: Study) -> View:
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
def value_text(v: Any) -> str:
    """:func:`hypersweep.progress.fmt_value` for the plain Python numbers a storage returns
    (that module imports numpy, which ``status``/``best``/``ls`` do not need)."""
    if type(v) in (int, float):
        return str(v) if type(v) is int or not math.isfinite(v) else f"{v:.4g}"
    from hypersweep.progress import fmt_value

    return fmt_value(v)


def exact_params(params: Mapping[str, Any]) -> str:
    """Parameters with their exact values (what a rerun needs)."""
    from hypersweep.execution.command import format_value

    return " ".join(f"{k}={shlex.quote(format_value(v))}" for k, v in params.items())


def counts_text(counts: Mapping[str, int]) -> str:
    order = ("COMPLETED", "STOPPED", "FAILED", "RUNNING", "QUEUED")
    parts = [
        f"{counts.get(k, 0)} {k.lower()}"
        for k in order
        if counts.get(k, 0) or k in ("COMPLETED", "FAILED")
    ]
    return ", ".join(parts)


def print_best(study: View | Study, trial: Trial | None, label: str = "best: ") -> None:
    if not isinstance(study, View):
        study = View.of_study(study)
    metrics = [o.metric for o in study.objectives]
    if trial is None:
        print_out(f"{label}no completed trial yet")
        return
    vals = ", ".join(f"{m}={value_text(v)}" for m, v in zip(metrics, trial.values or ()))
    note = "  (from an earlier search space)" if trial.number in study.outside_space() else ""
    print_out(f"{label}trial {trial.number}  {vals}{note}")
    print_out(f"  params: {exact_params(trial.params)}")
    if study.constraints:
        print_out(f"  constraints: {_constraints_text(study, trial)}")
    sweep = study.attrs.get("sweep")
    from hypersweep.execution.command import rerun_command  # not on status/ls's path

    line = rerun_command(sweep, trial.params, seed_of(study.attrs, trial))
    if line:
        print_out(f"  command: {line}")
        env_names = (sweep or {}).get("env_names") or []
        if env_names:
            print_out(f"  (plus the sweep file's env: {', '.join(env_names)})")
    elif sweep and sweep.get("function"):
        print_out(f"  function: {sweep['function']}")
    if trial.resume_from is not None:
        from hypersweep.samplers.pbt import lineage

        chain = lineage(_ancestors(study, trial), trial.number)
        steps = " -> ".join(
            f"#{t.number} from step {t.system_attrs.get('pbt', {}).get('step', 0)} "
            f"{exact_params(t.params)}"
            for t in chain
        )
        print_out(f"  pbt schedule: {steps}")
        print_out(
            f"  (a PBT segment: it resumed from trial {trial.resume_from}'s checkpoint; the "
            "command alone trains from scratch with the last parameters)"
        )


def _ancestors(study: View, trial: Trial) -> list[Trial]:
    """``trial`` and the PBT segments it descends from, read one by one."""
    out, seen, cur = [trial], {trial.number}, trial
    while True:
        parent = cur.resume_from
        if parent is None or parent in seen:
            return out
        try:
            cur = study.trial(parent)
        except (KeyError, IndexError):
            return out
        seen.add(parent)
        out.append(cur)


def _constraints_text(study: View, trial: Trial) -> str:
    """``feasible (gpu_mem_gb=12.5 <= 16, ...)`` or ``infeasible (...)``."""
    from hypersweep.constraints import metric_value

    parts = []
    for c in study.constraints:
        v = metric_value(trial, c.metric)
        shown = "missing" if v is None else value_text(v)
        parts.append(f"{c.metric}={shown} (needs {c.describe()})")
    word = "feasible" if study.feasible(trial) else "infeasible"
    return f"{word}: " + ", ".join(parts)


def seed_of(attrs: Mapping[str, Any], trial: Trial) -> int | None:
    """A stored trial's seed (``{seed}``): its own (a re-evaluation) or the one derived
    from the study seed in ``attrs`` and its number; ``None`` when neither is known."""
    from hypersweep._sequence import trial_seed

    own = trial.system_attrs.get("seed")
    if isinstance(own, int) and not isinstance(own, bool):
        return own
    s = attrs.get("seed")
    if isinstance(s, int) and not isinstance(s, bool):
        return trial_seed(s, trial.number)
    return None


def trial_dict(study: View, t: Trial, with_command: bool = True) -> dict[str, Any]:
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
        from hypersweep.execution.command import rerun_command

        d["command"] = rerun_command(study.attrs.get("sweep"), t.params, seed_of(study.attrs, t))
    return d


def outside_space_trials(storage: Storage, rec: StudyRecord) -> list[int]:
    """Trials from an earlier search space. Only a study whose space was extended can hold
    any, and only then is the history read (bulk columns): the other commands stay flat."""
    if not rec.attrs.get("space_extended"):
        return []
    from hypersweep.study import Study

    return Study.load(rec.name, storage=storage).outside_space()
