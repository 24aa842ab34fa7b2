"""Helpers of the foreign sweep-file tests: copy a real file next to a stand-in script,
run ``hypersweep run`` on it unchanged, and read back what each trial received."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from hypersweep.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "foreign"
STANDIN = Path(__file__).resolve().parents[1] / "scripts" / "foreign_standin.py"


def place(tmp_path: Path, name: str, programs: dict[str, str]) -> Path:
    """Copy ``tests/data/foreign/<name>`` into ``tmp_path`` unchanged, with the stand-in
    script at each path of ``programs`` (relative path -> unused label)."""
    src = DATA / name
    dest = tmp_path / src.name
    shutil.copyfile(src, dest)
    assert dest.read_bytes() == src.read_bytes()
    for rel in programs:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STANDIN, p)
    return dest


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    file: Path,
    *extra: str,
    metrics: str = "loss",
    steps: int = 1,
) -> tuple[int, str, list[dict[str, Any]]]:
    """``hypersweep run FILE`` in ``tmp_path``: ``(exit status, stderr, what each trial
    saw)``, trials in number order."""
    monkeypatch.chdir(tmp_path)
    # ${interpreter} is "python" (as W&B's agent writes it): this interpreter's folder first
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("STANDIN_METRICS", metrics)
    monkeypatch.setenv("STANDIN_STEPS", str(steps))
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    rc = main(["run", str(file), "--storage", storage, "--progress", "off", *extra])
    err = capsys.readouterr().err
    seen = sorted(
        tmp_path.glob(".hypersweep/runs/*/*/standin.json"), key=lambda p: int(p.parent.name)
    )
    return rc, err, [json.loads(p.read_text(encoding="utf-8")) for p in seen]


def wandb_text(v: Any) -> str:
    """A value as the W&B agent writes it on a command line (``str()``)."""
    return str(v)
