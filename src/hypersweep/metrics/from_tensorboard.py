"""Scalars from TensorBoard event files (``events.out.tfevents.*``), read as they grow.

An event file is a sequence of TFRecords (a little-endian ``uint64`` length, its masked
CRC-32C, the data, the data's masked CRC-32C); each record is an ``Event`` message whose
``summary`` holds tagged values. A scalar is a ``simple_value`` (``add_scalar`` of
tensorboardX and ``torch.utils.tensorboard``) or a one-element numeric ``tensor`` (TF2's
``tf.summary.scalar``); histograms, images, text and other plugins' data are skipped.
The tag is the metric name and the event's step its step (a value logged again at a
step not past that tag's last counts as the next step). Two folders that log the same
tag (``train/`` and ``val/`` writers) are told apart: the second one's metric is
``<folder name>/<tag>``. Event files last written before the trial started (an earlier
attempt's) are left out.

No TensorFlow and no ``tensorboard`` import: the format is read here (its length CRC is
checked, so a torn or foreign file is never misread; a record past
:data:`MAX_RECORD` bytes is skipped unread).
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Sequence

from hypersweep.metrics._protobuf import BYTES, FIXED32, VARINT, DecodeError, fields, packed
from hypersweep.metrics._protobuf import signed as _signed
from hypersweep.metrics.base import Point, StepOrder, walk_files
from hypersweep.metrics.tail import ChunkTail

__all__ = ["MAX_RECORD", "EventFile", "TensorBoardSource", "crc32c", "masked_crc", "scalars"]

log = logging.getLogger("hypersweep")

#: Records larger than this (bytes: an image, a graph) are skipped without being read.
MAX_RECORD = 8 << 20
#: Bytes read per poll from one event file.
READ_LIMIT = 4 << 20

_TABLE: list[int] = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses it.

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# DataType -> (struct format of one element in tensor_content, its size)
_CONTENT = {1: ("<f", 4), 2: ("<d", 8), 3: ("<i", 4), 4: ("<B", 1), 5: ("<h", 2),
            6: ("<b", 1), 9: ("<q", 8), 19: ("<e", 2), 14: ("bf16", 2)}  # fmt: skip
# TensorProto field -> packed kind (float_val, double_val, int_val, int64_val, half_val)
_VALS = {5: "f", 6: "d", 7: "v", 10: "v", 13: "e"}
_SCALAR_PLUGINS = ("", "scalars")


def _tensor_scalar(buf: bytes) -> float | None:
    dtype, elements, content = 0, 1, b""
    vals: list[float] = []
    for num, wire, v in fields(buf):
        if num == 1 and wire == VARINT and isinstance(v, int):
            dtype = v
        elif num == 2 and isinstance(v, bytes):
            for dnum, _w, dim in fields(v):
                if dnum == 2 and isinstance(dim, bytes):
                    size = next((s for n, _, s in fields(dim) if n == 1), 0)
                    elements *= _signed(size) if isinstance(size, int) else 0
        elif num == 4 and isinstance(v, bytes):
            content = v
        elif num in _VALS:
            vals.extend(packed(wire, v, _VALS[num]))
    if elements != 1 or dtype not in _CONTENT:
        return None
    if content:
        fmt, size = _CONTENT[dtype]
        if len(content) != size:
            return None
        if fmt == "bf16":
            return float(struct.unpack("<f", b"\0\0" + content)[0])
        return float(struct.unpack(fmt, content)[0])
    return vals[0] if len(vals) == 1 else None


def scalars(event: bytes) -> tuple[int, list[tuple[str, float]]]:
    """The step and the scalar ``(tag, value)`` pairs of one serialized ``Event``.

    Raises:
        DecodeError: the bytes are not an ``Event``.
    """
    step = 0
    out: list[tuple[str, float]] = []
    summary = b""
    for num, wire, v in fields(event):
        if num == 2 and wire == VARINT and isinstance(v, int):
            step = _signed(v)
        elif num == 5 and wire == BYTES and isinstance(v, bytes):
            summary = v
    for num, _wire, value in fields(summary):
        if num != 1 or not isinstance(value, bytes):
            continue
        tag, simple, tensor, plugin = "", None, None, ""
        for vnum, vwire, v in fields(value):
            if vnum == 1 and isinstance(v, bytes):
                tag = v.decode("utf-8", errors="replace")
            elif vnum == 2 and vwire == FIXED32 and isinstance(v, bytes):
                simple = struct.unpack("<f", v)[0]
            elif vnum == 8 and isinstance(v, bytes):
                tensor = v
            elif vnum == 9 and isinstance(v, bytes):
                for mnum, _w, pd in fields(v):
                    if mnum == 1 and isinstance(pd, bytes):
                        name = next((p for n, _, p in fields(pd) if n == 1), b"")
                        plugin = name.decode() if isinstance(name, bytes) else ""
        if not tag:
            continue
        if simple is not None:
            out.append((tag, float(simple)))
        elif tensor is not None and plugin in _SCALAR_PLUGINS:
            x = _tensor_scalar(tensor)
            if x is not None:
                out.append((tag, x))
    return step, out


class EventFile(ChunkTail):
    """One event file, read record by record as it grows."""

    def records(self, limit: int = READ_LIMIT) -> list[bytes]:
        """The complete records written since the last call."""
        buf = self.read(limit)
        if buf is None:
            return []
        out: list[bytes] = []
        i = 0
        while len(buf) - i >= 12:
            header = buf[i : i + 8]
            if struct.unpack("<I", buf[i + 8 : i + 12])[0] != masked_crc(header):
                log.debug("%s: bad record length checksum at byte %d", self.path, i)
                self.broken = True
                break
            length = struct.unpack("<Q", header)[0]
            end = i + 12 + length + 4
            if length > MAX_RECORD:  # skip it unread: seek past its end
                self.skip(end - len(buf))
                i = len(buf)
                break
            if end > len(buf):
                break
            out.append(buf[i + 12 : i + 12 + length])
            i = end
        self.buf = buf[i:]
        return out


class TensorBoardSource:
    """The scalars of every event file under ``roots`` (searched again at each poll, so
    writers that start late are found)."""

    name = "tensorboard"

    def __init__(self, roots: Sequence[str], since: float | None = None) -> None:
        self.roots = [os.path.abspath(r) for r in roots]
        self.since = since
        self.files: dict[str, EventFile] = {}
        self.stale: set[str] = set()  # written before the trial started
        self.owner: dict[str, str] = {}  # tag -> the folder whose values carry it plainly
        self.order = StepOrder()

    def _scan(self) -> None:
        for root in self.roots:
            for d, names in walk_files(root):
                for n in names:
                    if "tfevents" in n and not n.endswith(".profile-empty"):
                        path = os.path.join(d, n)
                        if path not in self.files and path not in self.stale:
                            if self._stale(path):
                                self.stale.add(path)
                            else:
                                self.files[path] = EventFile(path)

    def _stale(self, path: str) -> bool:
        if self.since is None:
            return False
        try:  # one second of slack for coarse file-system clocks
            return os.stat(path).st_mtime < self.since - 1.0
        except OSError:
            return True

    def poll(self, final: bool = False) -> list[Point]:
        self._scan()
        out: list[Point] = []
        for path in sorted(self.files, key=lambda p: (os.path.dirname(p), p)):
            ef = self.files[path]
            folder = os.path.dirname(path)
            while True:
                records = ef.records()
                for rec in records:
                    try:
                        step, values = scalars(rec)
                    except DecodeError:
                        continue
                    for tag, value in values:
                        name = self._name(tag, folder)
                        out.append((name, value, self.order.step(name, max(step, 0))))
                if not (final and records):
                    break
        return out

    def _name(self, tag: str, folder: str) -> str:
        owner = self.owner.setdefault(tag, folder)
        return tag if owner == folder else f"{os.path.basename(folder)}/{tag}"

    def close(self) -> None:
        for ef in self.files.values():
            ef.close()
