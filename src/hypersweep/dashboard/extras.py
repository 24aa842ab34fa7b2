"""Panels that depend on other parts of hypersweep being present: parameter importance
(:func:`hypersweep.analysis.importance`, which needs scikit-learn). Each answers with a
clear note when its part is missing, instead of failing the page."""

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
        from hypersweep.analysis import importance as compute
    except ImportError as e:  # the analysis extra (scikit-learn) is missing
        return {"available": False, "note": f"parameter importance: {e}"}
    with data.lock:
        data.sync()
        key = (data.name, data.study.history.version, method)
        if key in _cache:
            return _cache[key]
        try:
            # 20 bootstrap rounds: intervals for the panel at a fraction of the default cost
            got = compute(data.study, method or "fanova", n_bootstrap=20)
        except Exception as e:  # too few trials, an unknown method, a missing extra
            return {"available": False, "note": f"importance: {e}"}
    out = finite(
        {
            "available": True,
            "method": got.method,
            "objective": got.objective,
            "n_trials": got.n_trials,
            "importances": {p.name: p.importance for p in got.params},
            "intervals": {p.name: [p.low, p.high] for p in got.params},
            "interaction": None
            if got.interaction is None
            else {**vars(got.interaction), "params": list(got.interaction.params)},
        }
    )
    if len(_cache) > 64:
        _cache.clear()
    _cache[key] = out
    return out
