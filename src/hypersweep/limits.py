"""Limits of a run: when to stop launching trials and when to stop the study.

Validated at construction (a ``limits:`` key of the sweep file with a bad value is a
one-line :class:`~hypersweep.errors.SpecError` naming the key).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from hypersweep.errors import SpecError

__all__ = ["RETRY_ON", "Limits", "failure_key", "failure_line"]


def _pos(name: str, v: Any, integer: bool, allow_zero: bool = False) -> None:
    if v is None:
        return
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    ok = ok and abs(v) <= 2**63 - 1 and math.isfinite(v)  # huge ints: no float overflow
    ok = ok and (v >= 0 if allow_zero else v > 0)
    if integer:
        ok = ok and float(v).is_integer()
    if not ok:
        kind = "a positive integer" if integer else "a positive number of seconds"
        shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:30] + "..."
        if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > 2**63 - 1:
            kind += " of at most 2**63-1"
        raise SpecError(f"limits.{name}: must be {kind}, got {shown}")


#: what ``limits.retry_on`` may name besides the always-retried lost/interrupted trials
RETRY_ON = ("failed",)


def _count(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise SpecError(f"limits.{name}: must be an integer >= 0, got {v!r}")


@dataclass(frozen=True)
class Limits:
    """When to stop launching trials and when to stop the study.

    Attributes:
        max_trials: the study's trial budget (what counts: see :mod:`hypersweep.execution.runner`).
            Enforced by the storage: a run creates a trial only while the study holds
            fewer than ``max_trials`` and claims only queued trials numbered below it,
            so any number of processes leave exactly ``max_trials`` started trials.
        max_concurrent: trials running at once.
        timeout: seconds for this run.
        trial_timeout: seconds per trial.
        max_steps: a trial is STOPPED once it has reported this many steps.
        target: stop once the best value reaches this (single objective).
        patience: stop after this many COMPLETED trials without improvement.
        max_trial_seconds: a cost cap: stop the study (like ``timeout``, running trials
            too) once the total trial time of the study (durations of finished trials plus
            the elapsed time of running ones, each from when the trial's own code
            started) reaches this many seconds.
        retries: how often a lost, interrupted or killed trial is re-queued (0: never).
        retry_on: ``["failed"]`` also retries trials that fail by their own error.
        max_failures: stop the run when its first this many trials all fail with the
            same error (0: never).
    """

    max_trials: int | None = None
    max_concurrent: int = 1
    timeout: float | None = None
    trial_timeout: float | None = None
    max_steps: int | None = None
    target: float | None = None
    patience: int | None = None
    max_trial_seconds: float | None = None
    retries: int = 1
    retry_on: tuple[str, ...] = ()
    max_failures: int = 3

    def __post_init__(self) -> None:
        _pos("max_trials", self.max_trials, True)
        _pos("max_concurrent", self.max_concurrent, True)
        _pos("timeout", self.timeout, False)
        _pos("trial_timeout", self.trial_timeout, False)
        _pos("max_steps", self.max_steps, True)
        _pos("patience", self.patience, True)
        _pos("max_trial_seconds", self.max_trial_seconds, False)
        if self.target is not None and (
            isinstance(self.target, bool)
            or not isinstance(self.target, (int, float))
            or not math.isfinite(self.target)
        ):
            raise SpecError(f"limits.target: must be a finite number, got {self.target!r}")
        _count("retries", self.retries)
        _count("max_failures", self.max_failures)
        on = self.retry_on
        if (
            isinstance(on, str)
            or not isinstance(on, (list, tuple))
            or any(not isinstance(x, str) or x not in RETRY_ON for x in on)
        ):
            raise SpecError(
                f"limits.retry_on: must be a list of {', '.join(RETRY_ON)} "
                f"(e.g. retry_on: [failed]), got {on!r}"
            )
        object.__setattr__(self, "retry_on", tuple(on))


def failure_line(error: str | None) -> str:
    """The line of a trial's error text that says what went wrong (a traceback's last
    line): what ``max_failures`` compares and the fail-fast message quotes."""
    lines = [ln.strip() for ln in (error or "").splitlines() if ln.strip()]
    if not lines:
        return "no error message"
    first = lines[0]
    if first.startswith(("exit code", "killed by signal")) and len(lines) > 1:
        return f"{first.rstrip(':')} {lines[-1]}"[:300]  # "exit code 2; stderr ends with: X"
    return lines[-1][:300]


def failure_key(line: str) -> str:
    """Errors that differ only in numbers (a parameter value, a pid) count as the same."""
    return re.sub(r"\d+(\.\d+)?", "#", line)
