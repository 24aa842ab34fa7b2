"""A trial's rerun command and the tails of its output files, for the trial detail.

The storage holds a command sweep's argv template (``attrs["sweep"]``), so the exact
command line of any trial can be rebuilt. Output files are not in the storage: a command
trial's ``stdout.log`` / ``stderr.log`` sit in ``<runs_dir>/<study>/<number>/`` on the
machine that ran it. The dashboard shows their tails when it can read them there: under
the directories given with ``--runs-dir``, then ``.hypersweep/runs`` next to the sweep
file, in its ``workdir`` and in the dashboard's working directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["TAIL_BYTES", "output_tails", "rerun_line"]

TAIL_BYTES = 8192  #: how much of the end of each output file is shown
RUNS_DIRS: list[str] = []  #: set from ``--runs-dir`` (searched first)


def rerun_line(sweep: Mapping[str, Any] | None, params: Mapping[str, Any]) -> str | None:
    """The shell line that reruns the trial (a command sweep), or ``None``."""
    if not isinstance(sweep, Mapping) or not sweep.get("command"):
        return None
    from hypersweep.execution.command import rerun_command

    try:
        return rerun_command(sweep, params)
    except Exception:  # an older study's attrs the current code cannot render
        return None


def _candidates(sweep: Mapping[str, Any] | None) -> Sequence[Path]:
    dirs = [Path(d) for d in RUNS_DIRS]
    if isinstance(sweep, Mapping):
        if sweep.get("file"):
            dirs.append(Path(str(sweep["file"])).parent / ".hypersweep" / "runs")
        if sweep.get("workdir"):
            dirs.append(Path(str(sweep["workdir"])) / ".hypersweep" / "runs")
    dirs.append(Path(os.getcwd()) / ".hypersweep" / "runs")
    return dirs


def _tail(path: Path) -> str:
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - TAIL_BYTES))
        data = f.read(TAIL_BYTES)
    text = data.decode("utf-8", errors="replace")
    if size > TAIL_BYTES:  # drop the cut first line
        text = "…" + text.split("\n", 1)[-1]
    return text


def output_tails(sweep: Mapping[str, Any] | None, study: str, number: int) -> dict[str, Any]:
    """``{"dir": ..., "stdout": tail, "stderr": tail}`` from the first trial directory
    found, or ``{}`` (not on this machine)."""
    for base in _candidates(sweep):
        d = base / study / str(int(number))
        if not d.is_dir():
            continue
        out: dict[str, Any] = {"dir": str(d)}
        for name in ("stdout", "stderr"):
            p = d / f"{name}.log"
            try:
                out[name] = _tail(p) if p.is_file() else None
            except OSError:
                out[name] = None
        return out
    return {}
