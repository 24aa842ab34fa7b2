"""The LightGBM callback: real boosting, stopped by the study's policy after 3 rounds."""

from __future__ import annotations

import pytest

lgb = pytest.importorskip("lightgbm")

import hypersweep as hs  # noqa: E402
from hypersweep.integrations.lightgbm import HypersweepCallback  # noqa: E402
from tests.integrations.conftest import STOP_AT, only_trial  # noqa: E402


def test_the_policy_stops_boosting(stopping_study, iris_binary):
    X, y, Xv, yv = iris_binary
    study = stopping_study("valid-binary_logloss")
    seen = {}

    def objective(params, trial):
        cb = HypersweepCallback("valid-binary_logloss")
        booster = lgb.train(
            {
                "objective": "binary",
                "learning_rate": params["lr"],
                "num_leaves": 4,
                "min_data_in_leaf": 5,
                "verbose": -1,
                "num_threads": 1,
            },
            lgb.Dataset(X, label=y),
            num_boost_round=50,
            valid_sets=[lgb.Dataset(Xv, label=yv)],
            valid_names=["valid"],
            callbacks=[cb],
        )
        seen["rounds"] = booster.current_iteration()
        seen["stopped"] = cb.stopped
        return float(booster.best_score["valid"]["binary_logloss"])

    study.optimize(objective, max_trials=1)
    t = only_trial(study)
    assert t.state == hs.TrialState.STOPPED
    assert sorted(t.reports) == list(range(STOP_AT + 1))
    assert seen == {"rounds": STOP_AT + 1, "stopped": True}


def test_cv_reports_the_mean_over_folds(stopping_study, iris_binary):
    X, y, _, _ = iris_binary
    study = stopping_study("valid-binary_logloss")

    def objective(params, trial):
        res = lgb.cv(
            {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5},
            lgb.Dataset(X, label=y),
            num_boost_round=30,
            nfold=3,
            callbacks=[HypersweepCallback("valid-binary_logloss")],
        )
        return float(res["valid binary_logloss-mean"][-1])

    study.optimize(objective, max_trials=1)
    t = only_trial(study)
    assert t.state == hs.TrialState.STOPPED and sorted(t.reports) == [0, 1, 2]
