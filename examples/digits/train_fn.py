"""The same sweep as ``sweep.yaml``, as a Python function (no subprocess per trial).

Two ways to run it, from the repository root:

* the sweep file ``sweep_function.yaml`` points at :func:`train`::

      hypersweep run examples/digits/sweep_function.yaml

* or the Python API, which builds the same Study and runner::

      python examples/digits/train_fn.py

:func:`train` reports the validation accuracy after every epoch with ``trial.report``;
an early-stopping policy or ``max_steps`` can end it there (``report`` then raises
``TrialStopped``, and the trial keeps its last value).
"""

from __future__ import annotations

import argparse
from typing import Any

from threadpoolctl import threadpool_limits  # installed with scikit-learn
from train import train_epochs

import hypersweep as hs


def train(params: dict[str, Any], trial: Any) -> float:
    """One trial: train for ``epochs`` epochs, report each; return the last accuracy."""
    args = argparse.Namespace(epochs=20, seed=0, **params)
    acc = 0.0
    with threadpool_limits(1):  # one core per trial: two trials at once use both cores
        for epoch, acc, loss in train_epochs(args):
            trial.report(step=epoch, val_accuracy=acc, train_loss=loss)
    return acc


def main() -> None:
    study = hs.Study(
        "digits-mlp-api",
        space={
            "lr": hs.Float(1e-4, 1e-1, log=True),
            "hidden": hs.Int(16, 128, log=True),
            "alpha": hs.Float(1e-6, 1e-1, log=True),
            "batch_size": hs.Choice([32, 64, 128]),
            "activation": hs.Choice(["relu", "tanh"]),
        },
        objective=hs.Objective("val_accuracy", goal="maximize"),
        sampler={"name": "random", "seed": 0},
        seed=0,
    )
    best = study.optimize(train, max_trials=20, max_concurrent=2, timeout=600)
    if best is not None:
        print(f"best: trial {best.number} val_accuracy={best.value:.4f} {best.params}")


if __name__ == "__main__":
    main()
