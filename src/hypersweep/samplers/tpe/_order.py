"""Multi-objective ordering of TPE's good set."""

from __future__ import annotations

import numpy as np

from hypersweep._best import pareto_mask

# ======================================================================================
# Multi-objective ordering
# ======================================================================================


def mo_best(y: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` rows chosen front by front (non-domination rank)."""
    remaining = np.arange(y.shape[0])
    chosen: list[np.ndarray] = []
    need = k
    while need > 0 and remaining.size:
        front = remaining[pareto_mask(y[remaining])]
        if front.size <= need:
            chosen.append(front)
            need -= front.size
            remaining = np.setdiff1d(remaining, front, assume_unique=True)
            continue
        ranks = np.argsort(np.argsort(y[front], axis=0, kind="stable"), axis=0)
        chosen.append(front[np.argsort(ranks.mean(axis=1), kind="stable")[:need]])
        need = 0
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)
