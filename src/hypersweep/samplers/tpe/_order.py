"""Multi-objective ordering of TPE's good set."""

from __future__ import annotations

import numpy as np

# ======================================================================================
# Multi-objective ordering
# ======================================================================================


def nondominated(y: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``y`` (lower is better) that no other row dominates."""
    n = y.shape[0]
    if y.shape[1] == 2:  # O(n log n): sort by (y0, y1), compare with running minima of y1
        order = np.lexsort((y[:, 1], y[:, 0]))
        y0, y1 = y[order, 0], y[order, 1]
        before = np.minimum.accumulate(np.concatenate([[np.inf], y1[:-1]]))  # min y1 of j < i
        first = np.searchsorted(y0, y0, side="left")  # first row with the same y0
        # dominated: an earlier row is lower in y1, or a row with lower y0 is not higher in y1
        dom = (before < y1) | (before[first] <= y1)
        mask = np.zeros(n, dtype=bool)
        mask[order[~dom]] = True
        return mask
    dominated = np.zeros(n, dtype=bool)
    step = max(1, 2_000_000 // max(n * y.shape[1], 1))
    for s in range(0, n, step):
        blk = y[s : s + step]
        le = np.all(y[None, :, :] <= blk[:, None, :], axis=2)
        lt = np.any(y[None, :, :] < blk[:, None, :], axis=2)
        dominated[s : s + step] = np.any(le & lt, axis=1)
    return ~dominated


def mo_best(y: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` rows chosen front by front (non-domination rank)."""
    remaining = np.arange(y.shape[0])
    chosen: list[np.ndarray] = []
    need = k
    while need > 0 and remaining.size:
        front = remaining[nondominated(y[remaining])]
        if front.size <= need:
            chosen.append(front)
            need -= front.size
            remaining = np.setdiff1d(remaining, front, assume_unique=True)
            continue
        ranks = np.argsort(np.argsort(y[front], axis=0, kind="stable"), axis=0)
        chosen.append(front[np.argsort(ranks.mean(axis=1), kind="stable")[:need]])
        need = 0
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)
