"""Space: named parameters (with conditional groups) and their unit-cube encoding."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from hypersweep._validate import did_you_mean, short
from hypersweep.errors import SpaceError
from hypersweep.space._common import (
    NAME_RE,
    clip,
    show_name,
)
from hypersweep.space.choice import Bool, Choice, Fixed
from hypersweep.space.grid import Grid
from hypersweep.space.nested import Delivery, Group
from hypersweep.space.params import Float, Param


@dataclass(frozen=True)
class Column:
    """One column of the unit-cube encoding.

    Attributes:
        name: the parameter name, as in a configuration's dict. Several columns have the
            same name when branches of conditional groups share it (at most one of them
            is active in any configuration).
        param: the parameter.
        parent: the column index of the group's choice this parameter depends on, or -1.
        option: the option index of ``parent`` under which this parameter is active.
        key: unique across the space: ``name``, or for a shared name the name and its
            branch, ``lr@model=xgb`` (``lr@model=boost,booster=gbtree`` deeper down).
    """

    name: str
    param: Param
    parent: int
    option: int
    key: str = ""


@dataclass(frozen=True)
class _FixedEntry:
    name: str
    value: Any
    parent: int
    option: int


class Space:
    """A search space: named parameters, possibly with conditional groups.

    Args:
        params: mapping of parameter name -> :class:`Param`, or any sweep-file form
            (``"loguniform(1e-5, 1e-1)"``, ``{"type": "int", ...}``, a plain value).

    Example:
        >>> import numpy as np
        >>> s = Space({"lr": Float(1e-4, 1e-1, log=True), "act": Choice(["relu", "tanh"])})
        >>> [sorted(p) for p in s.sample(np.random.default_rng(0), 2)]
        [['act', 'lr'], ['act', 'lr']]
    """

    def __init__(self, params: Mapping[str, Any] | Space) -> None:
        if isinstance(params, Space):
            params = params.params
        if not isinstance(params, Mapping):
            raise SpaceError(
                "space", f"expected a mapping of name -> parameter, got {type(params).__name__}"
            )
        self.params: dict[str, Param] = {}
        for name, p in params.items():
            path = f"space.{show_name(name)}"
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                raise SpaceError(
                    path,
                    "parameter names must start with a letter or '_' and use only "
                    "letters, digits, '_', '-', '.', '/' (at most 200 characters)",
                )
            if not isinstance(p, Param):
                from hypersweep.space.parse import parse_param

                p = parse_param(p, path)
            self.params[name] = p
        self.depth: int = 1 + max(
            [
                sub.depth
                for p in self.params.values()
                if isinstance(p, Choice) and p.subspaces is not None
                for sub in p.subspaces.values()
            ]
            + [p.depth - 1 for p in self.params.values() if isinstance(p, Group)],
            default=0,
        )
        self._raw: list[tuple[str, Param, int, int, tuple[tuple[int, int], ...]]] = []
        self._fixed: list[_FixedEntry] = []
        #: flat name -> path, for the parameters inside groups (see :class:`Delivery`)
        self._paths: dict[str, tuple[str, ...]] = {}
        self._groups: set[str] = set()  # the groups' own (flat) names
        seen: dict[str, list[tuple[str, tuple[tuple[int, int], ...]]]] = {}
        self._flatten(self.params, -1, -1, "space", seen, (), ())
        self.shared = frozenset(n for n, where in seen.items() if len(where) > 1)
        self.columns: list[Column] = [
            Column(name, p, parent, option, self._key(name, chain))
            for name, p, parent, option, chain in self._raw
        ]
        del self._raw
        #: the columns' keys (unique; a column's parameter name unless it is shared)
        self.names = [c.key for c in self.columns]
        self._col = {c.key: i for i, c in enumerate(self.columns)}
        self.n_options = np.array([c.param.n_options for c in self.columns], dtype=int)
        self.parents = np.array([c.parent for c in self.columns], dtype=int)
        self.parent_options = np.array([c.option for c in self.columns], dtype=int)
        self.is_conditional = bool((self.parents >= 0).any()) or any(
            f.parent >= 0 for f in self._fixed
        )
        # Column groups that encode/decode as one array operation (elementwise the same
        # arithmetic as their Param's own methods, so the results are identical): linear
        # floats without a step, and choices.
        lin = [
            j
            for j, c in enumerate(self.columns)
            if type(c.param) is Float
            and not c.param.log
            and c.param.step is None
            and c.name not in self.shared
        ]
        self._lin_cols = lin
        self._lin_names = [self.columns[j].name for j in lin]
        lin_params = [cast(Float, self.columns[j].param) for j in lin]
        self._lin_low = np.array([p.low for p in lin_params], dtype=np.float64)
        self._lin_high = np.array([p.high for p in lin_params], dtype=np.float64)
        self._lin_span = self._lin_high - self._lin_low
        self._cho_cols = [
            j
            for j, c in enumerate(self.columns)
            if type(c.param) in (Choice, Bool) and not cast(Choice, c.param).structured
        ]
        self._weighted = [
            j
            for j, c in enumerate(self.columns)
            if isinstance(c.param, Choice) and c.param.probs is not None
        ]
        self._cho_n = np.array(
            [self.columns[j].param.n_options for j in self._cho_cols], dtype=float
        )

    def _flatten(
        self,
        params: Mapping[str, Param],
        parent: int,
        option: int,
        prefix: str,
        seen: dict[str, list[tuple[str, tuple[tuple[int, int], ...]]]],
        chain: tuple[tuple[int, int], ...],
        group: tuple[str, ...],
    ) -> None:
        """Columns and fixed entries of ``params``, depth first; ``chain`` holds the
        ``(choice column, option)`` pairs above them, ``group`` their group path."""
        for local, p in params.items():
            name = ".".join((*group, local))
            path = f"{prefix}.{local}"
            for other, other_chain in seen.get(name, ()):
                if not _exclusive(chain, other_chain):
                    raise SpaceError(
                        path,
                        f"duplicate parameter name {name!r} (also at {other}); a name may "
                        "repeat only in different options of a conditional group (so "
                        "that at most one of them is active)",
                    )
            seen.setdefault(name, []).append((path, chain))
            if isinstance(p, Group):
                self._groups.add(name)
                self._flatten(
                    p.space.params, parent, option, f"{path}.params", seen, chain, (*group, local)
                )
                continue
            if group:
                self._paths[name] = (*group, local)
            if not p.has_column:
                assert isinstance(p, Fixed)
                self._fixed.append(_FixedEntry(name, p.value, parent, option))
                continue
            self._raw.append((name, p, parent, option, chain))
            idx = len(self._raw) - 1
            if isinstance(p, Choice) and p.subspaces is not None:
                for oi, (opt, sub) in enumerate(p.subspaces.items()):
                    self._flatten(
                        sub.params, idx, oi, f"{path}.{opt}", seen, (*chain, (idx, oi)), group
                    )

    def _key(self, name: str, chain: tuple[tuple[int, int], ...]) -> str:
        if name not in self.shared:
            return name
        where = []
        for col, opt in chain:
            cname, cparam = self._raw[col][0], self._raw[col][1]
            where.append(f"{cname}={cast(Choice, cparam).options[opt]}")
        return f"{name}@{','.join(where)}"

    # --- basic properties ---------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of columns of the unit-cube encoding."""
        return len(self.columns)

    def __len__(self) -> int:
        return len(self.columns) + len(self._fixed)

    def __contains__(self, name: object) -> bool:
        return (
            name in self._col
            or any(c.name == name for c in self.columns)
            or any(f.name == name for f in self._fixed)
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash(repr(self.to_spec()))

    def __repr__(self) -> str:
        return f"Space({self.params!r})"

    def column(self, name: str) -> int:
        """The column index of a (non-fixed) parameter, by its key (see :class:`Column`);
        a shared name gives the column of its first branch."""
        j = self._col.get(name)
        if j is None:
            j = next((j for j, c in enumerate(self.columns) if c.name == name), None)
            if j is None:
                raise KeyError(name)
        return j

    def delivery(self) -> Delivery:
        """How a trial receives its parameters (group nesting, conditional names)."""
        conditional = {c.name for c in self.columns if c.parent >= 0}
        conditional |= {f.name for f in self._fixed if f.parent >= 0}
        return Delivery(dict(self._paths), frozenset(conditional))

    def to_spec(self) -> dict[str, Any]:
        """The long sweep-file form of the space (JSON-serializable; see :func:`parse_space`)."""
        return {name: p.to_spec() for name, p in self.params.items()}

    # --- activity ---------------------------------------------------------------------
    def active_mask(self, u: np.ndarray) -> np.ndarray:
        """Which columns are active in each row of ``u`` (shape ``(n, D)``), top down."""
        u = np.atleast_2d(u)
        n = u.shape[0]
        mask = np.ones((n, self.dim), dtype=bool)
        if not self.is_conditional:
            return mask
        for j, c in enumerate(self.columns):
            if c.parent < 0:
                continue
            par = self.columns[c.parent].param
            col = u[:, c.parent]
            col = np.where(np.isnan(col), 0.5, col)  # as decode_many reads an active NaN
            k = clip(np.floor(clip(col, 0, 1) * par.n_options), 0, par.n_options - 1)
            mask[:, j] = mask[:, c.parent] & (k == c.option)
        return mask

    # --- decode / encode --------------------------------------------------------------
    def decode(self, u: np.ndarray) -> dict[str, Any]:
        """Decode one unit-cube row into a parameters dict (active parameters only)."""
        return self.decode_many(np.atleast_2d(u))[0]

    def decode_many(self, u: np.ndarray) -> list[dict[str, Any]]:
        """Decode rows of the unit cube (shape ``(n, D)``) into parameter dicts."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        if u.shape[1] != self.dim:
            raise ValueError(f"expected {self.dim} columns, got {u.shape[1]}")
        n = u.shape[0]
        mask = self.active_mask(u)
        out: list[dict[str, Any]] = [{} for _ in range(n)]
        choice_idx = np.zeros((n, self.dim), dtype=int)
        conditional = self.is_conditional
        grouped = self._decode_groups(u)
        for j, c in enumerate(self.columns):
            if conditional:
                rows = np.nonzero(mask[:, j])[0]
                if rows.size == 0:
                    continue
                sel: np.ndarray | slice = rows
                row_list: Sequence[int] = rows.tolist()
            else:
                sel, row_list = slice(None), range(n)
            needs_col = j not in grouped or (c.param.n_options and self._fixed)
            if needs_col:  # the grouped columns were decoded above, NaN read as 0.5 there
                col = u[sel, j]
                if np.isnan(col).any():
                    col = np.where(np.isnan(col), 0.5, col)
            if j in grouped:
                vals = grouped[j] if not conditional else [grouped[j][r] for r in row_list]
            else:
                vals = c.param._decode(col)
            for r, v in zip(row_list, vals):
                out[r][c.name] = v
            if c.param.n_options and self._fixed:
                choice_idx[row_list, j] = clip(
                    np.floor(clip(col, 0, 1) * c.param.n_options), 0, c.param.n_options - 1
                )
        for f in self._fixed:
            for r in range(n):
                if f.parent < 0 or (mask[r, f.parent] and choice_idx[r, f.parent] == f.option):
                    out[r][f.name] = f.value
        if self._fixed:  # keep declaration order stable: columns then fixed, by tree order
            order = self.param_names
            out = [{k: d[k] for k in order if k in d} for d in out]
        return out

    def _decode_groups(self, u: np.ndarray) -> dict[int, list[Any]]:
        """Decoded values of every row of the grouped columns (``NaN`` read as 0.5)."""
        out: dict[int, list[Any]] = {}
        if self._lin_cols:
            b = u[:, self._lin_cols]
            b = np.where(np.isnan(b), 0.5, b)
            x = clip(
                self._lin_low + clip(b, 0.0, 1.0) * self._lin_span, self._lin_low, self._lin_high
            )
            out.update(zip(self._lin_cols, x.T.tolist()))
        if self._cho_cols:
            b = u[:, self._cho_cols]
            b = np.where(np.isnan(b), 0.5, b)
            k = clip(np.floor(clip(b, 0, 1) * self._cho_n), 0, self._cho_n - 1)
            for j, ks in zip(self._cho_cols, k.T.astype(int).tolist()):
                opts = self.columns[j].param.options  # type: ignore[attr-defined]
                out[j] = [opts[i] for i in ks]
        return out

    @property
    def param_names(self) -> list[str]:
        """Every parameter name, groups' sub-parameters included, depth first."""
        order: list[str] = []

        def walk(params: Mapping[str, Param], group: str) -> None:
            for name, p in params.items():
                if isinstance(p, Group):
                    walk(p.space.params, f"{group}{name}.")
                    continue
                order.append(group + name)
                if isinstance(p, Choice) and p.subspaces is not None:
                    for sub in p.subspaces.values():
                        walk(sub.params, group)

        walk(self.params, "")
        return list(dict.fromkeys(order)) if self.shared else order

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Encode one parameters dict to a unit-cube row (``NaN`` for inactive columns)."""
        return self.encode_many([params])[0]

    def encode_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode parameter dicts to an ``(n, D)`` array; parameters are not re-validated.

        Call :meth:`validate` first for untrusted input.
        """
        n = len(configs)
        u = np.full((n, self.dim), np.nan)
        if self._lin_cols and n:
            self._encode_linear(configs, u)
        skip = set(self._lin_cols)
        shared = self.shared
        active = self.active_mask if shared else None
        for j, c in enumerate(self.columns):
            if j in skip:
                continue
            rows = [i for i, p in enumerate(configs) if c.name in p]
            if rows and c.name in shared:  # only the column of the branch taken
                assert active is not None
                on = active(u[rows])[:, j]  # its parents (earlier columns) are encoded
                rows = [i for i, ok in zip(rows, on.tolist()) if ok]
            if rows:
                u[rows, j] = c.param._encode([configs[i][c.name] for i in rows])
        return u

    def _encode_linear(self, configs: Sequence[Mapping[str, Any]], u: np.ndarray) -> None:
        """Encode the linear float columns into ``u`` as one array operation."""
        nan = math.nan
        x = np.array([[p.get(k, nan) for k in self._lin_names] for p in configs], dtype=float)
        low, high, span = self._lin_low, self._lin_high, self._lin_span
        ux = clip((x - low) / span, 0.0, 1.0)
        # Float._encode_array nudges u by a few ulps where decoding would not give x back;
        # that is rare, and those columns take the Param's own path.
        back = clip(low + ux * span, low, high)
        bad = (back != x) & ~np.isnan(x)
        for k in np.flatnonzero(bad.any(axis=0)).tolist():
            c = self.columns[self._lin_cols[k]]
            rows = [i for i, p in enumerate(configs) if c.name in p]
            ux[rows, k] = c.param._encode([configs[i][c.name] for i in rows])
        u[:, self._lin_cols] = ux

    # --- sampling ----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int = 1) -> list[dict[str, Any]]:
        """Draw ``n`` configurations independently from the space's prior (vectorized)."""
        return self.decode_many(self.warp(rng.random((n, self.dim))))

    def warp(self, u: np.ndarray) -> np.ndarray:
        """Uniform draws ``u`` (``(n, D)``) as draws from the prior: the columns of
        choices with ``weights`` pick their options in proportion (every other column is
        already its prior under the encoding). ``u`` itself is returned when no choice
        has weights."""
        if not self._weighted:
            return u
        u = np.array(u, dtype=float, copy=True)
        for j in self._weighted:
            u[:, j] = cast(Choice, self.columns[j].param).warp(u[:, j])
        return u

    # --- validation --------------------------------------------------------------------
    def validate(self, params: Mapping[str, Any], path: str = "params") -> dict[str, Any]:
        """Check a parameters dict against the space and return it normalized.

        Raises:
            SpaceError: out of range, wrong type, off the step grid, a missing active
                parameter, an inactive or unknown parameter. The message names it.
        """
        if not isinstance(params, Mapping):
            raise SpaceError(path, f"expected a dict of parameters, got {type(params).__name__}")
        for k in params:
            if not isinstance(k, str):
                raise SpaceError(
                    path, f"parameter names must be strings, got {type(k).__name__} {short(k)}"
                )
        if self._groups and any(k in self._groups for k in params):
            params = self._flat(params, "")
        out: dict[str, Any] = {}
        active: set[str] = set()
        chosen: dict[int, int] = {}

        def is_active(parent: int, option: int) -> bool:
            return parent < 0 or chosen.get(parent) == option

        for j, c in enumerate(self.columns):
            if not is_active(c.parent, c.option):
                continue
            active.add(c.name)
            if c.name not in params:
                raise SpaceError(
                    f"{path}.{c.name}", "missing (it is active in this configuration)"
                )
            v = c.param.validate(params[c.name], f"{path}.{c.name}")
            out[c.name] = v
            if isinstance(c.param, Choice):
                chosen[j] = c.param.index(v)
        for f in self._fixed:
            if not is_active(f.parent, f.option):
                continue
            active.add(f.name)
            if f.name in params and params[f.name] != f.value:
                raise SpaceError(
                    f"{path}.{f.name}", f"is fixed to {f.value!r}, got {params[f.name]!r}"
                )
            out[f.name] = f.value
        for k in params:
            if k not in active:
                if k in self:
                    raise SpaceError(
                        f"{path}.{k}",
                        "is not active in this configuration (its group's "
                        "option was not chosen); leave it out",
                    )
                raise SpaceError(
                    f"{path}.{show_name(k)}",
                    f"unknown parameter{did_you_mean(k, self.param_names)}",
                )
        return {k: out[k] for k in self.param_names if k in out}

    def _flat(self, params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        """``params`` with a group given as one mapping (``{"opt": {"lr": 0.1}}``, as a
        trial receives it) spelled out as its flat names (``opt.lr``)."""
        out: dict[str, Any] = {}
        for k, v in params.items():
            name = f"{prefix}{k}"
            if name in self._groups and isinstance(v, Mapping):
                out.update(self._flat(v, f"{name}."))
            else:
                out[name] = v
        return out

    # --- grid --------------------------------------------------------------------------
    def grid(self, grid_points: int | None = None) -> Grid:
        """The grid over the space: every combination of choices, bools, ints and steps.

        Args:
            grid_points: number of points for continuous parameters without a step
                (log-spaced on log scale; normal quantiles for ``Normal``). Without it a
                continuous parameter is an error.
        """
        return Grid(self, grid_points)


def _exclusive(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> bool:
    """Can two parameters under the choice chains ``a`` and ``b`` never both be active?
    (They hang under different options of one conditional group.)"""
    opts = dict(a)
    return any(col in opts and opts[col] != opt for col, opt in b)
