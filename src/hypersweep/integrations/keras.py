"""Keras 3: report each epoch's metric to the current trial, stop when told.

Example::

    from hypersweep.integrations.keras import HypersweepCallback
    model.fit(x, y, validation_data=(xv, yv), epochs=20,
              callbacks=[HypersweepCallback("val_accuracy")])

After each epoch the callback reports ``logs[monitor]`` at ``step = epoch``; when the
stopping policy ends the trial it sets ``model.stop_training`` and ``fit`` returns after
that epoch. Any Keras 3 backend works (``KERAS_BACKEND=torch`` needs no TensorFlow); when
``KERAS_BACKEND`` is unset and TensorFlow is not installed, importing this module picks
``torch``.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
    os.environ["KERAS_BACKEND"] = "torch"  # Keras's default backend is not installed

import keras

from hypersweep.integrations._common import Reporter

__all__ = ["HypersweepCallback"]


class HypersweepCallback(keras.callbacks.Callback):
    """Reports ``monitor`` after every epoch; sets ``model.stop_training`` once the trial
    is stopped.

    Args:
        monitor: a key of the epoch logs (``"val_loss"``, ``"val_accuracy"``, ...).
        report_as: the name to report it under (default: ``monitor``).
        extra: other log keys to report too (``"all"``: every one).
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

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.reporter(int(epoch), logs or {}):
            self.model.stop_training = True
