"""What the parameter types share: limits, value checks, number formatting for messages."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import numpy as np

from hypersweep._validate import is_number, short
from hypersweep.errors import SpaceError

JsonScalar = str | int | float | bool | None


def clip(a: Any, lo: Any, hi: Any) -> Any:
    """``np.clip`` for ``lo <= hi`` (NaN stays NaN), without its wrapper's overhead.

    Encoding and decoding call it a few dozen times per proposal on arrays of a few
    elements, where ``np.clip``'s dispatch costs several times the two ufuncs.
    """
    return np.minimum(np.maximum(a, lo), hi)


#: A parameter name: a letter (any script) or ``_``, then letters, digits, ``_.-/``.
NAME_RE = re.compile(r"[^\W\d][\w.\-/]{0,199}")
EPS = 1e-12
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
MAX_GROUP_DEPTH = 32


def as_float(v: Any) -> float | None:
    """``float(v)`` when ``v`` is a finite number that a float can hold, else ``None``."""
    if not is_number(v):
        return None
    try:
        f = float(v)
    except (OverflowError, ValueError, TypeError):
        return None
    return f if math.isfinite(f) else None


def show_name(name: Any) -> str:
    """A parameter name as it appears in a key path (odd names quoted, one line)."""
    if isinstance(name, str) and name.isprintable() and len(name) <= 200:
        return name
    return short(name)


def text_problem(s: str) -> str | None:
    """Why ``s`` cannot be a parameter value or name (``None`` when it can)."""
    if "\x00" in s:
        return "contains a NUL character, which no command line or environment can carry"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (it holds a lone surrogate)"
    return None


def int_problem(v: Any) -> str | None:
    if (
        isinstance(v, (int, np.integer))
        and not isinstance(v, (bool, np.bool_))
        and abs(int(v)) > _INT_LIMIT
    ):
        return (
            f"integers in a space must lie within +-2**53 (9007199254740992), got "
            f"{short(int(v))}; quote it to make it a string"
        )
    return None


def is_on_grid(k: float, magnitude: float, step: float) -> bool:
    """Is ``k = (v - low) / step`` an integer up to float rounding?"""
    tol = 1e-9 * max(1.0, abs(k)) + 8 * math.ulp(magnitude) / step
    return abs(k - round(k)) <= tol


def safe_round(vals: np.ndarray, decimals: int, step: float) -> np.ndarray:
    """``np.round(vals, decimals)`` where that only removes float noise (and is finite)."""
    if decimals > 15:
        return vals
    with np.errstate(all="ignore"):
        r = np.round(vals, decimals)
        ok = np.isfinite(r) & (np.abs(r - vals) <= 1e-6 * step)
    return np.where(ok, r, vals)


def decimal_places(x: float) -> int:
    exp = Decimal(repr(float(x))).normalize().as_tuple().exponent
    return max(0, -int(exp)) if isinstance(exp, int) else 0


def fmt(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e16:
        return repr(x)
    return repr(x) if not isinstance(x, str) else x


def check_normal_range(name: str, mu: float, sigma: float, log: bool, step: float | None) -> None:
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


def nudge_exact(u: np.ndarray, x: np.ndarray, decode: Any) -> np.ndarray:
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
        lo_out, hi_out = decode(clip(lo, 0.0, 1.0)) > xs, decode(clip(hi, 0.0, 1.0)) < xs
        if not (lo_out.any() or hi_out.any()):
            break
        width = width * 4
        lo = np.where(lo_out, lo - width, lo)
        hi = np.where(hi_out, hi + width, hi)
    lo, hi = clip(lo, 0.0, 1.0), clip(hi, 0.0, 1.0)
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
        cand = clip(hi[i] + steps[np.argsort(np.abs(steps), kind="stable")], 0.0, 1.0)
        hit = np.nonzero(decode(cand) == xs[i])[0]
        if hit.size:
            u[idx[i]] = cand[hit[0]]
    return u


def check_bounds(name: str, low: Any, high: Any, log: bool, step: Any, integer: bool) -> None:
    """Refuse bounds whose values a float64 encoding cannot represent exactly."""
    kind = "an integer" if integer else "a number"
    for key, v in (("low", low), ("high", high)):
        f = as_float(v)
        if f is None or (integer and not f.is_integer()):
            raise SpaceError("", f"{name} needs {kind} for {key}, got {key}={short(v)}")
        if integer and abs(f) > _INT_LIMIT:
            raise SpaceError(
                "",
                f"{name} needs |{key}| <= 2**53 (9007199254740992), got "
                f"{key}={short(v)}; integers beyond are not exact as floats",
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
        fstep = as_float(step)
        if fstep is None or not fstep > 0 or (integer and not fstep.is_integer()):
            raise SpaceError("", f"{name} needs step to be {kind} > 0, got step={short(step)}")
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
            multiple = is_on_grid(k, magnitude, fstep)
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
