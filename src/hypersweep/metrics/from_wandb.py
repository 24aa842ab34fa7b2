"""Metrics from a W&B run's transaction log, read as it grows, without importing wandb.

With ``WANDB_MODE=offline`` and ``WANDB_DIR=<run folder>`` a script's ``wandb.init`` writes
``<run folder>/wandb/offline-run-<time>-<id>/run-<id>.wandb`` and sends nothing. That file
is what ``wandb sync`` uploads later: a LevelDB-style log (a 7-byte header ``:W&B``,
then 32 KiB blocks of records, each with a CRC-32, a length and a FULL / FIRST / MIDDLE
/ LAST type) whose records are ``Record`` protocol-buffer messages. Read here:

* ``history`` records (one per ``wandb.log`` commit): every numeric item is a metric,
  its step the record's ``_step``; nested dictionaries are flattened with ``.``
  (``{"val": {"acc": 0.9}}`` -> ``val.acc``); media, tables and other objects are skipped,
  and so are W&B's own keys (``_runtime``, ``_timestamp``, ...);
* ``summary`` records (``run.summary[...] = x`` and the final summary): a numeric item
  that is not also a history key is reported at the run's last step (a summary record
  that carries a ``_step`` is the copy of a history row, written just before it:
  skipped).

Every run folder under the W&B folder is read (a script may call ``wandb.init`` more
than once). A record that fails its checksum ends the reading of that file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
import zlib
from typing import Any

from hypersweep.metrics._protobuf import BYTES, VARINT, DecodeError, fields, signed
from hypersweep.metrics.base import Point
from hypersweep.metrics.tail import ChunkTail

__all__ = ["BLOCK", "LogFile", "WandbSource", "decode_record"]

log = logging.getLogger("hypersweep")

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
IDENT = b":W&B"
MAGIC = 0xBEE1
#: Bytes read per poll from one log.
READ_LIMIT = 4 << 20
# Record fields; HistoryRecord: item = 1, step = 2; SummaryRecord: update = 1;
# HistoryItem / SummaryItem: key = 1, nested_key = 2, value_json = 16
_HISTORY, _SUMMARY = 2, 3


class LogFile(ChunkTail):
    """One ``.wandb`` file: its complete records, as they are written."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.pos = 0  # file offset of buf[0]
        self.parts: list[bytes] = []  # the pieces of a record that spans blocks

    def records(self, limit: int = READ_LIMIT) -> list[bytes]:
        buf = self.read(limit)
        if buf is None:
            return []
        i = 0
        out: list[bytes] = []
        if self.pos == 0:
            if len(buf) < HEADER:
                self.buf = buf
                return out
            ident, magic, _version = struct.unpack("<4sHB", buf[:HEADER])
            if ident != IDENT or magic != MAGIC:
                log.debug("%s: not a W&B transaction log", self.path)
                self.broken = True
                return out
            i = HEADER
        while True:
            at = self.pos + i
            left = BLOCK - at % BLOCK
            if left < HEADER:  # the block's tail is padding
                if len(buf) - i < left:
                    break
                i += left
                continue
            if len(buf) - i < HEADER:
                break
            crc, length, kind = struct.unpack("<IHB", buf[i : i + HEADER])
            if kind == 0 and length == 0:  # zero-filled: the rest of the block is empty
                if len(buf) - i < left:
                    break
                i += left
                continue
            if len(buf) - i < HEADER + length:
                break
            chunk = buf[i + HEADER : i + HEADER + length]
            if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
                log.debug("%s: bad record checksum at byte %d", self.path, at)
                self.broken = True
                break
            i += HEADER + length
            if kind == FULL:
                self.parts = []
                out.append(chunk)
            elif kind == FIRST:
                self.parts = [chunk]
            elif kind == MIDDLE:
                self.parts.append(chunk)
            elif kind == LAST:
                self.parts.append(chunk)
                out.append(b"".join(self.parts))
                self.parts = []
        self.buf = buf[i:]
        self.pos += i
        return out


def _items(buf: bytes) -> list[tuple[str, Any]]:
    """The ``(key, decoded JSON value)`` items of a history or summary record."""
    out: list[tuple[str, Any]] = []
    for num, _wire, item in fields(buf):
        if num != 1 or not isinstance(item, bytes):
            continue
        key, nested, value = "", [], None
        for inum, _w, v in fields(item):
            if not isinstance(v, bytes):
                continue
            if inum == 1:
                key = v.decode("utf-8", errors="replace")
            elif inum == 2:
                nested.append(v.decode("utf-8", errors="replace"))
            elif inum == 16:
                value = v
        if value is None:
            continue
        try:
            decoded = json.loads(value)
        except ValueError:
            continue
        out.append((".".join(nested) if nested else key, decoded))
    return out


def _numbers(key: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        try:
            out[key] = float(value)
        except OverflowError:
            out[key] = math.inf if value > 0 else -math.inf
    elif isinstance(value, dict) and "_type" not in value:  # a media object has a _type
        for k, v in value.items():
            _numbers(f"{key}.{k}", v, out)


def decode_record(buf: bytes) -> tuple[str, int | None, dict[str, float]] | None:
    """``("history" | "summary", step, metrics)`` of one ``Record``, or ``None`` for any
    other record.

    Raises:
        DecodeError: the bytes are not a ``Record``.
    """
    for num, wire, v in fields(buf):
        if wire != BYTES or num not in (_HISTORY, _SUMMARY) or not isinstance(v, bytes):
            continue
        step: int | None = None
        metrics: dict[str, float] = {}
        for key, value in _items(v):
            if key == "_step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                step = int(value)
            elif not key.startswith("_"):
                _numbers(key, value, metrics)
        if num == _HISTORY and step is None:
            for snum, _swire, s in fields(v):  # HistoryRecord.step.num (0 is left out)
                if snum == 2 and isinstance(s, bytes):
                    step = 0
                    for n, w, x in fields(s):
                        if n == 1 and w == VARINT and isinstance(x, int):
                            step = signed(x)
        return ("history" if num == _HISTORY else "summary"), step, metrics
    return None


class WandbSource:
    """The history and summary of every run under one W&B folder (``<WANDB_DIR>/wandb``)."""

    name = "wandb"

    def __init__(self, root: str) -> None:
        self.root = root
        self.logs: dict[str, LogFile] = {}
        self.history_keys: set[str] = set()
        self.last_step: int | None = None
        self.summary: dict[str, float] = {}

    def _scan(self) -> None:
        try:
            runs = [e.path for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for run in runs:
            try:
                names = [e.name for e in os.scandir(run) if e.name.endswith(".wandb")]
            except OSError:
                continue
            for n in names:
                path = os.path.join(run, n)
                if path not in self.logs:
                    self.logs[path] = LogFile(path)

    def poll(self, final: bool = False) -> list[Point]:
        self._scan()
        out: list[Point] = []
        for path in sorted(self.logs):
            lf = self.logs[path]
            while True:
                records = lf.records()
                for rec in records:
                    try:
                        got = decode_record(rec)
                    except DecodeError:
                        continue
                    if got is not None:
                        self._add(*got, out)
                if not (final and records):
                    break
        return out

    def _add(
        self, kind: str, step: int | None, metrics: dict[str, float], out: list[Point]
    ) -> None:
        if kind == "history":
            if step is not None:
                step = max(step, 0)
                self.last_step = step
            for k, v in metrics.items():
                self.history_keys.add(k)
                out.append((k, v, step))
            return
        if step is not None:  # the summary's copy of a history row (it comes first)
            return
        for k, v in metrics.items():
            if k in self.history_keys or self.summary.get(k) == v:
                continue
            self.summary[k] = v
            out.append((k, v, self.last_step))

    def close(self) -> None:
        for lf in self.logs.values():
            lf.close()
