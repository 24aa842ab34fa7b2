"""Panels that depend on other parts of hypersweep being present: parameter importance
(``hypersweep.analysis.importance``). Each answers with a clear note when its part is
missing, instead of failing the page."""

from __future__ import annotations

from typing import Any

from hypersweep.dashboard.data import StudyData
from hypersweep.dashboard.shaping import finite

__all__ = ["importance"]

_cache: dict[tuple[str, int, str | None], dict[str, Any]] = {}


def importance(data: StudyData, method: str | None) -> dict[str, Any]:
    """``{"available": True, "importances": {param: share}, "method": ...}`` from
    :func:`hypersweep.analysis.importance`, or ``{"available": False, "note": ...}``."""
    try:
        from hypersweep.analysis import importance as compute  # type: ignore[attr-defined]
    except ImportError:
        return {
            "available": False,
            "note": "parameter importance needs hypersweep.analysis.importance, "
            "which this installation does not have yet",
        }
    with data.lock:
        data.sync()
        key = (data.name, data.study.history.version, method)
        if key in _cache:
            return _cache[key]
        try:
            got = compute(data.study) if method is None else compute(data.study, method=method)
        except Exception as e:  # too few trials, an unknown method: shown as a note
            return {"available": False, "note": f"importance: {e}"}
    if hasattr(got, "to_dict"):
        got = got.to_dict()
    if isinstance(got, dict) and "importances" not in got:
        got = {"importances": got}
    out = finite({"available": True, "method": method, **dict(got)})
    if len(_cache) > 64:
        _cache.clear()
    _cache[key] = out
    return out
