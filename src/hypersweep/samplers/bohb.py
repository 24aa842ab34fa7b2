"""BOHB: TPE models fit per budget, proposing for Hyperband (Falkner, Klein and Hutter,
"BOHB: robust and efficient hyperparameter optimization at scale", ICML 2018).

BOHB is one sampler + policy pair: this sampler chooses configurations, the ``hyperband``
stopping policy runs them through its brackets (stopping trials at rungs)::

    sampler: {name: bohb, max_resource: 50}
    early_stopping: {policy: hyperband, max_resource: 50}

Give both the same ``min_resource`` / ``max_resource`` / ``reduction_factor``.

How a proposal is made:

* The budget levels are Hyperband's rungs ``min_resource * reduction_factor^k`` up to
  ``max_resource``. A trial's value at level ``b`` is its objective metric at its first
  report at or past step ``b`` (the value ASHA and Hyperband judge it by).
* The model is fit at the **largest level with enough observations** (``min_points``,
  default ``max(n_startup, D + 2)`` for ``D`` encoded columns): short, cheap evaluations
  guide the search until enough long ones exist, as in the paper. Trials still running
  below that level count as pending (the TPE constant liar spreads proposals out).
* A fraction ``random_fraction`` of proposals (paper: 1/3) are drawn from the prior, which
  keeps Hyperband's worst-case guarantee; before any level has enough observations every
  proposal comes from TPE's Sobol start.

The sampler is a pure function of (space, history, rng): the per-level views are rebuilt
from the trials' reports each time (a cheap O(trials x steps) pass).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hypersweep._validate import check_int, check_number, fail
from hypersweep.history import History
from hypersweep.samplers.base import Proposal, Sampler
from hypersweep.samplers.tpe import TPESampler
from hypersweep.space import Space
from hypersweep.trial import Trial, TrialState

__all__ = ["BOHBSampler"]


class BOHBSampler(Sampler):
    """TPE on the largest budget level with enough observations, for Hyperband brackets.

    Args:
        min_resource: the first budget level (steps).
        max_resource: the last budget level; ``None``: up to the highest step reported.
        reduction_factor: ratio between levels (Hyperband's eta).
        min_points: observations a level needs before the model is fit on it.
        random_fraction: share of proposals drawn from the prior.
        n_startup: TPE's Sobol start (also the default floor of ``min_points``).
        seed: seed of the Sobol start.

    Example:
        >>> from hypersweep.space import Float
        >>> sp = Space({"x": Float(0, 1)})
        >>> s = BOHBSampler(max_resource=9, seed=0)
        >>> len(s.propose(sp, History(sp, []), np.random.default_rng(0), 2))
        2
    """

    name = "bohb"
    uses_reports = True
    learns_from_failures = True

    def __init__(
        self,
        min_resource: float = 1,
        max_resource: float | None = None,
        reduction_factor: float = 3,
        min_points: int | None = None,
        random_fraction: float = 1 / 3,
        n_startup: int = 10,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)

        self.min_resource = check_number("sampler.min_resource", min_resource, gt=0)
        self.max_resource = (
            None if max_resource is None else check_number("sampler.max_resource", max_resource)
        )
        if self.max_resource is not None and self.max_resource < self.min_resource:
            raise fail(
                "sampler.max_resource",
                f"must be >= min_resource ({min_resource!r}), got {max_resource!r}",
            )
        self.reduction_factor = check_number("sampler.reduction_factor", reduction_factor, gt=1)
        self.min_points = (
            None if min_points is None else check_int("sampler.min_points", min_points, 2)
        )
        self.random_fraction = check_number("sampler.random_fraction", random_fraction, ge=0, lt=1)
        self.n_startup = n_startup
        self._tpe = TPESampler(n_startup=n_startup, seed=seed)

    def with_seed(self, seed: int) -> BOHBSampler:
        clone = super().with_seed(seed)
        clone._tpe = clone._tpe.with_seed(clone.seed if clone.seed is not None else seed)
        return clone

    def config(self) -> dict[str, Any]:
        out = super().config()
        out.update(
            min_resource=self.min_resource,
            reduction_factor=self.reduction_factor,
            random_fraction=self.random_fraction,
        )
        if self.max_resource is not None:
            out["max_resource"] = self.max_resource
        if self.min_points is not None:
            out["min_points"] = self.min_points
        return out

    def levels(self, top_step: float) -> list[float]:
        """The budget levels up to ``max_resource`` (or ``top_step`` when it is unset)."""
        hi = self.max_resource if self.max_resource is not None else max(top_step, 0.0)
        out, b = [], self.min_resource
        while b <= hi * (1 + 1e-9):
            out.append(b)
            b *= self.reduction_factor
        return out

    def level_history(self, space: Space, history: History, level: float) -> History:
        """A history of the trials as observed at ``level``: a trial that reported the
        objective at a step ``>= level`` has its first such value; RUNNING trials below
        it are pending; FAILED trials stay FAILED (TPE never re-proposes them and counts
        them as bad); everything else is left out."""
        metric = history.objectives[0].metric
        view = History(space, history.objectives[:1], history.seed)
        rows: list[Trial] = []
        for t in history.trials:
            if t is None:
                continue
            steps = sorted(s for s, m in t.reports.items() if s >= level and metric in m)
            value = next(
                (t.reports[s][metric] for s in steps if np.isfinite(t.reports[s][metric])), None
            )
            if value is not None:
                rows.append(Trial(len(rows), TrialState.COMPLETED, t.params, values=(value,)))
            elif t.state in (TrialState.RUNNING, TrialState.FAILED):
                # running: pending; failed: evidence at every level (TPE's bad set)
                rows.append(Trial(len(rows), t.state, t.params))
        view.update(rows)
        return view

    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        need = self.min_points or max(self.n_startup, space.dim + 2)
        metric = history.objectives[0].metric if history.objectives else None
        top = 0.0
        for t in history.trials:
            if t is not None and t.reports:
                top = max(top, max(t.reports))
        chosen: History | None = None
        if metric is not None:
            for level in reversed(self.levels(top)):
                view = self.level_history(space, history, level)
                if view.n_observed >= need:
                    chosen = view
                    break
        if chosen is None:  # not enough anywhere yet: TPE's own (Sobol) start
            return self._tpe.propose(space, history, rng, n)
        n_random = int(rng.binomial(n, self.random_fraction))
        out = [Proposal(p) for p in space.sample(rng, n_random)]
        if n - n_random:
            out += [
                Proposal(p.params) for p in self._tpe.propose(space, chosen, rng, n - n_random)
            ]
        return out
