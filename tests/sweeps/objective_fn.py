"""An objective function loaded by sweep files in tests (``function: objective_fn:quadratic``)."""

from __future__ import annotations

from typing import Any


def quadratic(params: dict[str, Any]) -> float:
    """Minimum 1.0 at x = 1, k = 1."""
    return (params["x"] - 1.0) ** 2 + params["k"]


def two_metrics(params: dict[str, Any]) -> dict[str, float]:
    """Two conflicting objectives (loss and cost) for multi-objective sweeps."""
    return {"loss": (params["x"] - 1.0) ** 2, "cost": params["x"] ** 2}
