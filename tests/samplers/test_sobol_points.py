"""Sobol points computed in numpy: the same points as scipy.stats.qmc.Sobol."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hypersweep.samplers._sobol_points import SobolPoints


@pytest.mark.parametrize("dim", [1, 2, 5, 23, 64, 65])
@pytest.mark.parametrize("seed", [0, 7, 2**31 - 1, 2**62 + 5])
def test_the_points_are_scipys_bit_for_bit(dim: int, seed: int) -> None:
    qmc = pytest.importorskip("scipy.stats").qmc
    ours = SobolPoints(dim, seed)
    for start, n in [(0, 1), (0, 16), (1, 1), (5, 3), (100, 37), (1023, 2)]:
        engine = qmc.Sobol(d=dim, scramble=True, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n not a power of two
            if start:
                engine.fast_forward(start)
            want = engine.random(n)
        assert np.array_equal(ours.points(start, n), want), (start, n)


def test_points_lie_in_the_unit_cube_and_differ_by_seed() -> None:
    a, b = SobolPoints(3, 1).points(0, 64), SobolPoints(3, 2).points(0, 64)
    assert a.shape == (64, 3) and ((a >= 0) & (a < 1)).all()
    assert not np.array_equal(a, b)
    # the first 2**k points of a scrambled Sobol sequence are balanced per coordinate
    assert (np.histogram(a[:, 0], bins=8, range=(0, 1))[0] == 8).all()
