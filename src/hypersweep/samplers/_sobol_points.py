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


#: (primitive polynomial, initial direction numbers) of the first 64 dimensions: Joe and
#: Kuo's new-joe-kuo-6.21201 table as scipy ships it (more dimensions are read from
#: scipy's copy of the whole table: decompressing it costs ~0.05 s)
_FIRST = (
    (1, ()),
    (3, (1,)),
    (7, (1, 3)),
    (11, (1, 3, 1)),
    (13, (1, 1, 1)),
    (19, (1, 1, 3, 3)),
    (25, (1, 3, 5, 13)),
    (37, (1, 1, 5, 5, 17)),
    (41, (1, 1, 5, 5, 5)),
    (47, (1, 1, 7, 11, 19)),
    (55, (1, 1, 5, 1, 1)),
    (59, (1, 1, 1, 3, 11)),
    (61, (1, 3, 5, 5, 31)),
    (67, (1, 3, 3, 9, 7, 49)),
    (91, (1, 1, 1, 15, 21, 21)),
    (97, (1, 3, 1, 13, 27, 49)),
    (103, (1, 1, 1, 15, 7, 5)),
    (109, (1, 3, 1, 15, 13, 25)),
    (115, (1, 1, 5, 5, 19, 61)),
    (131, (1, 3, 7, 11, 23, 15, 103)),
    (137, (1, 3, 7, 13, 13, 15, 69)),
    (143, (1, 1, 3, 13, 7, 35, 63)),
    (145, (1, 3, 5, 9, 1, 25, 53)),
    (157, (1, 3, 1, 13, 9, 35, 107)),
    (167, (1, 3, 1, 5, 27, 61, 31)),
    (171, (1, 1, 5, 11, 19, 41, 61)),
    (185, (1, 3, 5, 3, 3, 13, 69)),
    (191, (1, 1, 7, 13, 1, 19, 1)),
    (193, (1, 3, 7, 5, 13, 19, 59)),
    (203, (1, 1, 3, 9, 25, 29, 41)),
    (211, (1, 3, 5, 13, 23, 1, 55)),
    (213, (1, 3, 7, 3, 13, 59, 17)),
    (229, (1, 3, 1, 3, 5, 53, 69)),
    (239, (1, 1, 5, 5, 23, 33, 13)),
    (241, (1, 1, 7, 7, 1, 61, 123)),
    (247, (1, 1, 7, 9, 13, 61, 49)),
    (253, (1, 3, 3, 5, 3, 55, 33)),
    (285, (1, 3, 1, 15, 31, 13, 49, 245)),
    (299, (1, 3, 5, 15, 31, 59, 63, 97)),
    (301, (1, 3, 1, 11, 11, 11, 77, 249)),
    (333, (1, 3, 1, 11, 27, 43, 71, 9)),
    (351, (1, 1, 7, 15, 21, 11, 81, 45)),
    (355, (1, 3, 7, 3, 25, 31, 65, 79)),
    (357, (1, 3, 1, 1, 19, 11, 3, 205)),
    (361, (1, 1, 5, 9, 19, 21, 29, 157)),
    (369, (1, 3, 7, 11, 1, 33, 89, 185)),
    (391, (1, 3, 3, 3, 15, 9, 79, 71)),
    (397, (1, 3, 7, 11, 15, 39, 119, 27)),
    (425, (1, 1, 3, 1, 11, 31, 97, 225)),
    (451, (1, 1, 1, 3, 23, 43, 57, 177)),
    (463, (1, 3, 7, 7, 17, 17, 37, 71)),
    (487, (1, 3, 1, 5, 27, 63, 123, 213)),
    (501, (1, 1, 3, 5, 11, 43, 53, 133)),
    (529, (1, 3, 5, 5, 29, 17, 47, 173, 479)),
    (539, (1, 3, 3, 11, 3, 1, 109, 9, 69)),
    (545, (1, 1, 1, 5, 17, 39, 23, 5, 343)),
    (557, (1, 3, 1, 5, 25, 15, 31, 103, 499)),
    (563, (1, 1, 1, 11, 11, 17, 63, 105, 183)),
    (601, (1, 1, 5, 11, 9, 29, 97, 231, 363)),
    (607, (1, 1, 5, 15, 19, 45, 41, 7, 383)),
    (617, (1, 3, 7, 7, 31, 19, 83, 137, 221)),
    (623, (1, 1, 1, 3, 23, 15, 111, 223, 83)),
    (631, (1, 1, 5, 13, 31, 15, 55, 25, 161)),
    (637, (1, 1, 3, 13, 25, 47, 39, 87, 257)),
)


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


def _initial(d: int, dim: int) -> tuple[int, list[int]]:
    if dim <= len(_FIRST):
        p, v = _FIRST[d]
        return p, list(v)
    poly, vinit = _direction_tables()
    if dim > len(poly):
        raise ValueError(f"Sobol points have at most {len(poly)} dimensions, got {dim}")
    p = int(poly[d])
    return p, [int(x) for x in vinit[d, : p.bit_length() - 1]]


def _direction_numbers(dim: int) -> np.ndarray:
    """The ``(dim, 30)`` direction numbers (Bratley and Fox's recurrence), each column
    already shifted to its bit position."""
    v = [[0] * _BITS for _ in range(dim)]
    if dim:
        v[0] = [1] * _BITS
    for d in range(1, dim):
        p, init = _initial(d, dim)
        m = p.bit_length() - 1
        row = v[d]
        row[:m] = init
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
