"""A trial's cost as a metric: when an objective or a constraint of the study names
``duration``, the trial's seconds from start to finish are added to its final metrics as
``duration`` when it finishes, so the cost can be an objective
(``objective: [{metric: val_loss}, {metric: duration}]``) or a constraint
(``constraints: [{metric: duration, max: 600}]``) without code. A ``duration`` the trial
reports itself wins. (Every trial's duration is in ``status``, ``export`` and
:attr:`Trial.duration <hypersweep.trial.Trial.duration>` anyway.)

Example:
    >>> from hypersweep.trial import Objective, Trial
    >>> with_duration(0.5, (Objective("loss"),), 12.0, ["duration"])
    {'loss': 0.5, 'duration': 12.0}
    >>> with_duration([0.5], (Objective("loss"), Objective("duration")), 3.0)
    {'loss': 0.5, 'duration': 3.0}
    >>> with_duration(0.5, (Objective("loss"),), 12.0)  # nothing asks for it
    0.5
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from hypersweep.trial import Objective, Trial

__all__ = ["DURATION", "trial_seconds", "with_cost", "with_duration"]

#: the metric name of a trial's duration in seconds
DURATION = "duration"


def with_duration(
    values: Any,
    objectives: Sequence[Objective],
    seconds: float | None,
    constraint_metrics: Sequence[str] = (),
) -> Any:
    """``values`` (what a trial returned: a number, one per objective, or a mapping of
    metrics) as a mapping with ``duration`` added, when an objective or one of
    ``constraint_metrics`` is ``duration``; else, when ``seconds`` is ``None`` or the
    shape does not fit the objectives (the usual error then follows): unchanged."""
    names = [o.metric for o in objectives]
    wanted = DURATION in names or DURATION in constraint_metrics
    if seconds is None or isinstance(values, bool) or not wanted:
        return values
    if isinstance(values, Mapping):
        return values if DURATION in values else {**values, DURATION: seconds}
    if values is None:
        return {DURATION: seconds} if names == [DURATION] else values
    seq = list(values) if isinstance(values, (list, tuple)) else [values]
    if len(seq) == len(names):
        return {**dict(zip(names, seq)), **({} if DURATION in names else {DURATION: seconds})}
    others = [n for n in names if n != DURATION]
    if DURATION in names and len(seq) == len(others):
        return {**dict(zip(others, seq)), DURATION: seconds}
    return values


class _Costed(Protocol):
    objectives: tuple[Objective, ...]
    constraints: tuple[Any, ...]


def with_cost(
    values: Any, trial: Trial, times: tuple[float | None, float | None], study: _Costed
) -> Any:
    """:func:`with_duration` for ``trial`` of ``study`` finishing now; ``times`` is
    ``(started_at, finished_at)`` as given to ``tell`` (``None``: when it was handed
    out; now)."""
    import time

    started_at, finished_at = times
    began = trial.started_at if started_at is None else started_at
    end = time.time() if finished_at is None else finished_at
    took = None if began is None else end - began
    return with_duration(values, study.objectives, took, [c.metric for c in study.constraints])


def trial_seconds(trials: Iterable[Trial | None], now: float | None = None) -> float:
    """The trial time a study has spent: finished trials' durations plus running trials'
    time so far (until ``now``, default: the current time).

    Example:
        >>> from hypersweep.trial import Trial, TrialState
        >>> done = Trial(0, TrialState.COMPLETED, {}, started_at=10.0, finished_at=14.0)
        >>> busy = Trial(1, TrialState.RUNNING, {}, started_at=20.0)
        >>> trial_seconds([done, busy, None], now=21.5)
        5.5
    """
    import time

    from hypersweep.trial import TrialState

    at = time.time() if now is None else now
    total = 0.0
    for t in trials:
        if t is None or t.started_at is None:
            continue
        end = t.finished_at if t.finished_at is not None else None
        if end is None and t.state == TrialState.RUNNING:
            end = at
        if end is not None:
            total += max(0.0, end - t.started_at)
    return total
