"""Median stopping (Azure ML's median policy; Google Vizier's automated stopping rule).

Reference: Golovin et al., "Google Vizier: A Service for Black-Box Optimization", KDD 2017
(Sec. 3.2.2, the median stopping rule).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hypersweep._validate import check_choice, check_int
from hypersweep.history import COMPLETED
from hypersweep.stopping._common import CurvePolicy, Report

__all__ = ["MedianPolicy"]

#: What a trial is compared with: the others' running means (Vizier, Azure ML) or the
#: finished trials' values at the step (Optuna's ``MedianPruner``).
COMPARE = ("mean", "value")
_COMPLETED = int(COMPLETED)


class MedianPolicy(CurvePolicy):
    """Stop a trial whose best value so far is worse than the median of the other trials'
    running averages up to the same step.

    At a judged step ``s``, each other trial that has reached step ``s`` (reported at
    ``s`` or later; any state but FAILED) contributes the mean of its values at steps
    ``<= s``. The trial stops when its best value at steps ``<= s`` is strictly worse than
    the median of those means. Nothing is judged until ``min_trials`` other trials have
    reached the step.

    With ``compare="value"`` the rule is Optuna's ``MedianPruner`` instead: only
    COMPLETED trials count, each with its value at its latest step ``<= s``; a port of an
    Optuna objective then stops the same trials (``min_trials=5`` is Optuna's
    ``n_startup_trials`` default).

    Args:
        min_trials: how many other trials must have reached the step before the rule
            applies (Azure's policy applies from the first one).
        compare: ``"mean"`` (the others' running means, the default) or ``"value"``
            (the completed trials' values at the step).
        metric, goal, interval, delay: see :class:`~hypersweep.stopping._common.CurvePolicy`.

    Example:
        >>> from hypersweep.stopping import make_policy
        >>> make_policy({"policy": "median", "delay": 5}).config()["delay"]
        5
    """

    name: ClassVar[str] = "median"

    def __init__(
        self,
        *,
        min_trials: int = 1,
        compare: str = "mean",
        metric: str | None = None,
        goal: str | None = None,
        interval: int = 1,
        delay: int = 0,
    ) -> None:
        super().__init__(metric=metric, goal=goal, interval=interval, delay=delay)
        self.min_trials = check_int("early_stopping.min_trials", min_trials, 1)
        self.compare = check_choice("early_stopping.compare", compare, COMPARE)

    def _stop(self, rep: Report) -> bool:
        others = rep.others()
        if self.compare == "value":
            others &= rep.state == _COMPLETED
            means = rep.curves.latest(others, rep.step)
        else:
            means = rep.curves.running_mean(others, rep.step)
        means = means[~np.isnan(means)]
        if means.size < self.min_trials:
            return False
        # the median of a sorted copy: np.median's checks cost more than the sort of the
        # few dozen values a report compares with (this runs on every report)
        srt = np.sort(means)
        k = srt.size
        return bool(rep.y.min() > 0.5 * (srt[(k - 1) // 2] + srt[k // 2]))

    def _options(self) -> dict[str, Any]:
        extra = {"compare": self.compare} if self.compare != "mean" else {}  # Optuna's rule
        return {"min_trials": self.min_trials, **extra}
