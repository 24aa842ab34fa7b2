"""The early-stopping policy protocol.

A policy is a pure function of (this trial's reports, the other trials' reports): after
each intermediate report it answers :class:`Decision` ``CONTINUE``, ``PAUSE`` (for
promotion schemes such as Hyperband or PBT) or ``STOP``. It never touches processes; the
runner or worker acts on the answer.
"""

from __future__ import annotations

import abc
import enum
from typing import Any, ClassVar

from hypersweep.samplers.base import History
from hypersweep.trial import Trial

__all__ = ["Decision", "Policy"]


class Decision(str, enum.Enum):
    """What to do with a trial after one of its reports."""

    CONTINUE = "continue"
    PAUSE = "pause"
    STOP = "stop"

    def __str__(self) -> str:
        return self.value


class Policy(abc.ABC):
    """Decides, after each report, whether a trial goes on."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def decide(self, trial: Trial, history: History) -> Decision:
        """Decide for ``trial`` (its ``reports`` include the newest one).

        ``history.trials`` holds every trial of the study with its reports.
        """

    def config(self) -> dict[str, Any]:
        return {"policy": self.name}
