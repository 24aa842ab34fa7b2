"""CMA-ES over the numeric columns of the unit cube, on the ``cmaes`` package.

The covariance matrix adaptation evolution strategy (Hansen & Ostermeier, "Completely
derandomized self-adaptation in evolution strategies", Evolutionary Computation 9(2), 2001;
Hansen, "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772, 2016) with optional
IPOP restarts (Auger & Hansen, "A restart CMA evolution strategy with increasing population
size", CEC 2005). The update equations come from the ``cmaes`` package (Nomura & Shibata,
"cmaes: A Simple yet Practical Python Library for CMA-ES", arXiv:2402.01373, 2024); this
module maps a study's history onto its generations.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from hypersweep.samplers.anneal import anneal_rows, avoid_failures, scores
from hypersweep.samplers.base import (
    COMPLETED,
    FAILED,
    STOPPED,
    History,
    Proposal,
    Sampler,
    replace_failed,
)
from hypersweep.samplers.sobol import SobolSampler
from hypersweep.space import Space

__all__ = ["CMAESSampler"]

_SETTLED = np.array([COMPLETED, STOPPED, FAILED])


def _import_cma() -> Any:
    try:
        from cmaes import CMA
    except ImportError:
        raise ImportError(
            "the cmaes sampler needs the 'cmaes' package: pip install cmaes "
            "(or pip install 'hypersweep[bench]')"
        ) from None
    return CMA


class _State:
    """The CMA-ES optimizer after folding the history's generations up to row ``pos``."""

    def __init__(
        self, key: tuple[Any, ...], cma: Any, pos: int, restarts: int, digest: bytes
    ) -> None:
        self.key = key
        self.cma = cma
        self.pos = pos  # first history row not yet told
        self.restarts = restarts
        self.digest = digest  # hash of rows [0, pos) as they were when told


class CMAESSampler(Sampler):
    """CMA-ES on the always-active numeric columns; the other columns by annealing.

    How the history maps to CMA-ES (the sampler is a function of space, history and
    ``rng``; the optimizer object is only a cache):

    * The first ``n_startup`` trials are Sobol points
      (:class:`~hypersweep.samplers.sobol.SobolSampler`); CMA-ES starts at the best of them
      (the cube's centre if none has a value yet) with step size ``sigma0`` on ``[0, 1]``.
    * The trials after them, in trial-number order, are cut into consecutive generations of
      ``population_size`` trials. A generation is told to CMA-ES once it and every trial
      before it have finished; a failed trial or one without a value counts as the worst of
      its generation. New proposals are sampled from the state after the last told
      generation, so parallel asks (RUNNING trials) draw distinct points from one
      distribution. The folded state is cached and extended incrementally; it is rebuilt
      from scratch whenever the told trials differ from the cache's (another history, a
      changed space).
    * With ``restart="ipop"``, when CMA-ES meets its stopping criteria it restarts at a
      uniformly random mean (drawn from a generator seeded by ``seed`` and the restart
      count) with twice the population.
    * Several objectives: a generation is ranked by the mean of its per-objective ranks
      (CMA-ES uses only the ranking within a generation).

    Columns CMA-ES does not handle: categorical columns (choices, bools, the choice of a
    conditional group), numeric columns that are conditional (active only under some
    option), and the single numeric column of a one-dimensional problem (the ``cmaes``
    package needs two). Those are sampled independently by the annealing rule of
    :func:`~hypersweep.samplers.anneal.anneal_rows`: near a good observed trial with a width
    that shrinks with the number of observations; categoricals keep the good trial's option
    with a probability that grows with the observations, else take a random option.
    Integer and stepped columns are searched continuously and rounded by the space's
    decoding.

    Args:
        sigma0: initial step size on the unit cube.
        population_size: trials per generation; default ``4 + floor(3 ln d)``.
        n_startup: Sobol trials before CMA-ES.
        restart: ``"ipop"`` for restarts with increasing population, or ``None``.
        seed: seeds the CMA-ES restarts and the Sobol points (the study supplies one).

    Raises:
        ImportError: the ``cmaes`` package is missing (at the first proposal), with the pip
            command that installs it.

    Example:
        >>> import numpy as np
        >>> from hypersweep.space import Float
        >>> sp = Space({"x": Float(-1, 1), "y": Float(-1, 1)})
        >>> s = CMAESSampler(seed=0)
        >>> len(s.propose(sp, History(sp, []), np.random.default_rng(0), 3))
        3
    """

    name = "cmaes"
    learns_from_failures = True

    def __init__(
        self,
        sigma0: float = 0.125,
        population_size: int | None = None,
        n_startup: int = 0,
        restart: str | None = "ipop",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        if (
            isinstance(sigma0, bool)
            or not isinstance(sigma0, (int, float))
            or not (0 < sigma0 <= 1)
        ):
            raise ValueError(f"sigma0 must be a number in (0, 1], got {sigma0!r}")
        if population_size is not None and (
            isinstance(population_size, bool)
            or not isinstance(population_size, int)
            or population_size < 2
        ):
            raise ValueError(f"population_size must be an integer >= 2, got {population_size!r}")
        if isinstance(n_startup, bool) or not isinstance(n_startup, int) or n_startup < 0:
            raise ValueError(f"n_startup must be an integer >= 0, got {n_startup!r}")
        if restart not in (None, "ipop"):
            raise ValueError(f"restart must be 'ipop' or None, got {restart!r}")
        self.sigma0 = float(sigma0)
        self.population_size = population_size
        self.n_startup = n_startup
        self.restart = restart
        self._sobol = SobolSampler()  # scrambled by this sampler's seed at each call
        self._state: _State | None = None

    # ----------------------------------------------------------------------------------
    # folding the history into a CMA-ES state
    # ----------------------------------------------------------------------------------
    @staticmethod
    def cma_columns(space: Space) -> np.ndarray:
        """Boolean mask of the columns CMA-ES searches (always-active numeric columns)."""
        cols = (space.n_options == 0) & (space.parents < 0)
        return cols if cols.sum() >= 2 else np.zeros(space.dim, dtype=bool)

    def _digest(self, history: History, stop: int) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        h.update(np.ascontiguousarray(history.X[:stop]).tobytes())
        h.update(np.ascontiguousarray(history.Y[:stop]).tobytes())
        h.update(np.ascontiguousarray(history.state[:stop]).tobytes())
        h.update(np.ascontiguousarray(history.valid[:stop]).tobytes())
        return h.digest()

    def _new_cma(self, mean: np.ndarray, popsize: int | None, restarts: int, base: int) -> Any:
        CMA = _import_cma()
        d = mean.shape[0]
        seed = np.random.SeedSequence([base, restarts]).generate_state(1)[0]
        return CMA(
            mean=np.clip(mean, 1e-6, 1 - 1e-6),
            sigma=self.sigma0,
            bounds=np.tile([0.0, 1.0], (d, 1)),
            seed=int(seed),
            population_size=popsize,
        )

    def _base_seed(self, history: History) -> int:
        """The seed of the restarts: this sampler's, else the study's (non-negative)."""
        return (self.seed or 0) % (1 << 64)

    def _initial(self, history: History, cols: np.ndarray) -> Any:
        stop = min(self.n_startup, history.n)
        X, Y = history.X[:stop], history.Y[:stop]
        ok = ~np.isnan(Y).any(axis=1) & history.valid[:stop] & ~np.isnan(X[:, cols]).any(axis=1)
        if ok.any():
            mean = X[ok][int(np.argmin(scores(Y[ok]))), cols]
        else:
            mean = np.full(int(cols.sum()), 0.5)
        return self._new_cma(mean, self.population_size, 0, self._base_seed(history))

    def _fold(self, space: Space, history: History, cols: np.ndarray) -> Any:
        """The CMA-ES state after every told generation of ``history`` (cached)."""
        key = (id(history), id(space), space.dim, tuple(np.nonzero(cols)[0]))
        st = self._state
        start = min(self.n_startup, history.n)
        if (
            st is None
            or st.key != key
            or st.pos > history.n
            or self._digest(history, st.pos) != st.digest
        ):
            st = _State(key, self._initial(history, cols), start, 0, self._digest(history, start))
        if st.pos < start:  # startup rows changed since (cannot happen with a fresh state)
            st = _State(key, self._initial(history, cols), start, 0, self._digest(history, start))
        state, valid = history.state, history.valid
        settled = np.isin(state, _SETTLED) | ~valid
        unsettled = np.nonzero(~settled[st.pos :])[0]
        end = st.pos + (int(unsettled[0]) if unsettled.size else history.n - st.pos)
        pos = st.pos
        while True:
            lam = st.cma.population_size
            rows = np.arange(pos, end)
            rows = rows[valid[rows]]
            if rows.size < lam:
                break
            gen = rows[:lam]
            nxt = int(gen[-1]) + 1
            self._tell(st, history.X[gen][:, cols], history.Y[gen], history.n)
            pos = nxt
            if self.restart == "ipop" and st.cma.should_stop():
                st.restarts += 1
                base = self._base_seed(history)
                rs = np.random.default_rng([base, st.restarts, 7])
                st.cma = self._new_cma(rs.random(int(cols.sum())), 2 * lam, st.restarts, base)
        if pos != st.pos:
            st.pos = pos
            st.digest = self._digest(history, pos)
        self._state = st
        return st.cma

    @staticmethod
    def _tell(st: _State, X: np.ndarray, Y: np.ndarray, n: int) -> None:
        has = ~np.isnan(Y).any(axis=1)
        if not has.any():
            return  # nothing learned from a generation without values
        if Y.shape[1] == 1:
            val = Y[:, 0].copy()
            val[~has] = np.max(val[has])
        else:
            val = np.full(len(Y), np.nan)
            val[has] = scores(Y[has])
            val[~has] = np.max(val[has]) + 1.0
        x = np.clip(np.nan_to_num(X, nan=0.5), 0.0, 1.0)
        st.cma.tell([(x[i], float(val[i])) for i in range(len(x))])

    # ----------------------------------------------------------------------------------
    # proposing
    # ----------------------------------------------------------------------------------
    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        out: list[Proposal] = []
        if history.n < self.n_startup:
            k = min(n, self.n_startup - history.n)
            out = self._sobol.proposals(space, history.n, k, self.seed)
            out = replace_failed(space, history, out, rng)
            if len(out) == n:
                return out
        k = n - len(out)
        cols = self.cma_columns(space)
        X, Y = history.observed()
        sc = scores(Y) if len(Y) else np.zeros(0)

        def anneal(m: int) -> np.ndarray:
            return anneal_rows(
                space, X, sc, rng, m, avg_best_rank=0.5, shrink=0.1, dim_power=0.0, columns=~cols
            )

        rows = anneal(k)
        cma = None
        if cols.any():
            cma = self._fold(space, history, cols)
            cma.reseed_rng(int(rng.integers(2**31 - 1)))
            rows[:, cols] = np.array([cma.ask() for _ in range(k)])

        def draw(m: int) -> np.ndarray:
            more = anneal(m)
            if cma is not None:
                more[:, cols] = np.array([cma.ask() for _ in range(m)])
            return more

        # a draw next to a failure (or repeating one) is drawn again from the same state
        rows = avoid_failures(space, history, rows, lambda mask: draw(int(mask.sum())), rng)
        return out + [Proposal(p) for p in space.decode_many(rows)]

    def config(self) -> dict[str, Any]:
        out = super().config()
        defaults = {"sigma0": 0.125, "population_size": None, "n_startup": 0, "restart": "ipop"}
        for key, v in defaults.items():
            if getattr(self, key) != v:
                out[key] = getattr(self, key)
        return out
