"""The exceptions hypersweep raises.

Every error caused by user input is a :class:`HypersweepError` whose message is one line
that names the offending field and says how to fix it. Library code never lets a bare
``KeyError``/``TypeError`` escape for bad input.
"""

from __future__ import annotations

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
    """Base class of every error hypersweep raises on purpose."""


class SpaceError(HypersweepError, ValueError):
    """An invalid search space or an invalid parameter value.

    Attributes:
        path: the key path of the offending entry (``space.lr``), used by the sweep-file
            loader to point at a file line.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.detail = message
        super().__init__(f"{path}: {message}" if path else message)


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
