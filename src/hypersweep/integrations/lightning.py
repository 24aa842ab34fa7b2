"""PyTorch Lightning: report each validation epoch to the current trial, stop when told.

Example (inside an objective ``train(params, trial)`` or a command trial)::

    from hypersweep.integrations.lightning import HypersweepCallback
    trainer = lightning.pytorch.Trainer(max_epochs=20,
                                        callbacks=[HypersweepCallback("val_acc")])
    trainer.fit(model, train_loader, val_loader)

``monitor`` names a value the module logs with ``self.log("val_acc", ...)``
(``trainer.callback_metrics``). After each validation run (the sanity check aside) the
callback reports it at ``step = trainer.current_epoch``; when the stopping policy ends
the trial, it sets ``trainer.should_stop`` and Lightning finishes the epoch and returns
from ``fit``. Works with ``lightning`` (``lightning.pytorch``) and the older
``pytorch_lightning`` package.
"""

from __future__ import annotations

from typing import Any

from hypersweep.integrations._common import Reporter

try:
    import lightning.pytorch as pl
except ImportError:  # the standalone package
    import pytorch_lightning as pl  # type: ignore[no-redef]

__all__ = ["HypersweepCallback"]


class HypersweepCallback(pl.Callback):
    """Reports ``monitor`` after every validation epoch; sets ``trainer.should_stop``
    once the trial is stopped.

    Args:
        monitor: a metric the LightningModule logs (``self.log(monitor, ...)``).
        report_as: the name to report it under (default: ``monitor``).
        extra: other logged metrics to report too (``"all"``: every one).
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

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        if self.reporter(int(trainer.current_epoch), dict(trainer.callback_metrics)):
            trainer.should_stop = True
