"""The PyTorch Lightning callback: a real tiny network on CPU, stopped by the policy after
3 epochs of 30."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

import hypersweep as hs  # noqa: E402
from hypersweep.integrations.lightning import HypersweepCallback  # noqa: E402
from tests.integrations.conftest import STOP_AT, only_trial  # noqa: E402


class _Net(pl.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
        )

    def _loss(self, batch):
        x, y = batch
        return torch.nn.functional.binary_cross_entropy_with_logits(self.net(x).squeeze(1), y)

    def training_step(self, batch, batch_idx):
        return self._loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def _loader(X, y, shuffle):
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    return torch.utils.data.DataLoader(ds, batch_size=32, shuffle=shuffle)


def test_the_policy_stops_the_trainer(stopping_study, iris_binary, tmp_path):
    X, y, Xv, yv = iris_binary
    study = stopping_study("val_loss")
    seen = {}

    def objective(params, trial):
        torch.manual_seed(0)
        cb = HypersweepCallback("val_loss")
        trainer = pl.Trainer(
            max_epochs=30,
            accelerator="cpu",
            devices=1,
            callbacks=[cb],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=str(tmp_path),
        )
        trainer.fit(_Net(params["lr"]), _loader(X, y, True), _loader(Xv, yv, False))
        seen["epochs"] = trainer.current_epoch
        seen["stopped"] = cb.stopped
        return float(trainer.callback_metrics["val_loss"])

    study.optimize(objective, max_trials=1)
    t = only_trial(study)
    assert t.state == hs.TrialState.STOPPED
    assert sorted(t.reports) == list(range(STOP_AT + 1))
    assert seen == {"epochs": STOP_AT + 1, "stopped": True}
