"""The early-stopping policy protocol.

A policy is a pure function of (this trial's reports, the other trials' reports): after
each intermediate report it answers :class:`Decision` ``CONTINUE`` or ``STOP`` (the
promotion schemes, Hyperband and PBT, stop a trial and start its continuation as a new
one). It never touches processes; the runner or worker acts on the answer.

Two optional hooks let the rest of the system consult a policy without knowing its kind:

* :meth:`Policy.bind` is called by :class:`~hypersweep.study.Study` once, with the study's
  objectives, so a policy can refuse a configuration that cannot work (a metric that is
  not an objective and has no goal) at construction time rather than at trial 500;
* :meth:`Policy.budget` tells the runner how much resource (steps) a new trial may use, so
  a trial can learn its budget (``trial.budget``, ``HYPERSWEEP_BUDGET``,
  ``hypersweep.budget()``) and train exactly to it.

Concrete policies live one per file next to this one and are registered in
:data:`hypersweep.stopping.REGISTRY`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from hypersweep._registry import describe_config
from hypersweep.trial import Objective, Trial

if TYPE_CHECKING:  # annotations only: the CLI imports this module and needs no numpy
    from hypersweep.history import History

__all__ = ["Decision", "Policy"]


class Decision(str, enum.Enum):
    """What to do with a trial after one of its reports."""

    CONTINUE = "continue"
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

    def bind(self, objectives: Sequence[Objective]) -> None:  # noqa: B027 - optional hook
        """Check the policy against the study's objectives (called once by the study).

        Raises:
            SpecError: the policy cannot work with these objectives.
        """

    def budget(self, number: int) -> float | None:
        """The resource (steps) trial ``number`` may use, or ``None`` for no limit."""
        return None

    def config(self) -> dict[str, Any]:
        """The policy's settings, as the sweep file's ``early_stopping`` would write them."""
        return {"policy": self.name}

    def describe(self) -> str:
        """The policy and its settings on one line (``asha (metric=loss, ...)``), as
        ``hypersweep status`` and the live display show it."""
        return describe_config(self.name, self.config(), ("policy",))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "policy")
        return f"{type(self).__name__}({args})"
