"""W&B's offline transaction log, written by the real wandb package and checked against
wandb's own protocol-buffer classes; read whole and piece by piece as it grows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hypersweep.metrics import Point
from hypersweep.metrics.from_wandb import LogFile, WandbSource

SCRIPT = textwrap.dedent("""\
    import wandb
    run = wandb.init(project="t", config={"lr": 0.1})
    wandb.log({f"wide{i}": i for i in range(3000)})  # one record over a 32 KiB block
    for step in range(1, 300):
        wandb.log({"loss": 1.0 / step, "val": {"acc": step / 300}, "nan": float("nan")})
    wandb.log({"late": 5}, step=400)
    run.summary["best"] = 0.5
    run.finish()
    """)


def norm(points: list[Point]) -> list[tuple[str, str, int | None]]:
    """Comparable points (NaN == NaN)."""
    return [(k, repr(v), s) for k, v, s in points]


@pytest.fixture(scope="module")
def wandb_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("wandb")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(d), "WANDB_SILENT": "true"}
    subprocess.run([sys.executable, "-c", SCRIPT], cwd=d, env=env, check=True, timeout=240)
    (log,) = (d / "wandb").glob("offline-run-*/run-*.wandb")
    return log


def test_history_and_summary_match_wandbs_own_reading(wandb_log: Path) -> None:
    from wandb.proto import wandb_internal_pb2

    got = WandbSource(str(wandb_log.parent.parent)).poll(final=True)
    want: list[Point] = []
    for raw in LogFile(str(wandb_log)).records():
        rec = wandb_internal_pb2.Record()
        rec.ParseFromString(raw)
        if rec.WhichOneof("record_type") != "history":
            continue
        items = {".".join(i.nested_key) or i.key: i.value_json for i in rec.history.item}
        step = int(items.get("_step", "0"))
        for k, v in items.items():
            if not k.startswith("_"):
                want.append((k, float(v), step))
    wide = [p for p in got if p[0].startswith("wide")]
    assert sorted(wide) == sorted((f"wide{i}", float(i), 0) for i in range(3000))
    assert norm([p for p in got if p[0] != "best"]) == norm(want)  # values, steps, order
    assert ("val.acc", 0.5, 150) in got and ("late", 5.0, 400) in got
    nan = [v for k, v, _ in got if k == "nan"]
    assert len(nan) == 299 and all(v != v for v in nan)
    # summary-only: at the run's last step so far (step 400 is committed at finish)
    assert [p for p in got if p[0] == "best"] in ([("best", 0.5, 299)], [("best", 0.5, 400)])


def test_a_growing_log_is_read_piece_by_piece(wandb_log: Path, tmp_path: Path) -> None:
    whole = WandbSource(str(wandb_log.parent.parent)).poll(final=True)
    copy = tmp_path / "wandb" / "offline-run-x" / wandb_log.name
    copy.parent.mkdir(parents=True)
    data = wandb_log.read_bytes()
    source = WandbSource(str(tmp_path / "wandb"))
    got: list[Point] = []
    with open(copy, "wb") as f:
        for i in range(0, len(data), 4093):  # cuts headers, records and block padding
            f.write(data[i : i + 4093])
            f.flush()
            got += source.poll()
    got += source.poll(final=True)
    assert norm(got) == norm(whole)


def test_not_a_wandb_log(tmp_path: Path) -> None:
    run = tmp_path / "offline-run-1"
    run.mkdir()
    (run / "run-1.wandb").write_bytes(b"not a log at all")
    shutil.copy(run / "run-1.wandb", run / "run-2.wandb")
    assert WandbSource(str(tmp_path)).poll(final=True) == []
