"""Running trials: the loop (:mod:`.runner`) and one executor per way of running."""

from __future__ import annotations

from hypersweep.execution.base import (
    Clock,
    Decide,
    Event,
    Executor,
    Outcome,
    OutcomeStatus,
    Report,
)

__all__ = ["Clock", "Decide", "Event", "Executor", "Outcome", "OutcomeStatus", "Report"]
