"""Where a command trial's metrics are read from, with no change to its script.

* ``jsonl``: the in-trial SDK's JSON lines (``hypersweep.report``);
* ``stdout``, ``stderr``: text lines (:mod:`hypersweep.metrics.text`): ``name=value`` pairs,
  JSON objects, the sweep's ``patterns``;
* ``mlflow``: the trial's own MLflow file store (:mod:`hypersweep.metrics.from_mlflow`);
* ``wandb``: the trial's offline W&B run (:mod:`hypersweep.metrics.from_wandb`);
* ``tensorboard``: event files under the trial's folder
  (:mod:`hypersweep.metrics.from_tensorboard`).

:class:`~hypersweep.metrics.config.MetricsConfig` says which are read (``metrics: {source:
...}``); every tracker reader is a :class:`~hypersweep.metrics.base.Source` polled for
the ``(name, value, step)`` points written since its last poll. Turning those into a
trial's reports (steps, rates, checks) is the command executor's intake
(:mod:`hypersweep.execution.command.intake`).
"""

from __future__ import annotations

from hypersweep.metrics.base import Point, Source, StepOrder
from hypersweep.metrics.config import FILE_SOURCES, SOURCES, TEXT_SOURCES, MetricsConfig
from hypersweep.metrics.text import LineParser, parse_number

__all__ = [
    "FILE_SOURCES",
    "SOURCES",
    "TEXT_SOURCES",
    "LineParser",
    "MetricsConfig",
    "Point",
    "Source",
    "StepOrder",
    "parse_number",
]
