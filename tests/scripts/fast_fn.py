"""A stand-in for examples/digits/train_fn.py:train: ``val_accuracy`` from the parameters at
once, without reports (``function: fast_fn.py:train``)."""

from __future__ import annotations

import math
from typing import Any


def train(params: dict[str, Any]) -> dict[str, float]:
    acc = (
        1
        / (1 + abs(math.log10(params["lr"]) + 2.5))
        * (1 - params["alpha"])
        * (0.9 + params["hidden"] / 1280)
    )
    return {"val_accuracy": acc}
