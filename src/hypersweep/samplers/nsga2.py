"""NSGA-II (Deb, Pratap, Agarwal and Meyarivan 2002): elitist multi-objective evolution.

Generations are a function of the study's history, so the sampler keeps no state: trial
number ``t`` belongs to generation ``t // population``. Generation 0 is uniform random.
The parents of generation ``g`` are the best ``population`` finished trials numbered
below ``g * population`` (all earlier generations: the elitist (mu + lambda) archive),
ranked by constrained non-dominated sorting and, within the last front that fits, by
crowding distance. Offspring come from binary tournaments on (rank, crowding), simulated
binary crossover (SBX) and polynomial mutation on the unit-cube encoding; choices take
one parent's option (uniform crossover) and mutate to a uniform option. Every process
derives the same parents from the same history, so a resumed study and parallel workers
continue one evolution; running trials only count once they finish.

Constraints (Deb's constrained domination): a feasible trial beats an infeasible one; of
two infeasible, the smaller total violation wins; a missing constraint metric counts as
the worst violation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hypersweep._best import pareto_mask
from hypersweep.history import History
from hypersweep.samplers.base import Proposal, Sampler, replace_failed
from hypersweep.space import Space
from hypersweep.trial import TrialState

__all__ = ["NSGA2Sampler", "crowding_distance", "rank_population"]


def crowding_distance(Y: np.ndarray) -> np.ndarray:
    """Crowding distance of each row of one front (boundary rows: ``inf``)."""
    n, m = Y.shape
    out = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(Y[:, j], kind="stable")
        col = Y[order, j]
        span = col[-1] - col[0]
        out[order[[0, -1]]] = np.inf
        if span > 0:
            out[order[1:-1]] += (col[2:] - col[:-2]) / span
    return out


def rank_population(
    Y: np.ndarray, violation: np.ndarray, need: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(chosen, rank, crowding)``: the indices of the best ``need`` rows of ``Y`` under
    constrained non-dominated sorting with crowding-distance truncation, and each chosen
    row's front rank and crowding distance (``violation`` > 0: infeasible)."""
    chosen: list[np.ndarray] = []
    ranks: list[np.ndarray] = []
    crowd: list[np.ndarray] = []
    left = np.flatnonzero(violation <= 0)
    rank = 0
    count = 0
    while left.size and count < need:
        front = left[pareto_mask(Y[left])]
        left = left[~np.isin(left, front)]
        d = crowding_distance(Y[front])
        if count + front.size > need:  # the last front: the least crowded rows
            keep = np.argsort(-d, kind="stable")[: need - count]
            front, d = front[keep], d[keep]
        chosen.append(front)
        ranks.append(np.full(front.size, rank))
        crowd.append(d)
        count += front.size
        rank += 1
    if count < need:  # infeasible rows by total violation, each its own front
        bad = np.flatnonzero(violation > 0)
        bad = bad[np.argsort(violation[bad], kind="stable")][: need - count]
        chosen.append(bad)
        ranks.append(rank + np.arange(bad.size))
        crowd.append(np.zeros(bad.size))
    if not chosen:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
    return np.concatenate(chosen), np.concatenate(ranks), np.concatenate(crowd)


class NSGA2Sampler(Sampler):
    """NSGA-II over the study's history (see the module docstring).

    Args:
        population: trials per generation.
        crossover_prob: probability that a child is a crossover of two parents (else a
            copy of the first, then mutated).
        eta_crossover: SBX distribution index (larger: children nearer their parents).
        eta_mutation: polynomial-mutation distribution index.
        mutation_prob: per-parameter mutation probability (default ``1 / dimensions``).
        seed: see :class:`~hypersweep.samplers.base.Sampler`.

    Example:
        >>> import hypersweep as hs
        >>> s = hs.Study("nsga", space={"x": hs.Float(0, 1)}, objective=["a", "b"],
        ...              sampler=NSGA2Sampler(population=8), storage="memory", seed=0)
        >>> for _ in range(24):
        ...     t = s.ask()
        ...     _ = s.tell(t, [t.params["x"], (1 - t.params["x"]) ** 2])
        >>> len(s.best_trials) > 5
        True
    """

    name = "nsga2"

    def __init__(
        self,
        population: int = 50,
        crossover_prob: float = 0.9,
        eta_crossover: float = 20.0,
        eta_mutation: float = 20.0,
        mutation_prob: float | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        from hypersweep.errors import SpecError

        if isinstance(population, bool) or not isinstance(population, int) or population < 2:
            raise SpecError(f"sampler.population: must be an integer >= 2, got {population!r}")
        for key, v in (("crossover_prob", crossover_prob), ("mutation_prob", mutation_prob)):
            if v is not None and not (isinstance(v, (int, float)) and 0 <= v <= 1):
                raise SpecError(f"sampler.{key}: must be a number from 0 to 1, got {v!r}")
        for key, v in (("eta_crossover", eta_crossover), ("eta_mutation", eta_mutation)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                raise SpecError(f"sampler.{key}: must be a positive number, got {v!r}")
        self.population = population
        self.crossover_prob = float(crossover_prob)
        self.eta_crossover = float(eta_crossover)
        self.eta_mutation = float(eta_mutation)
        self.mutation_prob = None if mutation_prob is None else float(mutation_prob)

    def config(self) -> dict[str, Any]:
        out = super().config()
        out["population"] = self.population
        if self.crossover_prob != 0.9:
            out["crossover_prob"] = self.crossover_prob
        if self.eta_crossover != 20.0:
            out["eta_crossover"] = self.eta_crossover
        if self.eta_mutation != 20.0:
            out["eta_mutation"] = self.eta_mutation
        if self.mutation_prob is not None:
            out["mutation_prob"] = self.mutation_prob
        return out

    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        out: list[Proposal] = []
        parents: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}
        for i in range(n):
            gen = (history.n + i) // self.population
            if gen not in parents:
                parents[gen] = self._parents(history, gen)
            par = parents[gen]
            attrs = {"generation": gen}
            if par is None or space.dim == 0:
                out.append(Proposal(space.sample(rng, 1)[0], system_attrs=attrs))
            else:
                u = self._child(space, history, par, rng)
                out.append(Proposal(space.decode(u), system_attrs=attrs))
        return replace_failed(space, history, out, rng)

    # selection ---------------------------------------------------------------------------
    def _parents(
        self, history: History, gen: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(rows, rank, crowding)`` of generation ``gen``'s parents, or ``None``
        (generation 0, or fewer than two finished earlier trials)."""
        if gen == 0:
            return None
        upto = min(gen * self.population, history.n)
        done = history.mask(TrialState.COMPLETED, TrialState.STOPPED)[:upto]
        done &= np.isfinite(history.Y[:upto]).all(axis=1)
        rows = np.flatnonzero(done)
        if rows.size < 2:
            return None
        if history.constraints:
            C = history.C[rows]
            violation = np.where(np.isnan(C), np.inf, np.maximum(C, 0.0)).sum(axis=1)
        else:
            violation = np.zeros(rows.size)
        idx, rank, crowd = rank_population(history.Y[rows], violation, self.population)
        return rows[idx], rank, crowd

    @staticmethod
    def _tournament(rank: np.ndarray, crowd: np.ndarray, rng: np.random.Generator) -> int:
        a, b = rng.integers(rank.size, size=2)
        if rank[a] != rank[b]:
            return int(a if rank[a] < rank[b] else b)
        return int(a if crowd[a] >= crowd[b] else b)

    # variation ---------------------------------------------------------------------------
    def _child(
        self,
        space: Space,
        history: History,
        par: tuple[np.ndarray, np.ndarray, np.ndarray],
        rng: np.random.Generator,
    ) -> np.ndarray:
        rows, rank, crowd = par
        X = history.X
        p1 = X[rows[self._tournament(rank, crowd, rng)]].copy()
        p2 = X[rows[self._tournament(rank, crowd, rng)]].copy()
        for p in (p1, p2):  # inactive columns: any value (decode ignores them)
            gap = np.isnan(p)
            p[gap] = rng.random(int(gap.sum()))
        cat = space.n_options > 0
        child = p1.copy()
        if rng.random() < self.crossover_prob:
            # (SBX spreads children beyond the parents: back into the cube before mutation,
            # whose formula needs x in [0, 1])
            child[~cat] = np.clip(self._sbx(p1[~cat], p2[~cat], rng), 0.0, 1.0)
            take = rng.random(int(cat.sum())) < 0.5
            child[cat] = np.where(take, p2[cat], p1[cat])
        pm = self.mutation_prob if self.mutation_prob is not None else 1.0 / space.dim
        mutate = rng.random(space.dim) < pm
        child[~cat & mutate] = self._polynomial(child[~cat & mutate], rng)
        k = cat & mutate
        child[k] = rng.random(int(k.sum()))  # a uniform option
        return np.clip(child, 0.0, 1.0)

    def _sbx(self, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One SBX child of ``a`` and ``b`` (per column, with probability 1/2)."""
        u = rng.random(a.size)
        e = self.eta_crossover + 1.0
        beta = np.where(u <= 0.5, (2 * u) ** (1 / e), (1 / (2 * (1 - u))) ** (1 / e))
        side = rng.random(a.size) < 0.5
        c = 0.5 * ((1 + beta) * a + (1 - beta) * b)
        c = np.where(side, c, 0.5 * ((1 - beta) * a + (1 + beta) * b))
        cross = rng.random(a.size) < 0.5
        return np.where(cross, c, a)

    def _polynomial(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Polynomial mutation (Deb and Goyal 1996) within [0, 1]."""
        u = rng.random(x.size)
        e = self.eta_mutation + 1.0
        d1, d2 = x, 1.0 - x
        lo = (2 * u + (1 - 2 * u) * (1 - d1) ** e) ** (1 / e) - 1
        hi = 1 - (2 * (1 - u) + 2 * (u - 0.5) * (1 - d2) ** e) ** (1 / e)
        return x + np.where(u < 0.5, lo, hi)
