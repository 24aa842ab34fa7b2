"""PED-ANOVA (Watanabe, Bansal and Hutter 2023): importance for reaching the top quantile.

The importance of parameter ``j`` is the Pearson divergence between the density of its
values among the top-``gamma`` trials and among all trials of the region (here: every
trial), ``sum_g p_all(g) * (p_top(g) / p_all(g) - 1)**2`` over a grid of the unit
interval, with Gaussian kernel densities (Scott's bandwidth) for numeric parameters and
smoothed option frequencies for choices. The paper shows this equals the local f-ANOVA
variance of the indicator "the trial is in the top quantile", so no surrogate is fitted.

Rows are first binned (``_BINS`` bins per column), so the cost of one evaluation does not
grow with the number of trials beyond the binning.
"""

from __future__ import annotations

import numpy as np

__all__ = ["binned", "divergences", "top_rows"]

_BINS = 256
_GRID = 64


def binned(U: np.ndarray, n_options: np.ndarray) -> np.ndarray:
    """Each row's bin in each column: the option index for choices, else one of ``_BINS``."""
    k = np.where(n_options > 0, n_options, _BINS)
    return np.minimum((U * k).astype(int), k - 1)


def top_rows(y: np.ndarray, quantile: float) -> np.ndarray:
    """Indices of the ``max(2, ceil(quantile * n))`` lowest values (ties: earlier rows)."""
    m = min(max(2, int(np.ceil(quantile * y.size))), y.size)
    return np.argsort(y, kind="stable")[:m]


def _density(counts: np.ndarray, centres: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A kernel density from bin counts (Scott's bandwidth), on ``grid``, summing to 1."""
    m = counts.sum()
    mean = counts @ centres / m
    sd = np.sqrt(max(counts @ (centres - mean) ** 2 / m, 0.0))
    h = max(1.059 * sd * m ** (-0.2), 1.0 / _GRID)
    k = np.exp(-0.5 * ((grid[:, None] - centres[None, :]) / h) ** 2)
    p = k @ counts
    return p / p.sum()


def divergences(bins: np.ndarray, n_options: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The Pearson divergence of each column between the ``top`` rows and all rows
    (``bins`` from :func:`binned`; ``top`` may repeat rows, as a bootstrap resample does),
    where ``all`` is every row of ``bins`` (repeats counted)."""
    dim = bins.shape[1]
    out = np.zeros(dim)
    centres = (np.arange(_BINS) + 0.5) / _BINS
    grid = (np.arange(_GRID) + 0.5) / _GRID
    for j in range(dim):
        k = int(n_options[j])
        size = k if k > 0 else _BINS
        c_all = np.bincount(bins[:, j], minlength=size).astype(float)
        c_top = np.bincount(bins[top, j], minlength=size).astype(float)
        if k > 0:  # options: frequencies with one pseudo-count per option
            p_all = (c_all + 1.0) / (c_all.sum() + k)
            p_top = (c_top + 1.0) / (c_top.sum() + k)
        else:
            p_all = _density(c_all, centres, grid)
            p_top = _density(c_top, centres, grid)
        out[j] = float(p_all @ (p_top / p_all - 1.0) ** 2)
    return out
