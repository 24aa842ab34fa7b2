"""Kernel inputs of the GP: the unit-cube encoding as features (one-hot categoricals)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hypersweep.space import Int, Normal, Space

# ======================================================================================
# kernel inputs
# ======================================================================================


class Features:
    """Unit-cube rows -> kernel inputs: numeric columns as they are, categoricals one-hot.

    Each column of the space is one lengthscale group. A categorical column with ``k``
    options becomes ``k`` one-hot features scaled by ``1/sqrt(2)``, so two different
    options are at squared distance 1 whatever ``k`` (an exchangeable categorical kernel
    with one lengthscale per parameter). An inactive numeric column is filled with 0.5 and
    an inactive categorical is all zeros (squared distance 1/2 from every option).
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        self.n_options = np.asarray(space.n_options, dtype=int)
        self.numeric = np.flatnonzero(self.n_options == 0)
        self.categorical = np.flatnonzero(self.n_options > 0)
        width = np.maximum(self.n_options, 1)
        self.group = np.repeat(np.arange(space.dim), width)  # feature -> column
        self.start = np.concatenate([[0], np.cumsum(width)[:-1]]).astype(int)
        self.numeric_feat = self.start[self.numeric]
        self.n_features = int(width.sum())
        params = [c.param for c in space.columns]
        discrete = [
            isinstance(params[j], Int) or getattr(params[j], "step", None) is not None
            for j in self.numeric
        ]
        self.discrete = self.numeric[np.array(discrete, dtype=bool)]
        self.continuous = self.numeric[~np.array(discrete, dtype=bool)]
        self.continuous_feat = self.start[self.continuous]

    def canon(self, U: np.ndarray) -> np.ndarray:
        """Snap categoricals, ints and steps to the centre of their option or bin (the
        encoding of the value they decode to), and set inactive columns to NaN."""
        U = np.array(U, dtype=float, copy=True)
        for j in self.categorical:
            k = self.n_options[j]
            idx = np.clip(np.floor(np.clip(U[:, j], 0.0, 1.0) * k), 0, k - 1)
            U[:, j] = np.where(np.isnan(U[:, j]), np.nan, (idx + 0.5) / k)
        for j in self.discrete:
            p = self.space.columns[j].param
            rows = np.flatnonzero(~np.isnan(U[:, j]))
            U[rows, j] = p._encode(p._decode_array(np.clip(U[rows, j], 0.0, 1.0)))
        if self.space.is_conditional:
            U[~self.space.active_mask(U)] = np.nan
        return U

    def neighbours(self, j: int, u: float) -> np.ndarray:
        """Encodings of the values one to three steps away from column ``j``'s value."""
        k = self.n_options[j]
        if k:
            return (np.arange(k) + 0.5) / k
        p: Any = self.space.columns[j].param
        if j in self.discrete:
            v = float(p._decode_array(np.array([u]))[0])
            vals = v + np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]) * p.step
            if isinstance(p, Normal):
                vals = vals[vals > 0] if p.log else vals
            else:
                vals = vals[(vals >= p.low) & (vals <= p.high)]
            return np.asarray(p._encode(vals), dtype=float)
        return u + np.array([-0.3, -0.1, -0.03, -0.01, 0.01, 0.03, 0.1, 0.3])

    def __call__(self, U: np.ndarray) -> np.ndarray:
        Z = np.zeros((U.shape[0], self.n_features))
        if self.numeric.size:
            Z[:, self.numeric_feat] = np.nan_to_num(U[:, self.numeric], nan=0.5)
        for j in self.categorical:
            k = self.n_options[j]
            col = U[:, j]
            rows = np.flatnonzero(~np.isnan(col))
            idx = np.clip(np.floor(np.clip(col[rows], 0.0, 1.0) * k), 0, k - 1).astype(int)
            Z[rows, self.start[j] + idx] = math.sqrt(0.5)
        return Z
