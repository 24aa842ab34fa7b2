"""Asynchronous successive halving (ASHA), the stopping variant.

Reference: Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht, Talwalkar,
"A System for Massively Parallel Hyperparameter Tuning", MLSys 2020 (arXiv:1810.05934).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import numpy as np

from hypersweep._validate import check_choice, check_number, fail
from hypersweep.stopping._common import CurvePolicy, Report, plain

__all__ = ["ASHAPolicy", "rung_levels"]

#: The resources a policy can count. Only steps for now (epochs, by default).
RESOURCES = ("step",)


def rung_levels(min_resource: float, max_resource: float, eta: float) -> tuple[float, ...]:
    """``min_resource * eta**k`` for ``k = 0, 1, ...`` while below ``max_resource``."""
    out: list[float] = []
    k = 0
    while True:
        r = min_resource * eta**k
        if r >= max_resource * (1 - 1e-9):
            return tuple(out)
        out.append(plain(r))
        k += 1


def check_resources(
    min_resource: Any,
    max_resource: Any,
    reduction_factor: Any,
    resource: Any,
    *,
    open_ended: bool = False,
) -> tuple[float, float, float, str]:
    """Validate the options ASHA and Hyperband share.

    With ``open_ended`` (explicit rungs) a missing ``max_resource`` is allowed and returned
    as ``inf``.
    """
    if max_resource is None and not open_ended:
        raise fail(
            "early_stopping.max_resource",
            "missing; the most steps a trial may use, e.g. max_resource: 50",
        )
    lo = check_number("early_stopping.min_resource", min_resource, gt=0)
    hi = (
        math.inf
        if max_resource is None
        else check_number("early_stopping.max_resource", max_resource, gt=0)
    )
    if hi <= lo:
        raise fail(
            "early_stopping.min_resource",
            f"must be < max_resource ({max_resource!r}), got {min_resource!r}",
        )
    eta = check_number("early_stopping.reduction_factor", reduction_factor, gt=1)
    resource = check_choice("early_stopping.resource", resource, RESOURCES)
    return plain(lo), (hi if math.isinf(hi) else plain(hi)), plain(eta), resource


def check_rungs(rungs: Any) -> tuple[float, ...]:
    """Explicit rung levels: a non-empty list of increasing numbers > 0."""
    path = "early_stopping.rungs"
    if isinstance(rungs, (str, bytes)) or not isinstance(rungs, (list, tuple)) or not rungs:
        raise fail(path, f"must be a non-empty list of steps, e.g. [1, 3, 9], got {rungs!r:.60}")
    out = [plain(check_number(f"{path}[{i}]", r, gt=0)) for i, r in enumerate(rungs)]
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise fail(path, f"must increase, got {out!r:.80}")
    return tuple(out)


def rung_stop(
    policy: CurvePolicy,
    rep: Report,
    rungs: tuple[float, ...],
    eta: float,
    members: np.ndarray | None = None,
) -> bool:
    """The ASHA rule at every rung this report crosses.

    A trial is judged at rung ``r`` on the first judged report at a step ``>= r`` (so a
    report may cross several rungs at once; rungs below ``delay`` are never applied). Its
    rung value is its value at its first reported step ``>= r``, as is every other
    trial's; it goes on only if it is in the top ``1/eta`` of all values recorded at that
    rung so far (its own included): fewer than ``n / eta`` of the ``n`` values are
    strictly better. The first trial at a rung therefore always goes on, and nobody waits
    for stragglers.

    Args:
        members: mask of the trials that share the rungs (a Hyperband bracket); ``None``:
            every trial.
    """
    due = policy.due_steps(rep.steps)
    prev = float(due[-2]) if due.size >= 2 else -math.inf
    for r in rungs:
        if not prev < r <= rep.step or r < policy.delay:
            continue
        own = rep.y[int(np.searchsorted(rep.steps, r, side="left"))]
        rows = rep.others(reached=False, exclude_failed=False)
        if members is not None:
            rows &= members
        vals = rep.curves.first_from(rows, r)
        vals = vals[~np.isnan(vals)]
        if (vals < own).sum() * eta >= vals.size + 1:
            return True
    return False


class ASHAPolicy(CurvePolicy):
    """Asynchronous successive halving, stopping variant (Li et al. 2020).

    Rungs sit at ``min_resource * reduction_factor**k`` steps, below ``max_resource``.
    When a trial first reports at (or past) a rung, it continues only if its value there
    is in the top ``1 / reduction_factor`` of every value recorded at that rung so far,
    else it is stopped (STOPPED, keeping its value). Promotion never waits: a decision
    uses only what has been recorded when the trial arrives, so trials that report late or
    out of order are judged against everything before them. A trial that reports past
    ``max_resource`` is stopped; its budget (:meth:`budget`, ``trial.budget``,
    ``HYPERSWEEP_BUDGET``) is ``max_resource``, so a script can train exactly that far.

    The resource is the reported step (``resource: step``): a rung at 3 is reached by a
    report at step 3 or later.

    ``rungs`` gives the rung steps explicitly instead (W&B's ``hyperband`` bands, see
    ``docs/foreign.md``); ``max_resource`` is then optional: without it no trial is
    stopped for its length and the budget is open.

    Args:
        min_resource: the first rung, in steps (``> 0``).
        max_resource: the most steps a trial may use (``> min_resource``); optional with
            ``rungs``.
        reduction_factor: ``eta > 1``; the top ``1/eta`` at each rung go on.
        resource: what counts as resource; ``"step"``.
        rungs: explicit rung steps (increasing), instead of the geometric ladder.
        metric, goal, interval, delay: see :class:`~hypersweep.stopping._common.CurvePolicy`.

    Example:
        >>> ASHAPolicy(min_resource=1, max_resource=27, reduction_factor=3).rungs
        (1, 3, 9)
        >>> p = ASHAPolicy(rungs=[3, 9], reduction_factor=3)
        >>> p.rungs, p.budget(0) is None
        ((3, 9), True)
    """

    name: ClassVar[str] = "asha"

    def __init__(
        self,
        *,
        min_resource: float | None = None,
        max_resource: float | None = None,
        reduction_factor: float = 3,
        resource: str = "step",
        rungs: Any = None,
        metric: str | None = None,
        goal: str | None = None,
        interval: int = 1,
        delay: int = 0,
    ) -> None:
        super().__init__(metric=metric, goal=goal, interval=interval, delay=delay)
        self.explicit = rungs is not None
        if self.explicit:
            levels = check_rungs(rungs)
            if min_resource is not None:
                raise fail(
                    "early_stopping.min_resource",
                    "give min_resource or rungs, not both (the first rung is the minimum)",
                )
            min_resource = levels[0]
        elif min_resource is None:
            min_resource = 1
        (self.min_resource, hi, self.reduction_factor, self.resource) = check_resources(
            min_resource, max_resource, reduction_factor, resource, open_ended=self.explicit
        )
        self.max_resource: float | None = None if math.isinf(hi) else hi
        self.rungs = (
            levels if self.explicit else rung_levels(self.min_resource, hi, self.reduction_factor)
        )

    def budget(self, number: int) -> float | None:
        return self.max_resource

    def _stop(self, rep: Report) -> bool:
        if self.max_resource is not None and rep.step > self.max_resource:
            return True
        return rung_stop(self, rep, self.rungs, self.reduction_factor)

    def _options(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "min_resource": self.min_resource,
            "max_resource": self.max_resource,
            "reduction_factor": self.reduction_factor,
            "resource": self.resource,
        }
        if self.explicit:
            del out["min_resource"]
            out["rungs"] = list(self.rungs)
        return out
