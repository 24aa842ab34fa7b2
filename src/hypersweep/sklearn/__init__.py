"""A scikit-learn search estimator driven by a hypersweep study (``pip install
hypersweep[sklearn]``).

:class:`SearchCV` is used like ``RandomizedSearchCV``: give it an estimator and the
distributions of its parameters; ``fit`` runs ``n_trials`` trials of a
:class:`~hypersweep.Study` (any sampler), each a cross-validation of one configuration,
and refits the best one on all the data. With ``early_stopping`` (any hypersweep
policy), each trial reports its score after every fold (or, with ``max_epochs``, after
every ``partial_fit`` epoch over all folds) and a trial the policy stops fits no more
folds (epochs).

Example:
    >>> import hypersweep as hs
    >>> from hypersweep.sklearn import SearchCV
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> search = SearchCV(LogisticRegression(max_iter=500), {"C": hs.Float(1e-3, 1e2, log=True)},
    ...                   n_trials=8, cv=3, random_state=0).fit(X, y)
    >>> search.best_score_ > 0.9
    True
    >>> len(search.cv_results_["params"])
    8
"""

from __future__ import annotations

import math
import numbers
import os
import time
import uuid
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state, indexable
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from hypersweep.sklearn._cv import (
    Evaluation,
    as_space,
    check_error_score,
    cv_results,
    evaluate,
)
from hypersweep.stopping.base import Decision

__all__ = ["SearchCV"]

#: the study's objective: the scorer's value (greater is better, as in scikit-learn)
METRIC = "score"


def _estimator_has(attr: str) -> Callable[[Any], bool]:
    """For ``available_if``: the fitted best estimator has ``attr`` (before fit: the
    unfitted estimator has it)."""

    def check(self: Any) -> bool:
        if hasattr(self, "best_estimator_"):
            getattr(self.best_estimator_, attr)
        else:
            getattr(self.estimator, attr)
        return True

    return check


class SearchCV(MetaEstimatorMixin, BaseEstimator):
    """Hyperparameter search with cross-validation, run as a hypersweep study.

    Args:
        estimator: a scikit-learn estimator (cloned for every fit).
        param_distributions: a dict of parameter name -> a hypersweep parameter
            (``hs.Float(1e-3, 1, log=True)``), a sweep-file form
            (``"loguniform(1e-3, 1)"``), a list (a choice) or a frozen ``scipy.stats``
            ``uniform`` / ``loguniform`` / ``randint``; or a :class:`~hypersweep.Space`.
        n_trials: configurations to evaluate in this ``fit``.
        sampler: any hypersweep sampler (an instance, a name such as ``"tpe"``, or a
            ``{name: ..., ...}`` mapping); ``None``: the study's default (``auto``).
        scoring: a scorer name, a callable ``scorer(estimator, X, y)`` or ``None`` (the
            estimator's ``score``); greater is better.
        cv: folds, as for scikit-learn (an int, a splitter or an iterable of splits);
            ``None``: 5 (stratified for classifiers).
        n_jobs: folds fitted at once (joblib; ``-1``: one per core); ``None`` or 1: one
            after another. Trials run one after another, and the stopping policy is
            asked after each fold in order, so with ``n_jobs=k`` a stopped trial has
            fitted at most ``k - 1`` folds more than it needed.
        refit: ``True``: refit the best configuration on all of ``X`` (``best_estimator_``,
            ``predict`` and friends); ``False``: do not; a callable ``refit(cv_results_)``
            returning the index of the configuration to refit.
        early_stopping: a hypersweep stopping policy (``"median"``,
            ``{"policy": "threshold", "threshold": 0.5}``, a
            :class:`~hypersweep.Policy`) judging each trial after every fold (every
            epoch with ``max_epochs``); ``None``: every trial runs every fold.
        max_epochs: train with ``partial_fit`` for this many epochs (one pass over each
            fold's training rows per epoch) instead of ``fit``; the estimator must have
            ``partial_fit``. ``None``: use ``fit``.
        random_state: the study seed (an int, a ``RandomState`` or ``None``: random).
        timeout: seconds; no new trial starts after this (the running one finishes;
            the first trial always runs).
        storage: a hypersweep storage URL (``sqlite:///sweeps.db``) to keep the study;
            ``None``: in memory.
        study_name: the study name in ``storage`` (re-using one resumes it: the sampler
            sees its earlier trials, ``cv_results_`` lists this fit's); ``None``: a fresh
            unique name.
        error_score: the score of a fold whose fit fails (``"raise"`` re-raises).

    Attributes:
        cv_results_: one row per trial of this fit, in scikit-learn's layout
            (``mean_test_score``, ``std_test_score``, ``rank_test_score``, ``params``,
            ``param_<name>``, ``split<k>_test_score``, ``mean_fit_time`` ...), plus
            ``state`` (``COMPLETED``, ``STOPPED`` by the policy, ``FAILED``),
            ``trial_number`` and, with ``max_epochs``, ``n_epochs``. A stopped trial's
            unfitted folds hold NaN and its mean is over the folds it fitted; every
            completed trial ranks before every stopped one.
        best_index_, best_params_, best_score_: the rank-1 row (a completed trial).
        best_estimator_: the refitted estimator (with ``refit``).
        n_splits_, refit_time_, scorer_, multimetric_ (False), study_: the
            :class:`~hypersweep.Study` (not pickled: it may hold a live database
            connection), classes_ and n_features_in_ (from ``best_estimator_``).
    """

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_trials: int = 10,
        sampler: Any = None,
        scoring: Any = None,
        cv: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        early_stopping: Any = None,
        max_epochs: int | None = None,
        random_state: Any = None,
        timeout: float | None = None,
        storage: str | None = None,
        study_name: str | None = None,
        error_score: Any = np.nan,
    ) -> None:
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.n_trials = n_trials
        self.sampler = sampler
        self.scoring = scoring
        self.cv = cv
        self.n_jobs = n_jobs
        self.refit = refit
        self.early_stopping = early_stopping
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.timeout = timeout
        self.storage = storage
        self.study_name = study_name
        self.error_score = error_score

    # -- scikit-learn metadata ----------------------------------------------------------
    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import get_tags

        tags = super().__sklearn_tags__()
        sub = get_tags(self.estimator)
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = deepcopy(sub.classifier_tags)
        tags.regressor_tags = deepcopy(sub.regressor_tags)
        tags.input_tags.sparse = sub.input_tags.sparse
        tags.input_tags.allow_nan = sub.input_tags.allow_nan
        tags.target_tags = deepcopy(sub.target_tags)
        return tags

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("study_", None)  # a Study holds a storage (locks, connections)
        return state

    # -- checks -------------------------------------------------------------------------
    def _check_args(self) -> None:
        n = self.n_trials
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n_trials: must be an integer >= 1, got {n!r}")
        j = self.n_jobs
        if j is not None and (
            isinstance(j, bool) or not isinstance(j, numbers.Integral) or j == 0
        ):
            raise ValueError(f"n_jobs: must be a non-zero integer or None, got {j!r}")
        e = self.max_epochs
        if e is not None:
            if isinstance(e, bool) or not isinstance(e, numbers.Integral) or e < 1:
                raise ValueError(f"max_epochs: must be an integer >= 1 or None, got {e!r}")
            if not hasattr(self.estimator, "partial_fit"):
                raise ValueError(
                    f"max_epochs: {type(self.estimator).__name__} has no partial_fit; "
                    "use max_epochs=None (each fold is fitted with fit)"
                )
        t = self.timeout
        if t is not None and (isinstance(t, bool) or not isinstance(t, numbers.Real) or not t > 0):
            raise ValueError(f"timeout: must be a number of seconds > 0 or None, got {t!r}")
        if not (isinstance(self.refit, bool) or callable(self.refit)):
            raise ValueError(
                f"refit: must be True, False or a callable(cv_results_) -> index, "
                f"got {self.refit!r}"
            )

    def _seed(self) -> int:
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs) % (2**32)
        return int(check_random_state(rs).randint(0, 2**31 - 1))

    def _make_study(self) -> Any:
        from hypersweep.study import Study

        name = self.study_name or f"searchcv-{uuid.uuid4().hex[:12]}"
        return Study(
            name,
            space=as_space(self.param_distributions),
            objective={"metric": METRIC, "goal": "maximize"},
            sampler=self.sampler,
            policy=deepcopy(self.early_stopping),
            storage=self.storage if self.storage is not None else "memory",
            seed=self._seed(),
        )

    # -- fit ----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> SearchCV:
        """Run ``n_trials`` cross-validated trials, then refit the best (see the class).

        ``fit_params`` go to every ``fit`` (``partial_fit``); per-sample arrays (such as
        ``sample_weight``) are split with the folds.
        """
        self._check_args()
        error_score = check_error_score(self.error_score)
        X, y = indexable(X, y)
        classifier = is_classifier(self.estimator)
        cv = check_cv(self.cv, y, classifier=classifier)
        splits = list(cv.split(X, y, fit_params.get("groups")))
        fit_params = {k: v for k, v in fit_params.items() if k != "groups"}
        scorer = check_scoring(self.estimator, scoring=self.scoring)
        classes = np.unique(y) if classifier and self.max_epochs is not None else None
        study = self._make_study()
        n_jobs = 1 if self.n_jobs is None else int(self.n_jobs)
        if n_jobs < 0:
            n_jobs = max(1, (os.cpu_count() or 1) + 1 + n_jobs)
        evals: list[Evaluation] = []
        numbers_: list[int] = []
        began = time.monotonic()
        for i in range(int(self.n_trials)):
            if i and self.timeout is not None and time.monotonic() - began >= self.timeout:
                break
            trial = study.ask()

            def report(step: int, value: float, _t: Any = trial) -> bool:
                return study.report(_t, step=step, **{METRIC: value}) == Decision.STOP

            try:
                ev = evaluate(
                    self.estimator,
                    dict(trial.params),
                    X,
                    y,
                    splits,
                    scorer,
                    fit_params,
                    report,
                    error_score,
                    self.max_epochs,
                    classes,
                    n_jobs,
                )
            except BaseException as e:
                study.tell(trial, error=f"{type(e).__name__}: {e}")
                raise
            value = float(np.mean(ev.scores)) if ev.scores else math.nan
            if ev.state == "STOPPED":
                study.tell(trial, value, state="STOPPED")
            elif math.isnan(value):
                ev.state = "FAILED"
                study.tell(trial, error=ev.error or "the score is NaN")
            else:
                study.tell(trial, value)
            evals.append(ev)
            numbers_.append(trial.number)
        self.study_ = study
        if evals and all(e.state == "FAILED" for e in evals):
            first = evals[0].exception
            if first is not None and all(
                type(e.exception) is type(first) for e in evals
            ):  # one cause failed every fit (bad data, a bad estimator): raise it as it is
                raise first
            raise ValueError(
                f"SearchCV: all {len(evals)} trials failed; the first error: {evals[0].error}"
            )
        results = cv_results(evals, numbers_)
        self.cv_results_ = results
        self.n_splits_ = len(splits)
        self.scorer_ = scorer
        self.multimetric_ = False
        if callable(self.refit):
            index = int(self.refit(results))
            if not 0 <= index < len(evals):
                raise IndexError(f"refit: the callable returned {index}, not a row index")
        else:
            index = int(np.argmin(results["rank_test_score"]))
        self.best_index_ = index
        self.best_params_ = dict(results["params"][index])
        self.best_score_ = float(results["mean_test_score"][index])
        if self.refit is not False:
            est = clone(self.estimator).set_params(**self.best_params_)
            t0 = time.perf_counter()
            if self.max_epochs is None:
                est.fit(X, y, **fit_params)
            else:
                for _ in range(int(evals[index].epochs or self.max_epochs)):
                    fp = dict(fit_params)
                    if classes is not None:
                        fp.setdefault("classes", classes)
                    est.partial_fit(X, y, **fp)
            self.refit_time_ = time.perf_counter() - t0
            self.best_estimator_ = est
        return self

    # -- delegation to the refitted estimator -------------------------------------------
    def _fitted(self, method: str) -> Any:
        check_is_fitted(self)
        if self.refit is False:
            raise AttributeError(
                f"SearchCV: {method} needs refit=True (the search was run with refit=False)"
            )
        return self.best_estimator_

    @property
    def classes_(self) -> Any:
        return self._fitted("classes_").classes_

    @property
    def n_features_in_(self) -> int:
        try:
            check_is_fitted(self)
        except Exception:
            raise AttributeError("n_features_in_: SearchCV is not fitted") from None
        return int(self._fitted("n_features_in_").n_features_in_)

    @property
    def feature_names_in_(self) -> Any:
        return self._fitted("feature_names_in_").feature_names_in_

    def score(self, X: Any, y: Any = None, **params: Any) -> float:
        """``scorer_`` on the refitted estimator (the same scoring as the search)."""
        return float(self.scorer_(self._fitted("score"), X, y, **params))

    @available_if(_estimator_has("predict"))
    def predict(self, X: Any) -> Any:
        return self._fitted("predict").predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X: Any) -> Any:
        return self._fitted("predict_proba").predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X: Any) -> Any:
        return self._fitted("predict_log_proba").predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X: Any) -> Any:
        return self._fitted("decision_function").decision_function(X)

    @available_if(_estimator_has("transform"))
    def transform(self, X: Any) -> Any:
        return self._fitted("transform").transform(X)

    @available_if(_estimator_has("inverse_transform"))
    def inverse_transform(self, X: Any) -> Any:
        return self._fitted("inverse_transform").inverse_transform(X)

    @available_if(_estimator_has("score_samples"))
    def score_samples(self, X: Any) -> Any:
        return self._fitted("score_samples").score_samples(X)
