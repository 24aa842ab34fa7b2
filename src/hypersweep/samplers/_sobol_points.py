"""Scrambled Sobol points in numpy, without importing ``scipy.stats`` (about 0.25 s, most
of a short study's first ask).

The points are those of ``scipy.stats.qmc.Sobol(d, scramble=True, seed=seed)`` (30 bits,
Joe and Kuo's direction numbers, linear matrix scrambling plus a digital shift drawn from
``numpy.random.default_rng(seed)``), so a study proposes exactly what it proposed with
scipy's engine (``tests/samplers/test_sobol.py`` compares them). Point ``k`` is the
shift XOR-ed with the scrambled direction numbers of the bits set in the Gray code of
``k``, so any range of points is computed directly, without stepping through the
sequence.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

__all__ = ["SobolPoints"]

_BITS = 30
_tables: tuple[np.ndarray, np.ndarray] | None = None


def _direction_tables() -> tuple[np.ndarray, np.ndarray]:
    """(poly, vinit): the direction numbers scipy ships with its Sobol engine."""
    global _tables
    if _tables is None:
        spec = importlib.util.find_spec("scipy")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the Sobol direction numbers come with scipy; install scipy")
        root = next(iter(spec.submodule_search_locations))
        with np.load(os.path.join(root, "stats", "_sobol_direction_numbers.npz")) as f:
            _tables = (f["poly"].astype(np.int64), f["vinit"].astype(np.int64))
    return _tables


def _direction_numbers(dim: int) -> np.ndarray:
    """The ``(dim, 30)`` direction numbers (Bratley and Fox's recurrence), each column
    already shifted to its bit position."""
    poly, vinit = _direction_tables()
    if dim > len(poly):
        raise ValueError(f"Sobol points have at most {len(poly)} dimensions, got {dim}")
    v = [[0] * _BITS for _ in range(dim)]
    if dim:
        v[0] = [1] * _BITS
    for d in range(1, dim):
        p = int(poly[d])
        m = p.bit_length() - 1
        row = v[d]
        row[:m] = [int(x) for x in vinit[d, :m]]
        for j in range(m, _BITS):
            new = row[j - m]
            pow2 = 1
            for k in range(m):
                pow2 <<= 1
                if (p >> (m - 1 - k)) & 1:
                    new ^= pow2 * row[j - k - 1]
            row[j] = new
    out = np.array(v, dtype=np.int64).reshape(dim, _BITS)
    return out << np.arange(_BITS - 1, -1, -1, dtype=np.int64)[None, :]


class SobolPoints:
    """One scrambled Sobol sequence in ``dim`` dimensions.

    Example:
        >>> SobolPoints(2, seed=0).points(0, 4).shape
        (4, 2)
    """

    def __init__(self, dim: int, seed: int | None) -> None:
        self.dim = dim
        sv = _direction_numbers(dim)
        rng = np.random.default_rng(seed)
        bits = rng.integers(0, 2, size=(dim, _BITS), dtype=np.uint32).astype(np.int64)
        self.shift = bits @ (np.int64(1) << np.arange(_BITS, dtype=np.int64))
        ltm = rng.integers(0, 2, size=(dim, _BITS, _BITS), dtype=np.uint32)
        ltm = np.tril(ltm).astype(np.int64)
        idx = np.arange(_BITS)
        ltm[:, idx, idx] = 1
        # linear matrix scrambling: bit c of the new number (from the top) is the parity
        # of row c of the lower-triangular matrix and the old number's bits (from the top)
        weights = np.int64(1) << np.arange(_BITS - 1, -1, -1, dtype=np.int64)
        top_bits = (sv[:, None, :] >> (_BITS - 1 - idx)[None, :, None]) & 1  # (d, c, j)
        parity = np.einsum("dpc,dcj->dpj", ltm, top_bits) % 2
        self.sv = np.einsum("p,dpj->dj", weights, parity)

    def points(self, start: int, n: int) -> np.ndarray:
        """Points ``start .. start+n-1``, shape ``(n, dim)``."""
        k = np.arange(start, start + n, dtype=np.int64)
        gray = k ^ (k >> 1)
        q = np.broadcast_to(self.shift, (n, self.dim)).copy()
        for b in range(int(gray.max()).bit_length() if n else 0):
            on = ((gray >> b) & 1).astype(bool)
            q[on] ^= self.sv[:, b]
        return q.astype(np.float64) * (1.0 / 2**_BITS)
