"""Nested parameter groups (``optimizer.lr``) and how a trial's parameters are delivered.

Inside a space a :class:`Group` contributes flat names: ``{"optimizer": Group({"lr":
...})}`` has the parameter ``optimizer.lr``, the name samplers, storage, exports and
``{optimizer.lr}`` placeholders use. A trial *receives* them nested where its parameters
arrive as one object (a function's ``params``, ``hypersweep.params()``, the JSON of
``HYPERSWEEP_PARAMS`` / ``params_as: json``): ``{"optimizer": {"lr": 0.01}}``.
:class:`Delivery` is that mapping (plain data, cheap to pickle): executors get it from
:meth:`Space.delivery <hypersweep.space.Space.delivery>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hypersweep.errors import SpaceError
from hypersweep.space.params import Param

if TYPE_CHECKING:
    from hypersweep.space.space import Space


class Group(Param):
    """A named group of parameters, delivered to the trial as one nested mapping.

    Its parameters are named ``<group>.<name>`` in the space (groups nest: ``a.b.c``);
    they may be of any type, conditional groups included.

    Example:
        >>> from hypersweep.space import Float, Space
        >>> s = Space({"optimizer": Group({"lr": Float(1e-4, 1e-1), "momentum": 0.9})})
        >>> s.param_names
        ['optimizer.lr', 'optimizer.momentum']
        >>> s.delivery().nest({"optimizer.lr": 0.01, "optimizer.momentum": 0.9})
        {'optimizer': {'lr': 0.01, 'momentum': 0.9}}
    """

    has_column = False

    def __init__(self, params: Mapping[str, Any] | Space) -> None:
        from hypersweep.space.space import Space

        if not isinstance(params, (Mapping, Space)):
            raise SpaceError(
                "", f"Group needs a mapping of name -> parameter, got {type(params).__name__}"
            )
        self.space = params if isinstance(params, Space) else Space(params)
        if not len(self.space):
            raise SpaceError("", "a group needs at least one parameter")
        self.depth = self.space.depth

    def validate(self, value: Any, path: str = "") -> Any:
        raise SpaceError(path, "is a group: give its parameters as group.name")

    def grid_values(self, path: str, grid_points: int | None) -> list[Any]:
        raise SpaceError(path, "is a group: its parameters have grid values")

    def to_spec(self) -> Any:
        return {"type": "group", "params": self.space.to_spec()}


@dataclass(frozen=True)
class Delivery:
    """How a trial receives its parameters: nesting of group names, conditional names.

    Attributes:
        paths: flat name -> its path (``"optimizer.lr" -> ("optimizer", "lr")``) for the
            parameters inside groups; other names are delivered as they are.
        conditional: names of the parameters that only some configurations have (a
            command template drops an argument whose placeholder names an inactive one).
    """

    paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    conditional: frozenset[str] = frozenset()

    def groups(self) -> frozenset[str]:
        """The names of the groups (``"optimizer"``, ``"optimizer.nadam"``): a command
        placeholder naming one receives the group's parameters nested, as JSON."""
        return frozenset(".".join(p[:i]) for p in self.paths.values() for i in range(1, len(p)))

    def nest(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with group parameters as nested mappings (in parameter order)."""
        if not self.paths:
            return dict(params)
        out: dict[str, Any] = {}
        for k, v in params.items():
            path = self.paths.get(k)
            if path is None:
                out[k] = v
                continue
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = v
        return out
