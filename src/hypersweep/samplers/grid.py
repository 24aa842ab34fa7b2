"""Exhaustive grid search over choices, bools, ints and stepped floats."""

from __future__ import annotations

from typing import Any

import numpy as np

from hypersweep.errors import SpaceError, SpaceExhausted
from hypersweep.samplers.base import History, Proposal, Sampler
from hypersweep.space import Grid, Space

__all__ = ["GridSampler"]


class GridSampler(Sampler):
    """Visit every grid point exactly once, in a seeded shuffled order.

    Each proposal carries the key ``grid:<index>``; the storage refuses a second trial
    with the same key, so several processes sharing a study never run a point twice. When
    every point has a trial, :class:`~hypersweep.errors.SpaceExhausted` ends the study.

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
        if grid_points is not None and (not isinstance(grid_points, int) or grid_points < 1):
            raise SpaceError("sampler.grid_points", f"must be a positive integer, got "
                             f"{grid_points!r}")
        self.grid_points = grid_points
        self.shuffle = shuffle
        self._cache: tuple[Space, Grid, np.ndarray] | None = None
        # incremental bookkeeping: keys seen in history rows [0, _seen), first free position
        self._used: set[str] = set()
        self._seen = 0
        self._pos = 0
        self._history_id = 0

    def _grid(self, space: Space) -> tuple[Grid, np.ndarray]:
        if self._cache is None or self._cache[0] is not space:
            grid = space.grid(self.grid_points)
            n = len(grid)
            order = np.arange(n)
            if self.shuffle:
                order = np.random.default_rng(self.seed or 0).permutation(n)
            self._cache = (space, grid, order)
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
        for t in history.trials[self._seen : history.n]:
            if t is not None and "key" in t.system_attrs:
                self._used.add(t.system_attrs["key"])
        self._seen = history.n
        out: list[Proposal] = []
        pos = self._pos
        while pos < len(order) and len(out) < n:
            key = f"grid:{int(order[pos])}"
            if key not in self._used:
                out.append(Proposal(grid[int(order[pos])], key=key))
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
