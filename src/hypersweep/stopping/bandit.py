"""Bandit stopping: stay within a slack of the best trial (Azure ML's bandit policy)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hypersweep._validate import check_number, fail
from hypersweep.stopping._common import CurvePolicy, Report

__all__ = ["BanditPolicy"]


class BanditPolicy(CurvePolicy):
    """Stop a trial whose value falls outside a slack of the best trial at that step.

    At a judged step ``s``, the best value is taken over this trial and every other trial
    that has reached ``s`` (any state but FAILED; each at its latest report at or before
    ``s``). With ``best`` the best value and ``v`` this trial's value at ``s``:

    * ``slack_factor=f``, maximize: stop when ``v < best / (1 + f)``;
      minimize: stop when ``v > best * (1 + f)``;
    * ``slack_amount=a``, maximize: stop when ``v < best - a``; minimize: ``v > best + a``.

    The factor rules are Azure's, stated for positive metrics; hypersweep applies them as a
    margin of ``|best| * f / (1 + f)`` (maximize) or ``|best| * f`` (minimize) on the worse
    side of ``best``, which is the same for positive values and stays sensible for negative
    ones. Azure's example: maximize, best 0.8, ``slack_factor=0.2``: a trial below
    ``0.8 / 1.2 ≈ 0.667`` stops.

    Args:
        slack_factor: the allowed distance from the best, as a ratio (``> 0``).
        slack_amount: the allowed distance from the best, in metric units (``>= 0``).
            Give exactly one of the two.
        metric, goal, interval, delay: see :class:`~hypersweep.stopping._common.CurvePolicy`.
    """

    name: ClassVar[str] = "bandit"

    def __init__(
        self,
        *,
        slack_factor: float | None = None,
        slack_amount: float | None = None,
        metric: str | None = None,
        goal: str | None = None,
        interval: int = 1,
        delay: int = 0,
    ) -> None:
        super().__init__(metric=metric, goal=goal, interval=interval, delay=delay)
        if (slack_factor is None) == (slack_amount is None):
            raise fail(
                "early_stopping.slack_factor",
                "bandit needs exactly one of slack_factor or slack_amount, e.g. slack_factor: 0.1",
            )
        self.slack_factor = (
            None
            if slack_factor is None
            else check_number("early_stopping.slack_factor", slack_factor, gt=0)
        )
        self.slack_amount = (
            None
            if slack_amount is None
            else check_number("early_stopping.slack_amount", slack_amount, ge=0)
        )

    def _stop(self, rep: Report) -> bool:
        v = rep.y[-1]
        vals = rep.curves.latest(rep.others(), rep.step)
        vals = vals[~np.isnan(vals)]
        best = min(float(vals.min()), v) if vals.size else v
        if not np.isfinite(best):
            return False
        if self.slack_amount is not None:
            margin = self.slack_amount
        else:
            f = float(self.slack_factor)  # type: ignore[arg-type]
            margin = abs(best) * (f / (1.0 + f) if rep.sign < 0 else f)
        return bool(v > best + margin)

    def _options(self) -> dict[str, Any]:
        if self.slack_factor is not None:
            return {"slack_factor": self.slack_factor}
        return {"slack_amount": self.slack_amount}
