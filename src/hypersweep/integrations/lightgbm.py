"""LightGBM: report each boosting round's evaluation metric, stop when told.

Example::

    from hypersweep.integrations.lightgbm import HypersweepCallback
    lightgbm.train(params, train_set, num_boost_round=200, valid_sets=[valid],
                   valid_names=["valid"], callbacks=[HypersweepCallback("valid-binary_logloss")])

The metric is named ``<valid set name>-<metric>`` (``valid-binary_logloss``; the
scikit-learn API names its eval sets ``valid_0``, ...; ``lightgbm.cv`` names them
``valid``, and the value is the mean over folds). After each round the callback reports
it at ``step = iteration``; when the stopping policy ends the trial it raises
``lightgbm.callback.EarlyStopException``, so LightGBM stops boosting and keeps the model
built so far.
"""

from __future__ import annotations

from typing import Any

import lightgbm

from hypersweep.integrations._common import Reporter

__all__ = ["HypersweepCallback"]


class HypersweepCallback:
    """A LightGBM callback: reports ``monitor`` after every round; ends boosting once the
    trial is stopped.

    Args:
        monitor: ``"<valid set name>-<metric>"``, e.g. ``"valid-binary_logloss"``.
        report_as: the name to report it under (default: ``monitor``).
        extra: other ``<name>-<metric>`` entries to report too (``"all"``: every one).
    """

    #: LightGBM runs callbacks by ascending ``order``; after its own evaluation logging
    order = 30
    before_iteration = False

    def __init__(
        self, monitor: str, report_as: str | None = None, extra: tuple[str, ...] | str = ()
    ) -> None:
        self.reporter = Reporter(monitor, report_as, extra, where="HypersweepCallback")

    @property
    def stopped(self) -> bool:
        """True once the trial told training to stop."""
        return self.reporter.stopped

    def __call__(self, env: Any) -> None:
        results = list(env.evaluation_result_list or [])
        logs = {f"{r[0]}-{r[1]}": r[2] for r in results}
        if self.reporter(int(env.iteration), logs):
            raise lightgbm.callback.EarlyStopException(env.iteration, results)
