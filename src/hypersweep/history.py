"""The numpy view of a study's trials that samplers and policies read.

A :class:`History` holds every trial of a study as arrays (unit-cube encoding, signed
values, state codes, constraint violations), updated incrementally from the storage. The
state of each row is a :class:`StateCode` (``history.state == FAILED``); the one
definition of counts, "best" and the Pareto front over the arrays lives here too
(:meth:`History.counts`, :meth:`History.best_index`, :meth:`History.front`, on top of
:mod:`hypersweep._best`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hypersweep._best import best_row, pareto_mask
from hypersweep.constraints import constraint_values
from hypersweep.errors import SpaceError
from hypersweep.space import Space
from hypersweep.trial import Objective, Trial, TrialState

if TYPE_CHECKING:
    from hypersweep.storage.base import HistoryColumns

__all__ = [
    "COMPLETED",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "STOPPED",
    "UNREAD",
    "History",
    "Prior",
    "StateCode",
]


class StateCode(enum.IntEnum):
    """The code of a :class:`~hypersweep.trial.TrialState` in :attr:`History.state`
    (an ``int8`` array): the states in their declaration order."""

    QUEUED = 0
    RUNNING = 1
    COMPLETED = 2
    STOPPED = 3
    FAILED = 4

    @classmethod
    def of(cls, state: TrialState) -> StateCode:
        """The code of ``state``."""
        return cls[state.name]

    @property
    def state(self) -> TrialState:
        """The trial state this code stands for."""
        return TrialState[self.name]


#: the codes by name, for ``history.state == FAILED`` and ``np.isin(h.state, (...))``
QUEUED, RUNNING, COMPLETED, STOPPED, FAILED = StateCode
#: the state code of a row not read yet: a trial that another process created after this
#: history's last sync, below one this process created (``trials[i] is None``); no
#: state compares equal to it
UNREAD = -1
_CODE = {s: StateCode.of(s) for s in TrialState}
_BY_VALUE = {s.value: int(c) for s, c in _CODE.items()}
#: new trials from which :meth:`History.update` checks and encodes parameters as columns
#: (:func:`hypersweep.bulkload.encode_param_dicts`) instead of one by one
_BATCH_ENCODE = 8


class Prior:
    """Prior observations: finished trials of a related study, encoded in this study's
    space, that transfer-aware samplers (``tpe``, ``gp``) read as down-weighted evidence
    (see :mod:`hypersweep.samplers.prior` and ``docs/transfer.md``). They are not trials
    of this study: counts, best, export and ``max_trials`` never see them.

    Args:
        X: ``(P, D)`` unit-cube encodings (as ``History.X``).
        Y: ``(P, M)`` values signed lower-is-better (as ``History.Y``), finite.
        weight: the weight of one prior row relative to one of this study's, in (0, 1].
        source: where they came from (a study name), for messages.
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray, weight: float, source: str = "") -> None:
        X = np.asarray(X, dtype=float).reshape(len(X), -1)
        Y = np.asarray(Y, dtype=float).reshape(len(Y), -1)
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"prior: {X.shape[0]} encodings but {Y.shape[0]} values")
        if not np.isfinite(Y).all():
            raise ValueError("prior: every value must be finite")
        if not 0.0 < float(weight) <= 1.0:
            raise ValueError(f"prior: weight must be in (0, 1], got {weight!r}")
        self.X, self.Y, self.weight, self.source = X, Y, float(weight), source

    def __len__(self) -> int:
        return int(self.X.shape[0])


class History:
    """The trials of a study as numpy arrays, updated incrementally.

    Rows are trial numbers. Attributes (all length ``n``):

    * ``X``: ``(n, D)`` unit-cube encoding of the params (``NaN`` where inactive; a whole
      row of ``NaN`` with ``valid[i] = False`` when the params no longer fit the space).
    * ``Y``: ``(n, M)`` objective values signed so that lower is better (``NaN`` when the
      trial has no value).
    * ``state``: state codes (:class:`StateCode`: :data:`QUEUED` ... :data:`FAILED`).
    * ``C``: ``(n, K)`` violation of each of the study's ``constraints`` (``> 0``:
      violated, ``<= 0``: met; ``NaN`` when the trial did not report the metric).
    * ``trials``: the latest snapshot of each trial.

    ``version`` increases on every change, so a sampler may cache derived data.

    ``seed`` is the study's seed (informative: the study hands it to its sampler at
    construction, :meth:`Sampler.with_seed`).

    ``prior`` is a :class:`Prior` block of a related study's observations (transfer), or
    ``None``; samplers that use it read :meth:`with_prior`.
    """

    def __init__(
        self,
        space: Space,
        objectives: Sequence[Objective],
        seed: int | None = None,
        constraints: Sequence[Any] = (),
    ) -> None:
        self.space = space
        self.seed = seed
        self.objectives = tuple(objectives)
        self.constraints = tuple(constraints)
        self._signs = np.array([o.sign for o in self.objectives], dtype=float)
        self.n = 0
        cap = 64
        self._X = np.full((cap, space.dim), np.nan)
        self._Y = np.full((cap, len(self.objectives)), np.nan)
        self._state = np.full(cap, UNREAD, dtype=np.int8)
        self._valid = np.zeros(cap, dtype=bool)
        self._C = np.full((cap, len(self.constraints)), np.nan)
        self.trials: list[Trial] = []
        self.version = 0
        self.prior: Prior | None = None

    def set_prior(self, prior: Prior | None) -> None:
        """Attach (or with ``None`` drop) the prior block; it must fit the space's width."""
        if prior is not None and prior.X.shape[1] != self.space.dim:
            raise ValueError(
                f"prior: encodings have {prior.X.shape[1]} columns, the space {self.space.dim}"
            )
        if prior is not None and prior.Y.shape[1] != len(self.objectives):
            raise ValueError(
                f"prior: {prior.Y.shape[1]} values per row, the study has "
                f"{len(self.objectives)} objectives"
            )
        self.prior = prior
        self.version += 1

    def with_prior(self, Y_prior: np.ndarray | None = None) -> History:
        """A new history whose first ``len(prior)`` rows are the prior block (COMPLETED,
        meeting every constraint, values ``Y_prior`` or the prior's own) followed by this
        history's rows; ``trials`` holds ``None`` for the prior rows. Without a prior:
        ``self``."""
        p = self.prior
        if p is None or len(p) == 0:
            return self
        out = History(self.space, self.objectives, self.seed, self.constraints)
        P, n = len(p), self.n
        out._grow(P + n)
        out.n = P + n
        out._X[:P], out._X[P : P + n] = p.X, self.X
        out._Y[:P] = p.Y if Y_prior is None else Y_prior
        out._Y[P : P + n] = self.Y
        out._state[:P], out._state[P : P + n] = COMPLETED, self.state
        out._valid[:P], out._valid[P : P + n] = True, self.valid
        out._C[:P], out._C[P : P + n] = 0.0, self.C
        out.trials = [None] * P + list(self.trials)  # type: ignore[assignment]
        out.version = self.version
        return out

    def without(self, rows: np.ndarray) -> History:
        """A copy in which the rows ``rows`` (a boolean mask) are not valid, so that no
        model sees them; trials, prior and version are shared with this history."""
        out = History(self.space, self.objectives, self.seed, self.constraints)
        out._grow(self.n)
        out.n = self.n
        for a, b in (
            (out._X, self.X),
            (out._Y, self.Y),
            (out._state, self.state),
            (out._valid, self.valid),
            (out._C, self.C),
        ):
            a[: self.n] = b
        out._valid[: self.n] &= ~rows
        out.trials, out.prior, out.version = self.trials, self.prior, self.version
        return out

    def load_columns(
        self,
        cols: HistoryColumns,
        reports: Mapping[int, dict[int, dict[str, float]]] | None = None,
    ) -> None:
        """Fill an empty history from a bulk column read (see :mod:`hypersweep.bulkload`):
        the same arrays as :meth:`update` with every trial, but no snapshot is decoded
        until something looks at ``trials[i]``."""
        from hypersweep.bulkload import (
            LazyTrials,
            constraint_columns,
            encode_param_texts,
            parse_values,
        )

        if self.n:
            raise ValueError("load_columns fills an empty History only")
        if not cols.numbers:
            return
        h, space = self, self.space
        rows = np.asarray(cols.numbers, dtype=np.int64)
        h._grow(int(rows.max()) + 1)
        h.n = int(rows.max()) + 1
        h._state[rows] = np.array([_BY_VALUE[s] for s in cols.states], dtype=np.int8)
        h._Y[rows] = parse_values(cols.values, len(h.objectives)) * h._signs
        X, valid = encode_param_texts(space, cols.params)
        h._X[rows] = X
        h._valid[rows] = valid
        if self.constraints:
            h._C[rows] = constraint_columns(cols, reports, self.constraints)
        h.trials = LazyTrials(cols, reports)  # type: ignore[assignment]
        h.version += 1

    # views ------------------------------------------------------------------------------
    @property
    def X(self) -> np.ndarray:
        return self._X[: self.n]

    @property
    def Y(self) -> np.ndarray:
        return self._Y[: self.n]

    @property
    def state(self) -> np.ndarray:
        """Each row's :class:`StateCode` (:data:`UNREAD` for a row not read yet)."""
        return self._state[: self.n]

    @property
    def valid(self) -> np.ndarray:
        return self._valid[: self.n]

    @property
    def C(self) -> np.ndarray:
        return self._C[: self.n]

    @property
    def feasible(self) -> np.ndarray:
        """Rows that meet every constraint (every row when the study has none).

        A row with a missing constraint metric is infeasible; rows without values
        (RUNNING, FAILED) are "feasible" here: combine with the state you need.
        """
        if not self.constraints:
            return np.ones(self.n, dtype=bool)
        has_value = ~np.isnan(self.Y).any(axis=1)
        met = (self.C <= 0).all(axis=1)  # NaN <= 0 is False: a missing metric violates
        return ~has_value | met

    def failed(self) -> np.ndarray:
        """``X`` of FAILED rows: configurations that crashed (never to be proposed again)."""
        return self.X[self.mask(TrialState.FAILED)]

    def mask(self, *states: TrialState) -> np.ndarray:
        """Boolean mask of valid rows in any of ``states``."""
        codes = [int(_CODE[s]) for s in states]
        return np.isin(self.state, codes) & self.valid

    @property
    def n_observed(self) -> int:
        """Rows with a value (COMPLETED, or STOPPED with a value)."""
        return int((~np.isnan(self.Y).any(axis=1) & self.valid).sum()) if self.n else 0

    def observed(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)`` of rows with finite values, Y signed lower-is-better.

        ``tell`` already rejects NaN and infinite values; rows written some other way (an
        older store, a hand-edited database) with a non-finite value are left out here too,
        so no model ever sees one.
        """
        ok = np.isfinite(self.Y).all(axis=1) & self.valid
        return self.X[ok], self.Y[ok]

    def pending(self) -> np.ndarray:
        """``X`` of RUNNING rows (configurations being evaluated right now)."""
        return self.X[self.mask(TrialState.RUNNING)]

    # counts and best ----------------------------------------------------------------
    def counts(self) -> dict[TrialState, int]:
        """Rows per state (every row, whether or not its params fit the current space)."""
        st = self.state
        found = np.bincount(st[st != UNREAD].astype(np.intp), minlength=len(StateCode))
        return {c.state: int(found[c]) for c in StateCode}

    def n_started(self) -> int:
        """Rows in every state but QUEUED (what counts toward ``max_trials``; a row not
        read yet is not counted)."""
        return int((self.state > QUEUED).sum())

    def ranked(self) -> np.ndarray:
        """Rows that can be best: COMPLETED or STOPPED with a value for every objective,
        meeting every constraint; from the current space or an earlier one."""
        ok = np.isin(self.state, (COMPLETED, STOPPED)) & ~np.isnan(self.Y).any(axis=1)
        return ok & self.feasible

    def best_index(self) -> int | None:
        """The best :meth:`ranked` row by the first objective (ties go to the earlier
        trial), or ``None``."""
        if self.n == 0:
            return None
        return best_row(self.Y[:, 0], self.ranked())

    def front(self) -> np.ndarray:
        """The rows of the Pareto front of the :meth:`ranked` rows over every objective,
        ascending."""
        idx = np.flatnonzero(self.ranked()) if self.n else np.zeros(0, dtype=np.intp)
        return idx[pareto_mask(self.Y[idx])] if idx.size else idx

    # updates ----------------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        cap = self._X.shape[0]
        if need <= cap:
            return
        new = max(need, cap * 2)

        def grow(a: np.ndarray, fill: Any) -> np.ndarray:
            b = np.full((new, *a.shape[1:]), fill, dtype=a.dtype)
            b[:cap] = a
            return b

        self._X = grow(self._X, np.nan)
        self._Y = grow(self._Y, np.nan)
        self._state = grow(self._state, UNREAD)
        self._valid = grow(self._valid, False)
        self._C = grow(self._C, np.nan)

    def update(self, trials: Iterable[Trial]) -> None:
        """Merge changed trial snapshots (new ones, and those whose params changed, are
        encoded in one batch)."""
        trials = list(trials)
        if not trials:
            return
        top = max(t.number for t in trials) + 1
        self._grow(top)
        if top > self.n:
            self.trials.extend([None] * (top - self.n))  # type: ignore[list-item]
            self.n = top
        # new rows, and rows whose params changed (a define-by-run trial's, once it ran)
        new = [
            t
            for t in trials
            if (old := self.trials[t.number]) is None
            or (old.params is not t.params and old.params != t.params)
        ]
        latest = {t.number: t for t in trials}  # a number given twice: the last snapshot
        k = len(self._signs)
        nan_row = (math.nan,) * k
        values = []
        for number, t in latest.items():
            self.trials[number] = t
            v = t.values
            values.append(v if v is not None and len(v) == k else nan_row)
        rows = list(latest)
        self._state[rows] = [_BY_VALUE[t.state.value] for t in latest.values()]
        self._Y[rows] = np.array(values, dtype=float).reshape(len(rows), k) * self._signs
        if self.constraints:
            for number, t in latest.items():
                self._C[number] = constraint_values(t, self.constraints)
        if new:
            self._encode(new)
        self.version += 1

    def _encode(self, trials: list[Trial]) -> None:
        if len(trials) >= _BATCH_ENCODE:  # a sync's new trials: checked column by column
            from hypersweep.bulkload import encode_param_dicts

            numbers = [t.number for t in trials]
            self._X[numbers], self._valid[numbers] = encode_param_dicts(
                self.space, [t.params for t in trials]
            )
            return
        # Validate first: encode_many does not, and would clip an out-of-range value of an
        # edited space to the boundary instead of marking the row invalid.
        rows: list[int] = []
        configs: list[dict[str, Any]] = []
        for t in trials:
            try:
                configs.append(self.space.validate(t.params))
            except (SpaceError, TypeError, ValueError):  # no longer fit the (edited) space
                self._X[t.number] = np.nan
                self._valid[t.number] = False
            else:
                rows.append(t.number)
        if rows:
            self._X[rows] = self.space.encode_many(configs)
            self._valid[rows] = True

    def replace_space(self, space: Space) -> None:
        """Re-encode every row for a new space (rows that no longer fit become invalid)."""
        self.space = space
        self._X = np.full((self._X.shape[0], space.dim), np.nan)
        self._valid[:] = False
        known = [t for t in self.trials if t is not None]
        if known:
            self._encode(known)
        self.version += 1
