"""Variance-based (Sobol') sensitivity indices estimated by Monte Carlo on a surrogate.

With two independent sample matrices ``A`` and ``B`` of ``N`` rows and, for each
dimension ``j``, the matrix ``AB_j`` (``A`` with column ``j`` taken from ``B``):

* first order (Saltelli et al. 2010): ``V_j ~ mean(f(B) * (f(AB_j) - f(A)))``;
* total (Jansen 1999): ``VT_j ~ mean((f(A) - f(AB_j))**2) / 2``;
* closed pair index with ``AB_jk`` (``A`` with columns ``j`` and ``k`` from ``B``):
  ``V^c_jk ~ mean(f(B) * (f(AB_jk) - f(A)))``, interaction ``= V^c_jk - V_j - V_k``;

each divided by the variance of ``f`` over ``A`` and ``B``. The points are a scrambled
Sobol' sequence; the surrogate is evaluated, never the study's objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SaltelliDesign", "design", "pair_index", "pair_points", "sobol_indices"]


@dataclass(frozen=True)
class SaltelliDesign:
    """The points to evaluate: ``A``, ``B`` and every ``AB_j``, stacked as ``points`` in
    that order (``n`` rows each)."""

    n: int
    dim: int
    A: np.ndarray
    B: np.ndarray
    points: np.ndarray


def design(n: int, dim: int, seed: int) -> SaltelliDesign:
    """A Saltelli design of ``n`` base rows (``n`` is rounded up to a power of two)."""
    from scipy.stats import qmc

    m = max(int(np.ceil(np.log2(max(n, 2)))), 1)
    base = qmc.Sobol(2 * dim, scramble=True, seed=seed).random_base2(m)
    A, B = base[:, :dim], base[:, dim:]
    blocks = [A, B]
    for j in range(dim):
        ab = A.copy()
        ab[:, j] = B[:, j]
        blocks.append(ab)
    return SaltelliDesign(A.shape[0], dim, A, B, np.concatenate(blocks))


def pair_points(d: SaltelliDesign, j: int, k: int) -> np.ndarray:
    """``AB_jk``: ``A`` with columns ``j`` and ``k`` taken from ``B``."""
    ab = d.A.copy()
    ab[:, [j, k]] = d.B[:, [j, k]]
    return ab


def _split(d: SaltelliDesign, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``f`` (one value per point) split into ``f(A)``, ``f(B)`` and ``f(AB_j)`` (``(D, n)``)."""
    n = d.n
    return f[:n], f[n : 2 * n], f[2 * n :].reshape(d.dim, n)


def sobol_indices(
    d: SaltelliDesign, f: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(S1, ST)`` for each dimension from the values ``f`` of the design's points
    (``rows``: a resample of the base rows, for the bootstrap)."""
    fa, fb, fab = _split(d, f)
    if rows is not None:
        fa, fb, fab = fa[rows], fb[rows], fab[:, rows]
    var = np.var(np.concatenate([fa, fb]))
    if var <= 0:
        return np.zeros(d.dim), np.zeros(d.dim)
    s1 = np.mean(fb * (fab - fa), axis=1) / var
    st = 0.5 * np.mean((fa - fab) ** 2, axis=1) / var
    return s1, st


def pair_index(
    d: SaltelliDesign,
    f: np.ndarray,
    f_pair: np.ndarray,
    first: tuple[float, float],
    rows: np.ndarray | None = None,
) -> float:
    """The interaction of a pair: its closed index (from ``f_pair``, the values at
    :func:`pair_points`) minus both first-order indices ``first``."""
    fa, fb, _ = _split(d, f)
    if rows is not None:
        fa, fb, f_pair = fa[rows], fb[rows], f_pair[rows]
    var = np.var(np.concatenate([fa, fb]))
    if var <= 0:
        return 0.0
    closed = float(np.mean(fb * (f_pair - fa)) / var)
    return closed - first[0] - first[1]
