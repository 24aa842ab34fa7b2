"""Parsing stored JSON texts: what :func:`json.loads` returns, faster.

A sync at many workers parses four JSON columns of every changed trial row (parameters,
values, metrics, attributes): at 32 workers that was a quarter of a worker's CPU.
``orjson`` parses the same texts several times faster and returns the same objects, with
two exceptions, which go to :func:`json.loads`: it refuses ``NaN`` and ``Infinity``
(which hypersweep writes, ``allow_nan=True``) and lone surrogates, and it reads an
integer beyond 64 bits as a float. A float of that size in its result (from such an
integer, or from a literal like ``1e19``) sends the text to :func:`json.loads` too.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson as _orjson
except ImportError:  # a platform without its wheel: the standard library alone
    _orjson = None  # type: ignore[assignment]

_BIG = 2.0**63  # orjson reads integers at or beyond this size (or below -it) as floats


def _exact(o: Any) -> bool:
    """No float in ``o`` could be an integer that orjson rounded."""
    t = type(o)
    if t is float:
        return -_BIG < o < _BIG
    if t is dict:
        o = o.values()
    elif t is not list:
        return True
    for v in o:  # a loop, not all(...): most texts are a few scalars
        tv = type(v)
        if tv is float:
            if not -_BIG < v < _BIG:
                return False
        elif (tv is dict or tv is list) and not _exact(v):
            return False
    return True


def loads(text: str) -> Any:
    """``json.loads(text)`` (its result and its ``ValueError`` on bad input)."""
    if _orjson is not None:
        try:
            out = _orjson.loads(text)
        except _orjson.JSONDecodeError:
            pass
        else:
            if _exact(out):
                return out
    return json.loads(text)


def loads_or(text: str | None, default: Any) -> Any:
    """A stored JSON column: ``default`` for NULL, a new ``{}`` for ``"{}"`` (most
    attributes and a running trial's metrics: not parsed), else :func:`loads`."""
    if text is None:
        return default
    if text == "{}":
        return {}
    return loads(text)
