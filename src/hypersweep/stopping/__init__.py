"""Early-stopping policies (see :mod:`hypersweep.stopping.base`)."""

from __future__ import annotations

from hypersweep.stopping.base import Decision, Policy

__all__ = ["Decision", "Policy"]
