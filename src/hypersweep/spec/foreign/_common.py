"""What the translators share: the translation record, value checks, argv items."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypersweep._validate import did_you_mean, is_number, short

__all__ = ["Refused", "Translation", "Translator", "literal_item", "placeholder"]


class Refused(Exception):
    """Raised inside a translator to abandon one key (already recorded as a problem)."""


@dataclass
class Translation:
    """One foreign file translated into the native sweep-file mapping.

    Attributes:
        source: what the file is, in words (``Azure ML sweep job``, ``W&B sweep config``).
        native: the native mapping (what ``hypersweep convert`` writes).
        origin: native key path -> the foreign key path it came from (for line numbers).
        notes: what was translated, one line each (``search_space.C -> space.C: ...``).
        warnings: ``(foreign key path, message)`` for every key that cannot be honoured.
        problems: ``(foreign key path, message)`` for every key that stops the load.
    """

    source: str
    native: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def lines(self, foreign_lines: Mapping[str, int]) -> dict[str, int]:
        """The native key path -> line map, through :attr:`origin`."""
        out: dict[str, int] = {}
        for native, foreign in self.origin.items():
            p = foreign
            while p:
                if p in foreign_lines:
                    out[native] = foreign_lines[p]
                    break
                cut = max(p.rfind("."), p.rfind("["))
                p = p[:cut] if cut > 0 else ""
        return out


class Translator:
    """Base of the two translators: records notes, warnings and refusals."""

    source = "foreign file"

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.t = Translation(self.source)

    # --- recording ----------------------------------------------------------------------
    def note(self, text: str) -> None:
        self.t.notes.append(text)

    def warn(self, path: str, text: str) -> None:
        self.t.warnings.append((path, text))

    def refuse(self, path: str, text: str) -> Refused:
        self.t.problems.append((path, text))
        return Refused(path)

    def put(self, native_path: str, value: Any, foreign_path: str) -> None:
        """Set ``native[native_path]`` (one level of nesting: ``a.b``) and remember where
        it came from."""
        head, _, rest = native_path.partition(".")
        if rest:
            self.t.native.setdefault(head, {})[rest] = value
        else:
            self.t.native[head] = value
        self.t.origin[native_path] = foreign_path
        self.t.origin.setdefault(head, foreign_path.split(".")[0])

    def attempt(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Refused:
            return None

    # --- value checks -------------------------------------------------------------------
    def mapping(self, v: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            raise self.refuse(path, f"expected a mapping, got {short(v)}")
        return v

    def number(self, v: Any, path: str) -> float:
        if not is_number(v) or not math.isfinite(float(v)):
            raise self.refuse(path, f"expected a number, got {short(v)}")
        return float(v) if isinstance(v, float) else v

    def integer(self, v: Any, path: str, minimum: int = 0) -> int:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise self.refuse(path, f"expected an integer >= {minimum}, got {short(v)}")
        return v

    def string(self, v: Any, path: str) -> str:
        if not isinstance(v, str) or not v.strip():
            raise self.refuse(path, f"expected a string, got {short(v)}")
        return v

    def unknown(self, path: str, key: str, known: list[str], hint: str = "") -> None:
        where = f"{path}.{key}" if path else key
        self.refuse(
            where,
            f"unknown key {key!r}{did_you_mean(key, known)}{hint}; {self.source} keys "
            f"hypersweep reads here: {', '.join(known)}",
        )


#: a name a native ``{placeholder}`` may carry
_PLACEHOLDER_NAME = re.compile(r"^[^{}\s]+$")


def literal_item(text: str) -> str:
    """``text`` as literal argv text of a native command template (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def placeholder(name: str) -> str:
    """The native placeholder of parameter ``name``.

    Raises:
        ValueError: the name cannot be a placeholder (braces or spaces).
    """
    if not _PLACEHOLDER_NAME.match(name):
        raise ValueError(name)
    return "{" + name + "}"
