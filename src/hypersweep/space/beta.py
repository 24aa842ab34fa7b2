"""The Beta parameter type: a beta-distributed real, rescaled and optionally stepped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hypersweep._validate import short
from hypersweep.errors import SpaceError
from hypersweep.space._common import as_float, check_bounds, clip, nudge_exact
from hypersweep.space.params import NumericParam


class Beta(NumericParam):
    """``low + (high - low) * X`` with ``X ~ Beta(alpha, beta)`` on ``[0, 1]``.

    ``step`` rounds to the grid ``low, low + step, ..., high`` (W&B's ``q_beta``); the
    values are floats. The
    unit-cube encoding is the beta CDF, so a uniform draw decodes to a beta-distributed
    value and every sampler that starts from uniform draws samples its prior.

    Example:
        >>> b = Beta(2, 5)
        >>> round(b._decode(np.array([0.5]))[0], 4)  # the median of Beta(2, 5)
        0.2644
        >>> Beta(2, 2, low=0, high=10, step=1).grid_values("x", None)[:3]
        [0.0, 1.0, 2.0]
    """

    def __init__(
        self,
        alpha: float,
        beta: float,
        low: float = 0.0,
        high: float = 1.0,
        step: float | None = None,
    ) -> None:
        for key, v in (("alpha", alpha), ("beta", beta)):
            f = as_float(v)
            if f is None or not 0 < f <= 1e6:
                raise SpaceError("", f"Beta needs 0 < {key} <= 1e6, got {key}={short(v)}")
        check_bounds("Beta", low, high, False, step, integer=False)
        self.alpha, self.beta = float(alpha), float(beta)
        self.low, self.high, self.log = float(low), float(high), False
        self.step = None if step is None else float(step)

    # the unit interval <-> values ---------------------------------------------------------
    def _cdf(self, x: np.ndarray) -> np.ndarray:
        z = clip((x - self.low) / (self.high - self.low), 0.0, 1.0)
        from scipy.special import betainc  # imported only by a study with a Beta (0.2 s)

        return np.asarray(betainc(self.alpha, self.beta, z), dtype=float)

    def _ppf(self, u: np.ndarray) -> np.ndarray:
        from scipy.special import betaincinv

        z = betaincinv(self.alpha, self.beta, clip(u, 0.0, 1.0))
        return np.asarray(clip(self.low + z * (self.high - self.low), self.low, self.high))

    def _decode_array(self, u: np.ndarray) -> np.ndarray:
        x = self._ppf(np.asarray(u, dtype=float))
        if self.step is None:
            return x
        k = clip(np.rint((x - self.low) / self.step), 0, self._n_points() - 1)
        return np.asarray(self._point(k), dtype=float)

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        if self.step is None:
            return nudge_exact(self._cdf(x), x, self._decode_array)
        # a grid value encodes to the middle (in probability) of the values rounding to it
        half = self.step / 2
        lo, hi = self._cdf(x - half), self._cdf(x + half)
        u = (lo + hi) / 2
        bad = self._decode_array(u) != x
        if bad.any():  # a bin of (almost) no probability: search inside it
            u = np.where(bad, nudge_exact(u, x, self._decode_array), u)
        return u

    def _decode(self, u: np.ndarray) -> list[Any]:
        return self._finish(self._decode_array(u))

    def validate(self, value: Any, path: str = "") -> Any:
        return self._bounded(value, path)

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        if self.step is not None:
            return self._finish(self._point(np.arange(self._n_points())))
        if grid_points is None:
            raise SpaceError(
                path,
                "a Beta parameter has no grid: give it a step or set the grid sampler's "
                "grid_points (e.g. grid_points: 5) to use its quantiles",
            )
        qs = (np.arange(grid_points) + 0.5) / grid_points
        return list(dict.fromkeys(self._decode(qs)))

    def to_spec(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "beta", "alpha": self.alpha, "beta": self.beta}
        if (self.low, self.high) != (0.0, 1.0):
            d["low"], d["high"] = self.low, self.high
        if self.step is not None:
            d["step"] = self.step
        return d
