"""SearchCV: the scikit-learn estimator contract, cv_results_, early stopping across folds
and partial_fit epochs, and a small digits comparison with RandomizedSearchCV."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from joblib import parallel_config
from scipy.stats import loguniform, randint, uniform
from sklearn.datasets import load_digits, load_iris
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.model_selection import RandomizedSearchCV
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

import hypersweep as hs
from hypersweep.errors import HypersweepError
from hypersweep.sklearn import SearchCV
from hypersweep.sklearn._cv import as_space


def _iris():
    return load_iris(return_X_y=True)


# -- scikit-learn's own estimator checks --------------------------------------------------
#: checks that do not apply to SearchCV, each with the reason
EXPECTED_FAILED = {}


@parametrize_with_checks(
    [
        SearchCV(
            LogisticRegression(max_iter=200),
            {"C": hs.Float(0.1, 10.0, log=True)},
            n_trials=2,
            cv=2,
            sampler="random",
        ),
        SearchCV(Ridge(), {"alpha": hs.Float(0.1, 10.0, log=True)}, n_trials=2, cv=2),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- the search ---------------------------------------------------------------------------
def test_fit_exposes_sklearn_search_attributes():
    X, y = _iris()
    s = SearchCV(
        LogisticRegression(max_iter=300),
        {"C": hs.Float(1e-3, 1e2, log=True), "fit_intercept": [True, False]},
        n_trials=6,
        cv=3,
        random_state=0,
    ).fit(X, y)
    r = s.cv_results_
    for key in (
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
        "params",
        "param_C",
        "param_fit_intercept",
        "split0_test_score",
        "split2_test_score",
        "mean_fit_time",
        "std_fit_time",
        "mean_score_time",
        "std_score_time",
    ):
        assert len(r[key]) == 6, key
    assert s.n_splits_ == 3
    scores = np.vstack([r[f"split{k}_test_score"] for k in range(3)]).T
    np.testing.assert_allclose(r["mean_test_score"], scores.mean(axis=1))
    assert r["rank_test_score"][s.best_index_] == 1
    assert s.best_score_ == pytest.approx(max(r["mean_test_score"]))
    assert s.best_params_ == r["params"][s.best_index_]
    assert s.best_params_["C"] == s.best_estimator_.C
    assert list(s.classes_) == [0, 1, 2]
    assert s.predict(X).shape == (150,)
    assert s.predict_proba(X).shape == (150, 3)
    assert s.score(X, y) == pytest.approx(s.best_estimator_.score(X, y))
    assert s.refit_time_ >= 0
    assert len(s.study_.trials()) == 6
    assert s.study_.best_trial.number == r["trial_number"][s.best_index_]


def test_the_same_seed_gives_the_same_search():
    X, y = _iris()

    def run():
        return SearchCV(
            LogisticRegression(max_iter=300),
            {"C": hs.Float(1e-3, 1e2, log=True)},
            n_trials=4,
            cv=2,
            sampler="tpe",
            random_state=7,
        ).fit(X, y)

    a, b = run(), run()
    assert a.cv_results_["params"] == b.cv_results_["params"]


def test_early_stopping_across_folds_skips_the_later_folds():
    X, y = _iris()
    # threshold: every accuracy is below 1.01, so "worse": each trial stops after fold 0
    s = SearchCV(
        LogisticRegression(max_iter=300),
        {"C": hs.Float(1e-3, 1e2, log=True)},
        n_trials=4,
        cv=4,
        early_stopping={"policy": "threshold", "threshold": 1.01},
        refit=False,
        random_state=0,
    ).fit(X, y)
    r = s.cv_results_
    assert list(r["state"]) == ["STOPPED"] * 4
    assert not np.isnan(r["split0_test_score"]).any()
    for k in (1, 2, 3):
        assert np.isnan(r[f"split{k}_test_score"]).all()
    np.testing.assert_allclose(r["mean_test_score"], r["split0_test_score"])
    assert [t.state for t in s.study_.trials()] == [hs.TrialState.STOPPED] * 4
    with pytest.raises(AttributeError, match="refit"):
        s.predict(X)


def test_completed_trials_rank_before_stopped_ones():
    X, y = load_digits(return_X_y=True)
    s = SearchCV(
        SVC(),
        {"gamma": hs.Float(1e-5, 1.0, log=True)},
        n_trials=8,
        cv=3,
        early_stopping="median",
        sampler="random",
        random_state=3,
    ).fit(X[:400], y[:400])
    r = s.cv_results_
    states = list(r["state"])
    assert "STOPPED" in states and "COMPLETED" in states
    worst_completed = max(rk for rk, st in zip(r["rank_test_score"], states) if st == "COMPLETED")
    best_stopped = min(rk for rk, st in zip(r["rank_test_score"], states) if st == "STOPPED")
    assert worst_completed < best_stopped
    assert states[s.best_index_] == "COMPLETED"


def test_partial_fit_epochs_are_the_steps_and_the_policy_stops_them():
    X, y = load_digits(return_X_y=True)
    s = SearchCV(
        SGDClassifier(random_state=0),
        {"alpha": hs.Float(1e-6, 10.0, log=True)},
        n_trials=6,
        cv=3,
        max_epochs=6,
        early_stopping={"policy": "threshold", "threshold": 0.875, "delay": 1},
        sampler="random",
        random_state=1,
    ).fit(X, y)
    r = s.cv_results_
    epochs = list(r["n_epochs"])
    assert max(epochs) == 6 and min(epochs) < 6
    for t, n in zip(s.study_.trials(), epochs):
        assert sorted(t.reports) == list(range(min(n, 5)))  # the last epoch is told, not reported
    # the refit runs as many partial_fit epochs as the best trial did
    assert s.best_estimator_.t_ > 1
    with pytest.raises(ValueError, match="partial_fit"):
        SearchCV(SVC(), {"C": hs.Float(1, 2)}, max_epochs=3).fit(X[:60], y[:60])


def test_scipy_distributions_and_lists_become_a_space():
    dists = {"C": loguniform(1e-2, 1e2), "a": uniform(1, 2), "n": randint(2, 5), "k": ["x", "y"]}
    s = as_space(dists).params
    assert s["C"].log and s["C"].low == pytest.approx(1e-2)
    assert (s["a"].low, s["a"].high) == (1.0, 3.0)
    assert (s["n"].low, s["n"].high) == (2, 4)
    assert list(s["k"].options) == ["x", "y"]
    assert as_space({"lr": "loguniform(1e-4, 1e-1)"}).params["lr"].log
    with pytest.raises(HypersweepError, match=r"param_distributions\.z"):
        from scipy.stats import norm

        as_space({"z": norm(0, 1)})


def test_error_score_and_all_failed():
    X, y = _iris()
    with pytest.raises(ValueError, match="'C' parameter"):  # every fit failed the same way
        SearchCV(LogisticRegression(), {"C": hs.Float(-2.0, -1.0)}, n_trials=2, cv=2).fit(X, y)
    with pytest.raises(ValueError, match="C"):
        SearchCV(
            LogisticRegression(),
            {"C": hs.Float(-2.0, -1.0)},
            n_trials=2,
            cv=2,
            error_score="raise",
        ).fit(X, y)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_trials": 0}, "n_trials"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"timeout": -1}, "timeout"),
        ({"refit": "yes"}, "refit"),
        ({"error_score": "x"}, "error_score"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    X, y = _iris()
    with pytest.raises((ValueError, HypersweepError), match=match):
        SearchCV(LogisticRegression(), {"C": hs.Float(0.1, 1)}, **kwargs).fit(X, y)


def test_folds_in_parallel_and_a_kept_study(sqlite_url):
    X, y = _iris()
    kw = dict(
        n_trials=3,
        cv=3,
        n_jobs=2,
        storage=sqlite_url,
        study_name="iris-lr",
        sampler="random",
        random_state=0,
    )
    a = SearchCV(LogisticRegression(max_iter=300), {"C": hs.Float(1e-2, 1e2, log=True)}, **kw)
    with parallel_config(backend="threading"):  # no process start-up in the suite
        a.fit(X, y)
    assert len(a.cv_results_["params"]) == 3
    b = pickle.loads(pickle.dumps(a))  # the study is not pickled; the results are
    assert not hasattr(b, "study_")
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    a.fit(X, y)  # the same study name resumes the study: 3 more trials
    assert list(a.cv_results_["trial_number"]) == [3, 4, 5]
    assert len(hs.Study("iris-lr", storage=sqlite_url).trials()) == 6


def test_refit_callable_and_timeout():
    X, y = _iris()
    s = SearchCV(
        LogisticRegression(max_iter=300),
        {"C": hs.Float(1e-2, 1e2, log=True)},
        n_trials=4,
        cv=2,
        refit=lambda results: 0,
        random_state=0,
    ).fit(X, y)
    assert s.best_index_ == 0 and s.best_params_ == s.cv_results_["params"][0]
    t = SearchCV(
        LogisticRegression(max_iter=300),
        {"C": hs.Float(1e-2, 1e2, log=True)},
        n_trials=1000,
        cv=2,
        timeout=1e-9,
    ).fit(X, y)
    assert len(t.cv_results_["params"]) == 1  # the first trial always runs


# -- the small version of benchmarks/searchcv.py ------------------------------------------
def test_digits_small_budget_matches_randomized_search_with_fewer_fits():
    """SVC on 600 digits, 10 trials, 3 folds: TPE + median stopping scores at least as
    well as RandomizedSearchCV with the same distributions and budget, and fits fewer
    folds (the full run and its wall times: benchmarks/searchcv.py, docs/benchmarks.md;
    no clock here)."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    dists = {"C": loguniform(1e-2, 1e3), "gamma": loguniform(1e-5, 1e0)}
    ours = SearchCV(
        SVC(),
        dists,
        n_trials=10,
        cv=3,
        sampler="tpe",
        early_stopping="median",
        refit=False,
        random_state=0,
    ).fit(X, y)
    theirs = RandomizedSearchCV(SVC(), dists, n_iter=10, cv=3, refit=False, random_state=0)
    theirs.fit(X, y)
    assert ours.best_score_ >= theirs.best_score_
    fitted = sum(
        int(not math.isnan(v)) for k in range(3) for v in ours.cv_results_[f"split{k}_test_score"]
    )
    assert fitted < 10 * 3
