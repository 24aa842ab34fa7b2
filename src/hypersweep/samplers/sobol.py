"""Quasi-random search on a scrambled Sobol sequence (Sobol 1967; Owen 1998 scrambling)."""

from __future__ import annotations

import numpy as np

from hypersweep.history import History
from hypersweep.samplers._sobol_points import SobolPoints
from hypersweep.samplers.base import Proposal, Sampler
from hypersweep.space import Space

__all__ = ["SobolSampler"]


class SobolSampler(Sampler):
    """Points of one scrambled Sobol sequence over the unit-cube encoding.

    Trial ``k`` of the study gets point ``k`` of the sequence (key ``sobol:<k>``), so
    resumed studies and several processes continue one sequence instead of restarting
    it. Categorical columns take ``floor(u * n)`` of their coordinate and conditional
    columns are dropped where inactive, both through :meth:`Space.decode_many`, so
    choices stay balanced. Processes sharing a study must use the same ``seed``; the
    study supplies one when none is given.

    Example:
        >>> from hypersweep.space import Float
        >>> sp = Space({"x": Float(0, 1)})
        >>> s = SobolSampler(seed=0)
        >>> len(s.propose(sp, History(sp, []), np.random.default_rng(0), 4))
        4
    """

    name = "sobol"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self._engine: SobolPoints | None = None
        self._engine_key: tuple[int, int | None] | None = None

    def points(self, dim: int, start: int, n: int, seed: int | None = None) -> np.ndarray:
        """Points ``start .. start+n-1`` of the sequence in ``dim`` dimensions (scrambled by
        this sampler's seed, else by ``seed``): those of ``scipy.stats.qmc.Sobol``, computed
        without importing ``scipy.stats`` (see :mod:`hypersweep.samplers._sobol_points`)."""
        if dim == 0:
            return np.zeros((n, 0))
        seed = self.seed if self.seed is not None else seed
        if self._engine is None or self._engine_key != (dim, seed) or seed is None:
            self._engine = SobolPoints(dim, seed)
            self._engine_key = (dim, seed)
        return self._engine.points(start, n)

    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        return self.proposals(space, history.n, n, self.seed)

    def proposals(self, space: Space, start: int, n: int, seed: int | None) -> list[Proposal]:
        """Points ``start .. start+n-1`` as proposals keyed ``sobol:<k>`` (scrambled by this
        sampler's seed, else by ``seed``: the startup of samplers that begin with Sobol)."""
        configs = space.decode_many(space.warp(self.points(space.dim, start, n, seed)))
        return [Proposal(p, key=f"sobol:{start + i}") for i, p in enumerate(configs)]
