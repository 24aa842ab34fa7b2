"""A YAML loader with bounded work: nesting depth, alias expansion, integer size.

PyYAML's composer recurses once per nesting level (a file of 1,000 ``[`` ends in a
``RecursionError``), a recursive alias builds a self-containing structure that any walk
over it follows forever, aliases can expand a small file into an exponential amount of
data, and ``int()`` of a few thousand digits is refused (or slow). :class:`BoundedLoader`
and :func:`check_graph` turn each of these into a :class:`YamlLimitError` that carries
the position of the node at fault, so the sweep-file loader can say which line to fix.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_CHARS",
    "MAX_NODES",
    "BoundedLoader",
    "YamlLimitError",
    "check_graph",
]

#: The deepest nesting of mappings and lists a sweep file may have (aliases included).
MAX_DEPTH = 64
#: The most values a sweep file may hold once its aliases are expanded.
MAX_NODES = 100_000
#: The longest integer a sweep file may write (``int()`` refuses 4,300 digits).
MAX_INT_CHARS = 1000


class YamlLimitError(yaml.MarkedYAMLError):
    """A bound of :class:`BoundedLoader` was exceeded; ``problem`` says which and the fix."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses nesting deeper than :data:`MAX_DEPTH` and integers
    longer than :data:`MAX_INT_CHARS` characters, before doing the work."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._hs_depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._hs_depth += 1
        try:
            if self._hs_depth > MAX_DEPTH:
                raise YamlLimitError(
                    f"nesting deeper than {MAX_DEPTH} levels; a sweep file needs far fewer "
                    "(flatten it)",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._hs_depth -= 1

    def construct_yaml_int(self, node: ScalarNode) -> int:
        value = str(node.value)
        if len(value) > MAX_INT_CHARS:
            raise YamlLimitError(
                f"an integer of {len(value)} characters (at most {MAX_INT_CHARS}); quote it "
                "to keep it as text",
                node.start_mark,
            )
        return super().construct_yaml_int(node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def check_graph(root: Node) -> None:
    """Refuse alias cycles, nesting through aliases deeper than :data:`MAX_DEPTH` and
    documents that expand to more than :data:`MAX_NODES` values.

    One iterative pass over the node graph (each shared node is visited once), so the cost
    is linear in the file whatever its aliases.

    Raises:
        YamlLimitError: located at the offending node.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[tuple[Node, list[Node], int]] = [(root, _children(root), 0)]
    on_stack.add(id(root))
    while stack:
        node, kids, i = stack[-1]
        if i < len(kids):
            stack[-1] = (node, kids, i + 1)
            child = kids[i]
            if id(child) in on_stack:
                raise YamlLimitError(
                    "a recursive alias (the value contains itself); write the value out",
                    child.start_mark,
                )
            if id(child) not in size:
                on_stack.add(id(child))
                stack.append((child, _children(child), 0))
            continue
        stack.pop()
        on_stack.discard(id(node))
        size[id(node)] = 1 + sum(size[id(k)] for k in kids)
        depth[id(node)] = 1 + max((depth[id(k)] for k in kids), default=0)
        if size[id(node)] > MAX_NODES:
            raise YamlLimitError(
                f"the aliases here expand to more than {MAX_NODES} values; write the "
                "values out or use fewer aliases",
                node.start_mark,
            )
        if depth[id(node)] > MAX_DEPTH:
            raise YamlLimitError(
                f"aliases nest values deeper than {MAX_DEPTH} levels; flatten the file",
                node.start_mark,
            )
