"""Search spaces: parameter types, the :class:`Space` over them, and the sweep-file parser.

Parameter types
    :class:`Float`, :class:`Int`, :class:`Normal`, :class:`Choice` (a list of JSON scalars, or
    a dict of option name -> sub-space: a *conditional group*), :class:`Bool`, :class:`Fixed`.

The unit-cube encoding (what samplers work on)
    A space with conditional groups is flattened into ``D`` *columns*, one per non-fixed
    parameter anywhere in the tree, in depth-first order (a group's choice column comes
    before its sub-parameters). A configuration is a row ``u`` of ``D`` floats:

    * ``Float`` without step: ``(x - low) / (high - low)``, or the same on ``log(x)``.
    * ``Int`` and stepped ``Float``: the ``n`` admissible values are ``n`` equal bins of
      ``[0, 1]`` (linear scale) and a value encodes to its bin centre; on log scale the bins
      are equal in ``log`` over ``[low - step/2, high + step/2]``. Decoding rounds, so every
      point of the cube maps to an admissible value, uniformly.
    * ``Normal``: the normal CDF of ``(x - mu) / sigma`` (of ``log x`` when ``log=True``),
      so a uniform ``u`` decodes to a normally distributed value.
    * ``Choice`` / ``Bool`` with ``n`` options: option ``i`` encodes to ``(i + 0.5) / n``;
      decoding takes ``floor(u * n)``. :attr:`Space.n_options` gives ``n`` per column (0 for
      numeric columns) so a sampler can one-hot or model categories as it likes.
    * A parameter that is not active in a configuration (its group's option was not chosen)
      encodes to ``NaN``. :meth:`Space.active_mask` recomputes activity from the choice
      columns, top down. Decoding reads ``NaN`` in an active column as 0.5 (the middle).
    * ``Fixed`` parameters have no column; decoding adds them.

    Round trip: ``decode(encode(p)) == p`` exactly for every discrete parameter (ints with
    up to 2**50 values, steps, choices, bools, fixed values) and for every continuous value
    that ``decode`` produces. A continuous value typed in by hand (an enqueued
    configuration) is stored as given; its encoding is exact up to floating-point rounding
    (relative error < 1e-12).

The sweep-file forms (``parse_space``)
    Compact strings such as ``loguniform(1e-5, 1e-1)``, ``qnormal(10, 3, 1)``,
    ``randint(1, 5)``, ``choice(16, 32, 64)``, ``int(32, 512, log=true)`` are parsed by a
    small tokenizer (never evaluated); the long dict form ``{type: int, low: 32, high: 512}``;
    ``{choice: {adam: {...}, sgd: {...}}}`` for conditional groups; a YAML list as a choice;
    and any other plain value as a fixed parameter. ``loguniform(low, high)`` takes the
    bounds themselves (not their logarithms, unlike Hyperopt and Azure); ``randint`` excludes
    its upper bound (as in numpy, Hyperopt and Azure) while ``int(low, high)`` includes it.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from hypersweep.errors import SpaceError

__all__ = [
    "Bool",
    "Choice",
    "Fixed",
    "Float",
    "Int",
    "Normal",
    "Param",
    "Space",
    "parse_param",
    "parse_space",
]

JsonScalar = str | int | float | bool | None


def _clip(a: Any, lo: Any, hi: Any) -> Any:
    """``np.clip`` for ``lo <= hi`` (NaN stays NaN), without its wrapper's overhead.

    Encoding and decoding call it a few dozen times per proposal on arrays of a few
    elements, where ``np.clip``'s dispatch costs several times the two ufuncs.
    """
    return np.minimum(np.maximum(a, lo), hi)


#: A parameter name: a letter (any script) or ``_``, then letters, digits, ``_.-/``.
_NAME_RE = re.compile(r"[^\W\d][\w.\-/]{0,199}")
_EPS = 1e-12
#: Integers in a space stay within +-2**53: exact as float64 (the unit-cube encoding) and
#: as JSON numbers in every reader.
_INT_LIMIT = 2**53
#: The most grid points a stepped Float may have. (An Int has at most 2**54 within
#: +-2**53; its encoding round trip is exact up to 2**50 values, and every decoded value
#: is a valid one at any size.)
_MAX_POINTS = 2**50
#: |z| of the normal CDF clipped at 1e-12 (``Normal``'s encoding) is below this.
_Z_MAX = 7.1
#: Conditional groups nest at most this deep.
_MAX_GROUP_DEPTH = 32


def _as_float(v: Any) -> float | None:
    """``float(v)`` when ``v`` is a finite number that a float can hold, else ``None``."""
    if not _is_number(v):
        return None
    try:
        f = float(v)
    except (OverflowError, ValueError, TypeError):
        return None
    return f if math.isfinite(f) else None


def _short(v: Any) -> str:
    """A one-line, bounded ``repr`` of a user value for messages."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 100:
        digits = int(v.bit_length() * 0.30103) + 1
        return f"an integer of about {digits} digits"
    text = repr(v)
    return text if len(text) <= 80 else text[:60] + "..." + text[-12:]


def _show_name(name: Any) -> str:
    """A parameter name as it appears in a key path (odd names quoted, one line)."""
    if isinstance(name, str) and name.isprintable() and len(name) <= 200:
        return name
    return _short(name)


def _text_problem(s: str) -> str | None:
    """Why ``s`` cannot be a parameter value or name (``None`` when it can)."""
    if "\x00" in s:
        return "contains a NUL character, which no command line or environment can carry"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (it holds a lone surrogate)"
    return None


def _int_problem(v: Any) -> str | None:
    if (
        isinstance(v, (int, np.integer))
        and not isinstance(v, (bool, np.bool_))
        and abs(int(v)) > _INT_LIMIT
    ):
        return (
            f"integers in a space must lie within +-2**53 (9007199254740992), got "
            f"{_short(int(v))}; quote it to make it a string"
        )
    return None


def _on_grid(k: float, magnitude: float, step: float) -> bool:
    """Is ``k = (v - low) / step`` an integer up to float rounding?"""
    tol = 1e-9 * max(1.0, abs(k)) + 8 * math.ulp(magnitude) / step
    return abs(k - round(k)) <= tol


def _safe_round(vals: np.ndarray, decimals: int, step: float) -> np.ndarray:
    """``np.round(vals, decimals)`` where that only removes float noise (and is finite)."""
    if decimals > 15:
        return vals
    with np.errstate(all="ignore"):
        r = np.round(vals, decimals)
        ok = np.isfinite(r) & (np.abs(r - vals) <= 1e-6 * step)
    return np.where(ok, r, vals)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(
        x, (bool, np.bool_)
    )


def _decimals(x: float) -> int:
    exp = Decimal(repr(float(x))).normalize().as_tuple().exponent
    return max(0, -int(exp)) if isinstance(exp, int) else 0


def _py(x: Any) -> Any:
    """Convert numpy scalars to plain Python values."""
    if isinstance(x, np.generic):
        return x.item()
    return x


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
        return type(self) is type(other) and self.to_spec() == other.to_spec()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))


class _Numeric(Param):
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
        vals = _safe_round(vals, max(_decimals(self.low), _decimals(self.step)), self.step)
        return _clip(vals, self.low, self.high)

    def _check_on_step(self, v: float, path: str) -> None:
        if self.step is None:
            return
        if self._integer:
            on_grid = (int(v) - int(self.low)) % int(self.step) == 0
        else:
            k = (v - self.low) / self.step
            on_grid = _on_grid(k, max(abs(self.low), abs(self.high), abs(v)), self.step)
        if not on_grid:
            raise SpaceError(
                path,
                f"{v!r} is not on the step grid low + k*step (low={_fmt(self.low)}, "
                f"step={_fmt(self.step)})",
            )

    def _finish(self, values: np.ndarray) -> list[Any]:
        if self._integer:
            return [int(v) for v in values]
        return [float(v) for v in values]


def _fmt(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e16:
        return repr(x)
    return repr(x) if not isinstance(x, str) else x


class Float(_Numeric):
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
        _check_bounds(type(self).__name__, low, high, log, step, integer=False)
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
        u = _clip(u, 0.0, 1.0)
        if self.step is not None and not self.log:
            n = self._n_points()
            k = _clip(np.floor(u * n), 0, n - 1)
            return self._point(k)
        if self.log:
            a, b = self._log_range()
            x = np.exp(a + u * (b - a))
        else:
            x = self.low + u * (self.high - self.low)
        if self.step is not None:
            k = _clip(np.rint((x - self.low) / self.step), 0, self._n_points() - 1)
            return self._point(k)
        return _clip(x, self.low, self.high)

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
        u = _clip(u, 0.0, 1.0)
        if self.step is None:
            u = _nudge_exact(u, x, self._decode_array)
        return u

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        return self._encode_array(np.asarray(values, dtype=float))

    def _decode(self, u: np.ndarray) -> list[Any]:
        return self._finish(self._decode_array(u))

    def validate(self, value: Any, path: str = "") -> float:
        if not _is_number(value):
            raise SpaceError(
                path, f"expected a number, got {type(value).__name__} {_short(value)}"
            )
        v = _as_float(value)
        if v is None or v < self.low or v > self.high:
            raise SpaceError(
                path, f"{_short(value)} is outside [{_fmt(self.low)}, {_fmt(self.high)}]"
            )
        self._check_on_step(v, path)
        return v

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
        return list(dict.fromkeys(float(p) for p in _clip(pts, self.low, self.high)))

    def to_spec(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        if self.step is not None:
            d["step"] = self.step
        return d


class Int(_Numeric):
    """An integer in ``[low, high]`` (both included), optionally on a ``step`` grid or log scale.

    Example:
        >>> Int(1, 4).grid_values("layers", None)
        [1, 2, 3, 4]
    """

    _integer = True

    def __init__(self, low: int, high: int, log: bool = False, step: int = 1) -> None:
        _check_bounds("Int", low, high, log, step, integer=True)
        self.low, self.high, self.log, self.step = int(low), int(high), bool(log), int(step)

    def _decode_array(self, u: np.ndarray) -> np.ndarray:
        u = _clip(u, 0.0, 1.0)
        n = self._n_points()
        if not self.log:
            k = _clip(np.floor(u * n), 0, n - 1)
            return self._point(k)
        a, b = math.log(self.low - 0.5), math.log(self.high + 0.5)
        x = np.exp(a + u * (b - a))
        return _clip(np.rint(x), self.low, self.high)

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        if not self.log:
            n = self._n_points()
            return (np.rint((x - self.low) / self.step) + 0.5) / n
        a, b = math.log(self.low - 0.5), math.log(self.high + 0.5)
        return _clip((np.log(x) - a) / (b - a), 0.0, 1.0)

    def _decode(self, u: np.ndarray) -> list[Any]:
        return self._finish(self._decode_array(u))

    def validate(self, value: Any, path: str = "") -> int:
        if _is_number(value) and isinstance(value, (int, np.integer)):
            v = int(value)
        else:
            f = _as_float(value)
            if f is None or not f.is_integer():
                raise SpaceError(
                    path, f"expected an integer, got {type(value).__name__} {_short(value)}"
                )
            v = int(f)
        if v < self.low or v > self.high:
            raise SpaceError(path, f"{_short(v)} is outside [{self.low}, {self.high}]")
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


class Normal(_Numeric):
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
        fmu, fsigma = _as_float(mu), _as_float(sigma)
        if fmu is None:
            raise SpaceError("", f"{name} needs a finite mu, got mu={_short(mu)}")
        if fsigma is None or not fsigma > 0:
            raise SpaceError("", f"{name} needs sigma > 0, got sigma={_short(sigma)}")
        fstep = None if step is None else _as_float(step)
        if step is not None and (fstep is None or not fstep > 0):
            raise SpaceError("", f"{name} needs step > 0, got step={_short(step)}")
        _check_normal_range(name, fmu, fsigma, bool(log), fstep)
        self.mu, self.sigma, self.log = float(mu), float(sigma), bool(log)
        self.step = None if step is None else float(step)
        self.low = 0.0  # step grid origin: multiples of step

    def _decode_array(self, u: np.ndarray) -> np.ndarray:
        z = ndtri(_clip(u, _EPS, 1 - _EPS))
        x = self.mu + self.sigma * z
        if self.log:
            x = np.exp(x)
        if self.step is not None:
            k = np.rint(x / self.step)
            if self.log:  # a log-normal value is positive: the smallest one is ``step``
                k = np.maximum(k, 1.0)
            x = _safe_round(k * self.step, _decimals(self.step), self.step)
        return x

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        y = np.log(x) if self.log else x
        with np.errstate(over="ignore"):  # far in a tail (a tiny sigma): clipped below
            u = _clip(ndtr((y - self.mu) / self.sigma), _EPS, 1 - _EPS)
        if self.step is None:
            u = _nudge_exact(u, x, self._decode_array)
        return u

    def _decode(self, u: np.ndarray) -> list[Any]:
        return self._finish(self._decode_array(u))

    def validate(self, value: Any, path: str = "") -> float:
        f = _as_float(value)
        if f is None:
            raise SpaceError(path, f"expected a finite number, got {_short(value)}")
        v = f
        if self.log and v <= 0:
            raise SpaceError(path, f"a log-normal value must be > 0, got {v!r}")
        if self.step is not None:
            k = v / self.step
            if abs(k - round(k)) > 1e-9 * max(1.0, abs(k)):
                raise SpaceError(path, f"{v!r} is not a multiple of step={_fmt(self.step)}")
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


def _check_normal_range(name: str, mu: float, sigma: float, log: bool, step: float | None) -> None:
    """Refuse a normal whose values (mu +- 7 sigma, the encoding's range) overflow."""
    lo, hi = mu - _Z_MAX * sigma, mu + _Z_MAX * sigma
    if log:
        if not (lo >= -700.0 and hi <= 700.0):
            raise SpaceError(
                "",
                f"{name} with log=True needs -700 <= mu - 7.1*sigma and mu + 7.1*sigma "
                f"<= 700 (exp() of it must be a positive float), got mu={mu!r}, "
                f"sigma={sigma!r}",
            )
        top = math.exp(hi)
    else:
        top = max(abs(lo), abs(hi))
        if not math.isfinite(top) or top > 1e300:
            raise SpaceError(
                "",
                f"{name} needs |mu| + 7.1*sigma <= 1e300 (its values must be finite "
                f"floats), got mu={mu!r}, sigma={sigma!r}",
            )
    if step is not None and top / step > 2.0**53:
        raise SpaceError(
            "",
            f"{name}: step={step!r} is too fine for values up to {top:.3g} (more than "
            f"2**53 multiples); use step >= {top / 2.0**53:.3g} or no step",
        )


def _nudge_exact(u: np.ndarray, x: np.ndarray, decode: Any) -> np.ndarray:
    """Move each ``u`` by a few ulps so that ``decode(u) == x`` where that is reachable."""
    u = np.array(u, dtype=float, copy=True)
    bad = decode(u) != x
    if not bad.any():
        return u
    for direction in (1.0, -1.0):
        cand = u.copy()
        for _ in range(4):
            idx = np.nonzero(bad)[0]
            if idx.size == 0:
                return u
            cand[idx] = np.nextafter(cand[idx], direction * np.inf)
            ok = decode(cand[idx]) == x[idx]
            u[idx[ok]] = cand[idx[ok]]
            bad[idx[ok]] = False
        if not bad.any():
            return u
    # Rare (an ill-conditioned inverse such as the normal CDF's): ``decode`` is monotone
    # up to a few ulps, so bisect for the smallest u with decode(u) >= x, then scan the
    # floats around it for an exact hit.
    idx = np.nonzero(bad)[0]
    xs = x[idx]
    width = np.maximum(np.spacing(u[idx]) * 64, 1e-300)
    lo, hi = u[idx] - width, u[idx] + width
    for _ in range(40):
        lo_out, hi_out = decode(_clip(lo, 0.0, 1.0)) > xs, decode(_clip(hi, 0.0, 1.0)) < xs
        if not (lo_out.any() or hi_out.any()):
            break
        width = width * 4
        lo = np.where(lo_out, lo - width, lo)
        hi = np.where(hi_out, hi + width, hi)
    lo, hi = _clip(lo, 0.0, 1.0), _clip(hi, 0.0, 1.0)
    for _ in range(100):
        mid = lo + (hi - lo) / 2
        below = decode(mid) < xs
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        if (np.nextafter(lo, np.inf) >= hi).all():
            break
    ok = decode(hi) == xs
    u[idx[ok]] = hi[ok]
    for i in np.nonzero(~ok)[0]:
        steps = np.arange(-128, 129) * np.spacing(hi[i])
        cand = _clip(hi[i] + steps[np.argsort(np.abs(steps), kind="stable")], 0.0, 1.0)
        hit = np.nonzero(decode(cand) == xs[i])[0]
        if hit.size:
            u[idx[i]] = cand[hit[0]]
    return u


def _check_bounds(name: str, low: Any, high: Any, log: bool, step: Any, integer: bool) -> None:
    """Refuse bounds whose values a float64 encoding cannot represent exactly."""
    kind = "an integer" if integer else "a number"
    for key, v in (("low", low), ("high", high)):
        f = _as_float(v)
        ok = f is not None and not (integer and not f.is_integer())
        if not ok:
            raise SpaceError("", f"{name} needs {kind} for {key}, got {key}={_short(v)}")
        if integer and abs(f) > _INT_LIMIT:
            raise SpaceError(
                "",
                f"{name} needs |{key}| <= 2**53 (9007199254740992), got "
                f"{key}={_short(v)}; integers beyond are not exact as floats",
            )
    flo, fhi = float(low), float(high)  # exact for ints (within 2**53); no numpy casts
    if not flo < fhi:
        raise SpaceError("", f"{name} needs low < high, got low={low!r}, high={high!r}")
    if log and flo <= 0:
        raise SpaceError("", f"{name} with log=True needs 0 < low < high, got low={low!r}")
    if not math.isfinite(fhi - flo):
        raise SpaceError(
            "",
            f"{name} needs high - low to be a finite float, got "
            f"low={low!r}, high={high!r}; narrow the range",
        )
    if step is not None:
        fstep = _as_float(step)
        if fstep is None or not fstep > 0 or (integer and not fstep.is_integer()):
            raise SpaceError("", f"{name} needs step to be {kind} > 0, got step={_short(step)}")
        if integer and log and step != 1:
            raise SpaceError("", f"{name} with log=True supports only step=1, got step={step!r}")
        if not (math.isfinite(fhi + fstep) and math.isfinite(flo - fstep)):
            raise SpaceError(
                "",
                f"{name}: low - step and high + step must be finite floats, "
                f"got step={step!r}; use a smaller step",
            )
        magnitude = max(abs(flo), abs(fhi))
        ulp = math.ulp(magnitude)
        if not integer and fstep < 1024 * ulp:
            raise SpaceError(
                "",
                f"{name}: step={step!r} is too fine for values near {magnitude!r} "
                f"(floats there are {ulp!r} apart); use step >= {1024 * ulp:.3g}",
            )
        k = (fhi - flo) / fstep
        if not integer and k > _MAX_POINTS:  # (ints: at most 2**54 within +-2**53)
            raise SpaceError(
                "",
                f"{name}: (high - low) / step = {k:.3g} grid points, more than 2**50; "
                "use a larger step" + ("" if integer else " or no step (a continuous range)"),
            )
        if integer:
            multiple = (int(high) - int(low)) % int(step) == 0
        else:
            multiple = _on_grid(k, magnitude, fstep)
        if not multiple:
            fixed_high = flo + math.floor(k) * fstep
            raise SpaceError(
                "",
                f"{name}: high - low = {high - low!r} is not a multiple of step={step!r}; "
                f"use high={_round_nice(fixed_high)}",
            )


def _round_nice(x: float) -> Any:
    r = round(x, 12)
    return int(r) if float(r).is_integer() else r


class Choice(Param):
    """One of a list of options (JSON scalars), or a conditional group.

    A conditional group is a dict ``{option_name: sub_space}``: the sub-space's parameters
    are active only when that option is chosen. Sub-spaces may contain further groups.

    Example:
        >>> Choice(["relu", "tanh"]).validate("tanh")
        'tanh'
        >>> g = Choice({"adam": {"beta1": Float(0.8, 0.99)}, "sgd": {}})
        >>> g.options
        ['adam', 'sgd']
    """

    def __init__(self, options: Sequence[JsonScalar] | Mapping[str, Any]) -> None:
        self.subspaces: dict[str, Space] | None
        if isinstance(options, Mapping):
            if not options:
                raise SpaceError("", "Choice needs at least one option, got {}")
            self.options: list[Any] = []
            self.subspaces = {}
            for key, sub in options.items():
                if not isinstance(key, str) or not key:
                    raise SpaceError("", f"group option names must be strings, got {_short(key)}")
                problem = _text_problem(key)
                if problem:
                    raise SpaceError("", f"group option name {_short(key)} {problem}")
                if isinstance(sub, Space) and sub._depth >= _MAX_GROUP_DEPTH:
                    raise SpaceError(
                        "",
                        f"conditional groups nest more than "
                        f"{_MAX_GROUP_DEPTH} levels deep; flatten the space",
                    )
                self.options.append(key)
                self.subspaces[key] = sub if isinstance(sub, Space) else Space(sub or {})
        else:
            if isinstance(options, (str, bytes)) or not isinstance(options, Sequence):
                raise SpaceError(
                    "", f"Choice needs a list of options, got {type(options).__name__}"
                )
            if len(options) == 0:
                raise SpaceError("", "Choice needs at least one option, got []")
            self.options = []
            for o in options:
                o = _py(o)
                if not (o is None or isinstance(o, (str, int, float, bool))):
                    raise SpaceError(
                        "",
                        f"Choice options must be strings, numbers, booleans or null, "
                        f"got {type(o).__name__} {_short(o)}",
                    )
                if isinstance(o, float) and not math.isfinite(o):
                    raise SpaceError("", f"Choice options must be finite, got {o!r}")
                problem = _int_problem(o) or (_text_problem(o) if isinstance(o, str) else None)
                if problem:
                    raise SpaceError(
                        "",
                        f"Choice option {_short(o)}: {problem}"
                        if isinstance(o, str)
                        else f"Choice options: {problem}",
                    )
                self.options.append(o)
            self.subspaces = None
        keys = [self._key(o) for o in self.options]
        if len(set(keys)) != len(keys):
            seen_keys: set[Any] = set()
            dup_key = next(k for k in keys if k in seen_keys or seen_keys.add(k))  # type: ignore[func-returns-value]
            dup = self.options[keys.index(dup_key)]
            raise SpaceError("", f"Choice has the option {_short(dup)} twice")
        self._index = {k: i for i, k in enumerate(keys)}
        self.n_options = len(self.options)

    @staticmethod
    def _key(o: Any) -> tuple[str, Any]:
        if isinstance(o, bool) or o is None:
            return ("b", o)
        if isinstance(o, (int, float)):
            return ("n", float(o))
        return ("s", o)

    def index(self, value: Any, path: str = "") -> int:
        """The option index of ``value``; raises :class:`SpaceError` if it is not an option."""
        try:
            return self._index[self._key(_py(value))]
        except (KeyError, TypeError, OverflowError):
            shown = ", ".join(repr(o) for o in self.options[:10])
            raise SpaceError(
                path, f"{_short(value)} is not one of the options [{shown}]"
            ) from None

    def validate(self, value: Any, path: str = "") -> Any:
        return self.options[self.index(value, path)]

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        idx = np.array([self.index(v) for v in values], dtype=float)
        return (idx + 0.5) / self.n_options

    def _decode(self, u: np.ndarray) -> list[Any]:
        k = _clip(np.floor(_clip(u, 0, 1) * self.n_options), 0, self.n_options - 1)
        return [self.options[int(i)] for i in k]

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        return list(self.options)

    def to_spec(self) -> Any:
        if self.subspaces is not None:
            return {"choice": {k: s.to_spec() for k, s in self.subspaces.items()}}
        return {"choice": list(self.options)}


class Bool(Choice):
    """``False`` or ``True``.

    Example:
        >>> Bool().options
        [False, True]
    """

    def __init__(self) -> None:
        super().__init__([False, True])

    def to_spec(self) -> Any:
        return {"type": "bool"}


class Fixed(Param):
    """A constant: part of every configuration where its group is active, never searched.

    Example:
        >>> Fixed(10).validate(10)
        10
    """

    has_column = False

    def __init__(self, value: Any) -> None:
        value = _py(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise SpaceError("", f"a fixed value must be finite, got {value!r}")
        problem = _int_problem(value) or (_text_problem(value) if isinstance(value, str) else None)
        if problem is None and not (value is None or isinstance(value, (str, int, float))):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError, RecursionError):
                problem = (
                    f"must be JSON data (strings, numbers, booleans, null, lists, "
                    f"mappings), got {type(value).__name__} {_short(value)}"
                )
        if problem:
            raise SpaceError("", f"a fixed value: {problem}")
        self.value = value

    def validate(self, value: Any, path: str = "") -> Any:
        v = _py(value)
        if v != self.value or (type(v) is bool) != (type(self.value) is bool):
            raise SpaceError(path, f"is fixed to {_short(self.value)}, got {_short(value)}")
        return self.value

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        return [self.value]

    def to_spec(self) -> Any:
        if isinstance(self.value, (str, dict, list)):
            return {"type": "fixed", "value": self.value}
        return self.value


@dataclass(frozen=True)
class Column:
    """One column of the unit-cube encoding.

    Attributes:
        name: the parameter name (unique across the whole space).
        param: the parameter.
        parent: the column index of the group's choice this parameter depends on, or -1.
        option: the option index of ``parent`` under which this parameter is active.
    """

    name: str
    param: Param
    parent: int
    option: int


@dataclass(frozen=True)
class _FixedEntry:
    name: str
    value: Any
    parent: int
    option: int


class Space:
    """A search space: named parameters, possibly with conditional groups.

    Args:
        params: mapping of parameter name -> :class:`Param`, or any sweep-file form
            (``"loguniform(1e-5, 1e-1)"``, ``{"type": "int", ...}``, a plain value).

    Example:
        >>> import numpy as np
        >>> s = Space({"lr": Float(1e-4, 1e-1, log=True), "act": Choice(["relu", "tanh"])})
        >>> [sorted(p) for p in s.sample(np.random.default_rng(0), 2)]
        [['act', 'lr'], ['act', 'lr']]
    """

    def __init__(self, params: Mapping[str, Any] | Space) -> None:
        if isinstance(params, Space):
            params = params.params
        if not isinstance(params, Mapping):
            raise SpaceError(
                "space", f"expected a mapping of name -> parameter, got {type(params).__name__}"
            )
        self.params: dict[str, Param] = {}
        for name, p in params.items():
            path = f"space.{_show_name(name)}"
            if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
                raise SpaceError(
                    path,
                    "parameter names must start with a letter or '_' and use only "
                    "letters, digits, '_', '-', '.', '/' (at most 200 characters)",
                )
            self.params[name] = p if isinstance(p, Param) else parse_param(p, path)
        self._depth = 1 + max(
            (
                sub._depth
                for p in self.params.values()
                if isinstance(p, Choice) and p.subspaces is not None
                for sub in p.subspaces.values()
            ),
            default=0,
        )
        self.columns: list[Column] = []
        self._fixed: list[_FixedEntry] = []
        seen: dict[str, str] = {}
        self._flatten(self.params, -1, -1, "space", seen)
        self.names = [c.name for c in self.columns]
        self._col = {c.name: i for i, c in enumerate(self.columns)}
        self.n_options = np.array([c.param.n_options for c in self.columns], dtype=int)
        self.parents = np.array([c.parent for c in self.columns], dtype=int)
        self.parent_options = np.array([c.option for c in self.columns], dtype=int)
        self.is_conditional = bool((self.parents >= 0).any()) or any(
            f.parent >= 0 for f in self._fixed
        )
        # Column groups that encode/decode as one array operation (elementwise the same
        # arithmetic as their Param's own methods, so the results are identical): linear
        # floats without a step, and choices.
        lin = [
            j
            for j, c in enumerate(self.columns)
            if type(c.param) is Float and not c.param.log and c.param.step is None
        ]
        self._lin_cols = lin
        self._lin_names = [self.columns[j].name for j in lin]
        self._lin_low = np.array([self.columns[j].param.low for j in lin], dtype=float)
        self._lin_high = np.array([self.columns[j].param.high for j in lin], dtype=float)
        self._lin_span = self._lin_high - self._lin_low
        self._cho_cols = [j for j, c in enumerate(self.columns) if type(c.param) in (Choice, Bool)]
        self._cho_n = np.array(
            [self.columns[j].param.n_options for j in self._cho_cols], dtype=float
        )

    def _flatten(
        self,
        params: Mapping[str, Param],
        parent: int,
        option: int,
        prefix: str,
        seen: dict[str, str],
    ) -> None:
        for name, p in params.items():
            path = f"{prefix}.{name}"
            if name in seen:
                raise SpaceError(
                    path,
                    f"duplicate parameter name {name!r} (also at {seen[name]}); "
                    "names must be unique across all groups",
                )
            seen[name] = path
            if not p.has_column:
                assert isinstance(p, Fixed)
                self._fixed.append(_FixedEntry(name, p.value, parent, option))
                continue
            self.columns.append(Column(name, p, parent, option))
            idx = len(self.columns) - 1
            if isinstance(p, Choice) and p.subspaces is not None:
                for oi, (opt, sub) in enumerate(p.subspaces.items()):
                    self._flatten(sub.params, idx, oi, f"{path}.{opt}", seen)

    # --- basic properties ---------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of columns of the unit-cube encoding."""
        return len(self.columns)

    def __len__(self) -> int:
        return len(self.columns) + len(self._fixed)

    def __contains__(self, name: object) -> bool:
        return name in self._col or any(f.name == name for f in self._fixed)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash(repr(self.to_spec()))

    def __repr__(self) -> str:
        return f"Space({self.params!r})"

    def column(self, name: str) -> int:
        """The column index of a (non-fixed) parameter."""
        return self._col[name]

    def to_spec(self) -> dict[str, Any]:
        """The long sweep-file form of the space (JSON-serializable; see :func:`parse_space`)."""
        return {name: p.to_spec() for name, p in self.params.items()}

    # --- activity ---------------------------------------------------------------------
    def active_mask(self, u: np.ndarray) -> np.ndarray:
        """Which columns are active in each row of ``u`` (shape ``(n, D)``), top down."""
        u = np.atleast_2d(u)
        n = u.shape[0]
        mask = np.ones((n, self.dim), dtype=bool)
        if not self.is_conditional:
            return mask
        for j, c in enumerate(self.columns):
            if c.parent < 0:
                continue
            par = self.columns[c.parent].param
            col = u[:, c.parent]
            col = np.where(np.isnan(col), 0.5, col)  # as decode_many reads an active NaN
            k = _clip(np.floor(_clip(col, 0, 1) * par.n_options), 0, par.n_options - 1)
            mask[:, j] = mask[:, c.parent] & (k == c.option)
        return mask

    # --- decode / encode --------------------------------------------------------------
    def decode(self, u: np.ndarray) -> dict[str, Any]:
        """Decode one unit-cube row into a parameters dict (active parameters only)."""
        return self.decode_many(np.atleast_2d(u))[0]

    def decode_many(self, u: np.ndarray) -> list[dict[str, Any]]:
        """Decode rows of the unit cube (shape ``(n, D)``) into parameter dicts."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        if u.shape[1] != self.dim:
            raise ValueError(f"expected {self.dim} columns, got {u.shape[1]}")
        n = u.shape[0]
        mask = self.active_mask(u)
        out: list[dict[str, Any]] = [{} for _ in range(n)]
        choice_idx = np.zeros((n, self.dim), dtype=int)
        conditional = self.is_conditional
        grouped = self._decode_groups(u)
        for j, c in enumerate(self.columns):
            if conditional:
                rows = np.nonzero(mask[:, j])[0]
                if rows.size == 0:
                    continue
                row_list: Sequence[int] = rows.tolist()
            else:
                rows, row_list = slice(None), range(n)
            needs_col = j not in grouped or (c.param.n_options and self._fixed)
            if needs_col:  # the grouped columns were decoded above, NaN read as 0.5 there
                col = u[rows, j]
                if np.isnan(col).any():
                    col = np.where(np.isnan(col), 0.5, col)
            if j in grouped:
                vals = grouped[j] if not conditional else [grouped[j][r] for r in row_list]
            else:
                vals = c.param._decode(col)
            for r, v in zip(row_list, vals):
                out[r][c.name] = v
            if c.param.n_options and self._fixed:
                choice_idx[row_list, j] = _clip(
                    np.floor(_clip(col, 0, 1) * c.param.n_options), 0, c.param.n_options - 1
                )
        for f in self._fixed:
            for r in range(n):
                if f.parent < 0 or (mask[r, f.parent] and choice_idx[r, f.parent] == f.option):
                    out[r][f.name] = f.value
        if self._fixed:  # keep declaration order stable: columns then fixed, by tree order
            order = self._order
            out = [{k: d[k] for k in order if k in d} for d in out]
        return out

    def _decode_groups(self, u: np.ndarray) -> dict[int, list[Any]]:
        """Decoded values of every row of the grouped columns (``NaN`` read as 0.5)."""
        out: dict[int, list[Any]] = {}
        if self._lin_cols:
            b = u[:, self._lin_cols]
            b = np.where(np.isnan(b), 0.5, b)
            x = _clip(
                self._lin_low + _clip(b, 0.0, 1.0) * self._lin_span, self._lin_low, self._lin_high
            )
            out.update(zip(self._lin_cols, x.T.tolist()))
        if self._cho_cols:
            b = u[:, self._cho_cols]
            b = np.where(np.isnan(b), 0.5, b)
            k = _clip(np.floor(_clip(b, 0, 1) * self._cho_n), 0, self._cho_n - 1)
            for j, ks in zip(self._cho_cols, k.T.astype(int).tolist()):
                opts = self.columns[j].param.options  # type: ignore[attr-defined]
                out[j] = [opts[i] for i in ks]
        return out

    @property
    def _order(self) -> list[str]:
        order: list[str] = []

        def walk(params: Mapping[str, Param]) -> None:
            for name, p in params.items():
                order.append(name)
                if isinstance(p, Choice) and p.subspaces is not None:
                    for sub in p.subspaces.values():
                        walk(sub.params)

        walk(self.params)
        return order

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Encode one parameters dict to a unit-cube row (``NaN`` for inactive columns)."""
        return self.encode_many([params])[0]

    def encode_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode parameter dicts to an ``(n, D)`` array; parameters are not re-validated.

        Call :meth:`validate` first for untrusted input.
        """
        n = len(configs)
        u = np.full((n, self.dim), np.nan)
        if self._lin_cols and n:
            self._encode_linear(configs, u)
        skip = set(self._lin_cols)
        for j, c in enumerate(self.columns):
            if j in skip:
                continue
            rows = [i for i, p in enumerate(configs) if c.name in p]
            if rows:
                u[rows, j] = c.param._encode([configs[i][c.name] for i in rows])
        return u

    def _encode_linear(self, configs: Sequence[Mapping[str, Any]], u: np.ndarray) -> None:
        """Encode the linear float columns into ``u`` as one array operation."""
        nan = math.nan
        x = np.array([[p.get(k, nan) for k in self._lin_names] for p in configs], dtype=float)
        low, high, span = self._lin_low, self._lin_high, self._lin_span
        ux = _clip((x - low) / span, 0.0, 1.0)
        # Float._encode_array nudges u by a few ulps where decoding would not give x back;
        # that is rare, and those columns take the Param's own path.
        back = _clip(low + ux * span, low, high)
        bad = (back != x) & ~np.isnan(x)
        for k in np.flatnonzero(bad.any(axis=0)).tolist():
            c = self.columns[self._lin_cols[k]]
            rows = [i for i, p in enumerate(configs) if c.name in p]
            ux[rows, k] = c.param._encode([configs[i][c.name] for i in rows])
        u[:, self._lin_cols] = ux

    # --- sampling ----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int = 1) -> list[dict[str, Any]]:
        """Draw ``n`` configurations independently from the space's prior (vectorized)."""
        return self.decode_many(rng.random((n, self.dim)))

    # --- validation --------------------------------------------------------------------
    def validate(self, params: Mapping[str, Any], path: str = "params") -> dict[str, Any]:
        """Check a parameters dict against the space and return it normalized.

        Raises:
            SpaceError: out of range, wrong type, off the step grid, a missing active
                parameter, an inactive or unknown parameter. The message names it.
        """
        if not isinstance(params, Mapping):
            raise SpaceError(path, f"expected a dict of parameters, got {type(params).__name__}")
        for k in params:
            if not isinstance(k, str):
                raise SpaceError(
                    path, f"parameter names must be strings, got {type(k).__name__} {_short(k)}"
                )
        out: dict[str, Any] = {}
        active: set[str] = set()
        chosen: dict[int, int] = {}

        def is_active(parent: int, option: int) -> bool:
            return parent < 0 or chosen.get(parent) == option

        for j, c in enumerate(self.columns):
            if not is_active(c.parent, c.option):
                continue
            active.add(c.name)
            if c.name not in params:
                raise SpaceError(
                    f"{path}.{c.name}", "missing (it is active in this configuration)"
                )
            v = c.param.validate(params[c.name], f"{path}.{c.name}")
            out[c.name] = v
            if isinstance(c.param, Choice):
                chosen[j] = c.param.index(v)
        for f in self._fixed:
            if not is_active(f.parent, f.option):
                continue
            active.add(f.name)
            if f.name in params and params[f.name] != f.value:
                raise SpaceError(
                    f"{path}.{f.name}", f"is fixed to {f.value!r}, got {params[f.name]!r}"
                )
            out[f.name] = f.value
        for k in params:
            if k not in active:
                if k in self:
                    raise SpaceError(
                        f"{path}.{k}",
                        "is not active in this configuration (its group's "
                        "option was not chosen); leave it out",
                    )
                raise SpaceError(
                    f"{path}.{_show_name(k)}", f"unknown parameter{_did_you_mean(k, self._order)}"
                )
        return {k: out[k] for k in self._order if k in out}

    # --- grid --------------------------------------------------------------------------
    def grid(self, grid_points: int | None = None) -> Grid:
        """The grid over the space: every combination of choices, bools, ints and steps.

        Args:
            grid_points: number of points for continuous parameters without a step
                (log-spaced on log scale; normal quantiles for ``Normal``). Without it a
                continuous parameter is an error.
        """
        return Grid(self, grid_points)


class Grid:
    """A lazily indexed grid over a space, conditional groups included (a union of products).

    ``len(grid)`` is the number of points; ``grid[i]`` the i-th configuration.
    """

    def __init__(self, space: Space, grid_points: int | None) -> None:
        if grid_points is not None and (not isinstance(grid_points, int) or grid_points < 1):
            raise SpaceError("grid_points", f"must be a positive integer, got {grid_points!r}")
        self._tree = self._build(space.params, grid_points, "space")
        self._order = space._order
        size = self._size(self._tree)
        if size > _MAX_GRID:
            raise SpaceError(
                "space",
                f"the grid has about {float(size):.3g} points, more than 2**62; give "
                "the integer and stepped parameters fewer values (a larger step) or use "
                "another sampler (random, tpe, auto)",
            )

    def _build(self, params: Mapping[str, Param], gp: int | None, prefix: str) -> list[Any]:
        items: list[Any] = []
        for name, p in params.items():
            path = f"{prefix}.{name}"
            values: Sequence[Any]
            if isinstance(p, (Int, Float)) and p.step is not None:
                values = _GridValues(p)  # lazy: int(0, 10**12) has 10**12 values
            else:
                values = p.grid_values(path, gp)
            subs = None
            sizes: list[int] | None = None
            if isinstance(p, Choice) and p.subspaces is not None:
                subs = [self._build(p.subspaces[o].params, gp, f"{path}.{o}") for o in values]
                sizes = [self._size(s) for s in subs]
            total = sum(sizes) if sizes is not None else len(values)
            items.append((name, values, subs, sizes, total))
        return items

    @staticmethod
    def _size(items: list[Any]) -> int:
        n = 1
        for it in items:
            n *= it[4]
        return n

    def __len__(self) -> int:
        return self._size(self._tree)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        out: dict[str, Any] = {}
        self._fill(self._tree, i, out)
        return {k: out[k] for k in self._order if k in out}

    def _fill(self, items: list[Any], i: int, out: dict[str, Any]) -> None:
        for name, values, subs, sizes, total in reversed(items):
            i, r = divmod(i, total)
            if sizes is None:  # one grid value per index
                out[name] = values[r]
                continue
            for k, s in enumerate(sizes):
                if r < s:
                    out[name] = values[k]
                    if subs is not None:
                        self._fill(subs[k], r, out)
                    break
                r -= s

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]


#: The most points a grid may have (its length must fit an index).
_MAX_GRID = 2**62


class _GridValues(Sequence[Any]):
    """The grid values of an Int or stepped Float, computed on demand."""

    def __init__(self, p: _Numeric) -> None:
        self._p = p
        self._n = p._n_points()

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        i = i % self._n
        return self._p._finish(self._p._point(np.array([i], dtype=float)))[0]


# ======================================================================================
# Sweep-file forms
# ======================================================================================

_FUNCS = (
    "uniform",
    "loguniform",
    "quniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
    "randint",
    "int",
    "float",
    "choice",
    "bool",
    "fixed",
)
_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<num>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf))(?![\w.])
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<word>[^\W\d][\w.\-/]*)
      | (?P<punct>[(),=\[\]])
    )""",
    re.VERBOSE,
)
_CALL_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*\(")


def _tokenize(text: str, path: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise SpaceError(path, f"cannot parse {_short(text)} near {text[pos : pos + 10]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _literal(kind: str, tok: str, path: str = "") -> Any:
    if kind == "num":
        if len(tok) > _MAX_NUMBER_CHARS:
            raise SpaceError(
                path, f"a number of {len(tok)} characters; at most {_MAX_NUMBER_CHARS}"
            )
        v = float(tok)
        return int(tok) if re.fullmatch(r"[-+]?\d+", tok) else v
    if kind == "str":
        return _unescape(tok[1:-1], path)
    low = tok.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("null", "none"):
        return None
    return tok


_MAX_NUMBER_CHARS = 1000
_SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_HEX = frozenset("0123456789abcdefABCDEF")


def _unescape(body: str, path: str) -> str:
    """Decode the backslash escapes of a quoted compact-form string (UTF-8 text kept).

    ``\\n``, ``\\t``, ``\\'``, ``\\xHH``, ``\\uHHHH``, ``\\UHHHHHHHH`` and the other Python
    escapes; an unknown escape such as ``\\d`` is kept as written (as Python does).
    """
    out: list[str] = []
    i = 0
    while True:
        j = body.find("\\", i)
        if j < 0 or j + 1 >= len(body):
            out.append(body[i:])
            return "".join(out)
        out.append(body[i:j])
        c = body[j + 1]
        if c in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[c])
            i = j + 2
        elif c in _HEX_ESCAPES:
            width = _HEX_ESCAPES[c]
            digits = body[j + 2 : j + 2 + width]
            if len(digits) < width or not _HEX.issuperset(digits):
                raise SpaceError(
                    path,
                    f"bad escape {body[j : j + 2 + width]!r}: \\{c} needs "
                    f"{width} hex digits (write \\\\ for a backslash)",
                )
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise SpaceError(
                    path, f"bad escape {body[j : j + 2 + width]!r}: not a Unicode character"
                )
            out.append(chr(code))
            i = j + 2 + width
        else:
            out.append(body[j : j + 2])
            i = j + 2


def _parse_call(text: str, path: str) -> tuple[str, list[Any], dict[str, Any]]:
    toks = _tokenize(text, path)
    if (
        len(toks) < 3
        or toks[0][0] != "word"
        or toks[1] != ("punct", "(")
        or toks[-1] != ("punct", ")")
    ):
        hint = ""
        if text.count("(") > text.count(")"):  # YAML split "{a: f(1, 2)}" at the comma
            hint = (
                "; inside a YAML {...} mapping quote the value, e.g. "
                "{beta1: 'uniform(0.8, 0.99)'}, or write one key per line"
            )
        raise SpaceError(path, f"cannot parse {_short(text)}: expected name(arg, ...){hint}")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    body = toks[2:-1]
    i = 0
    while i < len(body):
        kind, tok = body[i]
        if kind == "word" and i + 1 < len(body) and body[i + 1] == ("punct", "="):
            if i + 2 >= len(body) or body[i + 2][0] == "punct":
                raise SpaceError(path, f"cannot parse {_short(text)}: {tok}= needs a value")
            kwargs[tok] = _literal(*body[i + 2], path)
            i += 3
        elif kind == "punct":
            raise SpaceError(path, f"cannot parse {_short(text)}: unexpected {_short(tok)}")
        else:
            if kwargs:
                raise SpaceError(path, f"cannot parse {_short(text)}: positional after keyword")
            args.append(_literal(kind, tok, path))
            i += 1
        if i < len(body):
            if body[i] != ("punct", ","):
                raise SpaceError(
                    path, f"cannot parse {_short(text)}: expected ',' before {_short(body[i][1])}"
                )
            i += 1
    return toks[0][1].lower(), args, kwargs


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_ARGS = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
    "int": ("low", "high", "step"),
    "float": ("low", "high", "step"),
    "randint": ("low", "high"),
    "bool": (),
    "fixed": ("value",),
}
_FLAGS = {"int": ("log",), "float": ("log",), "uniform": ("log",), "normal": ("log", "q")}


def _make(kind: str, a: dict[str, Any], path: str) -> Param:
    """Build a parameter from a distribution name and its named arguments."""
    try:
        if kind in ("uniform", "float"):
            return Float(a["low"], a["high"], log=bool(a.get("log", False)), step=a.get("step"))
        if kind == "loguniform":
            lo = a["low"]
            if _is_number(lo) and lo <= 0:
                raise SpaceError(
                    path,
                    f"loguniform needs 0 < low < high, got low={lo!r} (hypersweep "
                    "takes the bounds themselves, e.g. loguniform(1e-5, 1e-1), not their "
                    "logarithms)",
                )
            return Float(lo, a["high"], log=True)
        if kind == "quniform":
            return Float(a["low"], a["high"], step=a["q"])
        if kind == "qloguniform":
            return Float(a["low"], a["high"], log=True, step=a["q"])
        if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
            log = kind.endswith("lognormal") or bool(a.get("log", False))
            return Normal(a["mu"], a["sigma"], log=log, step=a.get("q"))
        if kind == "int":
            return Int(a["low"], a["high"], log=bool(a.get("log", False)), step=a.get("step", 1))
        if kind == "randint":
            if "high" not in a:  # randint(upper): [0, upper)
                a = {"low": 0, "high": a["low"]}
            hi = a["high"]
            fhi = _as_float(hi)
            if fhi is None or not fhi.is_integer():
                raise SpaceError(path, f"randint needs integer bounds, got high={_short(hi)}")
            return Int(a["low"], int(hi) - 1)
        if kind == "bool":
            return Bool()
        if kind == "fixed":
            return Fixed(a["value"])
    except SpaceError as e:
        if e.path:
            raise
        detail = e.detail.replace("Float", kind).replace("Int", kind).replace("Normal", kind)
        raise SpaceError(path, detail) from None
    except KeyError as e:
        raise SpaceError(path, f"{kind} needs {e.args[0]}") from None
    raise SpaceError(path, f"unknown parameter type {kind!r}{_did_you_mean(kind, _FUNCS)}")


def _parse_compact(text: str, path: str) -> Param:
    name, args, kwargs = _parse_call(text, path)
    if name not in _FUNCS:
        raise SpaceError(
            path,
            f"unknown parameter type {name!r}{_did_you_mean(name, _FUNCS)}; "
            f"known: {', '.join(_FUNCS)}",
        )
    if name == "choice":
        if kwargs:
            raise SpaceError(path, "choice takes options only, e.g. choice(16, 32, 64)")
        return _wrap(lambda: Choice(args), path)
    names = _ARGS[name]
    if name == "randint" and len(args) == 1:
        names = ("low",)
    if len(args) > len(names):
        raise SpaceError(
            path,
            f"{name} takes at most {len(names)} arguments ({', '.join(names)}), got {len(args)}",
        )
    a = dict(zip(names, args))
    allowed = set(names) | set(_FLAGS.get(name, ()))
    for k, v in kwargs.items():
        if k not in allowed:
            raise SpaceError(
                path, f"{name} has no argument {k!r}{_did_you_mean(k, sorted(allowed))}"
            )
        a[k] = v
    missing = [n for n in names if n not in a and n not in ("step", "q", "high")]
    if name in ("int", "float") and "step" not in a:
        missing = [n for n in missing if n != "step"]
    if name != "randint" and "high" in names and "high" not in a:
        missing.append("high")
    if missing:
        raise SpaceError(
            path, f"{name} needs {', '.join(missing)}, e.g. {name}({', '.join(names)})"
        )
    return _make(name, a, path)


_LONG_KEYS = {
    "type",
    "low",
    "high",
    "min",
    "max",
    "log",
    "step",
    "q",
    "mu",
    "sigma",
    "values",
    "options",
    "value",
    "choice",
}


def parse_param(value: Any, path: str = "space.param") -> Param:
    """Parse one sweep-file parameter form into a :class:`Param`.

    Example:
        >>> parse_param("loguniform(1e-5, 1e-1)")
        Float({'type': 'float', 'low': 1e-05, 'high': 0.1, 'log': True})
        >>> parse_param({"type": "int", "low": 32, "high": 512, "log": True}).log
        True
    """
    if isinstance(value, Param):
        return value
    if isinstance(value, str):
        if _CALL_RE.match(value) or value.strip().lower() in ("bool", "bool()"):
            if value.strip().lower() == "bool":
                return Bool()
            return _parse_compact(value, path)
        return Fixed(value)
    if isinstance(value, list):
        return _wrap(lambda: Choice(value), path)
    if isinstance(value, Mapping):
        return _parse_long(value, path)
    if value is None or isinstance(value, (int, float, bool)):
        try:
            return Fixed(value)
        except SpaceError as e:
            raise SpaceError(path, e.detail) from None
    raise SpaceError(path, f"cannot use a {type(value).__name__} as a parameter")


def _parse_long(d: Mapping[str, Any], path: str) -> Param:
    unknown = [k for k in d if k not in _LONG_KEYS]
    if unknown:
        k = unknown[0]
        raise SpaceError(f"{path}.{k}", f"unknown key{_did_you_mean(str(k), sorted(_LONG_KEYS))}")
    if "choice" in d:
        opts = d["choice"]
        extra = [k for k in d if k != "choice"]
        if extra:
            raise SpaceError(f"{path}.{extra[0]}", "a {choice: ...} group takes no other keys")
        if isinstance(opts, Mapping):
            subs: dict[str, Space] = {}
            for opt, sub in opts.items():
                sub = sub or {}
                if not isinstance(sub, Mapping):
                    raise SpaceError(
                        f"{path}.{opt}",
                        "a group option needs a mapping of sub-parameters (or nothing)",
                    )
                subs[str(opt)] = _sub_space(sub, f"{path}.{opt}")
            return _wrap(lambda: Choice(subs), path)
        if isinstance(opts, list):
            return _wrap(lambda: Choice(opts), path)
        raise SpaceError(path, "choice needs a list of options or a mapping of groups")
    kind = d.get("type")
    if kind is None:
        raise SpaceError(path, "needs a 'type' (one of: " + ", ".join(_FUNCS) + ")")
    if not isinstance(kind, str):
        raise SpaceError(f"{path}.type", f"must be a string, got {kind!r}")
    kind = kind.lower()
    if kind == "choice":
        opts = d.get("values", d.get("options"))
        if opts is None:
            raise SpaceError(path, "type: choice needs values: [...]")
        return _parse_long({"choice": opts}, path)
    if kind not in _FUNCS:
        raise SpaceError(
            f"{path}.type", f"unknown parameter type {kind!r}{_did_you_mean(kind, _FUNCS)}"
        )
    a = {k: v for k, v in d.items() if k != "type"}
    if "min" in a:
        a["low"] = a.pop("min")
    if "max" in a:
        a["high"] = a.pop("max")
    if kind in ("int", "float", "uniform") and "q" in a:
        a["step"] = a.pop("q")
    if kind in ("normal", "qnormal", "lognormal", "qlognormal") and "step" in a:
        a["q"] = a.pop("step")  # the long form of Normal.to_spec() writes step
    allowed = set(_ARGS[kind]) | set(_FLAGS.get(kind, ()))
    if kind == "uniform":
        allowed.add("step")
    if kind.endswith("normal"):
        allowed |= {"q", "log"} if kind == "normal" else {"q"}
    for k in a:
        if k not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise SpaceError(
                f"{path}.{k}",
                f"{kind} has no key {k!r}"
                f"{_did_you_mean(str(k), sorted(allowed))}; its keys: {known}",
            )
    return _make(kind, a, path)


def _wrap(make: Any, path: str) -> Param:
    try:
        return make()  # type: ignore[no-any-return]
    except SpaceError as e:
        if e.path:
            raise
        raise SpaceError(path, e.detail) from None


_nesting = threading.local()


def _sub_space(params: Mapping[str, Any], path: str) -> Space:
    depth = getattr(_nesting, "depth", 0)
    if depth >= _MAX_GROUP_DEPTH:
        raise SpaceError(
            path,
            f"conditional groups nest more than {_MAX_GROUP_DEPTH} levels deep; flatten the space",
        )
    _nesting.depth = depth + 1
    try:
        return Space({k: parse_param(v, f"{path}.{_show_name(k)}") for k, v in params.items()})
    finally:
        _nesting.depth = depth


def parse_space(spec: Mapping[str, Any]) -> Space:
    """Parse the ``space:`` mapping of a sweep file.

    Raises:
        SpaceError: with the key path of the offending entry (``space.lr: ...``).
    """
    if not isinstance(spec, Mapping) or not spec:
        raise SpaceError("space", "needs at least one parameter, e.g. lr: loguniform(1e-5, 1e-1)")
    return Space({k: parse_param(v, f"space.{k}") for k, v in spec.items()})
