"""The trial record and its states.

A :class:`Trial` is an immutable snapshot of one trial as the storage holds it. Storage
backends return new snapshots after every change; nobody mutates one in place.

Lifecycle::

    QUEUED --claim--> RUNNING --tell--> COMPLETED | STOPPED | FAILED
               ask() ---^   |
      ^---- requeue --------+   (a retry: attempt + 1, same number and params)

* ``COMPLETED``: the trial ran to its end and produced its value(s).
* ``STOPPED``: ended early on purpose (early stopping, ``max_steps``, a budget rung); it
  keeps its last reported value(s) and is never counted as a failure.
* ``FAILED``: crashed, timed out, produced a non-finite or missing value, or its worker was
  lost; ``error`` says why.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from hypersweep._validate import did_you_mean

__all__ = ["Objective", "Trial", "TrialState"]


class TrialState(str, enum.Enum):
    """The state of a trial. ``is_finished`` is true for the three end states."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    # Optuna's names, aliases of the same states (``TrialState.PRUNED is STOPPED``)
    COMPLETE = "COMPLETED"
    PRUNED = "STOPPED"
    FAIL = "FAILED"

    @property
    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETED, TrialState.STOPPED, TrialState.FAILED)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Objective:
    """One metric to optimize.

    Args:
        metric: the metric name the trial reports (``"accuracy"``).
        goal: ``"minimize"`` or ``"maximize"``.

    Example:
        >>> Objective("accuracy", goal="maximize").sign
        -1.0
    """

    metric: str
    goal: str = "minimize"

    def __post_init__(self) -> None:
        from hypersweep.errors import SpecError

        if not isinstance(self.metric, str) or not self.metric:
            raise SpecError(f"objective.metric: must be a non-empty string, got {self.metric!r}")
        if not self.metric.isprintable() or len(self.metric) > 200:
            raise SpecError(
                f"objective.metric: must be printable text of at most 200 "
                f"characters, got {self.metric!r:.80}"
            )
        goal = str(self.goal).lower()
        aliases = {"min": "minimize", "max": "maximize"}
        goal = aliases.get(goal, goal)
        if goal not in ("minimize", "maximize"):
            raise SpecError(f"objective.goal: must be 'minimize' or 'maximize', got {self.goal!r}")
        object.__setattr__(self, "goal", goal)

    @property
    def sign(self) -> float:
        """+1 for minimize, -1 for maximize: ``sign * value`` is always 'lower is better'."""
        return 1.0 if self.goal == "minimize" else -1.0

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b``."""
        return self.sign * a < self.sign * b

    def to_dict(self) -> dict[str, str]:
        return {"metric": self.metric, "goal": self.goal}


@dataclass(frozen=True)
class Trial:
    """One evaluation of one configuration (an immutable snapshot).

    Attributes:
        number: 0-based, unique within the study, in creation order.
        state: see :class:`TrialState`.
        params: the configuration: active parameters only, plain Python values.
        values: the final objective values (objective order), or ``None``.
        metrics: every final metric the trial returned (objective metrics included).
        reports: intermediate reports, ``{step: {metric: value}}``.
        started_at, finished_at, heartbeat_at: UNIX times, or ``None``.
        worker_id: who ran it (``host:pid:token``).
        error: why it failed (a traceback, "timeout", "worker lost", ...), or ``None``.
        user_attrs: free-form JSON-serializable attributes set by the user.
        system_attrs: attributes that hypersweep components keep (bracket, lineage, ...;
            ``"attempts"``: one record per earlier attempt that was retried, with its
            ``error``, ``worker_id``, ``started_at`` and ``ended_at``).
        id: the storage's key for this trial.
        attempt: which attempt this is (1 for the first run; a trial lost to a dead
            worker, a hard stop or a killed process is re-queued as attempt 2, ... up to
            ``limits.retries`` times). A retried attempt is the same trial.
        budget: the resource (steps) this trial may use, fixed when it was created (a PBT
            segment's end step), or ``None``: the runner then asks the stopping policy
            (ASHA's ``max_resource``) and ``limits.max_steps``. An integral budget reads
            as an ``int``.
        resume_from: the number of the trial whose checkpoint this one starts from (a
            PBT segment that continues a member), or ``None`` for a fresh start.
        seed: the trial's seed (``{seed}``, ``HYPERSWEEP_SEED``, ``hypersweep.seed()``),
            set on the trials :meth:`Study.ask <hypersweep.Study.ask>` hands out; a
            snapshot read back from storage has ``None``: ``study.trial_seed(trial)``
            derives it (:func:`hypersweep._sequence.trial_seed`).
    """

    number: int
    state: TrialState
    params: dict[str, Any]
    values: tuple[float, ...] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    reports: dict[int, dict[str, float]] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat_at: float | None = None
    worker_id: str | None = None
    error: str | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    id: int = -1
    attempt: int = 1
    budget: float | None = None
    resume_from: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        b = self.budget
        if type(b) is float and b.is_integer():  # one type whatever the storage
            object.__setattr__(self, "budget", int(b))

    @property
    def value(self) -> float | None:
        """The single objective value (``None`` if not finished with a value)."""
        if self.values is None:
            return None
        if len(self.values) != 1:
            raise ValueError(
                f"trial {self.number} has {len(self.values)} objective values; use .values"
            )
        return self.values[0]

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, or ``None``."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def last_step(self) -> int | None:
        """The highest reported step, or ``None``."""
        return max(self.reports) if self.reports else None

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Trial:
        """A snapshot from a dict that holds every field (a storage row), without the
        frozen dataclass's ``__init__``, which sets each field through
        ``object.__setattr__`` (a sync reads thousands of rows)."""
        if fields.keys() != _FIELDS:
            return cls(**fields)  # raises the TypeError that names the field
        new = object.__new__(cls)
        new.__dict__.update(fields)
        if fields["budget"] is not None:
            new.__post_init__()
        return new

    def with_(self, **changes: Any) -> Trial:
        """A copy with some fields replaced (snapshots are immutable)."""
        if not _FIELDS.issuperset(changes):
            return replace(self, **changes)  # raises the TypeError that names the field
        # a copy of the instance dict: ``dataclasses.replace`` re-runs ``__init__`` and
        # costs ~10x more, and a report makes a snapshot or two
        new = object.__new__(Trial)
        d = new.__dict__
        d.update(self.__dict__)
        d.update(changes)
        if "budget" in changes:
            new.__post_init__()
        return new


_FIELDS = frozenset(f.name for f in fields(Trial))


def coerce_values(
    result: Any, objectives: Sequence[Objective]
) -> tuple[tuple[float, ...], dict[str, Any]]:
    """Turn what an objective function returned into (objective values, metrics).

    ``result`` is a number (single objective), a sequence of numbers (one per objective) or
    a mapping of metric -> number that holds every objective metric.

    Raises:
        ValueError: with a one-line reason (missing metric, not a number, NaN or infinite).
    """
    names = [o.metric for o in objectives]
    if isinstance(result, Mapping):
        metrics = dict(result)
        missing = [n for n in names if n not in metrics]
        if missing:
            got = ", ".join(sorted(map(str, metrics))) or "nothing"
            hint = did_you_mean(missing[0], map(str, metrics), cutoff=0.5)
            raise ValueError(f"metric {missing[0]!r} was not reported (got: {got}){hint}")
        raw = [metrics[n] for n in names]
    elif isinstance(result, (list, tuple)):
        if len(result) != len(names):
            raise ValueError(
                f"expected {len(names)} objective value(s) ({', '.join(names)}), got {len(result)}"
            )
        raw = list(result)
        metrics = dict(zip(names, raw))
    else:
        if len(names) != 1:
            raise ValueError(
                f"expected {len(names)} objective values ({', '.join(names)}), got one number"
            )
        raw = [result]
        metrics = {names[0]: result}
    values = []
    for n, v in zip(names, raw):
        values.append(_finite(n, v))
    clean: dict[str, Any] = {}
    for k, v in metrics.items():
        try:
            clean[str(k)] = _finite(str(k), v)
        except ValueError:
            if str(k) in names:
                raise
            clean[str(k)] = v if isinstance(v, (str, bool)) or v is None else repr(v)
    return tuple(values), clean


def _finite(name: str, v: Any) -> float:
    if hasattr(v, "item") and callable(v.item):  # numpy / torch scalars
        try:
            v = v.item()
        except (ValueError, TypeError):
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"metric {name!r} is not a number: {v!r}")
    try:
        f = float(v)
    except OverflowError:  # an int beyond 1.8e308
        raise ValueError(
            f"metric {name!r} is an integer too large for a float (about "
            f"{int(int(v).bit_length() * 0.30103) + 1} digits)"
        ) from None
    if not math.isfinite(f):
        raise ValueError(f"metric {name!r} is {f!r}")
    return f
