"""Where a proposal's randomness comes from, and the guard against repeated configurations.

Randomness is a function of (study seed, proposal position): the generator handed to
:meth:`Sampler.propose <hypersweep.samplers.base.Sampler.propose>` for the proposal made
when the study holds ``n`` trials is :func:`proposal_rng` ``(seed, n)``. Nothing depends on
the process, so a resumed study or an extra worker *continues* the sequence instead of
restarting it, and a seeded study run sequentially is reproducible trial by trial.

Two processes that see the same history at the same moment would draw the same numbers;
every proposal therefore carries a de-duplication key (a digest of its configuration, see
:func:`config_key`, unless the sampler gave one), the storage refuses the second trial with
that key, and the loser re-syncs and proposes again at the next position.

:class:`Repeats` keeps the configurations a study already holds (incrementally) and
replaces a proposal that repeats one, so no configuration is tried twice: on a finite
space none repeats until every configuration has been tried; on a continuous space an
exact repeat (a model proposing a boundary point again) becomes a fresh random draw.
A repeat is an equal :func:`config_key`. On a finite space the keys of every trial are
kept; on a continuous one only those of trials outside the space, and a proposal is looked
up among the others by its encoding (the rows of ``History.X`` that match it are few,
usually none, and only their keys are computed), so opening a study of 100k trials does
not decode and hash 100k parameter dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hypersweep.errors import SpaceError

if TYPE_CHECKING:
    from hypersweep.history import History
    from hypersweep.samplers.base import Proposal
    from hypersweep.space import Space

__all__ = ["Repeats", "config_key", "finite_size", "proposal_rng", "trial_seed"]

#: configurations a finite space may have for an exhaustive search for an unseen one
_SCAN_LIMIT = 1_000_000
_DRAWS = 64


def proposal_rng(seed: int, position: int, retry: int = 0) -> np.random.Generator:
    """The generator of the proposal made when the study holds ``position`` trials.

    ``retry`` counts how often this ask already lost a race for that position (0 in a
    sequential run).
    """
    return np.random.default_rng(np.random.SeedSequence([seed % (1 << 64), position, retry]))


def trial_seed(seed: int, number: int, repeat: int = 0) -> int:
    """The seed of trial ``number`` of a study seeded ``seed`` (``repeat`` > 0: the seed of
    its ``repeat``-th re-evaluation): a non-negative 31-bit integer, the same in every
    process, independent of the proposal randomness (:func:`proposal_rng`).

    Example:
        >>> trial_seed(0, 3) == trial_seed(0, 3) != trial_seed(0, 4)
        True
        >>> 0 <= trial_seed(7, 0, repeat=2) < 2**31
        True
    """
    state = np.random.SeedSequence([seed % (1 << 64), number, repeat, 0x5EED]).generate_state(1)
    return int(state[0]) & 0x7FFFFFFF


def config_key(params: dict[str, Any]) -> str:
    """The de-duplication key of a configuration (the grid sampler's key: a digest)."""
    from hypersweep.samplers.grid import grid_key

    return grid_key(params)


def finite_size(space: Space) -> int | None:
    """The number of configurations of a finite space (choices, bools, ints, stepped
    floats, fixed values), ``None`` for an infinite one. Nothing is enumerated."""
    from hypersweep.space import Beta, Choice, Fixed, Float, Group, Int

    def size(params: Any) -> int | None:
        n = 1
        for p in params.values():
            if isinstance(p, Choice):
                if p.subspaces is None:
                    k: int | None = len(p.options)
                else:
                    subs = [size(p.subspaces[o].params) for o in p.options]
                    k = None if None in subs else sum(subs)  # type: ignore[arg-type]
            elif isinstance(p, Fixed):
                k = 1
            elif isinstance(p, Group):
                k = size(p.space.params)
            elif isinstance(p, (Int, Float, Beta)) and p.step is not None:
                k = p._n_points()
            else:  # a continuous Float, a Normal
                return None
            if k is None:
                return None
            n *= k
        return n

    return size(space.params)


class Repeats:
    """The configurations a study holds, and replacements for proposals that repeat one.

    Args:
        space: the study's space (a row of the history that does not fit it is ignored).
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        self.size = finite_size(space)
        # a grid to search for unseen configurations; a huge finite space draws instead
        self._grid = (
            space.grid(None) if self.size is not None and (self.size <= _SCAN_LIMIT) else None
        )
        # finite space: the key of every trial; continuous: of the trials outside the space
        self._keys: set[str] = set()
        self._valid_keys: set[str] = set()
        self._upto = 0
        self._holes: set[int] = set()
        self._history_id = 0
        self._history_space: Space | None = None

    def refresh(self, history: History) -> None:
        """Take in the trials added to ``history`` since the last call."""
        if (
            self._history_id != id(history)
            or history.space is not self._history_space
            or history.n < self._upto
        ):
            self._keys, self._valid_keys, self._upto = set(), set(), 0
            self._holes, self._history_id = set(), id(history)
            self._history_space = history.space
        for i in sorted(self._holes):
            if history.trials[i] is not None:
                self._add(history, i)
                self._holes.discard(i)
        if self.size is None:  # rows in the space are looked up by encoding (_held)
            new: Any = (np.flatnonzero(~history.valid[self._upto :]) + self._upto).tolist()
        else:
            new = range(self._upto, history.n)
        for i in new:
            if history.trials[i] is None:
                self._holes.add(i)
            else:
                self._add(history, i)
        self._upto = history.n

    def _add(self, history: History, i: int) -> None:
        valid = bool(history.valid[i])
        if self.size is None and valid:
            return  # found by its encoding
        key = config_key(_params(history, i))
        self._keys.add(key)
        if valid:
            self._valid_keys.add(key)

    def _held(self, params: dict[str, Any], key: str, history: History) -> bool:
        """Whether a trial of ``history`` (taken in by :meth:`refresh`) has ``key``."""
        if key in self._keys or self.size is not None:
            return key in self._keys
        try:
            u = self.space.encode_many([self.space.validate(params)])[0]
        except (SpaceError, TypeError, ValueError):
            return False  # not in the space: only a trial outside it can have its key
        return any(
            config_key(_params(history, int(i))) == key
            for i in _matching_rows(history.X, history.valid, u)
        )

    @property
    def exhausted(self) -> bool:
        """Every configuration of a finite space has a trial."""
        return self.size is not None and len(self._valid_keys) >= self.size

    def screen(
        self,
        proposals: Sequence[Proposal],
        history: History,
        rng: np.random.Generator,
    ) -> list[Proposal]:
        """``proposals`` with repeats replaced and a de-duplication key on each.

        A proposal that repeats a trial of the study (or an earlier proposal of the same
        batch) is replaced by an unseen configuration drawn from ``rng``; once a finite
        space is exhausted, repeats are kept (without a key). On a finite space every
        proposal is keyed by its configuration, so two processes never both create it.
        """
        from dataclasses import replace

        self.refresh(history)
        batch: set[str] = set()
        out = []
        for p in proposals:
            key = config_key(p.params)
            if key in batch or self._held(p.params, key, history):
                fresh = self._unseen(rng, batch, history)
                if fresh is None:  # nothing unseen is left: a repeat is all there is
                    out.append(replace(p, key=None))
                    continue
                p = replace(p, params=fresh, key=None)
                key = config_key(fresh)
            batch.add(key)
            finite = self.size is not None
            out.append(replace(p, key=key if finite or p.key is None else p.key))
        return out

    def keyed(self, proposals: Sequence[Proposal]) -> list[Proposal]:
        """``proposals`` with the de-duplication key :meth:`screen` gives each, unscreened:
        for an ask that holds no current history (a sampler that reads none, on an
        infinite space). The storage refuses a second trial with a key, so a repeat of
        a held configuration still never runs twice."""
        from dataclasses import replace

        return [p if p.key else replace(p, key=config_key(p.params)) for p in proposals]

    def _unseen(
        self, rng: np.random.Generator, batch: set[str], history: History
    ) -> dict[str, Any] | None:
        if self._grid is None:  # continuous, or too large to search: draw from the prior
            for params in self.space.sample(rng, _DRAWS):
                key = config_key(params)
                if key not in batch and not self._held(params, key, history):
                    return params
            return None
        taken = self._keys | batch
        size = len(self._grid)
        if len(self._valid_keys | batch) >= size:
            return None
        for i in rng.integers(0, size, size=_DRAWS):
            params = self._grid[int(i)]
            if config_key(params) not in taken:
                return params
        start = int(rng.integers(0, size))
        for j in range(size):
            params = self._grid[(start + j) % size]
            if config_key(params) not in taken:
                return params
        return None


#: Encodings of one configuration differ by rounding at most (a vectorized and a scalar
#: ``log``); rows closer than this to a proposal in every column are compared by key.
_ENCODING_TOL = 1e-9


def _matching_rows(X: np.ndarray, valid: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Valid rows of ``X`` within :data:`_ENCODING_TOL` of ``u`` in every column (``NaN``
    where ``u`` is ``NaN``): a superset of the rows that encode ``u``'s configuration,
    narrowed one column at a time."""
    cand = np.flatnonzero(valid)
    for j in np.argsort(np.isnan(u), kind="stable").tolist():  # active columns first
        if cand.size == 0:
            break
        col = X[cand, j]
        if np.isnan(u[j]):
            cand = cand[np.isnan(col)]
        else:
            cand = cand[np.abs(col - u[j]) <= _ENCODING_TOL]
    return cand


def _params(history: History, i: int) -> dict[str, Any]:
    """Row ``i``'s parameters, without decoding the rest of a bulk-loaded trial."""
    trials: Any = history.trials
    get = getattr(trials, "params", None)
    return get(i) if get is not None else trials[i].params
