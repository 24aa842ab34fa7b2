"""Pareto fronts of multi-objective studies."""

from __future__ import annotations

import numpy as np

__all__ = ["pareto_mask"]


def pareto_mask(y: np.ndarray) -> np.ndarray:
    """Which rows of ``y`` (lower is better in every column) are not dominated.

    Duplicated rows are all kept. O(n * front) with numpy, fine for tens of thousands.

    Example:
        >>> pareto_mask(np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])).tolist()
        [True, True, False]
    """
    y = np.asarray(y, dtype=float)
    n = y.shape[0]
    keep = np.ones(n, dtype=bool)
    order = np.lexsort(y.T[::-1])  # by first column, then the next ...
    for i in order:
        if not keep[i]:
            continue
        dominated = np.all(y[i] <= y, axis=1) & np.any(y[i] < y, axis=1)
        keep &= ~dominated
    return keep
