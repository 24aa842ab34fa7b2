"""The GP sampler's studies of two or three objectives: one GP per objective and the
expected hypervolume improvement (see :class:`~hypersweep.samplers.gp.GPSampler`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hypersweep._best import pareto_mask
from hypersweep.history import History
from hypersweep.samplers.base import Proposal
from hypersweep.samplers.gp._acquisition import LogEHVI
from hypersweep.samplers.gp._ehvi import boxes
from hypersweep.samplers.gp._features import Features
from hypersweep.samplers.gp._model import Posterior
from hypersweep.samplers.gp._search import maximize
from hypersweep.space import Space

if TYPE_CHECKING:
    from hypersweep.samplers.gp._sampler import GPSampler

#: Studies with up to this many objectives use the expected hypervolume improvement; more
#: objectives are scalarized (ParEGO), as the number of boxes grows as ``n^(m - 1)``.
MAX_EHVI_OBJECTIVES = 3


def front_ranks(Y: np.ndarray) -> np.ndarray:
    """Each row's non-dominated front (0: the Pareto front; lower is better)."""
    rank = np.full(Y.shape[0], -1)
    left = np.arange(Y.shape[0])
    r = 0
    while left.size:
        on = pareto_mask(Y[left])
        rank[left[on]] = r
        left = left[~on]
        r += 1
    return rank


def _kept(gp: GPSampler, Y: np.ndarray) -> np.ndarray:
    """The rows the GPs are fit on: all, or ``max_points`` chosen by front rank."""
    if Y.shape[0] <= gp.max_points:
        return np.arange(Y.shape[0])
    return gp._keep(front_ranks(Y))


def propose_multi(
    gp: GPSampler,
    space: Space,
    history: History,
    X: np.ndarray,
    Y: np.ndarray,
    rng: np.random.Generator,
    n: int,
) -> list[Proposal]:
    """Two or three objectives: one GP each, expected hypervolume improvement."""
    feats = Features(space)
    failed_c = gp._failed(feats, history)
    keep, keep_prev = _kept(gp, Y), _kept(gp, Y[:-1])
    # the prior mean alternates with the trial number: at the mean (unexplored regions
    # may hold other parts of the front), then pessimistic (refine near the front seen)
    pessimistic = history.n % 2 == 1
    models = [
        gp._model(feats, X, Y[:, j], failed_c, keep, keep_prev, pessimistic)
        for j in range(Y.shape[1])
    ]
    Xc = models[0].Xc
    gp.n_fit = keep.size
    Yo = np.column_stack([md.y_obs for md in models])  # the models' (transformed) values
    terms, feasible = gp._terms(history, feats, Xc, keep, failed_c, Yo.shape[0])
    use = bool(feasible.any())
    # reference point: the worst transformed value of each objective, widened by a
    # tenth of its range, so that the front's extremes still improve
    ref = Yo.max(axis=0) + 0.1 * (Yo.max(axis=0) - Yo.min(axis=0)) + 1e-9
    front = Yo[feasible][pareto_mask(Yo[feasible])] if use else Yo[:0]
    on_front = np.flatnonzero(feasible)[pareto_mask(Yo[feasible])] if use else keep[:0]
    pick = on_front if on_front.size <= 5 else rng.choice(on_front, 5, replace=False)
    # the incumbents: front members first (a random five of them), feasible ones lead
    rest = np.lexsort((Yo.sum(axis=1), ~feasible))
    incumbents = Xc[np.concatenate([pick, rest[~np.isin(rest, pick)]])[:5]]
    Zs = [md.Z for md in models]
    ys = [md.y for md in models]
    posts = [md.post for md in models]
    seen = Xc
    P = history.pending()
    if P.shape[0]:  # kriging believer: RUNNING trials get their posterior means
        Pc = feats.canon(P)
        seen = np.vstack([seen, Pc])
        front, Zs, ys, posts = _believe(feats(Pc), front, Zs, ys, posts)
    out: list[Proposal] = []
    for _ in range(n):
        lower, upper = boxes(front, ref)
        acq = LogEHVI(posts, lower, upper, terms, use)
        u = maximize(acq, feats, incumbents, seen, rng, failed_c)
        params = space.decode_many(u[None, :])[0]
        out.append(Proposal(params))
        uc = feats.canon(space.encode_many([params]))
        seen = np.vstack([seen, uc])
        if len(out) < n:  # ... and so do the proposals made before in this batch
            front, Zs, ys, posts = _believe(feats(uc), front, Zs, ys, posts)
    return out


def _believe(
    Zn: np.ndarray,
    front: np.ndarray,
    Zs: list[np.ndarray],
    ys: list[np.ndarray],
    posts: list[Posterior],
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[Posterior]]:
    """Add the points ``Zn`` to every objective's GP with its posterior mean as value,
    and their means to the front."""
    mus = np.column_stack([p.predict(Zn)[0] for p in posts])
    Zs = [np.vstack([Z, Zn]) for Z in Zs]
    ys = [np.concatenate([y, mus[:, j]]) for j, y in enumerate(ys)]
    posts = [Posterior.build(Z, y, p.inv_ls, p.signal, p.noise) for Z, y, p in zip(Zs, ys, posts)]
    front = np.vstack([front, mus])
    return front[pareto_mask(front)], Zs, ys, posts
