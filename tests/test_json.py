"""hypersweep._json.loads returns what json.loads returns, for every stored text."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from hypersweep._json import loads

EDGES = [
    "-0.0",
    "1E5",
    "5e-324",
    "[NaN, Infinity, -Infinity]",  # hypersweep writes these (allow_nan=True)
    "[1e400]",
    "18446744073709551616",  # beyond 64 bits: orjson would read a float
    "-9223372036854775809",
    '{"a": [1, {"b": 99999999999999999999}]}',
    "1e19",
    "[9.3e18, -9.3e18]",
    '{"a": 1, "a": 2}',
    '"\\ud800"',  # a lone surrogate
    '"\\ud83d\\ude00"',
    '{"x":0.17206357714738463,"y":-0.5531262430441619}',
    "{}",
    "null",
]


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


@pytest.mark.parametrize("text", EDGES)
def test_edge_texts_read_as_the_standard_library_reads_them(text: str) -> None:
    assert _same(loads(text), json.loads(text))


def test_random_documents_read_as_the_standard_library_reads_them() -> None:
    rng = random.Random(7)

    def value(depth: int) -> Any:
        kind = rng.randrange(9 if depth < 3 else 6)
        if kind == 0:
            return rng.choice([0, -1, 2**53, 2**63 - 1, 2**63, -(2**63) - 1, 10**30])
        if kind == 1:
            return rng.choice([0.1, -0.0, 1e-300, 1.7976931348623157e308, 2.0**63, 1e19])
        if kind == 2:
            return rng.uniform(-1e6, 1e6)
        if kind == 3:
            return rng.choice([math.nan, math.inf, -math.inf])
        if kind == 4:
            return rng.choice(["", "é", "a\\b", '"q"', "\u2028", "x" * 40])
        if kind == 5:
            return rng.choice([True, False, None])
        if kind in (6, 7):
            return {f"k{i}": value(depth + 1) for i in range(rng.randrange(4))}
        return [value(depth + 1) for _ in range(rng.randrange(4))]

    for _ in range(2000):
        text = json.dumps(value(0), allow_nan=True, separators=(",", ":"))
        assert _same(loads(text), json.loads(text)), text


def test_bad_text_raises_value_error() -> None:
    with pytest.raises(ValueError):
        loads("not json")
