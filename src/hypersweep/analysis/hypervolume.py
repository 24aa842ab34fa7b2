"""Hypervolume: the volume a set of points dominates up to a reference point.

All points are lower-is-better in every column (a study's ``History.Y``). Exact in any
dimension: a sort and a running minimum for two objectives (``O(n log n)``), and for more,
slicing along the last objective (each slab's volume is the hypervolume, one dimension
lower, of the points below it), with the two-objective case at the bottom: ``O(n**2 log
n)`` for three objectives; from four on, each level first drops dominated points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hypersweep.analysis.pareto import pareto_mask
from hypersweep.errors import HypersweepError

if TYPE_CHECKING:
    from hypersweep.study import Study

__all__ = ["hypervolume", "hypervolume_history"]


def hypervolume(Y: np.ndarray, ref: np.ndarray | list[float]) -> float:
    """The volume dominated by the rows of ``Y`` (lower is better) and bounded by ``ref``.

    Rows not strictly better than ``ref`` in every column add nothing.

    Example:
        >>> hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), [3.0, 3.0])
        3.0
    """
    Y = np.asarray(Y, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if Y.ndim != 2 or ref.shape != (Y.shape[1],):
        raise ValueError(f"expected Y of shape (n, {ref.size}), got {Y.shape}")
    Y = Y[np.all(ref > Y, axis=1)]
    if Y.shape[0] == 0:
        return 0.0
    if Y.shape[1] == 1:
        return float(ref[0] - Y[:, 0].min())
    return _hv(Y, ref)


def _hv2(Y: np.ndarray, ref: np.ndarray) -> float:
    """Two objectives: sorted by the first, the area under the running minimum of the
    second (dominated points add nothing, so no filtering is needed)."""
    order = np.argsort(Y[:, 0], kind="stable")
    x, y = Y[order, 0], Y[order, 1]
    best = np.minimum.accumulate(y)  # the front's lowest second value so far
    width = np.diff(np.append(x, ref[0]))
    return float(np.sum(width * (ref[1] - best)))


def _hv(Y: np.ndarray, ref: np.ndarray) -> float:
    if Y.shape[1] == 2:
        return _hv2(Y, ref)
    if Y.shape[1] > 3:  # keep the recursion small
        Y = Y[pareto_mask(Y)]
    order = np.argsort(Y[:, -1], kind="stable")
    Y = Y[order]
    z = np.append(Y[:, -1], ref[-1])
    total = 0.0
    for i in range(Y.shape[0]):
        depth = z[i + 1] - z[i]
        if depth <= 0:
            continue
        total += depth * _hv(Y[: i + 1, :-1], ref[:-1])
    return total


def hypervolume_history(study: Study, ref: list[float] | None = None) -> np.ndarray:
    """The hypervolume of the feasible finished trials after each trial (by number).

    Args:
        study: a study (synced first); every objective counts.
        ref: the reference point in the objectives' own units and directions (a maximized
            objective's reference is a low value). Default: the worst value of each
            objective over the finished trials, widened by a tenth of its range.

    Returns:
        one value per trial number (``0`` until a trial dominates the reference point).
    """
    from hypersweep.trial import TrialState

    study.sync()
    h = study.history
    signs = np.array([o.sign for o in h.objectives])
    done = h.mask(TrialState.COMPLETED, TrialState.STOPPED) & np.isfinite(h.Y).all(axis=1)
    done &= h.feasible
    Y = h.Y
    if ref is None:
        if not done.any():
            return np.zeros(h.n)
        lo, hi = Y[done].min(axis=0), Y[done].max(axis=0)
        r = hi + 0.1 * np.where(hi > lo, hi - lo, 1.0)
    else:
        if len(ref) != signs.size:
            raise HypersweepError(
                f"hypervolume: ref needs {signs.size} values (one per objective), got {len(ref)}"
            )
        r = np.asarray(ref, dtype=float) * signs
    out = np.zeros(h.n)
    front = np.empty((0, signs.size))
    hv = 0.0
    for i in range(h.n):
        if done[i] and np.all(Y[i] < r):
            y = Y[i]
            if not np.any(np.all(front <= y, axis=1)):  # not weakly dominated: grows
                keep = ~np.all(y <= front, axis=1)
                front = np.vstack([front[keep], y])
                hv = hypervolume(front, r)
        out[i] = hv
    return out
