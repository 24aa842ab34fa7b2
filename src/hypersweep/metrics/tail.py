"""Growing files read from where the last read left off, in bounded pieces: a trial's
output while it runs (complete lines only), and the last lines of a file."""

from __future__ import annotations

import os
from typing import IO

__all__ = ["MAX_LINE", "STDERR_TAIL_BYTES", "STDERR_TAIL_LINES", "ChunkTail", "Tail", "tail_text"]

#: Bytes of stderr kept in a failed trial's error (at most :data:`STDERR_TAIL_LINES` lines).
STDERR_TAIL_BYTES = 2048
STDERR_TAIL_LINES = 20
#: Longest line (bytes) parsed for metrics; a longer line is skipped.
MAX_LINE = 65536
_CHUNK = 1 << 20


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


class ChunkTail:
    """A growing binary file of framed records (W&B's transaction log, TensorBoard's
    event files), read in pieces from where the last read left off. A subclass cuts
    records out of what :meth:`read` returns and keeps the unconsumed rest in ``buf``
    (a record split across two reads); ``broken`` stops all further reading."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.f: IO[bytes] | None = None
        self.buf = b""
        self.broken = False

    def read(self, limit: int) -> bytes | None:
        """``buf`` followed by up to ``limit`` bytes written since the last read;
        ``None`` while the file does not exist (it is opened on first success) or once
        it is broken."""
        if self.broken:
            return None
        if self.f is None:
            try:
                self.f = open(self.path, "rb")  # noqa: SIM115 - kept open while tailing
            except OSError:
                return None
        return self.buf + self.f.read(limit)

    def skip(self, n: int) -> None:
        """Move ``n`` bytes past the end of the last read, unread (an oversized record)."""
        if self.f is not None:
            self.f.seek(n, os.SEEK_CUR)

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
