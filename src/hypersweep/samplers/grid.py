"""Exhaustive grid search over choices, bools, ints and stepped floats."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from hypersweep._validate import check_bool, fail
from hypersweep.errors import SpaceExhausted
from hypersweep.history import History
from hypersweep.samplers.base import Proposal, Sampler
from hypersweep.space import Grid, Space

__all__ = ["GridSampler", "grid_key"]


class GridSampler(Sampler):
    """Visit every grid point exactly once, in a seeded shuffled order.

    Each proposal carries the key ``grid:<digest of its params>``; the storage refuses a
    second trial with the same key, so several processes sharing a study never run a point
    twice. A point counts as tried when any trial has exactly its params (an enqueued one,
    or one from before the space was edited), so a resumed study with a changed space still
    covers its whole new grid. When every point has a trial,
    :class:`~hypersweep.errors.SpaceExhausted` ends the study.

    Args:
        grid_points: points for continuous parameters without a step (see
            :meth:`hypersweep.space.Space.grid`).
        shuffle: visit points in a seeded random order (default) or in grid order.
        seed: the shuffle's seed; processes sharing a study must use the same one.

    Example:
        >>> from hypersweep.space import Int
        >>> sp = Space({"a": Int(1, 3)})
        >>> s = GridSampler(shuffle=False)
        >>> [p.params for p in s.propose(sp, History(sp, []), np.random.default_rng(0), 3)]
        [{'a': 1}, {'a': 2}, {'a': 3}]
    """

    name = "grid"

    def __init__(
        self, grid_points: int | None = None, shuffle: bool = True, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        if grid_points is not None and (
            isinstance(grid_points, bool) or not isinstance(grid_points, int) or grid_points < 1
        ):
            raise fail("sampler.grid_points", f"must be a positive integer, got {grid_points!r}")
        shuffle = check_bool("sampler.shuffle", shuffle)
        self.grid_points = grid_points
        self.shuffle = shuffle
        self._cache: tuple[Space, Grid, _Order, int | None] | None = None
        # incremental bookkeeping: keys of history rows [0, _seen) except the rows in
        # _holes (not synced yet: another process's trial numbered below one of ours),
        # and the first order position that may still be free
        self._used: set[str] = set()
        self._seen = 0
        self._holes: set[int] = set()
        self._pos = 0
        self._history_id = 0

    def _grid(self, space: Space) -> tuple[Grid, _Order]:
        seed = self.seed
        if self._cache is None or self._cache[0] is not space or self._cache[3] != seed:
            grid = space.grid(self.grid_points)
            order = _Order(len(grid), seed or 0, self.shuffle)
            self._cache = (space, grid, order, seed)
            self._history_id = 0  # positions refer to the old order: start over
        return self._cache[1], self._cache[2]

    def size(self, space: Space) -> int:
        """The number of grid points."""
        return len(self._grid(space)[0])

    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        grid, order = self._grid(space)
        if self._history_id != id(history) or history.n < self._seen:
            self._used, self._seen, self._pos, self._history_id = set(), 0, 0, id(history)
            self._holes = set()
        for i in sorted(self._holes):
            if history.trials[i] is not None:
                self._used.add(grid_key(history.trials[i].params))
                self._holes.discard(i)
        for i in range(self._seen, history.n):
            t = history.trials[i]
            if t is None:
                self._holes.add(i)
            else:
                self._used.add(grid_key(t.params))
        self._seen = history.n
        out: list[Proposal] = []
        pos = self._pos
        while pos < len(order) and len(out) < n:
            params = grid[order[pos]]
            key = grid_key(params)
            if key not in self._used:
                out.append(Proposal(params, key=key))
            elif not out:
                self._pos = pos + 1  # everything before is taken for good
            pos += 1
        if not out:
            raise SpaceExhausted(f"all {len(grid)} grid points have been tried")
        return out

    def config(self) -> dict[str, Any]:
        out = super().config()
        if self.grid_points is not None:
            out["grid_points"] = self.grid_points
        if not self.shuffle:
            out["shuffle"] = False
        return out


def grid_key(params: Mapping[str, Any]) -> str:
    """The de-duplication key of a configuration: the same params give the same key."""
    text = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=repr)
    return "grid:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


_M64 = (1 << 64) - 1


def _mix(x: int, key: int) -> int:
    """A 64-bit mixing function (SplitMix64's finalizer), the same in every process."""
    z = (x + key) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class _Order:
    """The visiting order of ``n`` grid points: ``order[i]`` is the i-th point's index.

    Shuffled, it is a seeded pseudo-random permutation computed on demand (a balanced
    Feistel network over the next even power of two, cycle-walked into ``[0, n)``), so a
    grid of 10^12 points costs no memory.
    """

    def __init__(self, n: int, seed: int, shuffle: bool) -> None:
        self.n = n
        self.shuffle = shuffle
        bits = max(2, (n - 1).bit_length())
        self._half = (bits + 1) // 2
        self._mask = (1 << self._half) - 1
        rng = np.random.default_rng(seed)
        self._keys = [int(k) for k in rng.integers(0, 2**63, size=4)]

    def __len__(self) -> int:
        return self.n

    def _feistel(self, x: int) -> int:
        left, right = x >> self._half, x & self._mask
        for key in self._keys:
            left, right = right, left ^ (_mix(right, key) & self._mask)
        return (left << self._half) | right

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(i)
        if not self.shuffle:
            return i
        x = self._feistel(i)
        while x >= self.n:  # a bijection of [0, 2^bits) walked back into [0, n)
            x = self._feistel(x)
        return x
