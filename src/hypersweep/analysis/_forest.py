"""The random-forest surrogate and the exact functional ANOVA of its trees.

A regression tree is piecewise constant over its leaves, and each leaf is a box of the
unit cube, so every quantity of the functional ANOVA (Hutter, Hoos and Leyton-Brown 2014)
under the uniform measure is a finite sum over leaves:

* the mean and the variance of the tree: ``sum(vol * v)``, ``sum(vol * v**2) - mean**2``;
* the marginal of one parameter, ``f_j(x_j) = sum_l v_l * vol_l / len_j(l) * [x_j in l]``,
  constant between the tree's split points on ``j``; its variance is the main effect;
* the marginal of a pair on the grid of both parameters' split points (closed index).

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

__all__ = ["TreeBoxes", "fit_forest", "tree_anova", "tree_boxes", "tree_pair"]

_MISSING = "scikit-learn is needed for this: pip install 'hypersweep[analysis]'"


def fit_forest(
    U: np.ndarray, y: np.ndarray, n_trees: int, seed: int, min_samples_leaf: int = 1
) -> Any:
    """A scikit-learn random forest fit to ``y`` on the unit cube (each tree on its own
    bootstrap resample of the rows)."""
    try:
        from sklearn.ensemble import RandomForestRegressor  # type: ignore[import-untyped]
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


def _marginal(b: TreeBoxes, j: int) -> tuple[np.ndarray, np.ndarray]:
    """``(contains, lengths)``: which leaves cover each interval between the split points
    on ``j`` (``(L, k)``) and the intervals' lengths (``k``)."""
    pts = b.splits[j]
    mid = 0.5 * (pts[:-1] + pts[1:])
    contains = (b.lo[:, j, None] <= mid) & (mid < b.hi[:, j, None])
    return contains.astype(float), np.diff(pts)  # float: a bool matmul has no BLAS path


def tree_anova(b: TreeBoxes) -> tuple[float, np.ndarray]:
    """``(variance, main)``: the tree's variance and each dimension's main effect as a
    fraction of it (zeros for a constant tree)."""
    dim = b.lo.shape[1]
    mean = float(b.vol @ b.value)
    second = float(b.vol @ b.value**2)
    var = second - mean**2
    main = np.zeros(dim)
    if var <= 1e-12 * max(second, 1e-300):
        return 0.0, main
    length = b.hi - b.lo  # (L, D)
    for j in range(dim):
        if b.splits[j].size <= 2:  # never split on: no effect at all
            continue
        contains, width = _marginal(b, j)
        fj = (b.value * b.vol / length[:, j]) @ contains
        main[j] = max(float(width @ fj**2) - mean**2, 0.0) / var
    return var, main


def tree_pair(b: TreeBoxes, j: int, k: int, var: float) -> float:
    """The interaction of ``j`` and ``k`` (closed pair effect minus both main effects) as a
    fraction of the tree's variance ``var``."""
    if var <= 0:
        return 0.0
    mean = float(b.vol @ b.value)
    length = b.hi - b.lo
    cj, wj = _marginal(b, j)
    ck, wk = _marginal(b, k)
    w = b.value * b.vol / (length[:, j] * length[:, k])
    fjk = (cj * w[:, None]).T @ ck  # (kj, kk)
    closed = float(wj @ fjk**2 @ wk) - mean**2
    fj = (b.value * b.vol / length[:, j]) @ cj
    fk = (b.value * b.vol / length[:, k]) @ ck
    vj = float(wj @ fj**2) - mean**2
    vk = float(wk @ fk**2) - mean**2
    return max(closed - vj - vk, 0.0) / var
