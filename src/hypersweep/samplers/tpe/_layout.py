"""TPE's view of a space: column kinds, conditional groups, snapping of discrete columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hypersweep.space import Beta, Choice, Float, Int, Normal, Space

# ======================================================================================
# Space layout: column kinds, conditional groups, snapping of discrete columns
# ======================================================================================


@dataclass(frozen=True)
class Group:
    """Columns that are active on the same trials (same parent column and option)."""

    cols: np.ndarray  # column indices, ascending
    parent: int  # parent column, -1 for the top level
    option: int  # option of ``parent`` that activates the group
    parent_group: int  # index of the group holding ``parent``, -1 for the top level
    num: np.ndarray  # positions in ``cols`` of numeric columns
    cat: np.ndarray  # positions in ``cols`` of categorical columns
    n_opt: np.ndarray  # number of options of each categorical column
    h_floor: np.ndarray  # bandwidth floor of each numeric column
    discrete: tuple[tuple[int, int], ...]  # (position in cols, column) of int/step columns
    #: per categorical column, its options' prior probabilities (``Choice(weights=...)``)
    #: or ``None`` (uniform); empty when no categorical column of the group has weights
    cat_probs: tuple[np.ndarray | None, ...] = ()


class Layout:
    """What the sampler needs to know about a space, computed once per space."""

    def __init__(self, space: Space) -> None:
        self.dim = space.dim
        cols = space.columns
        keys: dict[tuple[int, int], list[int]] = {}
        for j, c in enumerate(cols):
            keys.setdefault((c.parent, c.option), []).append(j)
        # depth-first column order puts a parent before its children: sort groups by
        # their first column so parents' groups come first
        order = sorted(keys.items(), key=lambda kv: kv[1][0])
        col_group = np.empty(self.dim, dtype=int)
        for gi, (_, js) in enumerate(order):
            col_group[js] = gi
        self.groups: list[Group] = []
        # discrete numeric columns: column -> number of equal bins, or -> its parameter
        # when the bins are unequal (log scale, stepped Normal)
        self.bins: dict[int, int] = {}
        self.irregular: dict[int, Any] = {}
        for (parent, option), js in order:
            num, cat, n_opt, floor = [], [], [], []
            probs: list[np.ndarray | None] = []
            for pos, j in enumerate(js):
                p = cols[j].param
                if p.n_options:
                    cat.append(pos)
                    n_opt.append(p.n_options)
                    w = p.probs if isinstance(p, Choice) else None
                    probs.append(None if w is None else np.array(w, dtype=float))
                    continue
                num.append(pos)
                width = 0.0
                if isinstance(p, (Int, Float)) and p.step is not None:
                    n_points = p._n_points()
                    width = 1.0 / n_points
                    if p.log:
                        self.irregular[j] = p
                    else:
                        self.bins[j] = n_points
                elif isinstance(p, (Normal, Beta)) and p.step is not None:
                    self.irregular[j] = p
                floor.append(0.5 * width)
            discrete = tuple(
                (pos, j) for pos, j in enumerate(js) if j in self.bins or j in self.irregular
            )
            self.groups.append(
                Group(
                    cols=np.array(js, dtype=int),
                    parent=parent,
                    option=option,
                    parent_group=int(col_group[parent]) if parent >= 0 else -1,
                    num=np.array(num, dtype=int),
                    cat=np.array(cat, dtype=int),
                    n_opt=np.array(n_opt, dtype=int),
                    h_floor=np.array(floor, dtype=float),
                    discrete=discrete,
                    cat_probs=tuple(probs) if any(w is not None for w in probs) else (),
                )
            )
        self.parent_options = {
            j: cols[j].param.n_options for j in {g.parent for g in self.groups if g.parent >= 0}
        }

    def snap(self, j: int, u: np.ndarray) -> np.ndarray:
        """Draws ``u`` of the discrete column ``j`` moved to their bin centres."""
        n = self.bins.get(j)
        if n is not None:
            return (np.minimum(np.maximum(np.floor(u * n), 0), n - 1) + 0.5) / n
        p = self.irregular[j]
        return np.asarray(p._encode(p._decode(u)), dtype=float)
