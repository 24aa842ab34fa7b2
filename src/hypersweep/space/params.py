"""The numeric parameter types: Float, Int, Normal (Choice, Bool, Fixed: :mod:`.choice`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hypersweep._validate import is_number, short
from hypersweep.errors import SpaceError
from hypersweep.space._common import (
    EPS,
    as_float,
    check_bounds,
    check_normal_range,
    clip,
    decimal_places,
    fmt,
    is_on_grid,
    nudge_exact,
    safe_round,
)

if TYPE_CHECKING:
    pass


class Param:
    """Base class of every parameter type.

    Subclasses describe one parameter; :class:`Space` does the bookkeeping. Numeric
    subclasses implement the vectorized :meth:`_decode` / :meth:`_encode` on the unit interval.
    """

    n_options: int = 0  # >0 for categorical columns
    has_column: bool = True

    def validate(self, value: Any, path: str = "") -> Any:
        """Return ``value`` normalized to a plain Python value, or raise :class:`SpaceError`."""
        raise NotImplementedError

    def to_spec(self) -> Any:
        """The long sweep-file form of this parameter (parsed back by :func:`parse_param`)."""
        raise NotImplementedError

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        raise NotImplementedError

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError

    def _decode(self, u: np.ndarray) -> list[Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_spec()!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash(repr(self))


class NumericParam(Param):
    """Shared machinery of Float / Int / Normal: step grid, log scale, rounding."""

    low: float
    high: float
    log: bool
    step: float | None
    _integer: bool = False

    # --- discrete grid (Int, stepped Float) -------------------------------------------
    def _n_points(self) -> int:
        assert self.step is not None
        if self._integer:
            return (int(self.high) - int(self.low)) // int(self.step) + 1
        return int(round((self.high - self.low) / self.step)) + 1

    def _point(self, k: np.ndarray) -> np.ndarray:
        """The grid values ``low + k*step``, always inside ``[low, high]``."""
        assert self.step is not None
        if self._integer:  # exact: |low|, |high| <= 2**53 and k < 2**50
            ki = np.asarray(np.nan_to_num(k), dtype=np.int64)
            return np.minimum(int(self.low) + ki * int(self.step), int(self.high))
        vals = self.low + k * self.step
        vals = safe_round(
            vals, max(decimal_places(self.low), decimal_places(self.step)), self.step
        )
        return clip(vals, self.low, self.high)

    def _bounded(self, value: Any, path: str) -> float:
        """``value`` as a float, checked to be a number in ``[low, high]`` on the step."""
        if not is_number(value):
            raise SpaceError(path, f"expected a number, got {type(value).__name__} {short(value)}")
        v = as_float(value)
        if v is None or v < self.low or v > self.high:
            raise SpaceError(
                path, f"{short(value)} is outside [{fmt(self.low)}, {fmt(self.high)}]"
            )
        self._check_on_step(v, path)
        return v

    def _check_on_step(self, v: float, path: str) -> None:
        if self.step is None:
            return
        if self._integer:
            on_grid = (int(v) - int(self.low)) % int(self.step) == 0
        else:
            k = (v - self.low) / self.step
            on_grid = is_on_grid(k, max(abs(self.low), abs(self.high), abs(v)), self.step)
        if not on_grid:
            raise SpaceError(
                path,
                f"{v!r} is not on the step grid low + k*step (low={fmt(self.low)}, "
                f"step={fmt(self.step)})",
            )

    def _finish(self, values: np.ndarray) -> list[Any]:
        if self._integer:
            return [int(v) for v in values]
        return [float(v) for v in values]


class Float(NumericParam):
    """A real number in ``[low, high]``; ``log=True`` samples ``log(x)`` uniformly.

    ``step`` restricts the values to ``low, low + step, ...`` (``quniform``); with
    ``log=True`` it is ``qloguniform``.

    Example:
        >>> Float(1e-5, 1e-1, log=True).validate(0.01)
        0.01
    """

    def __init__(
        self, low: float, high: float, log: bool = False, step: float | None = None
    ) -> None:
        check_bounds(type(self).__name__, low, high, log, step, integer=False)
        self.low, self.high, self.log = float(low), float(high), bool(log)
        self.step = None if step is None else float(step)

    # encoding -------------------------------------------------------------------------
    def _log_range(self) -> tuple[float, float]:
        if self.step is None:
            return math.log(self.low), math.log(self.high)
        lo = self.low - self.step / 2
        lo = lo if lo > 0 else self.low / 2
        lo = lo if lo > 0 else self.low  # a subnormal low: low / 2 is 0
        return math.log(lo), math.log(self.high + self.step / 2)

    def _decode_array(self, u: np.ndarray) -> np.ndarray:
        u = clip(u, 0.0, 1.0)
        if self.step is not None and not self.log:
            n = self._n_points()
            k = clip(np.floor(u * n), 0, n - 1)
            return self._point(k)
        if self.log:
            a, b = self._log_range()
            x = np.exp(a + u * (b - a))
        else:
            x = self.low + u * (self.high - self.low)
        if self.step is not None:
            k = clip(np.rint((x - self.low) / self.step), 0, self._n_points() - 1)
            return self._point(k)
        return clip(x, self.low, self.high)

    def _encode_array(self, x: np.ndarray) -> np.ndarray:
        if self.step is not None and not self.log:
            n = self._n_points()
            k = np.rint((x - self.low) / self.step)
            return (k + 0.5) / n
        if self.log:
            a, b = self._log_range()
            u = (np.log(x) - a) / (b - a)
        else:
            u = (x - self.low) / (self.high - self.low)
        u = clip(u, 0.0, 1.0)
        if self.step is None:
            u = nudge_exact(u, x, self._decode_array)
        return u

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        return self._encode_array(np.asarray(values, dtype=float))

    def _decode(self, u: np.ndarray) -> list[Any]:
        return self._finish(self._decode_array(u))

    def validate(self, value: Any, path: str = "") -> float:
        return self._bounded(value, path)

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        if self.step is not None:
            return self._finish(self._point(np.arange(self._n_points())))
        if grid_points is None:
            raise SpaceError(
                path,
                "a continuous Float has no grid: give it a step (step=0.1 / quniform) or "
                "set the grid sampler's grid_points (e.g. grid_points: 5)",
            )
        if self.log:
            with np.errstate(all="ignore"):  # it overflows in between near the float max
                pts = np.geomspace(self.low, self.high, grid_points)
            if not np.isfinite(pts).all():
                pts = np.exp(np.linspace(math.log(self.low), math.log(self.high), grid_points))
        else:
            pts = np.linspace(self.low, self.high, grid_points)
        return list(dict.fromkeys(float(p) for p in clip(pts, self.low, self.high)))

    def to_spec(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        if self.step is not None:
            d["step"] = self.step
        return d


class Int(NumericParam):
    """An integer in ``[low, high]`` (both included), optionally on a ``step`` grid or log scale.

    ``log=True`` with a ``step`` is q-log-uniform (W&B's ``q_log_uniform_values``): the
    values ``low, low + step, ..., high``, sampled on log scale; they are always ``int``.

    Example:
        >>> Int(16, 256, log=True, step=16).grid_values("batch", None)[:3]
        [16, 32, 48]
        >>> Int(1, 4).grid_values("layers", None)
        [1, 2, 3, 4]
    """

    _integer = True

    def __init__(self, low: int, high: int, log: bool = False, step: int = 1) -> None:
        check_bounds("Int", low, high, log, step, integer=True)
        self.low, self.high, self.log, self.step = int(low), int(high), bool(log), int(step)

    def _log_range(self) -> tuple[float, float]:
        """The log-scale range: ``[low - step/2, high + step/2]`` (``low/2`` when that
        is not positive), so each grid value gets the bin of the values rounding to it."""
        assert self.step is not None  # an Int always has one
        half = self.step / 2
        lo = self.low - half if self.low - half > 0 else self.low / 2
        return math.log(lo), math.log(self.high + half)

    def _decode_array(self, u: np.ndarray) -> np.ndarray:
        u = clip(u, 0.0, 1.0)
        n = self._n_points()
        if not self.log:
            k = clip(np.floor(u * n), 0, n - 1)
            return self._point(k)
        if self.step != 1:  # q-log-uniform: log scale, then the nearest grid value
            a, b = self._log_range()
            x = np.exp(a + u * (b - a))
            step = self.step
            assert step is not None
            return self._point(clip(np.rint((x - self.low) / step), 0, n - 1))
        a, b = math.log(self.low - 0.5), math.log(self.high + 0.5)
        x = np.exp(a + u * (b - a))
        return clip(np.rint(x), self.low, self.high)

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        if not self.log:
            assert self.step is not None  # an Int always has one
            n = self._n_points()
            return (np.rint((x - self.low) / self.step) + 0.5) / n
        if self.step != 1:
            a, b = self._log_range()
        else:
            a, b = math.log(self.low - 0.5), math.log(self.high + 0.5)
        return clip((np.log(x) - a) / (b - a), 0.0, 1.0)

    def _decode(self, u: np.ndarray) -> list[Any]:
        return self._finish(self._decode_array(u))

    def validate(self, value: Any, path: str = "") -> int:
        if is_number(value) and isinstance(value, (int, np.integer)):
            v = int(value)
        else:
            f = as_float(value)
            if f is None or not f.is_integer():
                raise SpaceError(
                    path, f"expected an integer, got {type(value).__name__} {short(value)}"
                )
            v = int(f)
        if v < self.low or v > self.high:
            raise SpaceError(path, f"{short(v)} is outside [{self.low}, {self.high}]")
        self._check_on_step(v, path)
        return v

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        return self._finish(self._point(np.arange(self._n_points())))

    def to_spec(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "int", "low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        if self.step != 1:
            d["step"] = self.step
        return d


class Normal(NumericParam):
    """A normally distributed real: ``mu + sigma * N(0, 1)``; ``log=True`` gives ``exp`` of it.

    ``step`` rounds to multiples of ``step`` (``qnormal`` / ``qlognormal``); a
    ``qlognormal`` value stays positive, so its smallest value is ``step``. The value is
    unbounded; the encoding clips the normal CDF at 1e-12 from either end (about 7 sigma).

    Example:
        >>> Normal(0.0, 1.0).validate(-2.5)
        -2.5
    """

    def __init__(
        self, mu: float, sigma: float, log: bool = False, step: float | None = None
    ) -> None:
        name = "Normal"
        fmu, fsigma = as_float(mu), as_float(sigma)
        if fmu is None:
            raise SpaceError("", f"{name} needs a finite mu, got mu={short(mu)}")
        if fsigma is None or not fsigma > 0:
            raise SpaceError("", f"{name} needs sigma > 0, got sigma={short(sigma)}")
        fstep = None if step is None else as_float(step)
        if step is not None and (fstep is None or not fstep > 0):
            raise SpaceError("", f"{name} needs step > 0, got step={short(step)}")
        check_normal_range(name, fmu, fsigma, bool(log), fstep)
        self.mu, self.sigma, self.log = float(mu), float(sigma), bool(log)
        self.step = None if step is None else float(step)
        self.low = 0.0  # step grid origin: multiples of step

    def _decode_array(self, u: np.ndarray) -> np.ndarray:
        from scipy.special import ndtri  # lazy: scipy.special costs ~0.2 s to import

        z = ndtri(clip(u, EPS, 1 - EPS))
        x = self.mu + self.sigma * z
        if self.log:
            x = np.exp(x)
        if self.step is not None:
            k = np.rint(x / self.step)
            if self.log:  # a log-normal value is positive: the smallest one is ``step``
                k = np.maximum(k, 1.0)
            x = safe_round(k * self.step, decimal_places(self.step), self.step)
        return x

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        y = np.log(x) if self.log else x
        from scipy.special import ndtr

        with np.errstate(over="ignore"):  # far in a tail (a tiny sigma): clipped below
            u = clip(ndtr((y - self.mu) / self.sigma), EPS, 1 - EPS)
        if self.step is None:
            u = nudge_exact(u, x, self._decode_array)
        return u

    def _decode(self, u: np.ndarray) -> list[Any]:
        return self._finish(self._decode_array(u))

    def validate(self, value: Any, path: str = "") -> float:
        f = as_float(value)
        if f is None:
            raise SpaceError(path, f"expected a finite number, got {short(value)}")
        v = f
        if self.log and v <= 0:
            raise SpaceError(path, f"a log-normal value must be > 0, got {v!r}")
        if self.step is not None:
            k = v / self.step
            if abs(k - round(k)) > 1e-9 * max(1.0, abs(k)):
                raise SpaceError(path, f"{v!r} is not a multiple of step={fmt(self.step)}")
        return v

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        if grid_points is None:
            raise SpaceError(
                path,
                "a Normal parameter has no grid: set the grid sampler's grid_points "
                "(e.g. grid_points: 5) to use its quantiles",
            )
        qs = (np.arange(grid_points) + 0.5) / grid_points
        return list(dict.fromkeys(self._decode(qs)))

    def to_spec(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "normal", "mu": self.mu, "sigma": self.sigma}
        if self.log:
            d["log"] = True
        if self.step is not None:
            d["step"] = self.step
        return d
