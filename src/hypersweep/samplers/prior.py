"""Transfer: how the model-based samplers (``tpe``, ``gp``) read a study's prior block.

A study warm-started with ``mode: prior`` carries a :class:`~hypersweep.history.Prior`
(a related study's finished trials, encoded in this study's space) in its
:class:`~hypersweep.history.History`. The samplers stay pure functions of (space,
history, rng): everything here is computed from the history alone.

* :func:`effective_weight`: the weight of one prior row, ``prior.weight`` times the
  *relatedness* of the prior to this study's own observations (:func:`relatedness`):
  once the study holds :data:`MIN_OWN` observed trials, the prior must rank them better
  than they rank each other, or it weighs nothing, so an unrelated study stops steering
  the search after a few trials. The weight also falls as ``HALF_LIFE / (HALF_LIFE +
  n_own)`` (:data:`HALF_LIFE`): the study's own evidence takes over as it accumulates.
* :func:`merged`: the history with the prior rows in front and their values mapped onto
  this study's scale (quantile matching of ranks, per objective), so a sampler can model
  both blocks at once; the prior's values on the related problem may have any offset
  and scale.
"""

from __future__ import annotations

import numpy as np

from hypersweep.history import History

__all__ = ["BANDWIDTH", "HALF_LIFE", "MIN_OWN", "effective_weight", "merged", "relatedness"]

#: own observations needed before relatedness is measured (before: the prior is trusted)
MIN_OWN = 4
#: bandwidth of the prior's kernel regression, in unit-cube units (times sqrt(D))
BANDWIDTH = 0.1
#: own observations at which the prior's weight has halved (relatedness aside)
HALF_LIFE = 50


def _ranks(y: np.ndarray) -> np.ndarray:
    order = np.argsort(y, kind="stable")
    r = np.empty(y.size)
    r[order] = np.arange(y.size)
    return r


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / den) if den > 0 else 0.0


def _smooth(Q: np.ndarray, X: np.ndarray, r: np.ndarray, h: float, loo: bool) -> np.ndarray:
    """Kernel regression of ranks ``r`` at rows ``X``, evaluated at ``Q`` (``loo``: ``Q``
    is ``X`` and each row leaves itself out)."""
    A, B = np.nan_to_num(Q, nan=0.5), np.nan_to_num(X, nan=0.5)
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    logw = -0.5 * np.maximum(d2, 0.0) / (h * h)
    if loo:
        np.fill_diagonal(logw, -np.inf)
    logw -= logw.max(axis=1, keepdims=True)
    w = np.exp(logw)
    return np.asarray((w @ r) / w.sum(axis=1))


def relatedness(history: History) -> float:
    """How much better the prior ranks this study's own observed trials than the own
    trials rank each other, in ``[0, 1]``; 1 with fewer than :data:`MIN_OWN` of them, 0
    without a prior.

    Both are kernel regressions of ranks (bandwidth :data:`BANDWIDTH` x sqrt(D)): the
    prior's predicts every own trial, the own trials' predicts each one from the others
    (leave one out). With Spearman correlations ``rho_prior`` and ``rho_own`` of
    prediction and outcome, the relatedness is ``(rho_prior - max(rho_own, 0)) /
    (1 - max(rho_own, 0))`` clipped to ``[0, 1]``: a prior counts while it knows
    more about this problem than the study's own trials do (the ranking-loss test of
    Feurer et al.'s RGPE, 2018, without the sampling)."""
    p = history.prior
    if p is None or len(p) == 0:
        return 0.0
    X, Y = history.observed()
    if X.shape[0] < MIN_OWN:
        return 1.0
    h = BANDWIDTH * np.sqrt(max(history.space.dim, 1))
    y = Y[:, 0]
    rho_prior = _spearman(_smooth(X, p.X, _ranks(p.Y[:, 0]), h, False), y)
    rho_own = max(0.0, _spearman(_smooth(X, X, _ranks(y), h, True), y))
    if rho_own >= 1.0:
        return 0.0
    return float(min(1.0, max(0.0, (rho_prior - rho_own) / (1.0 - rho_own))))


def effective_weight(history: History) -> float:
    """The weight of one prior row now: ``prior.weight`` x :func:`relatedness` x
    ``HALF_LIFE / (HALF_LIFE + own observations)``; 0 without a prior."""
    p = history.prior
    if p is None or len(p) == 0:
        return 0.0
    n_own = history.n_observed
    return p.weight * relatedness(history) * HALF_LIFE / (HALF_LIFE + n_own)


def merged(history: History) -> tuple[History, int]:
    """``(history with the prior rows first, number of prior rows)``; the prior's values
    are mapped onto the quantiles of this study's own values (per objective) once it
    has two, else kept as they are. Without a prior: ``(history, 0)``."""
    p = history.prior
    if p is None or len(p) == 0:
        return history, 0
    _, Y = history.observed()
    Yp = p.Y.copy()
    if Y.shape[0] >= 2:
        for j in range(Yp.shape[1]):
            q = (_ranks(p.Y[:, j]) + 0.5) / len(p)
            Yp[:, j] = np.quantile(Y[:, j], q)
    return history.with_prior(Yp), len(p)
