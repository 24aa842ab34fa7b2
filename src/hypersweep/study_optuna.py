"""Optuna's study creation on hypersweep: an objective written for Optuna runs with only
its import and its ``create_study`` line changed.

``import hypersweep as optuna`` gives ``optuna.create_study``, ``optuna.TrialPruned``,
``optuna.exceptions.TrialPruned`` and ``TrialState.PRUNED`` / ``COMPLETE`` / ``FAIL``;
``study.optimize(objective, n_trials=..., timeout=..., n_jobs=...)`` takes Optuna's
argument names. See docs/migrating-from-optuna.md for what differs.

Example:
    >>> import hypersweep as optuna
    >>> def objective(trial):
    ...     x = trial.suggest_float("x", -10, 10)
    ...     return (x - 2) ** 2
    >>> study = optuna.create_study(sampler="random", seed=0)
    >>> study.optimize(objective, n_trials=50)
    >>> abs(study.best_params["x"] - 2) < 2
    True
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypersweep.errors import HypersweepError, StudyNotFound
from hypersweep.storage import Storage, open_storage
from hypersweep.study import Study
from hypersweep.trial import Trial, TrialState

__all__ = ["OptunaStudy", "create_study"]

#: Optuna's default pruner (MedianPruner: 5 startup trials, judged at every step)
DEFAULT_PRUNER: dict[str, Any] = {"policy": "median", "min_trials": 5}


class WithConstraints:
    """An objective whose result also carries Optuna-style constraint values
    (``constraints_func(trial) -> [c0, c1, ...]``, feasible when every ``c <= 0``) as the
    metrics ``constraint_0``, ``constraint_1``, ... that the study's constraints bound."""

    def __init__(
        self,
        objective: Callable[[Any], Any],
        constraints_func: Callable[[Any], Sequence[float]],
        metrics: Sequence[str],
    ) -> None:
        self.objective = objective
        self.constraints_func = constraints_func
        self.metrics = list(metrics)

    def __call__(self, trial: Any) -> Any:
        result = self.objective(trial)
        cs = list(self.constraints_func(trial))
        if isinstance(result, Mapping):
            out = dict(result)
        elif isinstance(result, (list, tuple)):
            out = dict(zip(self.metrics, result))
        else:
            out = {self.metrics[0]: result}
        out.update({f"constraint_{i}": c for i, c in enumerate(cs)})
        return out


class OptunaStudy(Study):
    """A :class:`~hypersweep.study.Study` whose ``optimize`` also takes Optuna's argument
    names (made by :func:`create_study`)."""

    constraints_func: Callable[[Any], Sequence[float]] | None = None

    def optimize(  # type: ignore[override]
        self,
        func: Callable[..., Any],
        n_trials: int | None = None,
        timeout: float | None = None,
        n_jobs: int = 1,
        catch: Any = (),
        callbacks: Sequence[Callable[[Any, Trial], Any]] | None = None,
        gc_after_trial: bool = False,
        show_progress_bar: bool = False,
        **kwargs: Any,
    ) -> None:
        """Run ``n_trials`` more trials (Optuna counts the trials of this call), for at
        most ``timeout`` seconds, ``n_jobs`` at a time (``-1``: one per CPU; above 1
        each runs in a worker process, so ``func`` must be importable). ``catch`` and
        ``gc_after_trial`` have no effect: a failing trial is recorded as FAILED and the
        study goes on (until ``max_failures`` same errors in a row)."""
        if n_jobs == -1:
            n_jobs = os.cpu_count() or 1
        max_trials = kwargs.pop("max_trials", None)
        if n_trials is not None:
            max_trials = len(self.trials()) + int(n_trials)
        calls = list(callbacks or ())
        if self.constraints_func is not None:
            func = WithConstraints(
                func, self.constraints_func, [o.metric for o in self.objectives]
            )
            calls.insert(0, _declare_constraints)
        super().optimize(
            func,
            max_trials=max_trials,
            max_concurrent=n_jobs,
            timeout=timeout,
            callbacks=calls,
            **kwargs,
        )

    def get_trials(
        self, deepcopy: bool = True, states: Sequence[TrialState | str] | None = None
    ) -> list[Trial]:
        """Optuna's name for :meth:`trials` (trials are immutable snapshots: ``deepcopy``
        changes nothing)."""
        return self.trials(states)


def _declare_constraints(study: Study, trial: Trial) -> None:
    """Once a trial shows how many constraint values ``constraints_func`` gives, store them
    as the study's constraints (``constraint_i <= 0``; every trial's feasibility re-read)."""
    n = sum(1 for k in trial.metrics if k.startswith("constraint_"))
    if n and len(study.constraints) != n:
        study.set_constraints([{"metric": f"constraint_{i}", "max": 0.0} for i in range(n)])


def create_study(
    *,
    storage: Storage | str | None = None,
    sampler: Any = None,
    pruner: Any = DEFAULT_PRUNER,
    study_name: str | None = None,
    direction: str | None = None,
    load_if_exists: bool = False,
    directions: Sequence[str] | None = None,
    constraints_func: Callable[[Any], Sequence[float]] | None = None,
    seed: int | None = None,
) -> OptunaStudy:
    """A define-by-run study, as Optuna's ``create_study`` makes one.

    Args:
        storage: a storage URL or instance; default: in memory (as in Optuna).
        sampler: a hypersweep sampler, registry name or config (``"tpe"``,
            ``{"name": "tpe", "seed": 0}``); default: hypersweep's ``auto``.
        pruner: an early-stopping policy (name, config or instance), ``None`` for none;
            default: median, after 5 trials (Optuna's MedianPruner).
        study_name: default: ``no-name-<uuid>``.
        direction: ``"minimize"`` (default) or ``"maximize"``; ``directions`` for
            several objectives (their metrics are ``value_0``, ``value_1``, ...).
        load_if_exists: resume a study of that name; otherwise an existing one is an error.
        constraints_func: Optuna's ``constraints_func(trial) -> [c, ...]`` (feasible
            when every ``c <= 0``): stored as the study's constraints on the metrics
            ``constraint_0``, ... (see :mod:`hypersweep.constraints`).
        seed: the study seed.
    """
    for arg in (sampler, pruner):
        if type(arg).__module__.split(".")[0] == "optuna":
            raise HypersweepError(
                f"create_study: {type(arg).__name__} is an Optuna object; pass a hypersweep "
                "sampler or policy (a name such as 'tpe' or 'median', or a config)"
            )
    if direction is not None and directions is not None:
        raise HypersweepError("create_study: give direction or directions, not both")
    goals = list(directions) if directions is not None else [direction or "minimize"]
    if len(goals) == 1:
        objective: Any = {"metric": "value", "goal": goals[0]}
    else:
        objective = [{"metric": f"value_{i}", "goal": g} for i, g in enumerate(goals)]
    name = study_name or f"no-name-{uuid.uuid4()}"
    store = open_storage("memory" if storage is None else storage)
    if not load_if_exists:
        try:
            store.get_study(name)
        except StudyNotFound:
            pass
        else:
            raise HypersweepError(
                f"create_study: study {name!r} already exists in {store.url}; pass "
                "load_if_exists=True to resume it"
            )
    study = OptunaStudy(
        name, objective=objective, sampler=sampler, policy=pruner, storage=store, seed=seed
    )
    study.constraints_func = constraints_func
    return study
