"""Reading a command trial's output: growing files tailed in bounded pieces, and the
parsing of metric values (see :mod:`hypersweep.execution.command`). The readers live in
:mod:`hypersweep.metrics`; this module keeps the names the executor has always used."""

from __future__ import annotations

from hypersweep.metrics.tail import (
    MAX_LINE,
    STDERR_TAIL_BYTES,
    STDERR_TAIL_LINES,
    Tail,
    tail_text,
)
from hypersweep.metrics.text import STEP_KEYS, STEP_RE, json_step, parse_number

__all__ = [
    "MAX_LINE",
    "STDERR_TAIL_BYTES",
    "STDERR_TAIL_LINES",
    "STEP_KEYS",
    "STEP_RE",
    "Tail",
    "json_step",
    "parse_number",
    "tail_text",
]
