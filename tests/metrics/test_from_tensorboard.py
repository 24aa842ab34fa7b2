"""TensorBoard event files written by real writers (tensorboardX's SummaryWriter, and
tensorboard's own EventFileWriter with TF2-style tensor scalars), read as they grow."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

from tensorboardX import SummaryWriter

from hypersweep.metrics import Point
from hypersweep.metrics.from_tensorboard import EventFile, TensorBoardSource, masked_crc


def poll_for(source: TensorBoardSource, n: int, within: float = 10.0) -> list[Point]:
    """Poll until ``n`` points came (tensorboardX writes from a thread of its own)."""
    out: list[Point] = []
    end = time.monotonic() + within
    while len(out) < n and time.monotonic() < end:
        out += source.poll()
        time.sleep(0.02)
    return out


def test_scalars_are_read_incrementally_from_a_live_writer(tmp_path: Path) -> None:
    source = TensorBoardSource([str(tmp_path)])
    assert source.poll() == []  # nothing yet
    w = SummaryWriter(str(tmp_path / "runs" / "exp"), flush_secs=1)
    w.add_scalar("Loss/train", 0.5, 0)
    w.add_scalar("acc", 0.7, 0)
    w.flush()
    assert poll_for(source, 2) == [("Loss/train", 0.5, 0), ("acc", 0.699999988079071, 0)]
    w.add_scalar("Loss/train", 0.25, 7)
    w.add_histogram("weights", [1.0, 2.0, 3.0], 7)  # not a scalar: skipped
    w.add_text("note", "hello", 7)
    w.flush()
    assert poll_for(source, 1) == [("Loss/train", 0.25, 7)]  # only what is new
    w.add_scalar("acc", 0.8)  # no step: the next one
    w.close()
    assert source.poll(final=True) == [("acc", 0.800000011920929, 1)]
    source.close()


def test_tensor_scalars_of_tensorboards_own_writer(tmp_path: Path) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(tmp_path))
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )
    for step, (dtype, fill) in enumerate(
        [(types_pb2.DT_FLOAT, {"float_val": [0.5]}), (types_pb2.DT_DOUBLE, {"double_val": [0.25]})]
    ):
        tensor = tensor_pb2.TensorProto(dtype=dtype, **fill)
        value = summary_pb2.Summary.Value(tag="loss", tensor=tensor, metadata=meta)
        w.add_event(event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value])))
    content = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_DOUBLE, tensor_content=struct.pack("<d", 0.125)
    )
    value = summary_pb2.Summary.Value(tag="loss", tensor=content, metadata=meta)
    w.add_event(event_pb2.Event(step=5, summary=summary_pb2.Summary(value=[value])))
    w.close()
    got = TensorBoardSource([str(tmp_path)]).poll(final=True)
    assert got == [("loss", 0.5, 0), ("loss", 0.25, 1), ("loss", 0.125, 5)]


def test_a_torn_record_waits_and_a_corrupt_file_is_left_alone(tmp_path: Path) -> None:
    w = SummaryWriter(str(tmp_path / "w"))
    for i in range(3):
        w.add_scalar("x", float(i), i)
    w.close()
    (src,) = (tmp_path / "w").iterdir()
    data = src.read_bytes()
    part = tmp_path / "p" / "events.out.tfevents.1.host"
    part.parent.mkdir()
    part.write_bytes(data[: len(data) - 5])  # the last record cut short
    ef = EventFile(str(part))
    first = len(ef.records())
    with open(part, "ab") as f:
        f.write(data[len(data) - 5 :])
    assert len(ef.records()) == 1 and first >= 3  # the version record + 2 scalars, then 1
    bad = tmp_path / "events.out.tfevents.2.host"
    bad.write_bytes(b"\x05" + b"\0" * 7 + (masked_crc(b"x") ^ 1).to_bytes(4, "little") + b"junk")
    assert EventFile(str(bad)).records() == []


def test_same_tag_in_two_folders_and_stale_files(tmp_path: Path) -> None:
    old = SummaryWriter(str(tmp_path / "old"))
    old.add_scalar("loss", 9.0, 0)
    old.close()
    (stale,) = (tmp_path / "old").iterdir()
    os.utime(stale, (time.time() - 60, time.time() - 60))  # an earlier attempt's file
    for name, v in (("train", 1.0), ("val", 2.0)):
        w = SummaryWriter(str(tmp_path / name))
        w.add_scalar("loss", v, 0)
        w.close()
    got = TensorBoardSource([str(tmp_path)], since=time.time() - 10).poll(final=True)
    assert sorted(got) == [("loss", 1.0, 0), ("val/loss", 2.0, 0)]
