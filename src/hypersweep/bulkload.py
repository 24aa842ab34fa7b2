"""Opening a study from bulk column reads, without one Python object per trial.

A process that opens a large study to ask (a CLI command, a joining worker, a notebook)
reads the trials once as columns (:meth:`~hypersweep.storage.Storage.load_history`), and
:meth:`History.load_columns <hypersweep.history.History.load_columns>` builds the
numpy arrays samplers read from them:

* :func:`encode_param_texts` encodes every stored parameters text into the unit cube,
  checking the values against the space column by column (numpy) where the space allows
  it, and row by row (:meth:`Space.validate`) where it does not;
* :class:`LazyTrials` stands in for the list of :class:`~hypersweep.trial.Trial`
  snapshots: a trial's snapshot is decoded from its stored texts the first time anything
  looks at it, so a sampler that reads only the arrays never pays for 100k of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableSequence, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, overload

import numpy as np

from hypersweep._json import loads as json_loads
from hypersweep._json import loads_or
from hypersweep.constraints import constraint_values
from hypersweep.errors import SpaceError
from hypersweep.space import Fixed, Float, Space
from hypersweep.storage.base import HistoryColumns
from hypersweep.trial import Trial, TrialState

__all__ = ["LazyTrials", "constraint_columns", "encode_param_dicts", "encode_param_texts"]


def _validate_rows(
    space: Space, dicts: Sequence[Any], rows: Iterable[int], X: np.ndarray, valid: np.ndarray
) -> None:
    """The row-by-row path: what :meth:`History.update` does for new trials."""
    good: list[int] = []
    configs: list[dict[str, Any]] = []
    for i in rows:
        try:
            configs.append(space.validate(dicts[i]))
        except (SpaceError, TypeError, ValueError):
            continue
        good.append(i)
    if good:
        X[good] = space.encode_many(configs)
        valid[good] = True


_NUMBERS = frozenset({int, float})  # what Float.validate accepts of JSON's types


def _encode_group(
    space: Space, key: tuple[str, ...], dicts: Sequence[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(valid, X)`` of rows that all hold exactly the parameters ``key`` of an
    unconditional space, vectorized where they are plain floats and fixed values (the
    checks of :meth:`Space.validate`, the encoding of :meth:`Space.encode_many`);
    ``None`` when a parameter or a value needs the row-by-row path."""
    if not all(k in space.params for k in key):  # e.g. group parameters (optimizer.lr)
        return None
    params = [space.params[k] for k in key]
    floats = [k for k, p in zip(key, params) if type(p) is Float and p.step is None]
    fixed = [(k, p) for k, p in zip(key, params) if isinstance(p, Fixed)]
    if len(floats) + len(fixed) != len(key):
        return None
    n = len(dicts)
    ok = np.ones(n, dtype=bool)
    for k, p in fixed:
        is_bool = type(p.value) is bool  # Fixed.validate: 1 is not True
        ok &= np.array(
            [d[k] == p.value and (type(d[k]) is bool) == is_bool for d in dicts], dtype=bool
        )
    x = np.zeros((n, 0))
    if floats:
        get = itemgetter(*floats)
        rows = list(map(get, dicts))
        if not set(map(type, chain.from_iterable(rows) if len(floats) > 1 else rows)) <= _NUMBERS:
            return None  # booleans, strings, nulls: the row path says which rows are bad
        try:
            x = np.array(rows, dtype=float).reshape(n, len(floats))
        except (OverflowError, ValueError, TypeError):  # an int too large for a float
            return None
        low = np.array([space.params[k].low for k in floats])  # type: ignore[attr-defined]
        high = np.array([space.params[k].high for k in floats])  # type: ignore[attr-defined]
        with np.errstate(invalid="ignore"):
            ok &= (np.isfinite(x) & (x >= low) & (x <= high)).all(axis=1)
    X = np.full((n, space.dim), np.nan)
    good = np.flatnonzero(ok)
    if good.size:
        cols = {c.name: j for j, c in enumerate(space.columns)}
        for pos, k in enumerate(floats):  # Float._encode: what encode_many computes
            X[good, cols[k]] = space.params[k]._encode(x[good, pos])
    return ok, X


_CHUNK = 8192  # rows decoded at once: bounds the transient dicts, not the result


def encode_param_texts(space: Space, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(X, valid)`` for stored parameters texts: the same rows and validity that
    encoding each trial's validated parameters gives (a row that no longer fits the space
    is ``NaN`` and invalid), vectorized for spaces of plain floats. The texts are decoded
    a chunk at a time, so the transient memory does not grow with the study."""
    n = len(texts)
    X = np.full((n, space.dim), np.nan)
    valid = np.zeros(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        X[start : start + _CHUNK], valid[start : start + _CHUNK] = _encode_chunk(
            space, texts[start : start + _CHUNK]
        )
    return X, valid


def _encode_chunk(space: Space, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    dicts: list[Any] = []
    for t in texts:
        try:
            d = json_loads(t)
        except ValueError:
            d = None
        dicts.append(d)
    return encode_param_dicts(space, dicts)


def encode_param_dicts(space: Space, dicts: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(X, valid)`` for parameters dicts (anything else is an invalid row): what
    validating and encoding each one gives, vectorized for spaces of plain floats (also
    :meth:`History.update <hypersweep.history.History.update>`'s path for a sync's
    batch of new trials)."""
    n = len(dicts)
    X = np.full((n, space.dim), np.nan)
    valid = np.zeros(n, dtype=bool)
    if any(c.parent >= 0 for c in space.columns):
        _validate_rows(space, dicts, range(n), X, valid)
        return X, valid
    groups: dict[tuple[str, ...] | None, list[int]] = {}
    for i, d in enumerate(dicts):
        groups.setdefault(tuple(d) if isinstance(d, dict) else None, []).append(i)
    for key, rows in groups.items():
        if key is None:
            continue
        try:
            norm = space.validate(dicts[rows[0]])
        except (SpaceError, TypeError, ValueError):
            norm = None
        fast = None
        if norm is not None and tuple(norm) == key:
            fast = _encode_group(space, key, [dicts[i] for i in rows])
        if fast is None:  # a shape or type the vectorized check does not cover
            _validate_rows(space, dicts, rows, X, valid)
            continue
        X[rows], valid[rows] = fast[1], fast[0]
    return X, valid


def parse_values(texts: Sequence[str | None], n_objectives: int) -> np.ndarray:
    """``(n, M)`` objective values (unsigned) from stored JSON lists; ``NaN`` where there
    is none or it has the wrong length."""
    Y = np.full((len(texts), n_objectives), np.nan)
    for i, t in enumerate(texts):
        if t is None:
            continue
        if n_objectives == 1 and t[0] == "[" and t[-1] == "]" and "," not in t:
            try:  # "[0.25]": the common case, without a JSON decode
                Y[i, 0] = float(t[1:-1])
                continue
            except ValueError:
                pass
        v = json_loads(t)
        if v is not None and len(v) == n_objectives:
            Y[i] = v
    return Y


class _Metrics:
    """What :func:`~hypersweep.constraints.constraint_values` reads of a trial."""

    __slots__ = ("metrics", "reports")

    def __init__(self, metrics: dict[str, Any], reports: Mapping[int, Any]) -> None:
        self.metrics, self.reports = metrics, reports


def constraint_columns(
    cols: HistoryColumns,
    reports: Mapping[int, dict[int, dict[str, float]]] | None,
    constraints: Sequence[Any],
) -> np.ndarray:
    """``(n, K)`` violations of ``constraints``: what ``constraint_values`` gives for each
    trial (its returned metric, else its last report with it), from the stored metrics
    texts and the trials' reports, or the last reported values when those were left out
    (:attr:`HistoryColumns.last_reported`)."""
    last = cols.last_reported or {}
    C = np.full((len(cols.numbers), len(constraints)), np.nan)
    for row, number in enumerate(cols.numbers):
        if reports is not None:
            reps: Mapping[int, Any] = reports.get(number, {})
        else:
            reps = {0: last[number]} if number in last else {}
        metrics = loads_or(cols.rest[row][1], {})
        C[row] = constraint_values(_Metrics(metrics, reps), constraints)
    return C


class LazyTrials(MutableSequence[Any]):
    """The trial snapshots of a :class:`History`, by number, decoded on first access.

    Behaves as the ``list[Trial | None]`` it replaces (index, assign, extend, iterate).
    ``reports`` (trial number -> ``{step: metrics}``) is attached to the snapshots it
    decodes; without it they carry none (the study then says its reports are not loaded).
    """

    def __init__(
        self,
        cols: HistoryColumns,
        reports: Mapping[int, dict[int, dict[str, float]]] | None = None,
    ) -> None:
        self._cols = cols
        self._reports = reports or {}
        top = (max(cols.numbers) + 1) if cols.numbers else 0
        self._items: list[Any] = [None] * top
        for row, number in enumerate(cols.numbers):
            self._items[number] = row  # an int: not decoded yet

    def _decode(self, row: int) -> Trial:
        c = self._cols
        tid, metrics, started, finished, hb, worker, error, ua, sa, attempt, budget, resume = (
            c.rest[row]
        )
        vals = loads_or(c.values[row], None)
        number = c.numbers[row]
        return Trial(
            number=number,
            state=TrialState(c.states[row]),
            params=json_loads(c.params[row]),
            values=tuple(vals) if vals is not None else None,
            metrics=loads_or(metrics, {}),
            reports=self._reports.get(number, {}),
            started_at=started,
            finished_at=finished,
            heartbeat_at=hb,
            worker_id=worker,
            error=error,
            user_attrs=loads_or(ua, {}),
            system_attrs=loads_or(sa, {}),
            id=tid,
            attempt=int(attempt),
            budget=budget,
            resume_from=resume,
        )

    def params(self, i: int) -> dict[str, Any]:
        """Trial ``i``'s parameters (a trial not decoded yet stays undecoded)."""
        x = self._items[i]
        if type(x) is int:
            return json_loads(self._cols.params[x])
        return x.params

    def _get(self, i: int) -> Any:
        x = self._items[i]
        if type(x) is int:
            x = self._items[i] = self._decode(x)
        return x

    @overload
    def __getitem__(self, i: int) -> Trial: ...
    @overload
    def __getitem__(self, i: slice) -> list[Trial]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(len(self._items)))]
        return self._get(i)

    def __setitem__(self, i: Any, value: Any) -> None:
        self._items[i] = value

    def __delitem__(self, i: Any) -> None:
        del self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def insert(self, i: int, value: Any) -> None:
        self._items.insert(i, value)

    def extend(self, values: Iterable[Any]) -> None:
        self._items.extend(values)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self._items)):
            yield self._get(i)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (list, LazyTrials)):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        decoded = sum(1 for x in self._items if type(x) is not int)
        return f"LazyTrials({len(self._items)} trials, {decoded} decoded)"
