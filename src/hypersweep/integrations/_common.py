"""What every callback does at the end of an epoch: report, then ask whether to stop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypersweep import sdk
from hypersweep.errors import HypersweepError, TrialStopped

__all__ = ["Reporter"]


class Reporter:
    """Reports one step's metrics to the current trial and remembers a stop.

    Args:
        monitor: the metric that must be in every step's logs (the one the study's
            objective and stopping policy watch).
        report_as: the name it is reported under (default: ``monitor``); give the study's
            metric name when the library calls it differently (``validation_0-logloss``).
        extra: other log entries to report too, under their own names; ``"all"``: every
            numeric entry.
        where: names the callback in error messages.
    """

    def __init__(
        self,
        monitor: str,
        report_as: str | None = None,
        extra: tuple[str, ...] | str = (),
        where: str = "callback",
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise HypersweepError(f"{where}: monitor must be a metric name, got {monitor!r}")
        self.monitor = monitor
        self.report_as = report_as or monitor
        self.extra = extra
        self.where = where
        self.stopped = False

    def __call__(self, step: int, logs: Mapping[str, Any]) -> bool:
        """Report ``logs`` at ``step``; True when training should stop."""
        if self.stopped:
            return True
        if self.monitor not in logs:
            known = ", ".join(sorted(map(str, logs))) or "none"
            raise HypersweepError(
                f"{self.where}: metric {self.monitor!r} is not in this step's logs "
                f"(it has: {known}); pass monitor= one of those"
            )
        value = _number(logs[self.monitor])
        if value is None:
            raise HypersweepError(
                f"{self.where}: metric {self.monitor!r} is not a number "
                f"({logs[self.monitor]!r}); monitor a scalar metric"
            )
        metrics = {self.report_as: value}
        names = [str(k) for k in logs] if self.extra == "all" else list(self.extra)
        for k in names:
            if k != self.monitor and k in logs:
                v = _number(logs[k])
                if v is not None:
                    metrics[k] = v
        try:
            sdk.report(step=step, **metrics)
        except TrialStopped:
            self.stopped = True
            return True
        self.stopped = sdk.should_stop()
        return self.stopped


def _number(v: Any) -> Any:
    """A float from a tensor, numpy scalar or number; None when it is none of them."""
    if hasattr(v, "detach"):
        v = v.detach().cpu()
    if hasattr(v, "item") and callable(v.item):
        try:
            v = v.item()
        except (TypeError, ValueError):
            return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)
