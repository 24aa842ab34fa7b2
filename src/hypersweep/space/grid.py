"""Grid: every combination of a space's values, lazily."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hypersweep.errors import SpaceError
from hypersweep.space.beta import Beta
from hypersweep.space.choice import Choice
from hypersweep.space.nested import Group
from hypersweep.space.params import Float, Int, NumericParam, Param

if TYPE_CHECKING:
    from hypersweep.space.space import Space


class Grid:
    """A lazily indexed grid over a space, conditional groups included (a union of products).

    ``len(grid)`` is the number of points; ``grid[i]`` the i-th configuration.
    """

    def __init__(self, space: Space, grid_points: int | None) -> None:
        if grid_points is not None and (not isinstance(grid_points, int) or grid_points < 1):
            raise SpaceError("grid_points", f"must be a positive integer, got {grid_points!r}")
        self._tree = self._build(space.params, grid_points, "space")
        self._order = space.param_names
        size = self._size(self._tree)
        if size > _MAX_GRID:
            raise SpaceError(
                "space",
                f"the grid has about {float(size):.3g} points, more than 2**62; give "
                "the integer and stepped parameters fewer values (a larger step) or use "
                "another sampler (random, tpe, auto)",
            )

    def _build(
        self, params: Mapping[str, Param], gp: int | None, prefix: str, group: str = ""
    ) -> list[Any]:
        items: list[Any] = []
        for local, p in params.items():
            path = f"{prefix}.{local}"
            if isinstance(p, Group):  # its parameters, named group.name
                items.extend(self._build(p.space.params, gp, path, f"{group}{local}."))
                continue
            name = group + local
            values: Sequence[Any]
            if isinstance(p, (Int, Float, Beta)) and p.step is not None:
                values = _GridValues(p)  # lazy: int(0, 10**12) has 10**12 values
            else:
                values = p.grid_values(path, gp)
            subs = None
            sizes: list[int] | None = None
            if isinstance(p, Choice) and p.subspaces is not None:
                subs = [
                    self._build(p.subspaces[o].params, gp, f"{path}.{o}", group) for o in values
                ]
                sizes = [self._size(s) for s in subs]
            total = sum(sizes) if sizes is not None else len(values)
            items.append((name, values, subs, sizes, total))
        return items

    @staticmethod
    def _size(items: list[Any]) -> int:
        n = 1
        for it in items:
            n *= it[4]
        return n

    def __len__(self) -> int:
        return self._size(self._tree)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        out: dict[str, Any] = {}
        self._fill(self._tree, i, out)
        return {k: out[k] for k in self._order if k in out}

    def _fill(self, items: list[Any], i: int, out: dict[str, Any]) -> None:
        for name, values, subs, sizes, total in reversed(items):
            i, r = divmod(i, total)
            if sizes is None:  # one grid value per index
                out[name] = values[r]
                continue
            for k, s in enumerate(sizes):
                if r < s:
                    out[name] = values[k]
                    if subs is not None:
                        self._fill(subs[k], r, out)
                    break
                r -= s

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]


#: The most points a grid may have (its length must fit an index).
_MAX_GRID = 2**62


class _GridValues(Sequence[Any]):
    """The grid values of an Int or stepped Float, computed on demand."""

    def __init__(self, p: NumericParam) -> None:
        self._p = p
        self._n = p._n_points()

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        i = i % self._n
        return self._p._finish(self._p._point(np.array([i], dtype=float)))[0]
