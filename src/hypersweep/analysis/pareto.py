"""Pareto fronts of multi-objective studies (the one implementation lives in
:mod:`hypersweep._best`, shared with the studies' and storages' "best")."""

from __future__ import annotations

from hypersweep._best import pareto_mask

__all__ = ["pareto_mask"]
