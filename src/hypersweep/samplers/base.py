"""The sampler protocol and the history it reads.

A sampler is a pure function of (space, history, rng): :meth:`Sampler.propose` returns
configurations; it never runs, stores or schedules anything. The history includes RUNNING
trials, so concurrent proposals can spread out.

Lifecycle of one ``study.ask()``: the study syncs its :class:`History` incrementally from
the storage, hands enqueued (QUEUED) configurations out first, and only then calls
``propose(space, history, rng, n)``. If a proposal carries a ``key`` that another process
has just used (two workers proposing the same grid cell), the study re-syncs and asks
again.

To add a sampler: subclass :class:`Sampler`, implement ``propose``, add one line to
``hypersweep.samplers.REGISTRY`` and run the shared suite in
:mod:`hypersweep.testing.samplers` over it.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from hypersweep.constraints import constraint_values
from hypersweep.errors import SpaceError
from hypersweep.space import Space
from hypersweep.storage.base import HistoryColumns
from hypersweep.trial import Objective, Trial, TrialState

__all__ = [
    "RESOLUTION",
    "History",
    "Proposal",
    "Sampler",
    "looks_failed",
    "near_any",
    "replace_failed",
    "unfailed_draws",
]

#: Two unit-cube encodings closer than this in every column (after snapping ints, steps and
#: choices to their bins) are the same configuration for the "never re-propose a failed
#: configuration" rule.
RESOLUTION = 1e-6

_STATE_CODES = {s: i for i, s in enumerate(TrialState)}
QUEUED, RUNNING, COMPLETED, STOPPED, FAILED = (_STATE_CODES[s] for s in TrialState)


@dataclass(frozen=True)
class Proposal:
    """One proposed configuration.

    Attributes:
        params: the configuration (active parameters only).
        key: an optional de-duplication key, unique per study (e.g. ``"sobol:17"``).
        system_attrs: attributes to store on the trial (e.g. a bracket).
    """

    params: dict[str, Any]
    key: str | None = None
    system_attrs: dict[str, Any] = field(default_factory=dict)


class History:
    """The trials of a study as numpy arrays, updated incrementally.

    Rows are trial numbers. Attributes (all length ``n``):

    * ``X``: ``(n, D)`` unit-cube encoding of the params (``NaN`` where inactive; a whole
      row of ``NaN`` with ``valid[i] = False`` when the params no longer fit the space).
    * ``Y``: ``(n, M)`` objective values signed so that lower is better (``NaN`` when the
      trial has no value).
    * ``state``: state codes (see :data:`QUEUED` ... :data:`FAILED`).
    * ``C``: ``(n, K)`` violation of each of the study's ``constraints`` (``> 0``:
      violated, ``<= 0``: met; ``NaN`` when the trial did not report the metric).
    * ``trials``: the latest snapshot of each trial.

    ``version`` increases on every change, so a sampler may cache derived data.

    ``seed`` is the study's seed: a sampler built without a seed of its own uses it for
    state that must be identical across processes (:meth:`Sampler.seed_for`).
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
        self._state = np.zeros(cap, dtype=np.int8)
        self._valid = np.zeros(cap, dtype=bool)
        self._C = np.full((cap, len(self.constraints)), np.nan)
        self.trials: list[Trial] = []
        self.version = 0

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
        codes = {s.value: c for s, c in _STATE_CODES.items()}
        h._state[rows] = np.array([codes[s] for s in cols.states], dtype=np.int8)
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
        codes = [_STATE_CODES[s] for s in states]
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
        self._state = grow(self._state, 0)
        self._valid = grow(self._valid, False)
        self._C = grow(self._C, np.nan)

    def update(self, trials: Iterable[Trial]) -> None:
        """Merge changed trial snapshots (new ones are encoded once, in one batch)."""
        trials = list(trials)
        if not trials:
            return
        top = max(t.number for t in trials) + 1
        self._grow(top)
        if top > self.n:
            self.trials.extend([None] * (top - self.n))  # type: ignore[list-item]
            self.n = top
        new = [t for t in trials if self.trials[t.number] is None]
        for t in trials:
            self.trials[t.number] = t
            self._state[t.number] = _STATE_CODES[t.state]
            if t.values is not None and len(t.values) == len(self._signs):
                self._Y[t.number] = np.asarray(t.values, dtype=float) * self._signs
            else:
                self._Y[t.number] = np.nan
            if self.constraints:
                self._C[t.number] = constraint_values(t, self.constraints)
        if new:
            self._encode(new)
        self.version += 1

    def _encode(self, trials: list[Trial]) -> None:
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


def near_any(rows: np.ndarray, U: np.ndarray, tol: float = RESOLUTION) -> np.ndarray:
    """For each row of ``U``, whether some row of ``rows`` encodes the same configuration.

    Both are unit-cube encodings as the space makes them (``Space.encode_many`` of decoded
    params: ints, steps and choices at their bin centres, ``NaN`` where inactive); two rows
    match when every column is within ``tol`` or inactive in both.
    """
    U = np.atleast_2d(U)
    out = np.zeros(U.shape[0], dtype=bool)
    if rows.shape[0] == 0 or U.shape[0] == 0:
        return out
    step = max(1, 1_000_000 // max(rows.size, 1))  # bounded temporary arrays
    for s in range(0, U.shape[0], step):
        blk = U[s : s + step]
        diff = np.abs(blk[:, None, :] - rows[None, :, :])
        both_nan = np.isnan(blk)[:, None, :] & np.isnan(rows)[None, :, :]
        same = (diff <= tol) | both_nan
        out[s : s + step] = same.all(axis=2).any(axis=1)
    return out


def looks_failed(U: np.ndarray, failed: np.ndarray, completed: np.ndarray) -> np.ndarray:
    """For each row of ``U``: it repeats a row of ``failed`` (:func:`near_any`), or its
    nearest finished row (Euclidean distance in the unit cube, inactive columns at 0.5) is
    a failed one rather than a row of ``completed`` (a nearest-neighbour classifier of the
    failing regions). All three are unit-cube encodings as the space makes them."""
    out = near_any(failed, U)
    if failed.shape[0] == 0 or completed.shape[0] == 0:
        return out
    q = np.nan_to_num(U, nan=0.5)
    qq = (q * q).sum(1)[:, None]

    def nearest(B: np.ndarray) -> np.ndarray:
        B = np.nan_to_num(B, nan=0.5)
        bb = (B * B).sum(1)[None, :]
        G = q @ B.T  # one product: its rounding does not depend on a block size
        out = np.full(q.shape[0], np.inf)
        step = max(1, 250_000 // max(q.shape[0], 1))  # bounded temporaries
        for s in range(0, G.shape[1], step):
            d = qq + bb[:, s : s + step] - 2.0 * G[:, s : s + step]
            np.minimum(out, d.min(axis=1), out=out)
        return out

    return out | (nearest(failed) < nearest(completed))


def unfailed_draws(
    space: Space, failed: np.ndarray, rng: np.random.Generator, k: int, tries: int = 20
) -> np.ndarray:
    """``k`` uniform draws (unit-cube encodings) that are not failed configurations; on a
    space where nearly everything failed, the last tries' draws are returned as they are."""
    out = np.asarray(space.encode_many(space.sample(rng, k)), dtype=float).reshape(k, -1)
    for _ in range(tries):
        bad = near_any(failed, out)
        if not bad.any():
            break
        out[bad] = np.asarray(space.encode_many(space.sample(rng, int(bad.sum()))))
    return out


def replace_failed(
    space: Space, history: History, proposals: list[Proposal], rng: np.random.Generator
) -> list[Proposal]:
    """``proposals`` with each one that repeats a FAILED configuration replaced by a
    uniform draw that does not (used by the samplers' start-up points; a history without
    failures returns the list untouched and consumes no randomness)."""
    failed = history.failed()
    if failed.shape[0] == 0 or not proposals or space.dim == 0:
        return proposals
    U = space.encode_many([p.params for p in proposals])
    bad = np.flatnonzero(near_any(failed, U))
    if bad.size == 0:
        return proposals
    new = space.decode_many(unfailed_draws(space, failed, rng, bad.size))
    out = list(proposals)
    for i, params in zip(bad, new):
        out[i] = Proposal(params)
    return out


class Sampler(abc.ABC):
    """Proposes configurations. Subclasses implement :meth:`propose` only.

    Args:
        seed: an optional seed for state that must be identical across processes (a
            scrambled Sobol sequence, a grid order); ``None``: the study's seed
            (:meth:`seed_for`). Per-proposal randomness comes from the ``rng`` passed to
            :meth:`propose`, which the study derives from its seed and the number of
            trials it holds. The study never changes a sampler it is given.

    Attributes:
        allows_repeats: proposals may repeat a configuration on purpose (a PBT segment
            continues its member's parameters); otherwise the study replaces a proposal
            that repeats a trial it holds by an unseen configuration.
    """

    name: ClassVar[str] = ""
    allows_repeats: ClassVar[bool] = False
    #: True when :meth:`propose` reads trials' intermediate reports (the study then loads
    #: them before asking; otherwise a process opening a study skips them).
    uses_reports: ClassVar[bool] = False
    #: whether FAILED trials steer the sampler (the contract suite then checks that it
    #: avoids failing regions and never proposes a failed configuration again)
    learns_from_failures: ClassVar[bool] = False

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63
        ):
            from hypersweep.errors import SpecError

            raise SpecError(
                f"sampler.seed: must be an integer from 0 to 2**63-1, got {seed!r:.60}"
            )
        self.seed = seed

    @abc.abstractmethod
    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        """Return ``n`` proposals for the next trials.

        Raises:
            SpaceExhausted: nothing is left to propose (the study then ends).
        """

    def seed_for(self, history: History) -> int | None:
        """This sampler's seed, else the study's (``history.seed``)."""
        return self.seed if self.seed is not None else history.seed

    def config(self) -> dict[str, Any]:
        """The sampler's settings, as the sweep file would write them."""
        out: dict[str, Any] = {"name": self.name}
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"
