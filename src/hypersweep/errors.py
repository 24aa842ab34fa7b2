"""The exceptions hypersweep raises.

Every error caused by user input is a :class:`HypersweepError` whose message is one line
that names the offending field and says how to fix it. Library code never lets a bare
``KeyError``/``TypeError`` escape for bad input.

An error carries its key path as data (``error.path``, e.g. ``limits.timeout``), with the
message without it (``error.detail``) and the fix (``error.fix``) when one was given: the
sweep-file loader places an error at the file line of its path from these attributes (the
checks in :mod:`hypersweep._validate` raise them so).

Example:
    >>> e = SpecError("must be an integer >= 1, got 0", path="limits.max_trials")
    >>> str(e)
    'limits.max_trials: must be an integer >= 1, got 0'
    >>> e.path, e.detail
    ('limits.max_trials', 'must be an integer >= 1, got 0')
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DuplicateTrialError",
    "HypersweepError",
    "SpaceError",
    "SpaceExhausted",
    "SpecError",
    "StorageError",
    "StudyNotFound",
    "TrialNotRunning",
    "TrialStopped",
]


class HypersweepError(Exception):
    """Base class of every error hypersweep raises on purpose.

    Args:
        detail: what is wrong (one line).
        path: the key path of the offending entry (``sampler.gamma``), ``""`` for none.
        fix: how to fix it, appended after ``"; "`` when given.
    """

    def __init__(self, detail: Any = "", *, path: str = "", fix: str = "") -> None:
        self.path = path
        self.detail = str(detail) if not fix else f"{detail}; {fix}"
        self.fix = fix
        super().__init__(f"{path}: {self.detail}" if path else self.detail)

    def __reduce__(self) -> tuple[Any, ...]:
        # Crosses process boundaries (function trials) with its path and detail intact.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[HypersweepError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class SpaceError(HypersweepError, ValueError):
    """An invalid search space or an invalid parameter value.

    Attributes:
        path: the key path of the offending entry (``space.lr``), used by the sweep-file
            loader to point at a file line.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message, path=path)


class SpecError(HypersweepError, ValueError):
    """An invalid sweep file or run configuration."""


class StorageError(HypersweepError):
    """The storage could not be opened, or refused an operation."""


class StudyNotFound(HypersweepError, KeyError):
    """A study name that the storage does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TrialNotRunning(HypersweepError):
    """A report or tell for a trial that has already finished (or was failed as lost)."""


class DuplicateTrialError(HypersweepError):
    """Another process created a trial with the same de-duplication key first."""


class MaxTrialsReached(HypersweepError):
    """The study already holds ``max_trials`` trials: the storage refused a new one."""


class SpaceExhausted(HypersweepError):
    """The sampler has nothing left to propose (for example, a finished grid)."""


class TrialStopped(Exception):
    """Raised inside a trial by ``trial.report()`` when the trial should stop.

    Let it propagate out of the objective function: the trial is then recorded as
    STOPPED with its last reported value.
    """


#: Optuna's name for :class:`TrialStopped`: ``raise hypersweep.TrialPruned()`` ends a trial
#: as STOPPED (``optuna.TrialPruned`` / ``optuna.exceptions.TrialPruned`` in Optuna code)
TrialPruned = TrialStopped
