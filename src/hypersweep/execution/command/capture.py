"""Reading a command trial's output: metric lines of stdout and JSON lines of its metrics
file, tailed in bounded pieces (see :mod:`hypersweep.execution.command`)."""

from __future__ import annotations

import json
import math
import os
import re
from typing import IO, Any

__all__ = ["MAX_LINE", "STEP_KEYS", "STEP_RE", "Tail", "json_step", "parse_number", "tail_text"]

#: Bytes of stderr kept in a failed trial's error (at most :data:`STDERR_TAIL_LINES` lines).
STDERR_TAIL_BYTES = 2048
STDERR_TAIL_LINES = 20
#: Longest line (bytes) parsed for metrics; a longer line is skipped.
MAX_LINE = 65536
_CHUNK = 1 << 20

STEP_RE = re.compile(
    r"(?<![\w.\-/])(['\"]?)(?:step|epoch)\1(?:\s*[:=]\s*|\s+)(\d+)(?![\w.])", re.IGNORECASE
)
STEP_KEYS = ("step", "epoch")
_STRIP = "'\"()[]{}<>"


def parse_number(raw: Any) -> float | str:
    """A reported value as a float (NaN/inf included), or its text when it is no number."""
    if isinstance(raw, bool) or raw is None or isinstance(raw, (list, dict)):
        return json.dumps(raw)
    if isinstance(raw, (int, float)):
        try:
            return float(raw)
        except OverflowError:  # an integer beyond float range
            return math.inf if raw > 0 else -math.inf
    text = str(raw).strip()
    token = text.strip(_STRIP)
    if token.endswith(".") and len(token) > 1:
        token = token[:-1]
    try:
        return float(token)
    except ValueError:
        return text


def json_step(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and v >= 0:
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


class Tail:
    """Reads a growing file from where it left off; yields complete lines only."""

    def __init__(self, path: str, split_cr: bool = False) -> None:
        self.path = path
        self.f: IO[bytes] | None = None
        self.buf = b""
        self.split_cr = split_cr
        self.skipping = False  # inside an over-long line
        self.more = False  # the last call stopped at its byte limit: more may be waiting
        self.bytes = 0  # bytes read so far
        self.skipped = 0  # bytes skipped unread (see skip)

    def lines(self, final: bool = False, limit: int | None = None) -> list[bytes]:
        """The complete lines written since the last call (at most ``limit`` bytes read;
        :attr:`more` then says the file may hold more). ``final``: the writer has ended,
        so a last line without a newline counts too (once the whole file is read)."""
        self.more = False
        if self.f is None:
            try:
                self.f = open(self.path, "rb")  # noqa: SIM115 - kept open while tailing
            except FileNotFoundError:
                return []
        out: list[bytes] = []
        left = limit
        while True:
            if left is not None and left <= 0:
                self.more = True
                break
            data = self.f.read(_CHUNK if left is None else min(_CHUNK, left))
            if not data:
                break
            self.bytes += len(data)
            if left is not None:
                left -= len(data)
            self._feed(data, out)
        if final and self.buf and not self.more:
            if not self.skipping:
                out.append(self.buf)
            self.buf = b""
        if self.split_cr:
            out = [seg for line in out for seg in line.split(b"\r")]
        return out

    def _feed(self, data: bytes, out: list[bytes]) -> None:
        start = 0
        if self.skipping:  # the rest of an over-long line: drop it
            nl = data.find(b"\n")
            if nl < 0:
                return
            self.skipping = False
            start = nl + 1
        elif self.buf:
            data = self.buf + data
        self.buf = b""
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            out.append(data[start:nl])
            start = nl + 1
        rest = data[start:]
        if len(rest) > MAX_LINE:  # no metric line is that long: skip to the next newline
            self.skipping = True
            rest = b""
        self.buf = rest

    def skip(self) -> None:
        """Skip what has been written so far, unread (counted in :attr:`skipped`)."""
        self.more = False
        if self.f is None:
            try:
                self.f = open(self.path, "rb")  # noqa: SIM115 - kept open while tailing
            except FileNotFoundError:
                return
        here = self.f.tell()
        size = self.f.seek(0, os.SEEK_END)
        self.skipped += max(0, size - here)
        self.buf = b""
        self.skipping = False

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def tail_text(path: str) -> str:
    """The last lines of a file (at most STDERR_TAIL_BYTES / STDERR_TAIL_LINES), read from
    its end only."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - STDERR_TAIL_BYTES)
            f.seek(start)
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # cut mid-line
    return "\n".join(lines[-STDERR_TAIL_LINES:]).strip("\n")
