"""YAML with line numbers: a sweep file composed into plain values and a key path -> line map."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml

from hypersweep._bounded_yaml import BoundedLoader, YamlLimitError, check_graph

if TYPE_CHECKING:
    pass
from hypersweep._validate import one_line
from hypersweep.spec.model import SweepFileError


# ======================================================================================
# YAML with line numbers
# ======================================================================================
class Loader(BoundedLoader):
    """The safe loader (with bounded depth and integers), plus YAML 1.2 floats without a
    dot (``1e-5``)."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)(?:\.[\d_]*)?[eE][-+]?\d+$"),
    list("-+0123456789"),
)


def compose(text: str, file: str) -> tuple[Any, dict[str, int]]:
    """Parse YAML text into Python data and a map of key path -> 1-based line."""
    loader: Loader | None = None
    try:
        loader = Loader(text)
        node = loader.get_single_node()
        if node is None:
            raise SweepFileError(
                file,
                1,
                "",
                "the file is empty; a sweep file needs at least name, command "
                "(or function), space and objective",
            )
        check_graph(node)
        _rejoin_calls(node, text, set())
        lines: dict[str, int] = {}
        _walk(node, "", "", lines, file, set())
        data = loader.construct_document(node)
    except YamlLimitError as e:
        mark = e.problem_mark
        raise SweepFileError(
            file, mark.line + 1 if mark is not None else 1, "", str(e.problem)
        ) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, max(0, e.position)) + 1
        raise SweepFileError(
            file,
            line,
            "",
            f"the file holds the control character U+{e.character:04X}; "
            "remove it (in a double-quoted string write it as an escape, e.g. \\x1b)",
        ) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        col = f" (column {mark.column + 1})" if mark is not None else ""
        what = e.problem or e.context or "invalid YAML"
        raise SweepFileError(file, line, "", f"YAML syntax error: {what}{col}") from None
    except yaml.YAMLError as e:
        raise SweepFileError(file, 1, "", f"YAML syntax error: {one_line(str(e))}") from None
    except SweepFileError:
        raise
    except (ValueError, OverflowError) as e:  # e.g. chr() of a "\U0011ffff" escape
        mark = loader.get_mark() if loader is not None else None
        line = mark.line + 1 if mark is not None else 1
        raise SweepFileError(
            file,
            line,
            "",
            f"YAML syntax error: {one_line(str(e))} (an escape that is not a character?)",
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def _balanced_end(text: str, start: int, limit: int) -> int | None:
    """The index just past the ``)`` closing the first ``(`` at or after ``start``."""
    depth, quote = 0, ""
    i = start
    while i < limit:
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c in "\n#" and depth == 0:
            return None
        i += 1
    return None


def _rejoin_calls(node: yaml.Node, text: str, seen: set[int]) -> None:
    """Undo YAML's split of compact forms at commas inside flow collections.

    In ``{beta1: uniform(0.8, 0.99)}`` YAML ends the plain scalar at the comma, giving
    ``beta1: "uniform(0.8"`` plus a stray key ``"0.99)"``. A plain value with an unclosed
    ``(`` is re-read from the source up to its closing ``)``, and the stray fragments
    (plain keys without a value) inside that span are dropped.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    failed: list[bool] = []  # a scan of this collection found no ")": do not scan again
    if isinstance(node, yaml.MappingNode):
        pairs = list(node.value)
        out: list[tuple[yaml.Node, yaml.Node]] = []
        i = 0
        while i < len(pairs):
            key, value = pairs[i]
            i += 1
            fixed = _rejoined(value, text, node, failed) if node.flow_style else None
            if fixed is not None:
                new, end = fixed
                j = i
                while j < len(pairs) and pairs[j][0].start_mark.index < end:
                    k, v = pairs[j]
                    if not (
                        isinstance(k, yaml.ScalarNode)
                        and k.style is None
                        and isinstance(v, yaml.ScalarNode)
                        and v.value == ""
                    ):
                        break
                    j += 1
                if j > i and (j == len(pairs) or pairs[j][0].start_mark.index >= end):
                    value, i = new, j
            out.append((key, value))
            _rejoin_calls(value, text, seen)
        node.value[:] = out
    elif isinstance(node, yaml.SequenceNode):
        items = list(node.value)
        kept: list[yaml.Node] = []
        i = 0
        while i < len(items):
            item = items[i]
            i += 1
            fixed = _rejoined(item, text, node, failed) if node.flow_style else None
            if fixed is not None:
                new, end = fixed
                j = i
                while (
                    j < len(items)
                    and items[j].start_mark.index < end
                    and isinstance(items[j], yaml.ScalarNode)
                    and items[j].style is None
                ):
                    j += 1
                if j > i and (j == len(items) or items[j].start_mark.index >= end):
                    item, i = new, j
            kept.append(item)
            _rejoin_calls(item, text, seen)
        node.value[:] = kept


_MAX_CALL_CHARS = 10_000


def _rejoined(
    value: yaml.Node, text: str, parent: yaml.Node, failed: list[bool]
) -> tuple[yaml.Node, int] | None:
    if not (isinstance(value, yaml.ScalarNode) and value.style is None):
        return None
    if failed or value.value.count("(") <= value.value.count(")"):
        return None
    start = value.start_mark.index
    # bounded: a compact form is short, and a scan never runs to the end of a long file
    end = _balanced_end(text, start, min(parent.end_mark.index, start + _MAX_CALL_CHARS))
    if end is None:  # unbalanced: its error says to quote it; later scans would fail too
        failed.append(True)
        return None
    joined = yaml.ScalarNode(
        "tag:yaml.org,2002:str", text[start:end], value.start_mark, value.end_mark, style=None
    )
    return joined, end


def _walk(
    node: yaml.Node,
    path: str,
    alias: str,
    lines: dict[str, int],
    file: str,
    seen: set[int],
) -> None:
    """Record the line of every key path (and its space alias without ``choice``)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        in_space = path == "space" or path.startswith("space.")
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise SweepFileError(file, line, path, "keys must be plain names")
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            if key == "<<":
                _walk(value_node, path, alias, lines, file, seen)
                continue
            if key in first:
                raise SweepFileError(
                    file,
                    line,
                    child,
                    f"key {key!r} is given twice (first on line {first[key]}); keep one",
                )
            first[key] = line
            lines[child] = line
            # a group's sub-parameters are named space.<group>.<option>.<param> in errors
            child_alias = (
                alias if (in_space and key == "choice") else (f"{alias}.{key}" if alias else key)
            )
            lines.setdefault(child_alias, line)
            _walk(value_node, child, child_alias, lines, file, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = f"{path}[{i}]"
            lines[child] = item.start_mark.line + 1
            lines.setdefault(f"{alias}[{i}]", item.start_mark.line + 1)
            _walk(item, child, f"{alias}[{i}]", lines, file, seen)
