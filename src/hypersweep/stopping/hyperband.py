"""Hyperband over asynchronous successive halving: several ASHA brackets.

References: Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar, "Hyperband: A Novel
Bandit-Based Approach to Hyperparameter Optimization", JMLR 18(185), 2018; and the
asynchronous variant in Li et al., "A System for Massively Parallel Hyperparameter
Tuning", MLSys 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hypersweep._validate import fail
from hypersweep.stopping._common import CurvePolicy, Report, plain
from hypersweep.stopping.asha import check_resources, rung_levels, rung_stop

__all__ = ["Bracket", "HyperbandPolicy"]

#: Refuse settings whose bracket cycle would be absurdly long (thousands of brackets).
_MAX_CYCLE = 100_000


@dataclass(frozen=True)
class Bracket:
    """One Hyperband bracket: an ASHA with its own first rung.

    Attributes:
        index: ``0`` is the most aggressive bracket (first rung at ``min_resource``).
        min_resource: its first rung.
        rungs: its rung levels (all below ``max_resource``; none for the last bracket,
            whose trials all run to ``max_resource``).
        weight: how many trials of each cycle go to it (Hyperband's ``n_i``).
    """

    index: int
    min_resource: float
    rungs: tuple[float, ...]
    weight: int


class HyperbandPolicy(CurvePolicy):
    """Hyperband's brackets, each run as stop-based ASHA (Li et al. 2018; 2020).

    Bracket ``b`` (``0 .. s_max``, ``s_max = floor(log_eta(max_resource/min_resource))``)
    is ASHA with first rung ``min_resource * eta**b``; rungs and promotions only compare
    trials of the same bracket. Trials are assigned to brackets as a pure function of
    their number, weighted like Hyperband's allocation: in every cycle of
    ``sum(weights)`` consecutive trial numbers, bracket ``b`` receives
    ``ceil((s_max + 1) / (s_max - b + 1) * eta**(s_max - b))`` of them (the number of
    configurations Hyperband starts in that bracket), interleaved by smooth weighted
    round-robin so every bracket is served early and evenly. :meth:`bracket_of` exposes
    the assignment (a sampler such as BOHB may use it); nothing is hidden in trial
    attributes.

    Every trial's budget is ``max_resource`` (stopping variant: trials are stopped at
    rungs, promoted ones go on).

    Args:
        min_resource: the first rung of the most aggressive bracket (``> 0``).
        max_resource: the most steps a trial may use (``> min_resource``).
        reduction_factor: ``eta > 1``.
        resource: what counts as resource; ``"step"``.
        metric, goal, interval, delay: see :class:`~hypersweep.stopping._common.CurvePolicy`.

    Example:
        >>> hb = HyperbandPolicy(min_resource=1, max_resource=9, reduction_factor=3)
        >>> [(b.min_resource, b.weight) for b in hb.brackets]
        [(1, 9), (3, 5), (9, 3)]
        >>> [hb.bracket_of(i) for i in range(6)]
        [0, 1, 0, 2, 0, 1]
    """

    name: ClassVar[str] = "hyperband"

    def __init__(
        self,
        *,
        min_resource: float = 1,
        max_resource: float | None = None,
        reduction_factor: float = 3,
        resource: str = "step",
        metric: str | None = None,
        goal: str | None = None,
        interval: int = 1,
        delay: int = 0,
    ) -> None:
        super().__init__(metric=metric, goal=goal, interval=interval, delay=delay)
        if max_resource is None:
            raise fail(
                "early_stopping.max_resource",
                "missing; Hyperband's brackets need the most steps a trial may use, e.g. "
                "max_resource: 81 (for open-ended rungs from min_resource on, as W&B's "
                "hyperband with only min_iter, use policy: asha without max_resource)",
            )
        lo, hi, eta, self.resource = check_resources(
            min_resource, max_resource, reduction_factor, resource
        )
        self.min_resource, self.max_resource, self.reduction_factor = lo, hi, eta
        s_max = 0
        while lo * eta ** (s_max + 1) <= hi * (1 + 1e-9):
            s_max += 1
        weights = [
            math.ceil((s_max + 1) / (s_max - b + 1) * eta ** (s_max - b) - 1e-9)
            for b in range(s_max + 1)
        ]
        if sum(weights) > _MAX_CYCLE:
            raise fail(
                "early_stopping.reduction_factor",
                f"{s_max + 1} brackets with a cycle of "
                f"{sum(weights)} trials; raise min_resource or reduction_factor",
            )
        self.brackets = tuple(
            Bracket(b, plain(lo * eta**b), rung_levels(lo * eta**b, hi, eta), weights[b])
            for b in range(s_max + 1)
        )
        self._cycle = _smooth_round_robin(weights)

    def bracket_of(self, number: int) -> int:
        """The bracket of trial ``number`` (a pure function of the number)."""
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or number < 0:
            raise fail("bracket_of", f"expected a trial number >= 0, got {number!r}")
        return int(self._cycle[int(number) % self._cycle.size])

    def brackets_of(self, numbers: np.ndarray) -> np.ndarray:
        """:meth:`bracket_of` for an array of trial numbers."""
        return self._cycle[np.asarray(numbers, dtype=np.int64) % self._cycle.size]

    def budget(self, number: int) -> float | None:
        return self.max_resource

    def _stop(self, rep: Report) -> bool:
        if rep.step > self.max_resource:
            return True
        b = self.bracket_of(rep.number)
        members = self.brackets_of(np.arange(rep.curves.n)) == b
        return rung_stop(self, rep, self.brackets[b].rungs, self.reduction_factor, members)

    def _options(self) -> dict[str, Any]:
        return {
            "min_resource": self.min_resource,
            "max_resource": self.max_resource,
            "reduction_factor": self.reduction_factor,
            "resource": self.resource,
        }


def _smooth_round_robin(weights: list[int]) -> np.ndarray:
    """One cycle of smooth weighted round-robin: index ``i`` appears ``weights[i]`` times,
    spread as evenly as the weights allow, ties to the lower index."""
    total = sum(weights)
    w = np.asarray(weights, dtype=np.int64)
    current = np.zeros(len(weights), dtype=np.int64)
    out = np.empty(total, dtype=np.int64)
    for k in range(total):
        current += w
        j = int(np.argmax(current))
        current[j] -= total
        out[k] = j
    return out
