"""Analysis of finished studies: parameter importance and sensitivity, Pareto fronts and
hypervolume."""

from __future__ import annotations

from hypersweep.analysis.hypervolume import hypervolume, hypervolume_history
from hypersweep.analysis.importance import Importance, Interaction, ParamImportance, importance
from hypersweep.analysis.pareto import pareto_mask

__all__ = [
    "Importance",
    "Interaction",
    "ParamImportance",
    "hypervolume",
    "hypervolume_history",
    "importance",
    "pareto_mask",
]
