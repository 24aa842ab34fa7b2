"""The read side of a study: its cached trials, kept current from the storage, and the
results read from them (best trial, Pareto front, rows, export, summary).

:class:`~hypersweep.study.Study` is a :class:`StudyView` plus the writes (ask, tell,
report, enqueue, stop) and the optimization loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from hypersweep.constraints import Constraint, constraint_values
from hypersweep.errors import HypersweepError
from hypersweep.history import History
from hypersweep.samplers.base import Sampler
from hypersweep.space import Space
from hypersweep.stopping.base import Policy
from hypersweep.storage import Storage
from hypersweep.storage.base import running_rows
from hypersweep.study_cache import TrialCache
from hypersweep.study_export import export, trial_row
from hypersweep.trial import Objective, Trial, TrialState

__all__ = ["StudyView"]


class StudyView:
    """Reads of a stored study through its :class:`~hypersweep.study_cache.TrialCache`."""

    name: str
    storage: Storage
    space: Space
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    sampler: Sampler
    policy: Policy | None
    _id: int
    _cache: TrialCache
    _attrs: dict[str, Any]

    def feasible(self, trial: Trial) -> bool:
        """Whether a finished trial with values meets every constraint."""
        if trial.values is None:
            return False
        if not self.constraints:
            return True
        vals = constraint_values(trial, self.constraints)
        return all(v <= 0 for v in vals)  # NaN (missing metric) is not <= 0

    def outside_space(self) -> list[int]:
        """Numbers of the trials whose parameters do not fit the current space (trials
        from before the space was extended): kept and shown, not used by the sampler."""
        self.sync()
        h = self._history
        return [int(i) for i in np.nonzero(~h.valid)[0] if h.trials[i] is not None]

    def sync(self) -> None:
        """Fetch what changed in the storage since the last sync (incremental)."""
        self._attrs = self._cache.sync()

    @property
    def _history(self) -> History:
        return self._cache.history

    @property
    def id(self) -> int:
        """The study's id in its storage."""
        return self._id

    @property
    def history(self) -> History:
        """The cached trial arrays (call :meth:`sync` first for the newest)."""
        return self._history

    @property
    def attrs(self) -> dict[str, Any]:
        """The study's system attributes as of the last sync (seed, stop request, ...)."""
        return dict(self._attrs)

    def describe(self) -> dict[str, Any]:
        """What searches the study and what stops its trials, for people and as stored.

        ``{"sampler": {"config": ..., "description": ...}, "policy": {...} or None}``:
        each component's settings (``config()``, as the sweep file writes them) and its
        one-line description (:meth:`Sampler.describe
        <hypersweep.samplers.base.Sampler.describe>`: for ``auto``, the sampler it uses
        now and why; :meth:`Policy.describe <hypersweep.stopping.base.Policy.describe>`).
        A run writes it to the study's attributes when it starts and whenever it changes
        (``auto`` hands over to TPE), so ``hypersweep status`` in another process shows it.
        Reads the cached trials only (no storage read).
        """
        sampler = self.sampler
        policy = self.policy
        return {
            "sampler": {
                "config": sampler.config(),
                "description": sampler.describe(self.space, self._history),
            },
            "policy": None
            if policy is None
            else {"config": policy.config(), "description": policy.describe()},
        }

    def trials(self, states: Iterable[TrialState | str] | None = None) -> list[Trial]:
        """Every trial (or those in ``states``), by number, with their reports."""
        self.sync()
        self._cache.load_reports()
        wanted = None if states is None else {TrialState(str(s).upper()) for s in states}
        return [
            t
            for t in self._history.trials
            if t is not None and (wanted is None or t.state in wanted)
        ]

    def _best_index(self) -> int | None:
        if len(self.objectives) != 1:
            raise HypersweepError(
                f"study {self.name!r} has {len(self.objectives)} objectives: use best_trials "
                "(the Pareto front)"
            )
        self.sync()
        return self._history.best_index()  # in the current space or not

    @property
    def best_trial(self) -> Trial | None:
        """The best feasible COMPLETED or STOPPED trial (single objective); ties go to the
        earlier."""
        i = self._best_index()
        return None if i is None else self._cache.complete(self._history.trials[i])

    @property
    def best_params(self) -> dict[str, Any] | None:
        t = self.best_trial
        return None if t is None else dict(t.params)

    @property
    def best_value(self) -> float | None:
        t = self.best_trial
        return None if t is None else t.value

    @property
    def best_trials(self) -> list[Trial]:
        """The Pareto front of the feasible trials over every objective (also works with
        one objective)."""
        self.sync()
        h = self._history
        return [self._cache.complete(h.trials[i]) for i in h.front()]

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per trial: number, state, objective values, params, times, error."""
        return [trial_row(self, t) for t in self.trials()]

    def export(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Write every trial to CSV or JSON (by ``format`` or the file suffix).

        The trials are streamed from the storage in batches, so memory stays flat however
        large the study. CSV has one row per trial, times as ISO 8601 (UTC); JSON holds
        every intermediate report, times as UNIX seconds.
        """
        return export(self, path, format)

    def summary(self) -> dict[str, Any]:
        """Counts by state, the best value and params, the stop reason, the sampler and
        policy the last run stored (:meth:`describe`) and the running trials with their
        latest report (:func:`~hypersweep.storage.base.running_rows`)."""
        self.sync()
        counts = {s.value: n for s, n in self._history.counts().items()}
        out: dict[str, Any] = {
            "name": self.name,
            "trials": self._history.n,
            "states": counts,
            "objectives": [o.to_dict() for o in self.objectives],
        }
        if len(self.objectives) == 1:
            b = self.best_trial
            out["best"] = (
                None if b is None else {"number": b.number, "value": b.value, "params": b.params}
            )
        out["outside_space"] = len(self.outside_space())  # from an earlier space
        if self.constraints:
            h = self._history
            done = h.mask(TrialState.COMPLETED, TrialState.STOPPED) & ~np.isnan(h.Y).any(axis=1)
            out["constraints"] = [c.to_dict() for c in self.constraints]
            out["feasible"] = int((done & h.feasible).sum())
            out["infeasible"] = int((done & ~h.feasible).sum())
        out["trial_seconds"] = self.storage.trial_seconds(self._id)  # the cost so far
        out["stop_reason"] = self._attrs.get("stop_reason")
        out["sampler"] = self._attrs.get("sampler")  # as the last run stored them
        out["policy"] = self._attrs.get("policy")
        out["running"] = running_rows(self.storage, self._id) if counts["RUNNING"] else []
        return out
