"""Helpers for the callback tests: a study whose threshold policy stops every trial at
step ``STOP_AT`` (a validation loss above 1e-9 is "worse"), and a tiny bundled data set."""

from __future__ import annotations

import numpy as np
import pytest

#: the step at which the policy stops each trial (reports 0 .. STOP_AT)
STOP_AT = 2


@pytest.fixture
def stopping_study():
    import hypersweep as hs

    def make(metric: str, goal: str = "minimize", threshold: float = 1e-9):
        return hs.Study(
            f"cb-{metric}",
            space={"lr": hs.Float(0.01, 0.05)},
            objective=hs.Objective(metric, goal=goal),
            policy={"policy": "threshold", "threshold": threshold, "delay": STOP_AT},
            storage="memory",
            seed=0,
        )

    return make


@pytest.fixture(scope="session")
def iris_binary():
    """150 iris flowers, 4 features, scaled; the label: is it a versicolor (class 1)."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    y = (y == 1).astype(np.float32)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    return X[idx[:110]], y[idx[:110]], X[idx[110:]], y[idx[110:]]


def only_trial(study):
    (t,) = study.trials()
    return t
