"""The XGBoost callback: a real booster, stopped by the study's policy after 3 rounds,
in a function trial and in a command trial (the SDK's file protocol)."""

from __future__ import annotations

import json

import pytest

xgb = pytest.importorskip("xgboost")

import hypersweep as hs  # noqa: E402
from hypersweep.integrations.xgboost import HypersweepCallback  # noqa: E402
from tests.integrations.conftest import STOP_AT, only_trial  # noqa: E402


def _train(params, X, y, Xv, yv, callback, rounds=50):
    dtrain, dvalid = xgb.DMatrix(X, label=y), xgb.DMatrix(Xv, label=yv)
    return xgb.train(
        {"objective": "binary:logistic", "eta": params["lr"], "max_depth": 2, "nthread": 1},
        dtrain,
        num_boost_round=rounds,
        evals=[(dvalid, "valid")],
        callbacks=[callback],
        verbose_eval=False,
    )


def test_the_policy_stops_boosting(stopping_study, iris_binary):
    study = stopping_study("valid-logloss")
    rounds = {}

    def objective(params, trial):
        cb = HypersweepCallback("valid-logloss")
        booster = _train(params, *iris_binary, cb)
        rounds["n"] = booster.num_boosted_rounds()
        rounds["stopped"] = cb.stopped
        return float(booster.eval(xgb.DMatrix(iris_binary[2], label=iris_binary[3])).split(":")[1])

    study.optimize(objective, max_trials=1)
    t = only_trial(study)
    assert t.state == hs.TrialState.STOPPED
    assert sorted(t.reports) == list(range(STOP_AT + 1))
    assert rounds == {"n": STOP_AT + 1, "stopped": True}
    assert all(r["valid-logloss"] > 0 for r in t.reports.values())


def test_a_command_trial_reports_lines_and_stops_on_the_stop_file(
    iris_binary, tmp_path, monkeypatch
):
    metrics, stop = tmp_path / "metrics.jsonl", tmp_path / "stop"
    monkeypatch.setenv("HYPERSWEEP_METRICS_FILE", str(metrics))
    monkeypatch.setenv("HYPERSWEEP_STOP_FILE", str(stop))
    monkeypatch.setattr("hypersweep.sdk._env_step", -1)
    cb = HypersweepCallback("valid-logloss", report_as="loss", extra="all")

    class StopAfter(xgb.callback.TrainingCallback):  # the runner's part: stop after round 3
        def after_iteration(self, model, epoch, evals_log):
            if epoch == 3:
                stop.write_text("")
            return False

    dtrain = xgb.DMatrix(iris_binary[0], label=iris_binary[1])
    dvalid = xgb.DMatrix(iris_binary[2], label=iris_binary[3])
    booster = xgb.train(
        {"objective": "binary:logistic", "nthread": 1, "eval_metric": ["logloss", "error"]},
        dtrain,
        num_boost_round=50,
        evals=[(dvalid, "valid")],
        callbacks=[StopAfter(), cb],
        verbose_eval=False,
    )
    lines = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert [x["step"] for x in lines] == [0, 1, 2, 3]
    assert set(lines[0]) == {"step", "loss", "valid-error"}
    assert booster.num_boosted_rounds() == 4


def test_a_missing_metric_names_the_ones_there(iris_binary):
    with pytest.raises(hs.HypersweepError, match="valid-logloss"):
        _train({"lr": 0.1}, *iris_binary, HypersweepCallback("valid-auc"), rounds=2)
