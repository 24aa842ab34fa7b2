"""XGBoost: report each boosting round's evaluation metric, stop when told.

Example::

    from hypersweep.integrations.xgboost import HypersweepCallback
    xgboost.train(params, dtrain, num_boost_round=200, evals=[(dvalid, "valid")],
                  callbacks=[HypersweepCallback("valid-logloss")])

The metric is named ``<evals name>-<metric>`` as XGBoost prints it (``valid-logloss``;
with the scikit-learn API and ``eval_set``: ``validation_0-logloss``). After each round
the callback reports it at ``step = round``; when the stopping policy ends the trial,
``after_iteration`` returns True and XGBoost stops boosting. In ``xgboost.cv`` the
reported value is the mean over folds.
"""

from __future__ import annotations

from typing import Any

import xgboost as xgb

from hypersweep.integrations._common import Reporter

__all__ = ["HypersweepCallback"]


class HypersweepCallback(xgb.callback.TrainingCallback):
    """Reports ``monitor`` after every boosting round; stops boosting once the trial is
    stopped.

    Args:
        monitor: ``"<evals name>-<metric>"``, e.g. ``"valid-logloss"``.
        report_as: the name to report it under (default: ``monitor``).
        extra: other ``<name>-<metric>`` entries to report too (``"all"``: every one).
    """

    def __init__(
        self, monitor: str, report_as: str | None = None, extra: tuple[str, ...] | str = ()
    ) -> None:
        super().__init__()
        self.reporter = Reporter(monitor, report_as, extra, where="HypersweepCallback")

    @property
    def stopped(self) -> bool:
        """True once the trial told training to stop."""
        return self.reporter.stopped

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        logs: dict[str, Any] = {}
        for data, metrics in evals_log.items():
            for metric, values in metrics.items():
                last = values[-1]
                logs[f"{data}-{metric}"] = last[0] if isinstance(last, tuple) else last
        return bool(self.reporter(int(epoch), logs))
