"""How the dashboard shapes data for the browser: strict JSON, bounded samples of rows,
chart axes for parameter columns, the table's sort and filter primitives (numpy)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["axis", "compare", "finite", "first_sorted", "label", "sample_rows"]


def finite(x: Any) -> Any:
    """``x`` with NaN and infinities as ``None`` (strict JSON), recursively."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if isinstance(x, np.generic):
        return finite(x.item())
    return x


def sample_rows(rows: np.ndarray, score: np.ndarray | None, limit: int) -> np.ndarray:
    """At most ``limit`` of ``rows`` (ascending), chosen to keep what a chart needs:
    the best quarter by ``score`` (lower is better), the lowest and highest score of
    each of ``limit // 8`` bins along ``rows``, and a seeded uniform sample for the rest.
    The same input gives the same choice (charts do not flicker between polls). Numpy
    only: a few milliseconds for 100k rows."""
    rows = np.asarray(rows, dtype=np.int64)
    n = rows.size
    if n <= limit:
        return rows
    parts: list[np.ndarray] = []
    if score is not None:
        low = np.where(np.isfinite(score), score, np.inf)
        high = np.where(np.isfinite(score), score, -np.inf)
        k = limit // 4
        parts.append(np.argpartition(low, k)[:k])
        starts = np.unique(np.linspace(0, n, max(1, limit // 8) + 1).astype(np.int64)[:-1])
        bin_of = np.searchsorted(starts, np.arange(n), side="right") - 1
        for s, reduce in ((low, np.minimum), (high, np.maximum)):
            hit = np.nonzero(s == reduce.reduceat(s, starts)[bin_of])[0]
            parts.append(hit[np.unique(bin_of[hit], return_index=True)[1]])  # first per bin
    chosen = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
    room = limit - chosen.size
    if room > 0:
        rest = np.setdiff1d(np.arange(n), chosen, assume_unique=True)
        rng = np.random.default_rng(n)
        chosen = np.concatenate(
            [chosen, rng.choice(rest, size=min(room, rest.size), replace=False)]
        )
    return rows[np.sort(chosen)]


def first_sorted(rows: np.ndarray, key: np.ndarray, desc: bool, count: int) -> np.ndarray:
    """The first ``count`` of ``rows`` ordered by ``key`` (NaN last, ties by row): a
    partition, then a sort of only what precedes the page's end (every row tied with the
    last one kept, so pages are exact and stable)."""
    k = np.where(np.isnan(key), np.inf, -key if desc else key)
    if count < rows.size:
        cut = np.partition(k, count - 1)[count - 1]
        keep = k <= cut
        rows, k = rows[keep], k[keep]
    order = np.lexsort((rows, k))
    return rows[order][:count]


def axis(col: list[Any]) -> dict[str, Any]:
    """One parameter column for a chart: numbers as they are, anything else (text,
    booleans, mixed) as a category index with ``labels``."""
    present = [v for v in col if v is not None]
    if all(type(v) in (int, float) for v in present):
        return {"kind": "number", "values": col}
    labels = sorted({label(v) for v in present})
    index = {lab: i for i, lab in enumerate(labels)}
    return {
        "kind": "category",
        "labels": labels,
        "values": [None if v is None else index[label(v)] for v in col],
    }


def label(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def compare(v: Any, op: str, ref: Any) -> bool:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return False
    if isinstance(ref, float) and type(v) in (int, float):
        a: Any = float(v)
    else:
        a, ref = label(v), str(ref)
    try:
        return bool(
            {
                "=": a == ref,
                "!=": a != ref,
                "<": a < ref,
                "<=": a <= ref,
                ">": a > ref,
                ">=": a >= ref,
            }[op]
        )
    except TypeError:
        return False
