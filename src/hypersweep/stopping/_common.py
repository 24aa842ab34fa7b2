"""What the curve-based policies share: option checks, the metric they judge, when they
judge (``interval``, ``delay``), and a dense, incrementally refreshed view of every
trial's reports of that metric.

Conventions used by every policy here:

* **Metric and goal.** A policy judges one metric. ``metric=None`` means the study's first
  objective; its goal comes from the objective with that name, or from ``goal`` (required
  when the metric is not an objective, e.g. judging ``val_loss`` while optimizing
  ``accuracy``). The study calls :meth:`CurvePolicy.bind` at construction, so a policy
  that cannot resolve its metric fails there; :meth:`CurvePolicy.decide` resolves it again
  from ``history.objectives`` (cheap), so a policy is never tied to one study.
* **Values are signed** so that lower is better (``sign * value``, as in
  :class:`~hypersweep.history.History`). A reported ``NaN`` counts as the worst
  possible value (``+inf`` signed): a diverged trial is never "better" than another.
* **When a report is judged.** The current step is the trial's highest reported step, and
  it is judged only if that report holds the metric, the step is ``>= delay`` and it is
  the trial's ``interval``-th, ``2 * interval``-th, ... report of the metric. With reports at
  steps ``0, 1, 2, ...`` that is "every ``interval``-th step, from step ``delay`` on".
  (Azure sweep jobs count ``delay_evaluation`` in reports; hypersweep counts it in steps,
  so it means the same whether steps start at 0 or 1 or skip.)
* **Other trials** are every trial of the study except this one, in any state but FAILED,
  unless a policy says otherwise.
"""

from __future__ import annotations

import abc
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hypersweep._validate import check_int, fail
from hypersweep.history import FAILED, History
from hypersweep.stopping.base import Decision, Policy
from hypersweep.trial import Objective, Trial

__all__ = ["CurvePolicy", "Curves", "Report", "plain", "signed"]

_PATH = "early_stopping"
_FAILED = int(FAILED)  # a plain int: numpy probes an IntEnum member's attributes


def plain(x: float) -> float:
    """``x`` as an int when it is one (rungs and budgets read better as ``9`` than ``9.0``)."""
    r = round(x)
    return int(r) if abs(x - r) <= 1e-9 * max(1.0, abs(x)) else x


def signed(values: np.ndarray, sign: float) -> np.ndarray:
    """``sign * values`` with NaN as ``+inf`` (the worst)."""
    y = sign * np.asarray(values, dtype=float)
    y[np.isnan(y)] = np.inf
    return y


class Curves:
    """One metric's reports of every trial as dense ``(trials, steps)`` matrices.

    Rows are trial numbers; columns are the distinct reported steps, sorted. ``values``
    holds signed values (lower is better), ``NaN`` where a trial did not report the metric
    at that step. The queries a policy asks for are answered from derived matrices (running
    sums and counts, forward- and backward-filled values), each built on first use and
    then kept current row by row, so a query costs one column read over the trials.

    :meth:`refresh` does nothing while ``history.version`` is unchanged, else re-reads only
    the trials whose snapshot object changed since the last call (snapshots are
    immutable, so an unchanged object means unchanged content).
    """

    _KINDS = ("mean", "latest", "first")

    def __init__(self, metric: str, sign: float) -> None:
        self.metric = metric
        self.sign = sign
        self.steps = np.empty(0, dtype=np.int64)
        self.n = 0
        self._values = np.full((16, 0), np.nan)
        self._raw = np.full((16, 0), np.nan)  # the values as reported (where _values is set)
        self._last = np.full(16, -1, dtype=np.int64)
        self._seen: list[Trial | None] = []
        self._version = -1
        self._derived: dict[str, tuple[np.ndarray, ...]] = {}

    @property
    def values(self) -> np.ndarray:
        return self._values[: self.n]

    @property
    def last(self) -> np.ndarray:
        """The highest step at which each trial reported the metric (``-1``: never)."""
        return self._last[: self.n]

    # keeping current ------------------------------------------------------------------
    def refresh(self, history: History) -> None:
        trials = history.trials
        n, m = len(trials), len(self._seen)
        if history.version == self._version and n == m:
            return
        self._version = history.version
        if n > self._values.shape[0]:
            self._grow(max(n, 2 * self._values.shape[0]))
        k = min(n, m)
        differs = np.fromiter(
            map(operator.is_not, trials[:k], self._seen[:k]), dtype=bool, count=k
        )
        changed = np.flatnonzero(differs).tolist()
        if n > m:
            changed.extend(range(m, n))
            self._seen.extend([None] * (n - m))
        self.n = max(self.n, n)
        if not changed:
            return
        metric = self.metric
        rows: list[tuple[int, list[int], list[float]]] = []
        new_steps: set[int] = set()
        for i in changed:
            t = trials[i]
            old, self._seen[i] = self._seen[i], t
            if old is not None and t is not None and self._appended(i, old, t):
                continue
            st: list[int] = []
            vs: list[float] = []
            if t is not None:
                for step, r in t.reports.items():
                    if metric in r:
                        st.append(step)
                        vs.append(r[metric])
            rows.append((i, st, vs))
            new_steps.update(st)
        if not rows:
            return
        fresh = np.fromiter(new_steps, dtype=np.int64, count=len(new_steps))
        if self.steps.size:  # usually every step is known already: one sorted lookup
            at = np.minimum(self.steps.searchsorted(fresh), self.steps.size - 1)
            fresh = np.sort(fresh[self.steps[at] != fresh])
        if fresh.size:
            self._add_steps(fresh)
        for i, st, vs in rows:
            self._values[i] = np.nan
            self._raw[i] = np.nan
            if st:
                cols = self.steps.searchsorted(np.asarray(st, dtype=np.int64))
                raw = np.asarray(vs, dtype=float)
                self._raw[i, cols] = raw
                self._values[i, cols] = signed(raw, self.sign)
                self._last[i] = max(st)
            else:
                self._last[i] = -1
        if fresh.size:
            self._derived.clear()  # columns moved: rebuilt on next use
        else:
            idx = np.asarray([r[0] for r in rows], dtype=np.int64)
            for kind, arrays in self._derived.items():
                for dst, src in zip(arrays, _derive(kind, self._values[idx])):
                    dst[idx] = src

    def _appended(self, i: int, old: Trial, t: Trial) -> bool:
        """Bring row ``i`` from snapshot ``old`` to ``t`` in O(1) when ``t`` is ``old``
        with one report added after all of old's reports of the metric (the common case:
        a trial's next step); ``False`` (nothing done) otherwise."""
        reps, prev = t.reports, old.reports
        if t.attempt != old.attempt or len(reps) != len(prev) + 1:
            return False
        step = next(reversed(reps))  # the key added last
        if step <= self._last[i] or not prev.items() <= reps.items():
            return False
        r = reps[step]
        if self.metric not in r:
            return True  # another metric's report: nothing of this one changed
        raw = float(r[self.metric])
        y = math.inf if math.isnan(raw) else self.sign * raw
        col = int(self.steps.searchsorted(step))
        if col == self.steps.size or self.steps[col] != step:
            self._add_steps(np.array([step], dtype=np.int64))
            self._derived.clear()
        else:
            before = self._last[i]
            from_col = 0 if before < 0 else int(self.steps.searchsorted(before)) + 1
            for kind, arrays in self._derived.items():
                if kind == "mean":
                    arrays[0][i, col:] += y
                    arrays[1][i, col:] += 1
                elif kind == "latest":
                    arrays[0][i, col:] = y
                else:  # first: the columns after the previous report now see this one
                    arrays[0][i, from_col : col + 1] = y
        self._raw[i, col] = raw
        self._values[i, col] = y
        self._last[i] = step
        return True

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Trial ``i``'s reports of the metric: ``(steps, raw values, signed values)``."""
        y = self._values[i]
        has = ~np.isnan(y)
        return self.steps[has], self._raw[i][has], y[has]

    def _grow(self, cap: int) -> None:
        def grow(a: np.ndarray, fill: Any) -> np.ndarray:
            b = np.full((cap, *a.shape[1:]), fill, dtype=a.dtype)
            b[: self.n] = a[: self.n]
            return b

        self._values = grow(self._values, np.nan)
        self._raw = grow(self._raw, np.nan)
        self._last = grow(self._last, -1)
        self._derived.clear()

    def _add_steps(self, fresh: np.ndarray) -> None:
        steps = np.union1d(self.steps, fresh)
        cols = np.searchsorted(steps, self.steps)
        for name in ("_values", "_raw"):
            old = getattr(self, name)
            grown = np.full((old.shape[0], steps.size), np.nan)
            grown[:, cols] = old
            setattr(self, name, grown)
        self.steps = steps

    def _get(self, kind: str) -> tuple[np.ndarray, ...]:
        if kind not in self._derived:
            self._derived[kind] = _derive(kind, self._values)
        return self._derived[kind]

    # queries (``rows``: a boolean mask of length ``n``) ---------------------------------
    def running_mean(self, rows: np.ndarray, step: float) -> np.ndarray:
        """Mean of each row's values at steps ``<= step`` (``NaN``: none)."""
        k = int(self.steps.searchsorted(step, side="right"))
        if k == 0:
            return np.full(int(rows.sum()), np.nan)
        total, count = self._get("mean")
        c = count[: self.n][rows, k - 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, total[: self.n][rows, k - 1] / np.maximum(c, 1), np.nan)

    def latest(self, rows: np.ndarray, step: float) -> np.ndarray:
        """Each row's value at its latest reported step ``<= step`` (``NaN``: none)."""
        k = int(self.steps.searchsorted(step, side="right"))
        if k == 0:
            return np.full(int(rows.sum()), np.nan)
        (filled,) = self._get("latest")
        return filled[: self.n][rows, k - 1]

    def first_from(self, rows: np.ndarray, step: float) -> np.ndarray:
        """Each row's value at its first reported step ``>= step`` (``NaN``: none)."""
        k = int(self.steps.searchsorted(step, side="left"))
        if k >= self.steps.size:
            return np.full(int(rows.sum()), np.nan)
        (filled,) = self._get("first")
        return filled[: self.n][rows, k]


def _derive(kind: str, values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise derived matrices of ``values`` (rows x steps, NaN = not reported).

    * ``mean``: cumulative sums and counts of the reported values, left to right;
    * ``latest``: each entry replaced by the nearest reported value at or to its left;
    * ``first``: ... at or to its right.
    """
    has = ~np.isnan(values)
    cols = values.shape[1]
    if kind == "mean":
        return (
            np.cumsum(np.where(has, values, 0.0), axis=1),
            np.cumsum(has, axis=1, dtype=np.int64),
        )
    if kind == "latest":
        idx = np.maximum.accumulate(np.where(has, np.arange(cols), -1), axis=1)
    elif kind == "first":
        idx = np.where(has, np.arange(cols), cols)
        idx = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    padded = np.concatenate([values, np.full((values.shape[0], 1), np.nan)], axis=1)
    return (np.take_along_axis(padded, np.where(idx < 0, cols, idx), axis=1),)


@dataclass(frozen=True)
class Report:
    """The report being judged, and what a policy needs to judge it.

    Attributes:
        number: the trial number.
        step: the step being judged (the trial's highest).
        steps: the steps at which this trial reported the metric, sorted.
        raw: its values there, as reported.
        y: the same, signed (lower is better, NaN as ``+inf``).
        sign: +1 (minimize) or -1 (maximize).
        curves: every trial's reports of the metric (refreshed).
        state: every trial's state code (``History.state``, padded to ``curves.n``).
    """

    number: int
    step: int
    steps: np.ndarray
    raw: np.ndarray
    y: np.ndarray
    sign: float
    curves: Curves
    state: np.ndarray

    def others(self, *, reached: bool = True, exclude_failed: bool = True) -> np.ndarray:
        """Mask of the other trials (optionally only those that reached ``step``)."""
        c = self.curves
        mask = np.ones(c.n, dtype=bool)
        if self.number < c.n:
            mask[self.number] = False
        if reached:
            mask &= c.last >= self.step
        if exclude_failed:
            mask &= self.state != _FAILED
        return mask


class CurvePolicy(Policy, abc.ABC):
    """Base of the policies that judge one metric's learning curves.

    Subclasses implement :meth:`_stop` (``True``: stop the trial) and :meth:`_options`.

    Args:
        metric: the metric to judge; default: the study's first objective.
        goal: ``"minimize"`` or ``"maximize"``; default: the goal of the objective named
            ``metric`` (required when ``metric`` is not an objective).
        interval: judge every ``interval``-th report of the metric.
        delay: judge no report before this step.
    """

    def __init__(
        self,
        *,
        metric: str | None = None,
        goal: str | None = None,
        interval: int = 1,
        delay: int = 0,
    ) -> None:
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise fail(f"{_PATH}.metric", f"must be a non-empty metric name, got {metric!r}")
        if goal is not None:
            goal = Objective(metric or "value", goal).goal  # validates and normalizes
        self.metric = metric
        self.goal = goal
        self.interval = check_int("early_stopping.interval", interval, 1)
        self.delay = check_int("early_stopping.delay", delay, 0)
        self._cache: tuple[History, str, float, Curves] | None = None
        self._target: tuple[Sequence[Objective], tuple[str, float]] | None = None

    # the metric and goal ----------------------------------------------------------------
    def bind(self, objectives: Sequence[Objective]) -> None:
        self.target(objectives)

    def target(self, objectives: Sequence[Objective]) -> tuple[str, float]:
        """``(metric, sign)`` this policy judges, given the study's objectives.

        Raises:
            SpecError: ``metric`` is not an objective and no ``goal`` was given.
        """
        known = self._target
        if known is not None and known[0] is objectives:  # asked on every report
            return known[1]
        out = self._resolve_target(objectives)
        self._target = (objectives, out)
        return out

    def _resolve_target(self, objectives: Sequence[Objective]) -> tuple[str, float]:
        if self.metric is None:
            if not objectives:
                raise fail(f"{_PATH}.metric", "the study has no objective to default to")
            obj = objectives[0]
            return obj.metric, Objective(obj.metric, self.goal or obj.goal).sign
        if self.goal is not None:
            return self.metric, Objective(self.metric, self.goal).sign
        for o in objectives:
            if o.metric == self.metric:
                return o.metric, o.sign
        names = ", ".join(o.metric for o in objectives)
        raise fail(
            f"{_PATH}.goal",
            f"metric {self.metric!r} is not an objective ({names}); give its "
            "goal, e.g. goal: minimize",
        )

    # deciding -------------------------------------------------------------------------
    def curves(self, history: History, metric: str, sign: float) -> Curves:
        """The refreshed curve cache for ``history`` (rebuilt for another history)."""
        c = self._cache
        if c is None or c[0] is not history or c[1] != metric or c[2] != sign:
            c = (history, metric, sign, Curves(metric, sign))
            self._cache = c
        c[3].refresh(history)
        return c[3]

    def decide(self, trial: Trial, history: History) -> Decision:
        metric, sign = self.target(history.objectives)
        step = trial.last_step
        if step is None or metric not in trial.reports[step]:
            return Decision.CONTINUE  # the newest report does not hold the metric
        if step < self.delay:
            return Decision.CONTINUE
        curves = self.curves(history, metric, sign)
        i = trial.number
        if i < len(history.trials) and history.trials[i] is trial:
            steps, raw, y = curves.row(i)  # kept current by the refresh, incrementally
        else:  # a snapshot the history does not hold: read its own reports
            pts = sorted((s, r[metric]) for s, r in trial.reports.items() if metric in r)
            steps = np.fromiter((p[0] for p in pts), dtype=np.int64, count=len(pts))
            raw = np.fromiter((p[1] for p in pts), dtype=float, count=len(pts))
            y = signed(raw, sign)
        if steps.size % self.interval:
            return Decision.CONTINUE
        state = np.full(curves.n, -1, dtype=np.int8)
        state[: min(history.n, curves.n)] = history.state[: curves.n]
        rep = Report(i, step, steps, raw, y, sign, curves, state)
        return Decision.STOP if self._stop(rep) else Decision.CONTINUE

    def due_steps(self, steps: np.ndarray) -> np.ndarray:
        """Which of a trial's report steps (sorted) are judged under interval/delay."""
        k = np.arange(1, steps.size + 1)
        return steps[(steps >= self.delay) & (k % self.interval == 0)]

    @abc.abstractmethod
    def _stop(self, rep: Report) -> bool:
        """``True`` when the trial should stop after ``rep``."""

    @abc.abstractmethod
    def _options(self) -> dict[str, Any]:
        """The policy's own options (besides the common ones), for :meth:`config`."""

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.name}
        if self.metric is not None:
            out["metric"] = self.metric
        if self.goal is not None:
            out["goal"] = self.goal
        out.update(self._options())
        out["interval"] = self.interval
        out["delay"] = self.delay
        return out
