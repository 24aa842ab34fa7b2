"""The parts of :class:`hypersweep.sklearn.SearchCV` below the estimator API: turning
scikit-learn style distributions into a hypersweep space, evaluating one configuration
fold by fold (or epoch by epoch with ``partial_fit``) while the stopping policy watches,
and laying the results out as scikit-learn's ``cv_results_``.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.utils import _safe_indexing

from hypersweep.errors import HypersweepError
from hypersweep.space import Float, Int, Param, Space, parse_param

__all__ = ["Evaluation", "as_space", "cv_results", "evaluate", "split_fit_params"]

#: scipy.stats distribution names -> how they become a hypersweep parameter
_SCIPY_FLOAT = {"uniform": False, "loguniform": True, "reciprocal": True}


def _from_scipy(name: str, dist: Any) -> Param:
    """A frozen scipy.stats distribution (``uniform``, ``loguniform``, ``randint``)."""
    kind = getattr(getattr(dist, "dist", None), "name", None)
    args = tuple(getattr(dist, "args", ()))
    kwds = dict(getattr(dist, "kwds", {}))
    if kind in ("uniform",):
        loc = float(kwds.get("loc", args[0] if args else 0.0))
        scale = float(kwds.get("scale", args[1] if len(args) > 1 else 1.0))
        return Float(loc, loc + scale)
    if kind in ("loguniform", "reciprocal"):
        a = float(kwds.get("a", args[0] if args else math.nan))
        b = float(kwds.get("b", args[1] if len(args) > 1 else math.nan))
        if float(kwds.get("loc", 0.0)) != 0.0 or float(kwds.get("scale", 1.0)) != 1.0:
            raise HypersweepError(
                f"param_distributions.{name}: loguniform with loc/scale is not supported; "
                "use hypersweep.Float(low, high, log=True)"
            )
        return Float(a, b, log=True)
    if kind == "randint":
        low = int(kwds.get("low", args[0] if args else 0))
        high = int(kwds.get("high", args[1] if len(args) > 1 else low + 1))
        return Int(low, high - 1)  # scipy's randint excludes high; Int includes it
    raise HypersweepError(
        f"param_distributions.{name}: scipy.stats.{kind} has no hypersweep equivalent; "
        "use uniform, loguniform or randint, or a hypersweep parameter (hs.Float, hs.Int, "
        "hs.Choice)"
    )


def as_space(param_distributions: Any) -> Space:
    """``param_distributions`` as a :class:`Space`.

    Accepts a :class:`Space`, or a mapping of names to hypersweep parameters, sweep-file
    forms (``"loguniform(1e-3, 1)"``), lists (a choice, as in ``RandomizedSearchCV``) or
    frozen ``scipy.stats`` ``uniform`` / ``loguniform`` / ``randint`` distributions.

    Example:
        >>> from scipy.stats import loguniform
        >>> s = as_space({"C": loguniform(1e-2, 1e2), "kernel": ["rbf", "linear"]})
        >>> sorted(s.names)
        ['C', 'kernel']
    """
    if isinstance(param_distributions, Space):
        return param_distributions
    if not isinstance(param_distributions, Mapping) or not param_distributions:
        raise HypersweepError(
            "param_distributions: expected a non-empty dict of parameter name -> "
            f"distribution, got {param_distributions!r}"
        )
    params: dict[str, Param] = {}
    for name, value in param_distributions.items():
        path = f"param_distributions.{name}"
        if hasattr(value, "rvs") and hasattr(value, "dist"):
            params[name] = _from_scipy(str(name), value)
        elif isinstance(value, tuple):
            params[name] = parse_param(list(value), path)
        else:
            params[name] = parse_param(value, path)
    return Space(params)


def split_fit_params(
    fit_params: Mapping[str, Any], n_samples: int, idx: np.ndarray
) -> dict[str, Any]:
    """The fit parameters for the rows ``idx``: per-sample arrays are indexed, the rest
    passed as they are."""
    out: dict[str, Any] = {}
    for k, v in fit_params.items():
        if hasattr(v, "__len__") and not isinstance(v, (str, bytes)) and len(v) == n_samples:
            out[k] = _safe_indexing(v, idx)
        else:
            out[k] = v
    return out


@dataclass
class Evaluation:
    """What one configuration did: per-fold scores and times, and how it ended."""

    params: dict[str, Any]
    n_splits: int
    scores: list[float] = field(default_factory=list)
    fit_times: list[float] = field(default_factory=list)
    score_times: list[float] = field(default_factory=list)
    epochs: int = 0
    state: str = "COMPLETED"
    error: str | None = None
    exception: Exception | None = field(default=None, repr=False)

    def mean(self) -> float:
        vals = [s for s in self.scores if not math.isnan(s)]
        return float(np.mean(vals)) if vals and len(vals) == len(self.scores) else math.nan


def _fit_score(
    model: Any,
    X: Any,
    y: Any,
    train: np.ndarray,
    test: np.ndarray,
    scorer: Callable[..., float],
    fit_params: Mapping[str, Any],
    partial: bool,
    error_score: Any,
) -> tuple[Any, float, float, float, Exception | None]:
    """Fit (one ``partial_fit`` pass of) ``model`` on ``train``, score it on ``test``:
    (model, score, fit seconds, score seconds, the exception or None)."""
    t0 = time.perf_counter()
    try:
        if partial:
            model.partial_fit(_safe_indexing(X, train), _ys(y, train), **fit_params)
        else:
            model.fit(_safe_indexing(X, train), _ys(y, train), **fit_params)
        t1 = time.perf_counter()
        score = float(scorer(model, _safe_indexing(X, test), _ys(y, test)))
    except Exception as e:
        if error_score == "raise":
            raise
        t1 = time.perf_counter()
        return model, float(error_score), t1 - t0, 0.0, e
    return model, score, t1 - t0, time.perf_counter() - t1, None


def _warn(ev: Evaluation, exc: Exception | None, fold: int) -> None:
    if exc is None:
        return
    if ev.exception is None:
        ev.exception = exc
        ev.error = f"{type(exc).__name__}: {exc}"
    warnings.warn(
        f"SearchCV: fit of {ev.params} failed on fold {fold} (its score is the "
        f"error_score): {type(exc).__name__}: {exc}",
        FitFailedWarning,
        stacklevel=4,
    )


def evaluate(
    estimator: Any,
    params: dict[str, Any],
    X: Any,
    y: Any,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    scorer: Callable[..., float],
    fit_params: Mapping[str, Any],
    report: Callable[[int, float], bool],
    error_score: Any,
    max_epochs: int | None = None,
    classes: Any = None,
    n_jobs: int = 1,
) -> Evaluation:
    """Cross-validate ``estimator`` with ``params``.

    Fold mode (``max_epochs`` None): fit the folds, ``n_jobs`` at a time; after each
    fold, in order, ``report(fold, fold score)``; a True answer stops the evaluation
    there (no later fold is fitted). Epoch mode: one estimator per fold, each trained
    one ``partial_fit`` pass per epoch (the folds of an epoch ``n_jobs`` at a time);
    after each epoch ``report(epoch, mean fold score)``.
    """
    ev = Evaluation(dict(params), len(splits))
    n = _num_samples(X)
    pool = Parallel(n_jobs=n_jobs) if n_jobs != 1 else None

    def run(jobs: list[tuple[Any, int]], partial: bool) -> list[Any]:
        calls = []
        for model, k in jobs:
            train, test = splits[k]
            fp = split_fit_params(fit_params, n, train)
            if partial and classes is not None:
                fp.setdefault("classes", classes)
            calls.append((model, X, y, train, test, scorer, fp, partial, error_score))
        if pool is None:
            return [_fit_score(*c) for c in calls]
        return list(pool(delayed(_fit_score)(*c) for c in calls))

    if max_epochs is None:
        batch = max(1, n_jobs if n_jobs > 0 else len(splits))
        for start in range(0, len(splits), batch):
            folds = range(start, min(start + batch, len(splits)))
            jobs = [(clone(estimator).set_params(**params), k) for k in folds]
            for k, (_, score, fit_t, score_t, err) in zip(folds, run(jobs, False)):
                _warn(ev, err, k)
                ev.fit_times.append(fit_t)
                ev.score_times.append(score_t)
                ev.scores.append(score)
                if k < len(splits) - 1 and not math.isnan(score) and report(k, score):
                    ev.state = "STOPPED"
                    return ev
        return ev
    models = [clone(estimator).set_params(**params) for _ in splits]
    ev.scores = [math.nan] * len(splits)
    ev.fit_times = [0.0] * len(splits)
    ev.score_times = [0.0] * len(splits)
    for epoch in range(max_epochs):
        out = run([(m, k) for k, m in enumerate(models)], True)
        for k, (model, score, fit_t, score_t, err) in enumerate(out):
            _warn(ev, err, k)
            models[k] = model
            ev.scores[k] = score
            ev.fit_times[k] += fit_t
            ev.score_times[k] += score_t
        ev.epochs = epoch + 1
        mean = ev.mean()
        if math.isnan(mean):
            break
        if epoch < max_epochs - 1 and report(epoch, mean):
            ev.state = "STOPPED"
            break
    return ev


def _ys(y: Any, idx: np.ndarray) -> Any:
    return None if y is None else _safe_indexing(y, idx)


def _num_samples(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0 and shape[0] is not None:
        return int(shape[0])
    return len(X)


_STATE_ORDER = {"COMPLETED": 0, "STOPPED": 1, "FAILED": 2}


def _rank(evals: Sequence[Evaluation], means: np.ndarray) -> np.ndarray:
    """sklearn's ``rank_test_score`` (1 = best, ties share the lower rank), with every
    completed evaluation ranked before every early-stopped one, and failed (NaN) last."""
    keys = [
        (3, 0.0) if np.isnan(m) else (_STATE_ORDER[e.state], -float(m))
        for e, m in zip(evals, means)
    ]
    return np.array([1 + sum(o < k for o in keys) for k in keys], dtype=np.int32)


def cv_results(evals: Sequence[Evaluation], numbers: Sequence[int]) -> dict[str, Any]:
    """scikit-learn's ``cv_results_`` layout for these evaluations (one row each)."""
    n_splits = max((e.n_splits for e in evals), default=0)

    def grid(attr: str) -> np.ndarray:
        out = np.full((len(evals), n_splits), np.nan)
        for i, e in enumerate(evals):
            vals = getattr(e, attr)
            out[i, : len(vals)] = vals
        return out

    scores, fits, scoring = grid("scores"), grid("fit_times"), grid("score_times")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of failed ones
        means = np.array([np.nanmean(r) if not np.isnan(r).all() else np.nan for r in scores])
        stds = np.array([np.nanstd(r) if not np.isnan(r).all() else np.nan for r in scores])
        out: dict[str, Any] = {
            "mean_fit_time": np.nanmean(fits, axis=1) if n_splits else np.array([]),
            "std_fit_time": np.nanstd(fits, axis=1) if n_splits else np.array([]),
            "mean_score_time": np.nanmean(scoring, axis=1) if n_splits else np.array([]),
            "std_score_time": np.nanstd(scoring, axis=1) if n_splits else np.array([]),
        }
    failed = [e.state == "FAILED" for e in evals]
    means[np.array(failed, dtype=bool)] = np.nan
    names = sorted({k for e in evals for k in e.params})
    for name in names:
        col = np.ma.MaskedArray(
            np.empty(len(evals), dtype=object), mask=[name not in e.params for e in evals]
        )
        for i, e in enumerate(evals):
            if name in e.params:
                col[i] = e.params[name]
        out[f"param_{name}"] = col
    out["params"] = [dict(e.params) for e in evals]
    for k in range(n_splits):
        out[f"split{k}_test_score"] = scores[:, k]
    out["mean_test_score"] = means
    out["std_test_score"] = stds
    out["rank_test_score"] = _rank(evals, means)
    out["state"] = np.array([e.state for e in evals], dtype=object)
    out["trial_number"] = np.array(numbers, dtype=np.int64)
    if any(e.epochs for e in evals):
        out["n_epochs"] = np.array([e.epochs for e in evals], dtype=np.int64)
    return out


def check_error_score(error_score: Any) -> Any:
    if error_score == "raise" or (
        isinstance(error_score, numbers.Number) and not isinstance(error_score, bool)
    ):
        return error_score
    raise HypersweepError(
        f"error_score: must be 'raise' or a number (e.g. numpy.nan), got {error_score!r}"
    )
