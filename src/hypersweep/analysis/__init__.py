"""Analysis of finished studies: parameter importance and sensitivity, Pareto fronts."""

from __future__ import annotations

from hypersweep.analysis.importance import Importance, Interaction, ParamImportance, importance
from hypersweep.analysis.pareto import pareto_mask

__all__ = ["Importance", "Interaction", "ParamImportance", "importance", "pareto_mask"]
