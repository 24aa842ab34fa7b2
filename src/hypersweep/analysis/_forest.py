"""The random-forest surrogate and the marginals of its trees.

A regression tree is piecewise constant over its leaves, and each leaf is a box of the
unit cube, so the marginals of the functional ANOVA (Hutter, Hoos and Leyton-Brown 2014)
under the uniform measure are finite sums over leaves: the marginal of one parameter,
``f_j(x_j) = sum_l v_l * vol_l / len_j(l) * [x_j in l]``, is constant between the tree's
split points on ``j``, and the forest's marginal is the mean of its trees' (a marginal is
linear in the function). The pair marginal ``f_jk`` is evaluated the same way at the
centres of a grid.

(Exact total effects need a sum over pairs of leaves that overlap in all dimensions but
one, ``O(leaves**2 * D)`` per tree: too slow for a 1-second budget, so the caller
estimates them by Monte Carlo on the forest instead.)

Everything here works on unit-cube encodings with the uniform measure, which is each
parameter's sampling prior (log scale for a log parameter, equal mass per option).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TreeBoxes", "fit_forest", "tree_boxes", "tree_marginal", "tree_pair_grid"]

_MISSING = "scikit-learn is needed for this: pip install 'hypersweep[analysis]'"


def fit_forest(
    U: np.ndarray, y: np.ndarray, n_trees: int, seed: int, min_samples_leaf: int = 1
) -> Any:
    """A scikit-learn random forest fit to ``y`` on the unit cube (each tree on its own
    bootstrap resample of the rows)."""
    try:
        from sklearn.ensemble import RandomForestRegressor
    except ImportError:  # pragma: no cover - the extra is installed in the test setup
        from hypersweep.errors import HypersweepError

        raise HypersweepError(_MISSING) from None
    forest = RandomForestRegressor(
        n_estimators=n_trees,
        max_features=1.0,
        min_samples_leaf=min_samples_leaf,
        bootstrap=True,
        random_state=seed,
        n_jobs=1,
    )
    forest.fit(U, y)
    return forest


@dataclass(frozen=True)
class TreeBoxes:
    """The leaves of one tree: boxes ``[lo, hi)`` of the unit cube and their values.

    ``splits[j]`` are the tree's split points on dimension ``j`` with 0 and 1, sorted.
    """

    lo: np.ndarray  # (L, D)
    hi: np.ndarray  # (L, D)
    value: np.ndarray  # (L,)
    vol: np.ndarray  # (L,)
    splits: list[np.ndarray]


def tree_boxes(tree: Any, dim: int) -> TreeBoxes:
    """The leaf boxes of a fitted scikit-learn tree, built level by level."""
    t = tree.tree_
    left, right = t.children_left, t.children_right
    feat, thr = t.feature, np.clip(t.threshold, 0.0, 1.0)
    n = left.shape[0]
    lo = np.zeros((n, dim))
    hi = np.ones((n, dim))
    frontier = np.array([0])
    while frontier.size:
        inner = frontier[left[frontier] >= 0]
        if inner.size == 0:
            break
        lc, rc, f, s = left[inner], right[inner], feat[inner], thr[inner]
        lo[lc], hi[lc] = lo[inner], hi[inner]
        lo[rc], hi[rc] = lo[inner], hi[inner]
        hi[lc, f] = s
        lo[rc, f] = s
        frontier = np.concatenate([lc, rc])
    leaf = left < 0
    lo, hi = lo[leaf], hi[leaf]
    value = t.value[leaf, 0, 0].astype(float)
    vol = np.prod(hi - lo, axis=1)
    inner = ~leaf
    splits = [
        np.unique(np.concatenate([[0.0, 1.0], thr[inner & (feat == j)]])) for j in range(dim)
    ]
    return TreeBoxes(lo, hi, value, vol, splits)


def tree_marginal(b: TreeBoxes, j: int, points: np.ndarray) -> np.ndarray:
    """The tree's marginal ``f_j`` on each interval between ``points`` (sorted, from 0 to
    1, holding every split point of the tree on ``j``): exact, piecewise constant."""
    own = b.splits[j]
    mid = 0.5 * (own[:-1] + own[1:])
    contains = ((b.lo[:, j, None] <= mid) & (mid < b.hi[:, j, None])).astype(float)
    fj = (b.value * b.vol / (b.hi[:, j] - b.lo[:, j])) @ contains  # on the tree's intervals
    at = 0.5 * (points[:-1] + points[1:])
    idx = np.clip(np.searchsorted(own, at, side="right") - 1, 0, fj.size - 1)
    return fj[idx]


def tree_pair_grid(b: TreeBoxes, j: int, k: int, cells: int) -> np.ndarray:
    """The tree's closed marginal ``f_jk`` at the centres of a ``cells x cells`` grid."""
    g = (np.arange(cells) + 0.5) / cells
    cj = ((b.lo[:, j, None] <= g) & (g < b.hi[:, j, None])).astype(float)  # no bool BLAS
    ck = ((b.lo[:, k, None] <= g) & (g < b.hi[:, k, None])).astype(float)
    w = b.value * b.vol / ((b.hi[:, j] - b.lo[:, j]) * (b.hi[:, k] - b.lo[:, k]))
    return (cj * w[:, None]).T @ ck
