"""Threshold stopping: stop on values worse than a bound, or not finite."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hypersweep._validate import check_number
from hypersweep.stopping._common import CurvePolicy, Report

__all__ = ["ThresholdPolicy"]


class ThresholdPolicy(CurvePolicy):
    """Stop a trial whose value is worse than ``threshold``, or is NaN or infinite.

    "Worse" follows the goal: below ``threshold`` when maximizing, above it when
    minimizing (a value equal to the bound goes on). Without ``threshold`` the policy is a
    divergence guard: it stops only non-finite values. It looks at this trial only.

    Args:
        threshold: the bound, or ``None`` to stop only on NaN/inf.
        metric, goal, interval, delay: see :class:`~hypersweep.stopping._common.CurvePolicy`.
    """

    name: ClassVar[str] = "threshold"

    def __init__(
        self,
        *,
        threshold: float | None = None,
        metric: str | None = None,
        goal: str | None = None,
        interval: int = 1,
        delay: int = 0,
    ) -> None:
        super().__init__(metric=metric, goal=goal, interval=interval, delay=delay)
        self.threshold = (
            None if threshold is None else check_number("early_stopping.threshold", threshold)
        )

    def _stop(self, rep: Report) -> bool:
        v = float(rep.raw[-1])
        if not np.isfinite(v):
            return True
        return self.threshold is not None and rep.sign * v > rep.sign * self.threshold

    def _options(self) -> dict[str, Any]:
        return {} if self.threshold is None else {"threshold": self.threshold}
