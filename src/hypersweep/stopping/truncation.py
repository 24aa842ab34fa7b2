"""Truncation selection: stop the worst fraction of trials at each step (Azure ML's
truncation selection policy)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from hypersweep._validate import check_bool, check_number, fail
from hypersweep.history import RUNNING
from hypersweep.stopping._common import CurvePolicy, Report, plain

__all__ = ["TruncationPolicy"]


class TruncationPolicy(CurvePolicy):
    """Stop a trial that is among the worst ``percentage`` % at the step it reports.

    At a judged step ``s`` the pool is this trial plus every other trial that has reached
    ``s`` (any state but FAILED; only RUNNING ones with ``exclude_finished``), each at its
    latest value at or before ``s``; so a young trial is compared with what older trials
    had at the same step, never with their later, better values. Of a pool of ``n`` the
    worst ``floor(n * percentage / 100)`` stop; ties with a better trial count as better
    (a trial stops only if at least ``n - floor(...)`` trials are strictly better).

    Args:
        percentage: the share of the pool to stop, ``0 < percentage < 100``.
        exclude_finished: compare only with trials still running.
        metric, goal, interval, delay: see :class:`~hypersweep.stopping._common.CurvePolicy`.
    """

    name: ClassVar[str] = "truncation"

    def __init__(
        self,
        *,
        percentage: float | None = None,
        exclude_finished: bool = False,
        metric: str | None = None,
        goal: str | None = None,
        interval: int = 1,
        delay: int = 0,
    ) -> None:
        super().__init__(metric=metric, goal=goal, interval=interval, delay=delay)
        if percentage is None:
            raise fail(
                "early_stopping.percentage",
                "missing; the share of trials to stop at each judged step, e.g. percentage: 20",
            )
        self.percentage = plain(
            check_number("early_stopping.percentage", percentage, gt=0, lt=100)
        )
        self.exclude_finished = check_bool("early_stopping.exclude_finished", exclude_finished)

    def _stop(self, rep: Report) -> bool:
        rows = rep.others()
        if self.exclude_finished:
            rows &= rep.state == RUNNING
        vals = rep.curves.latest(rows, rep.step)
        vals = vals[~np.isnan(vals)]
        n = vals.size + 1
        cut = math.floor(n * self.percentage / 100.0 + 1e-9)
        if cut == 0:
            return False
        return bool((vals < rep.y[-1]).sum() >= n - cut)

    def _options(self) -> dict[str, Any]:
        return {"percentage": self.percentage, "exclude_finished": self.exclude_finished}
