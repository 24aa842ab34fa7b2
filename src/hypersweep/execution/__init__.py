"""Running trials: the loop (:mod:`.runner`) and one executor per way of running."""

from __future__ import annotations

from hypersweep.execution.base import Executor, Outcome, ReportHandler

__all__ = ["Executor", "Outcome", "ReportHandler"]
