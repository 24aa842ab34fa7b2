"""The categorical parameter types: Choice (options, weights, conditional groups), Bool, Fixed."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hypersweep._validate import is_number, short, unwrap
from hypersweep.errors import SpaceError
from hypersweep.space._common import (
    MAX_GROUP_DEPTH,
    JsonScalar,
    clip,
    int_problem,
    text_problem,
)
from hypersweep.space.params import Param

if TYPE_CHECKING:
    from hypersweep.space.space import Space


def _json_problem(value: Any) -> str | None:
    """Why ``value`` (a list or mapping) cannot be a parameter value (``None`` when it can)."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return (
            f"must be JSON data (strings, numbers, booleans, null, lists, mappings with "
            f"string keys), got {type(value).__name__} {short(value)}"
        )
    if json.loads(text) != value:
        return f"must be JSON data (mapping keys are strings), got {short(value)}"
    return text_problem(text) or _nested_int_problem(value)


def _nested_int_problem(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list):
        for v in value:
            problem = _nested_int_problem(v)
            if problem:
                return problem
        return None
    return int_problem(value)


def _numbers_as_floats(v: Any) -> Any:
    """``v`` with every number a float: the identity of a structured option (1 == 1.0)."""
    if isinstance(v, Mapping):
        return {k: _numbers_as_floats(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_numbers_as_floats(x) for x in v]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


def _copy(v: Any) -> Any:
    """A fresh copy of a structured option (a trial may change its own params)."""
    if isinstance(v, (list, dict)):
        return json.loads(json.dumps(v))
    return v


class Choice(Param):
    """One of a list of options, or a conditional group.

    An option is a JSON scalar (string, number, boolean, null) or JSON data: a list
    (``[32, 32]``) or a mapping given inside the list (``[{"a": 1}, {"b": 2}]``). A command
    trial receives a list or mapping as compact JSON text; a function trial the object.

    A conditional group is a dict ``{option_name: sub_space}``: the sub-space's parameters
    are active only when that option is chosen. Sub-spaces may contain further groups.

    ``weights`` (one positive number per option) make some options more probable: random
    search draws them in proportion, the grid lists the most probable first, and TPE uses
    them as its prior. Without weights every option is equally likely.

    Example:
        >>> Choice(["relu", "tanh"]).validate("tanh")
        'tanh'
        >>> g = Choice({"adam": {"beta1": 0.9}, "sgd": {}}, weights=[3, 1])
        >>> g.options, g.probs
        (['adam', 'sgd'], (0.75, 0.25))
        >>> Choice([[32, 32], [64]]).validate([64])
        [64]
    """

    def __init__(
        self,
        options: Sequence[JsonScalar | list[Any] | dict[str, Any]] | Mapping[str, Any],
        weights: Sequence[float] | None = None,
    ) -> None:
        from hypersweep.space.space import Space

        self.subspaces: dict[str, Space] | None
        self.structured = False
        if isinstance(options, Mapping):
            if not options:
                raise SpaceError("", "Choice needs at least one option, got {}")
            self.options: list[Any] = []
            self.subspaces = {}
            for key, sub in options.items():
                if not isinstance(key, str) or not key:
                    raise SpaceError("", f"group option names must be strings, got {short(key)}")
                problem = text_problem(key)
                if problem:
                    raise SpaceError("", f"group option name {short(key)} {problem}")
                if isinstance(sub, Space) and sub.depth >= MAX_GROUP_DEPTH:
                    raise SpaceError(
                        "",
                        f"conditional groups nest more than "
                        f"{MAX_GROUP_DEPTH} levels deep; flatten the space",
                    )
                self.options.append(key)
                self.subspaces[key] = sub if isinstance(sub, Space) else Space(sub or {})
        else:
            if isinstance(options, (str, bytes)) or not isinstance(options, Sequence):
                raise SpaceError(
                    "", f"Choice needs a list of options, got {type(options).__name__}"
                )
            if len(options) == 0:
                raise SpaceError("", "Choice needs at least one option, got []")
            self.options = [self._check_option(o) for o in options]
            self.structured = any(isinstance(o, (list, dict)) for o in self.options)
            self.subspaces = None
        keys = [self._key(o) for o in self.options]
        if len(set(keys)) != len(keys):
            seen_keys: set[Any] = set()
            dup_key = next(k for k in keys if k in seen_keys or seen_keys.add(k))  # type: ignore[func-returns-value]
            dup = self.options[keys.index(dup_key)]
            raise SpaceError("", f"Choice has the option {short(dup)} twice")
        self._index = {k: i for i, k in enumerate(keys)}
        self.n_options = len(self.options)
        self.weights: tuple[float, ...] | None = None
        self.probs: tuple[float, ...] | None = None
        if weights is not None:
            self._set_weights(weights)

    @staticmethod
    def _check_option(o: Any) -> Any:
        o = unwrap(o)
        if isinstance(o, tuple):
            o = list(o)
        if isinstance(o, (list, Mapping)):
            problem = _json_problem(o)
            if problem:
                raise SpaceError("", f"Choice option {short(o)}: {problem}")
            return json.loads(json.dumps(o))
        if not (o is None or isinstance(o, (str, int, float, bool))):
            raise SpaceError(
                "",
                f"Choice options must be strings, numbers, booleans, null, lists or "
                f"mappings, got {type(o).__name__} {short(o)}",
            )
        if isinstance(o, float) and not math.isfinite(o):
            raise SpaceError("", f"Choice options must be finite, got {o!r}")
        problem = int_problem(o) or (text_problem(o) if isinstance(o, str) else None)
        if problem:
            raise SpaceError(
                "",
                f"Choice option {short(o)}: {problem}"
                if isinstance(o, str)
                else f"Choice options: {problem}",
            )
        return o

    def _set_weights(self, weights: Any) -> None:
        if isinstance(weights, (str, bytes, Mapping)) or not isinstance(weights, Sequence):
            raise SpaceError("", f"weights must be a list of numbers, got {short(weights)}")
        if len(weights) != self.n_options:
            raise SpaceError(
                "",
                f"weights needs one number per option: {self.n_options} options, "
                f"got {len(weights)} weights",
            )
        ws = []
        for w in weights:
            if not is_number(w) or not math.isfinite(float(w)) or not float(w) > 0:
                raise SpaceError(
                    "",
                    f"weights must be finite numbers > 0 (leave an option out instead "
                    f"of weighing it 0), got {short(w)}",
                )
            ws.append(float(w))
        total = math.fsum(ws)
        if not math.isfinite(total):
            raise SpaceError("", "weights: their sum overflows; use smaller numbers")
        self.weights = tuple(ws)
        self.probs = tuple(w / total for w in ws)
        self._cum = np.cumsum(np.array(self.probs))

    @staticmethod
    def _key(o: Any) -> tuple[str, Any]:
        if isinstance(o, bool) or o is None:
            return ("b", o)
        if isinstance(o, (int, float)):
            return ("n", float(o))
        if isinstance(o, (list, dict)):
            return ("j", json.dumps(_numbers_as_floats(o), sort_keys=True))
        return ("s", o)

    def index(self, value: Any, path: str = "") -> int:
        """The option index of ``value``; raises :class:`SpaceError` if it is not an option."""
        try:
            v = unwrap(value)
            if isinstance(v, tuple):
                v = list(v)
            return self._index[self._key(v)]
        except (KeyError, TypeError, OverflowError, ValueError, RecursionError):
            shown = ", ".join(short(o) for o in self.options[:10])
            raise SpaceError(path, f"{short(value)} is not one of the options [{shown}]") from None

    def validate(self, value: Any, path: str = "") -> Any:
        return _copy(self.options[self.index(value, path)])

    def _encode(self, values: Sequence[Any]) -> np.ndarray:
        idx = np.array([self.index(v) for v in values], dtype=float)
        return (idx + 0.5) / self.n_options

    def _decode(self, u: np.ndarray) -> list[Any]:
        k = clip(np.floor(clip(u, 0, 1) * self.n_options), 0, self.n_options - 1)
        if self.structured:
            return [_copy(self.options[int(i)]) for i in k]
        return [self.options[int(i)] for i in k]

    def warp(self, u: np.ndarray) -> np.ndarray:
        """Uniform draws ``u`` as encodings of options drawn with probabilities ``probs``
        (the encoding itself stays one equal bin per option; ``NaN`` stays ``NaN``)."""
        if self.probs is None:
            return u
        k = np.searchsorted(self._cum, np.nan_to_num(clip(u, 0.0, 1.0)), side="right")
        k = clip(k, 0, self.n_options - 1)
        return np.where(np.isnan(u), np.nan, (k + 0.5) / self.n_options)

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        if self.probs is None:
            return [_copy(o) for o in self.options]
        order = sorted(range(self.n_options), key=lambda i: -self.probs[i])  # type: ignore[index]
        return [_copy(self.options[i]) for i in order]

    def to_spec(self) -> Any:
        if self.subspaces is not None:
            d: dict[str, Any] = {"choice": {k: s.to_spec() for k, s in self.subspaces.items()}}
        else:
            d = {"choice": [_copy(o) for o in self.options]}
        if self.weights is not None:
            d["weights"] = list(self.weights)
        return d


class Bool(Choice):
    """``False`` or ``True``.

    Example:
        >>> Bool().options
        [False, True]
    """

    def __init__(self) -> None:
        super().__init__([False, True])

    def to_spec(self) -> Any:
        return {"type": "bool"}


class Fixed(Param):
    """A constant: part of every configuration where its group is active, never searched.

    Example:
        >>> Fixed(10).validate(10)
        10
    """

    has_column = False

    def __init__(self, value: Any) -> None:
        value = unwrap(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise SpaceError("", f"a fixed value must be finite, got {value!r}")
        problem = int_problem(value) or (text_problem(value) if isinstance(value, str) else None)
        if problem is None and not (value is None or isinstance(value, (str, int, float))):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError, RecursionError):
                problem = (
                    f"must be JSON data (strings, numbers, booleans, null, lists, "
                    f"mappings), got {type(value).__name__} {short(value)}"
                )
        if problem:
            raise SpaceError("", f"a fixed value: {problem}")
        self.value = value

    def validate(self, value: Any, path: str = "") -> Any:
        v = unwrap(value)
        if v != self.value or (type(v) is bool) != (type(self.value) is bool):
            raise SpaceError(path, f"is fixed to {short(self.value)}, got {short(value)}")
        return self.value

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        return [self.value]

    def to_spec(self) -> Any:
        if isinstance(self.value, (str, dict, list)):
            return {"type": "fixed", "value": self.value}
        return self.value
