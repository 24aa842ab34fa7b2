"""Analysis of finished studies: Pareto fronts (more to come: importance, summaries)."""

from __future__ import annotations

from hypersweep.analysis.pareto import pareto_mask

__all__ = ["pareto_mask"]
