"""Annealing: sample near a good trial with a window that shrinks as observations accumulate.

This is the "annealing" search of Hyperopt (Bergstra, Yamins & Cox, "Making a Science of
Model Search", ICML 2013; Bergstra et al., "Hyperopt: a Python library for model selection
and hyperparameter optimization", Computational Science & Discovery 8, 2015), a randomized
local search in the spirit of simulated annealing (Kirkpatrick, Gelatt & Vecchi, Science
220, 1983): instead of a temperature on the acceptance of worse points, the *proposal
distribution* narrows around the good region as the study goes on. Written for
hypersweep's unit-cube encoding (see :mod:`hypersweep.space`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hypersweep.samplers.base import (
    History,
    Proposal,
    Sampler,
    looks_failed,
    near_any,
    replace_failed,
    unfailed_draws,
)
from hypersweep.samplers.sobol import SobolSampler
from hypersweep.space import Space

__all__ = ["AnnealSampler", "anneal_rows", "avoid_failures", "scores"]


def scores(Y: np.ndarray) -> np.ndarray:
    """One lower-is-better score per row of ``Y`` (shape ``(n, M)``, signed lower-is-better).

    One objective: the value itself. Several: the mean of the per-objective ranks (a cheap
    scalarization that favours balanced trials; it does not need the objectives' scales).
    """
    if Y.shape[1] == 1:
        return Y[:, 0].astype(float)
    ranks = np.argsort(np.argsort(Y, axis=0, kind="stable"), axis=0, kind="stable")
    return ranks.mean(axis=1).astype(float)


def anneal_rows(
    space: Space,
    X: np.ndarray,
    score: np.ndarray,
    rng: np.random.Generator,
    n: int,
    *,
    avg_best_rank: float,
    shrink: float,
    dim_power: float,
    columns: np.ndarray | None = None,
) -> np.ndarray:
    """``n`` unit-cube rows sampled near good observed rows (the annealing step, vectorized).

    For each new row a *centre* is drawn among the observed rows ranked by ``score``: rank
    ``r`` with probability ``p (1 - p)^r``, ``p = 1 / (1 + avg_best_rank)`` (rank 0 is the
    best; the mean rank is ``avg_best_rank``). Then, column by column:

    * numeric column ``j`` with ``T_j`` observations where it is active: uniform on the
      window of width ``w_j = (1 + shrink * T_j / D^dim_power)^-1`` around the centre's
      value, the window slid (not cut) to stay inside ``[0, 1]`` so that the width is kept
      at the edges;
    * categorical column (``space.n_options > 0``): the centre's option with probability
      ``1 - w_j``, else an option drawn uniformly;
    * a column the centre has inactive (a conditional parameter of another option) takes
      as its centre the value of the best row where it is active, or is drawn uniformly
      when it was never active.

    Activity of the result follows from its choice columns (``Space.decode_many`` drops the
    inactive ones), so conditional spaces need no special case.

    Args:
        space: the space.
        X: observed rows, ``(m, D)``, ``NaN`` where inactive.
        score: lower-is-better score of each observed row, ``(m,)``.
        rng: the random generator.
        n: rows to return.
        avg_best_rank: mean rank of the centre among the observed rows.
        shrink: how fast the window narrows with observations.
        dim_power: the observation count is divided by ``D ** dim_power`` (``D`` the number
            of columns): in more dimensions one observation says less about each column.
        columns: a boolean ``(D,)`` mask of the columns to sample (others are ``NaN``);
            default every column.

    Returns:
        An ``(n, D)`` array in ``[0, 1]`` (``NaN`` in the columns not sampled).
    """
    D = space.dim
    cols = np.ones(D, dtype=bool) if columns is None else np.asarray(columns, dtype=bool)
    out = np.full((n, D), np.nan)
    if D == 0 or n == 0 or not cols.any():
        return out
    m = X.shape[0]
    if m == 0:
        out[:, cols] = rng.random((n, int(cols.sum())))
        return out
    order = np.argsort(score, kind="stable")
    Xs = X[order]
    p = 1.0 / (1.0 + avg_best_rank)
    rank = np.minimum(rng.geometric(p, size=n) - 1, m - 1)
    centre = Xs[rank]  # (n, D)
    active = ~np.isnan(Xs)
    T = active.sum(axis=0).astype(float)  # observations per column
    # fallback centre of a column: its value in the best row where it is active
    has = active.any(axis=0)
    first = np.argmax(active, axis=0)
    fallback = np.where(has, Xs[first, np.arange(D)], np.nan)
    centre = np.where(np.isnan(centre), fallback[None, :], centre)
    width = 1.0 / (1.0 + shrink * T / max(D, 1) ** dim_power)  # (D,)
    cat = space.n_options > 0
    # numeric columns: a window of the full width, slid inside [0, 1]
    num = cols & ~cat
    if num.any():
        w = width[num][None, :]
        lo = np.clip(centre[:, num] - w / 2, 0.0, 1.0 - w)
        u = lo + w * rng.random((n, int(num.sum())))
        unseen = np.isnan(u)
        u[unseen] = rng.random(int(unseen.sum()))
        out[:, num] = u
    # categorical columns: keep the centre's option, or an option uniformly at random
    catc = cols & cat
    if catc.any():
        k = space.n_options[catc][None, :]
        c = centre[:, catc]
        keep = (rng.random(c.shape) >= width[catc][None, :]) & ~np.isnan(c)
        rand_opt = np.floor(rng.random(c.shape) * k)
        opt = np.where(keep, np.floor(np.nan_to_num(c) * k), rand_opt)
        out[:, catc] = (np.clip(opt, 0, k - 1) + 0.5) / k
    return out


def avoid_failures(
    space: Space,
    history: History,
    rows: np.ndarray,
    redraw: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    rounds: int = 10,
) -> np.ndarray:
    """``rows`` with those that look like failures drawn again (up to ``rounds`` times).

    A row looks like a failure when it encodes a configuration that FAILED before, or
    when its nearest finished trial (Euclidean distance in the unit cube, inactive
    columns at 0.5) is a FAILED one: a nearest-neighbour classifier of the failing
    regions. ``redraw(mask)`` returns new rows for the masked ones. A history without
    failures returns ``rows`` untouched (and consumes no randomness).
    """
    F = history.failed()
    if F.shape[0] == 0 or rows.shape[0] == 0:
        return rows
    X, _ = history.observed()
    rows = rows.copy()
    bad = np.ones(rows.shape[0], dtype=bool)
    for _ in range(rounds + 1):
        bad = looks_failed(space.encode_many(space.decode_many(rows)), F, X)
        if not bad.any() or _ == rounds:
            break
        rows[bad] = redraw(bad)
    if bad.any():  # still a failed configuration: the last resort is a uniform draw
        again = near_any(F, space.encode_many(space.decode_many(rows)))
        if again.any():
            rows[again] = unfailed_draws(space, F, rng, int(again.sum()))
    return rows


class AnnealSampler(Sampler):
    """Annealing search (Hyperopt's ``anneal``) on the unit-cube encoding.

    The first ``n_startup`` trials are points of a scrambled Sobol sequence
    (:class:`~hypersweep.samplers.sobol.SobolSampler`). After that each proposal picks a
    good observed trial (rank ``r`` with geometric probability, mean ``avg_best_rank``) and
    samples every column near it, in a window whose width ``(1 + shrink * T / D^dim_power)^-1``
    shrinks with the number ``T`` of observations of that column (``D`` columns); a
    categorical keeps the centre's option with probability ``1 - width`` and takes a random
    option otherwise. See :func:`anneal_rows` for the exact rule and the handling of
    conditional parameters.

    Compared with Hyperopt's version: the window is slid inside the bounds instead of cut
    (a centre at the edge keeps a full-width window), and the shrink rate is divided by
    ``D^dim_power``, which keeps more exploration in high dimensions; both were chosen on
    the BBOB benchmark (``benchmarks/bbob.py``).

    RUNNING trials are not modelled; parallel proposals differ through their random draws.
    FAILED trials steer the search away (:func:`avoid_failures`): a draw whose nearest
    finished trial failed, or that repeats a failed configuration, is drawn again.
    Several objectives are ranked by the mean of their per-objective ranks
    (:func:`scores`). The sampler keeps no state besides the Sobol engine: each proposal is
    a function of the space, the history and ``rng``.

    Args:
        n_startup: Sobol trials before annealing starts.
        avg_best_rank: mean rank of the trial sampled around (0 = always the best).
        shrink: how fast the window narrows with observations.
        dim_power: exponent of the dimension that divides the observation count.
        seed: seed of the Sobol sequence (the study supplies one).

    Example:
        >>> import numpy as np
        >>> from hypersweep.space import Float
        >>> sp = Space({"x": Float(-1, 1)})
        >>> s = AnnealSampler(seed=0)
        >>> len(s.propose(sp, History(sp, []), np.random.default_rng(0), 2))
        2
    """

    name = "anneal"
    learns_from_failures = True

    def __init__(
        self,
        n_startup: int = 5,
        avg_best_rank: float = 0.5,
        shrink: float = 0.1,
        dim_power: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        if isinstance(n_startup, bool) or not isinstance(n_startup, int) or n_startup < 0:
            raise ValueError(f"n_startup must be an integer >= 0, got {n_startup!r}")
        for key, v in (
            ("avg_best_rank", avg_best_rank),
            ("shrink", shrink),
            ("dim_power", dim_power),
        ):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"{key} must be a number >= 0, got {v!r}")
        self.n_startup = n_startup
        self.avg_best_rank = float(avg_best_rank)
        self.shrink = float(shrink)
        self.dim_power = float(dim_power)
        self._sobol = SobolSampler()  # scrambled by this sampler's seed at each call

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
        X, Y = history.observed()
        sc = scores(Y) if len(Y) else np.zeros(0)

        def draw(k: int) -> np.ndarray:
            return anneal_rows(
                space,
                X,
                sc,
                rng,
                k,
                avg_best_rank=self.avg_best_rank,
                shrink=self.shrink,
                dim_power=self.dim_power,
            )

        rows = avoid_failures(
            space, history, draw(n - len(out)), lambda mask: draw(int(mask.sum())), rng
        )
        return out + [Proposal(p) for p in space.decode_many(rows)]

    def config(self) -> dict[str, Any]:
        out = super().config()
        defaults = {"n_startup": 5, "avg_best_rank": 0.5, "shrink": 0.1, "dim_power": 0.0}
        for k, v in defaults.items():
            if getattr(self, k) != v:
                out[k] = getattr(self, k)
        return out
