"""The one definition of "best": the best row of one objective and the Pareto front.

Every reader ranks trials here: :class:`~hypersweep.history.History` (``Study.best_trial``,
``best_trials``, the runner's ``target``/``patience``, the progress line), the storages'
:meth:`~hypersweep.storage.base.Storage.best_trials` (``hypersweep status``, ``best``,
``ls``), the multi-objective TPE ordering and :mod:`hypersweep.analysis.pareto`.

Values are signed so that lower is better in every column (``Objective.sign * value``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hypersweep.trial import Objective, Trial

__all__ = ["best_of", "best_row", "pareto_mask"]


def pareto_mask(y: np.ndarray) -> np.ndarray:
    """Which rows of ``y`` (lower is better in every column) no other row dominates.

    Duplicated rows are all kept. Two columns: O(n log n); more: O(n * front).

    Example:
        >>> pareto_mask(np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])).tolist()
        [True, True, False]
    """
    y = np.asarray(y, dtype=float)
    n = y.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    if y.ndim == 2 and y.shape[1] == 2:
        # sort by (y0, y1) and compare with the running minima of y1
        order = np.lexsort((y[:, 1], y[:, 0]))
        y0, y1 = y[order, 0], y[order, 1]
        before = np.minimum.accumulate(np.concatenate([[np.inf], y1[:-1]]))  # min y1 of j < i
        first = np.searchsorted(y0, y0, side="left")  # first row with the same y0
        # dominated: an earlier row is lower in y1, or a row with lower y0 is not higher in y1
        dom = (before < y1) | (before[first] <= y1)
        mask = np.zeros(n, dtype=bool)
        mask[order[~dom]] = True
        return mask
    keep = np.ones(n, dtype=bool)
    for i in np.lexsort(y.T[::-1]):  # a dominating row sorts before the rows it dominates
        if not keep[i]:
            continue
        keep &= ~(np.all(y[i] <= y, axis=1) & np.any(y[i] < y, axis=1))
    return keep


def best_row(y: np.ndarray, ok: np.ndarray) -> int | None:
    """The row with the lowest ``y`` among the rows where ``ok`` (the first one on ties),
    or ``None`` when no row is ``ok``.

    Example:
        >>> best_row(np.array([3.0, 1.0, 1.0]), np.array([True, True, True]))
        1
    """
    idx = np.flatnonzero(ok)
    return None if idx.size == 0 else int(idx[np.argmin(y[idx])])


def best_of(done: Sequence[Trial], objectives: Sequence[Objective]) -> list[Trial]:
    """The best of finished trials with values: ``[best]`` for one objective (ties go to
    the lower number), the Pareto front by number for several. Trials without a value
    for every objective are left out."""
    m = len(objectives)
    done = sorted(
        (t for t in done if t.values is not None and len(t.values) == m),
        key=lambda t: t.number,
    )
    if not done:
        return []
    signs = np.array([o.sign for o in objectives], dtype=float)
    Y = np.array([t.values for t in done], dtype=float).reshape(len(done), m) * signs
    ok = ~np.isnan(Y).any(axis=1)
    if m == 1:
        i = best_row(Y[:, 0], ok)
        return [] if i is None else [done[i]]
    idx = np.flatnonzero(ok)
    return [done[i] for i in idx[pareto_mask(Y[idx])]]
