"""The one family of option checks: typed values, did-you-mean hints, one-line messages.

Every check takes the option's full key path (``"early_stopping.delay"``,
``"sampler.gamma"``) and raises a :class:`~hypersweep.errors.SpecError` that carries it as
``error.path`` (the sweep-file loader turns that into a file line), with a message of the
form ``<path>: must be <what>, got <value>``. Values arrive from YAML, JSON or Python, so
numpy scalars count as the plain numbers they hold (:func:`unwrap`).

This module imports nothing heavy: the in-trial SDK and the CLI can use it.

Example:
    >>> check_int("early_stopping.delay", 3.0, minimum=0)
    3
    >>> check_number("sampler.gamma", 0, gt=0, lt=1)
    Traceback (most recent call last):
    ...
    hypersweep.errors.SpecError: sampler.gamma: must be a finite number > 0 and < 1, got 0
    >>> did_you_mean("medain", ["median", "asha"])
    " (did you mean 'median'?)"
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any

from hypersweep.errors import SpecError

__all__ = [
    "STUDY_NAME",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "did_you_mean",
    "fail",
    "is_number",
    "one_line",
    "short",
    "unwrap",
]


#: A study name: what storage keys, file names and URLs can carry without quoting.
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")


def fail(path: str, detail: str, fix: str = "") -> SpecError:
    """The error for the option at ``path`` (raise it): ``<path>: <detail>[; <fix>]``."""
    return SpecError(detail, path=path, fix=fix)


def unwrap(v: Any) -> Any:
    """A numpy scalar as the plain Python value it holds; anything else unchanged."""
    if type(v).__module__ == "numpy" and hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        return v.item()
    return v


def is_number(v: Any) -> bool:
    """A real number (``int``, ``float`` or a numpy one), not a bool."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return type(v).__module__ == "numpy" and isinstance(v, numbers.Real)


def one_line(text: Any) -> str:
    """``text`` with every run of whitespace (newlines included) as one space."""
    return " ".join(str(text).split())


def short(v: Any) -> str:
    """A one-line, bounded ``repr`` of a user value for messages."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 100:
        digits = int(v.bit_length() * 0.30103) + 1
        return f"an integer of about {digits} digits"
    text = repr(v)
    return text if len(text) <= 80 else text[:60] + "..." + text[-12:]


def did_you_mean(
    word: str,
    candidates: Iterable[str],
    *,
    aliases: Mapping[str, str] | None = None,
    cutoff: float = 0.6,
) -> str:
    """``" (did you mean 'x'?)"`` for the closest candidate, or ``""``.

    ``aliases`` maps names users bring from other tools to ours (``eta`` ->
    ``reduction_factor``); an alias wins over spelling distance.
    """
    known = list(candidates)
    alias = (aliases or {}).get(word)
    if alias is not None and alias in known:
        return f" (did you mean {alias!r}?)"
    close = difflib.get_close_matches(word, known, n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_int(path: str, v: Any, minimum: int | None = None) -> int:
    """``v`` as an ``int`` (``3.0`` counts as 3) ``>= minimum``."""
    v = unwrap(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum):
        need = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise fail(path, f"must be {need}, got {short(v)}")
    return v


def check_number(
    path: str,
    v: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> float:
    """``v`` as a finite ``float`` within the given bounds."""
    try:
        ok = is_number(v) and math.isfinite(float(v))
    except OverflowError:  # an int beyond float's range
        ok = False
    if ok:
        x = float(v)
        ok = (
            (gt is None or x > gt)
            and (ge is None or x >= ge)
            and (lt is None or x < lt)
            and (le is None or x <= le)
        )
    if not ok:
        bounds = [
            f"{op} {b:g}"
            for op, b in ((">", gt), (">=", ge), ("<", lt), ("<=", le))
            if b is not None
        ]
        what = " and ".join(bounds)
        raise fail(path, f"must be a finite number{' ' + what if what else ''}, got {short(v)}")
    return float(v)


def check_bool(path: str, v: Any) -> bool:
    """``v`` as a ``bool`` (numpy's included); ``0``/``1`` and strings are refused."""
    v = unwrap(v)
    if not isinstance(v, bool):
        raise fail(path, f"must be true or false, got {short(v)}")
    return v


def check_choice(path: str, v: Any, options: Iterable[Any]) -> Any:
    """``v`` when it is one of ``options``; else a message listing them (with a hint)."""
    opts = list(options)
    if any(type(v) is type(o) and v == o for o in opts):
        return v
    hint = did_you_mean(v, [str(o) for o in opts]) if isinstance(v, str) else ""
    listed = ", ".join(str(o) for o in opts)
    raise fail(path, f"must be one of {listed}, got {short(v)}{hint}")
