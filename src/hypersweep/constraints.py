"""Constraints: metrics with bounds that a trial must meet to count.

A constraint names a metric the trial reports like any other (a key of the returned dict,
an SDK ``report``, a ``name=value`` line on stdout) and a bound: ``max`` (the metric must be
``<= max``), ``min`` (``>= min``) or both. A COMPLETED or STOPPED trial that violates one, or
that never reported the metric, is *infeasible*: it is kept and shown, but the study's best
trials, ``target`` and ``patience`` only consider feasible trials, and the samplers that
model feasibility (tpe, gp, auto) steer away from infeasible regions.

In the sweep file::

    constraints:
      - {metric: gpu_mem_gb, max: 16}
      - {metric: latency_ms, max: 50}
      - {metric: accuracy_min_class, min: 0.6}

and in Python ``Study(..., constraints=[{"metric": "gpu_mem_gb", "max": 16}])`` (or
:class:`Constraint` objects).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypersweep._validate import fail
from hypersweep.errors import SpecError

__all__ = ["Constraint", "constraint_values", "parse_constraints"]

_EXAMPLE = "e.g. constraints: [{metric: gpu_mem_gb, max: 16}]"


@dataclass(frozen=True)
class Constraint:
    """``min <= metric <= max`` (either bound may be omitted, not both).

    Example:
        >>> c = Constraint("latency_ms", max=50)
        >>> c.violation(62.0), c.violation(40.0)
        (12.0, -10.0)
    """

    metric: str
    max: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric.strip():
            raise fail(
                "constraints.metric",
                f"must be a non-empty metric name, got {self.metric!r}; {_EXAMPLE}",
            )
        for key in ("max", "min"):
            v = getattr(self, key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise fail(
                    f"constraints[{self.metric}].{key}", f"must be a finite number, got {v!r}"
                )
            object.__setattr__(self, key, float(v))
        if self.max is None and self.min is None:
            raise fail(
                f"constraints[{self.metric}]",
                f"give max, min or both, e.g. {{metric: {self.metric}, max: 16}}",
            )
        if self.max is not None and self.min is not None and self.min > self.max:
            raise fail(
                f"constraints[{self.metric}]",
                f"min {self.min:g} is above max {self.max:g}; swap them",
            )

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bounds (``> 0``: violated, ``<= 0``: met)."""
        out = -math.inf
        if self.max is not None:
            out = max(out, value - self.max)
        if self.min is not None:
            out = max(out, self.min - value)
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric}
        if self.max is not None:
            out["max"] = self.max
        if self.min is not None:
            out["min"] = self.min
        return out

    def describe(self) -> str:
        if self.max is not None and self.min is not None:
            return f"{self.min:g} <= {self.metric} <= {self.max:g}"
        if self.max is not None:
            return f"{self.metric} <= {self.max:g}"
        return f"{self.metric} >= {self.min:g}"


def parse_constraints(
    value: Any, key: str = "constraints", objectives: Sequence[Any] = ()
) -> tuple[Constraint, ...]:
    """Constraints from a list of ``{metric, max, min}`` mappings or :class:`Constraint`.

    ``None`` or an empty list means no constraints. Every bad value raises
    :class:`~hypersweep.errors.SpecError` with a one-line message naming the key.
    """
    if value is None:
        return ()
    if isinstance(value, (Constraint, Mapping)):
        value = [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise fail(
            f"{key}",
            f"expected a list of {{metric, max, min}}, got {type(value).__name__}; {_EXAMPLE}",
        )
    out: list[Constraint] = []
    for i, item in enumerate(value):
        path = f"{key}[{i}]"
        if isinstance(item, Constraint):
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            raise fail(path, f"expected {{metric: NAME, max: NUMBER}}, got {item!r}")
        extra = sorted(str(k) for k in item if k not in ("metric", "max", "min"))
        if extra:
            raise fail(f"{path}.{extra[0]}", "unknown key", fix="use metric, max and min")
        if "metric" not in item:
            raise fail(f"{path}.metric", "missing", fix=_EXAMPLE)
        try:
            out.append(Constraint(item["metric"], max=item.get("max"), min=item.get("min")))
        except SpecError as e:  # re-key the path with the list position
            sub = e.path
            for prefix in (f"constraints[{item['metric']}]", "constraints"):
                if sub.startswith(prefix):
                    sub = path + sub[len(prefix) :]
                    break
            raise fail(sub or path, e.detail) from None
    names = [c.metric for c in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise fail(key, f"metric {dup!r} is listed twice", fix="give min and max in one entry")
    clash = sorted(set(names) & {getattr(o, "metric", o) for o in objectives})
    if clash:
        raise fail(key, f"metric {clash[0]!r} is an objective", fix="constrain another metric")
    return tuple(out)


def metric_value(trial: Any, metric: str) -> float | None:
    """The trial's final value of ``metric``: its returned metrics, else its last report."""
    v = trial.metrics.get(metric) if trial.metrics else None
    if v is None and trial.reports:
        for _, r in sorted(trial.reports.items(), reverse=True):
            if metric in r:
                v = r[metric]
                break
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def constraint_values(trial: Any, constraints: Sequence[Constraint]) -> list[float]:
    """Violation of each constraint by ``trial`` (``NaN`` where the metric is missing)."""
    out = []
    for c in constraints:
        v = metric_value(trial, c.metric)
        out.append(math.nan if v is None else c.violation(v))
    return out
