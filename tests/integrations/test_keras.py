"""The Keras 3 callback (torch backend): a real model, stopped by the policy after 3
epochs of 30."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import hypersweep as hs  # noqa: E402
from hypersweep.integrations.keras import HypersweepCallback  # noqa: E402
from tests.integrations.conftest import STOP_AT, only_trial  # noqa: E402


def test_the_policy_stops_training(stopping_study, iris_binary):
    X, y, Xv, yv = iris_binary
    study = stopping_study("val_loss")
    seen = {}

    def objective(params, trial):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(params["lr"]),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        cb = HypersweepCallback("val_loss", extra=("val_accuracy",))
        hist = model.fit(
            X, y, validation_data=(Xv, yv), epochs=30, batch_size=32, verbose=0, callbacks=[cb]
        )
        seen["epochs"] = len(hist.history["val_loss"])
        seen["stopped"] = cb.stopped
        return hist.history["val_loss"][-1]

    study.optimize(objective, max_trials=1)
    t = only_trial(study)
    assert t.state == hs.TrialState.STOPPED
    assert sorted(t.reports) == list(range(STOP_AT + 1))
    assert set(t.reports[0]) == {"val_loss", "val_accuracy"}
    assert seen == {"epochs": STOP_AT + 1, "stopped": True}
