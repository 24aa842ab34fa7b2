"""The protocol-buffer wire format, read without generated classes: just enough for the
TensorBoard event and W&B record messages the readers of this package need.

A message is a sequence of fields; :func:`fields` yields ``(number, wire type, value)``:
an ``int`` for a varint, ``bytes`` for a length-delimited field and for the raw little-
endian bytes of a fixed 32- or 64-bit field. Field numbers of a message never change
meaning across versions of a schema, which is what makes this robust.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["VARINT", "DecodeError", "as_double", "as_float", "fields", "packed", "signed"]

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class DecodeError(ValueError):
    """The bytes are not a well-formed message."""


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = 0
    out = 0
    n = len(buf)
    while True:
        if i >= n or shift > 63:
            raise DecodeError("truncated or over-long varint")
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, i
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """The fields of one message, in order.

    Example:
        >>> list(fields(bytes([0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69])))
        [(1, 0, 150), (2, 2, b'hi')]
    """
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError("field number 0")
        if wire == VARINT:
            value, i = _varint(buf, i)
            yield number, wire, value
        elif wire == BYTES:
            size, i = _varint(buf, i)
            if i + size > n:
                raise DecodeError("truncated length-delimited field")
            yield number, wire, buf[i : i + size]
            i += size
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if i + size > n:
                raise DecodeError("truncated fixed-size field")
            yield number, wire, buf[i : i + size]
            i += size
        else:  # groups (3, 4) are not used by these schemas
            raise DecodeError(f"unsupported wire type {wire}")


def signed(v: int) -> int:
    """An ``int64`` read as a varint (two's complement over 64 bits)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def as_double(raw: int | bytes) -> float:
    if not isinstance(raw, bytes) or len(raw) != 8:
        raise DecodeError("expected a double")
    return float(struct.unpack("<d", raw)[0])


def as_float(raw: int | bytes) -> float:
    if not isinstance(raw, bytes) or len(raw) != 4:
        raise DecodeError("expected a float")
    return float(struct.unpack("<f", raw)[0])


def packed(wire: int, raw: int | bytes, kind: str) -> list[float]:
    """The values of a repeated number field, packed (one length-delimited field) or
    not (one field per value). ``kind``: ``"f"`` float, ``"d"`` double, ``"v"`` varint
    (signed 64-bit), ``"e"`` half floats carried in varints."""
    if wire == BYTES and isinstance(raw, bytes):
        if kind in ("f", "d"):
            size = 4 if kind == "f" else 8
            if len(raw) % size:
                raise DecodeError("packed field of the wrong length")
            return [float(x) for x in struct.unpack(f"<{len(raw) // size}{kind}", raw)]
        out: list[float] = []
        i = 0
        while i < len(raw):
            v, i = _varint(raw, i)
            out.append(_half(v) if kind == "e" else float(signed(v)))
        return out
    if kind == "f":
        return [as_float(raw)]
    if kind == "d":
        return [as_double(raw)]
    if not isinstance(raw, int):
        raise DecodeError("expected a varint")
    return [_half(raw) if kind == "e" else float(signed(raw))]


def _half(v: int) -> float:
    return float(struct.unpack("<e", (v & 0xFFFF).to_bytes(2, "little"))[0])
