"""Metrics in text: lines a trial prints on stdout or stderr, and values in JSON lines.

:class:`LineParser` turns one line into ``(step, {name: value})``:

* **patterns** the sweep gives (``metrics: {patterns: {val_acc: 'acc=([0-9.]+)%'}}``): a
  regular expression per metric name whose first group (or group ``value``) is the value
  and whose optional group ``step`` is the step;
* a JSON object on a line of its own: every key with a number;
* ``name=value`` and ``name: value`` pairs, several per line, for *any* name
  (``epoch 3 train_loss=0.51 val_acc: 93.1%``); a pair whose value is no number is
  ignored, except for a declared metric (an objective or constraint), which then fails
  the trial with that value as the reason;
* ``name value`` (no ``=`` or ``:``) for declared metrics only (``INFO: epoch 0 = loss
  15.3``): for any name it would read ordinary prose (``using 4 workers``) as metrics.

Values: ``93.1%`` is 93.1 (the number as written), ``1,234.5`` is 1234.5 (thousands
separators), surrounding quotes and brackets and a trailing ``.`` are ignored. A ``step``
or ``epoch`` on the line (``step=3``, ``epoch: 3``, ``Epoch 3/10``) gives the step; they
are never metrics themselves. A name stands alone: ``loss`` does not match
``val_loss=...``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from hypersweep._validate import fail

__all__ = [
    "STEP_KEYS",
    "STEP_RE",
    "LineParser",
    "compile_pattern",
    "json_step",
    "parse_number",
]

STEP_RE = re.compile(
    r"(?<![\w.\-/])(['\"]?)(?:step|epoch)\1(?:\s*[:=]\s*|\s+)(\d+)(?![\w.])", re.IGNORECASE
)
STEP_KEYS = ("step", "epoch")
_STRIP = "'\"()[]{}<>"
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?%?|[-+]?\.\d+%?"
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?(?:[eE][-+]?\d+)?")
_NAME = r"[A-Za-z_][\w./\-]*"
# a value: a number with thousands separators first (its commas are not separators), else
# any token up to white space, ',' or ';'
_VALUE = r"(?:[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?(?:[eE][-+]?\d+)?%?(?![\d,])|[^\s,;]+)"
_PAIR_RE = re.compile(rf"(?<![\w.\-/])(['\"]?)({_NAME})\1\s*[:=]\s*({_VALUE})")


def parse_number(raw: Any) -> float | str:
    """A reported value as a float (NaN/inf included), or its text when it is no number.

    Example:
        >>> [parse_number(v) for v in (3, "0.5,", "93.1%", "1,234.5", "'7'", "abc")]
        [3.0, 0.5, 93.1, 1234.5, 7.0, 'abc']
    """
    if isinstance(raw, bool) or raw is None or isinstance(raw, (list, dict)):
        return json.dumps(raw)
    if isinstance(raw, (int, float)):
        try:
            return float(raw)
        except OverflowError:  # an integer beyond float range
            return math.inf if raw > 0 else -math.inf
    text = str(raw).strip()
    token = text.strip(_STRIP).rstrip(",;")
    if token.endswith(".") and len(token) > 1:
        token = token[:-1]
    if token.endswith("%") and len(token) > 1:
        token = token[:-1]
    if "," in token and _THOUSANDS.fullmatch(token):
        token = token.replace(",", "")
    try:
        return float(token)
    except ValueError:
        return text


def json_step(v: Any) -> int | None:
    """A step read from JSON (an integer >= 0, ``3.0`` or ``"3"``), else ``None``."""
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and v >= 0:
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def compile_pattern(name: str, pattern: Any, path: str = "metrics.patterns") -> re.Pattern[str]:
    """A metric pattern checked: it compiles and has a group for the value.

    Raises:
        SpecError: located at ``path.name``, with the fix.
    """
    where = f"{path}.{name}"
    if not isinstance(pattern, str) or not pattern:
        raise fail(where, f"expected a regular expression, got {pattern!r}")
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise fail(where, f"not a regular expression ({e}): {pattern!r}") from None
    if rx.groups < 1:
        raise fail(
            where,
            f"{pattern!r} has no group",
            "put the value in parentheses, e.g. 'acc=([0-9.]+)%'",
        )
    return rx


def _is_step(name: str) -> bool:
    return name.lower() in STEP_KEYS


class LineParser:
    """Reads the metrics of one line of text (see the module docs).

    Args:
        declared: the metric names the sweep needs (objectives, constraints): their
            values are kept even when they are no number (so the trial can fail with
            the reason), and the ``name value`` form is read for them.
        patterns: metric name -> regular expression (see :func:`compile_pattern`).

    Example:
        >>> p = LineParser(["loss"], {"val_acc": r"accuracy of ([0-9.]+)%"})
        >>> p.parse("INFO: epoch 2 = loss 15.3 (accuracy of 93.1%, lr: 1e-3)")
        (2, {'val_acc': 93.1, 'lr': 0.001, 'loss': 15.3})
        >>> p.parse("loss: 1,234.5 Downloading: done")
        (None, {'loss': 1234.5})
    """

    def __init__(self, declared: Sequence[str], patterns: Mapping[str, str] | None = None) -> None:
        self.declared = frozenset(declared)
        self.patterns = [(n, compile_pattern(n, p)) for n, p in (patterns or {}).items()]
        names = sorted(self.declared | {n for n, _ in self.patterns}, key=len, reverse=True)
        alt = "|".join(re.escape(n) for n in names)
        self._spaced = (
            re.compile(rf"(?<![\w.\-/])({alt})\s+({_NUMBER})(?=$|[\s,;)\]}}])") if alt else None
        )

    def parse(self, line: str, pairs: bool = True) -> tuple[int | None, dict[str, float | str]]:
        """The step (or ``None``) and the metrics of ``line`` (empty when it has none).
        ``pairs=False``: the patterns only."""
        found: dict[str, float | str] = {}
        step: int | None = None
        for name, rx in self.patterns:
            m = rx.search(line)
            if m is None:
                continue
            groups = m.groupdict()
            raw = groups["value"] if groups.get("value") is not None else m.group(1)
            if raw is None:
                continue
            found[name] = parse_number(raw)
            if groups.get("step") is not None:
                step = json_step(groups["step"])
        if not pairs:
            return self._step(line, step, found)
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            obj = _json_object(stripped)
            if obj is not None:
                for k, v in obj.items():
                    k = str(k)
                    if _is_step(k):
                        if step is None:
                            step = json_step(v)
                        continue
                    if k in found:
                        continue
                    value = parse_number(v)
                    if not isinstance(value, str) or k in self.declared:
                        found[k] = value
                return step, found
        for pair in _PAIR_RE.finditer(line):
            name = pair.group(2).rstrip(".-/")
            if _is_step(name) or name in found:
                continue
            value = parse_number(pair.group(3))
            if isinstance(value, str) and name not in self.declared:
                continue
            found[name] = value
        if self._spaced is not None:
            for m in self._spaced.finditer(line):
                if m.group(1) not in found:
                    found[m.group(1)] = parse_number(m.group(2))
        return self._step(line, step, found)

    @staticmethod
    def _step(
        line: str, step: int | None, found: dict[str, float | str]
    ) -> tuple[int | None, dict[str, float | str]]:
        if not found:
            return None, found
        if step is None:
            s = STEP_RE.search(line)
            if s is not None:
                step = int(s.group(2))
        return step, found


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except ValueError:
        try:  # a printed Python dict: {'val_acc': 0.9}
            obj = json.loads(text.replace("'", '"'))
        except ValueError:
            return None
    return obj if isinstance(obj, dict) else None
