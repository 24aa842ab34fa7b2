"""A study's trials as rows, CSV and JSON (:meth:`Study.rows <hypersweep.study.Study.rows>`,
:meth:`Study.export <hypersweep.study.Study.export>`)."""

from __future__ import annotations

import csv
import datetime
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hypersweep.errors import HypersweepError
from hypersweep.trial import Objective, Trial

__all__ = ["ExportedStudy", "export", "iso", "json_safe", "trial_json", "trial_row"]


class ExportedStudy(Protocol):
    """What an export reads of a study (:class:`~hypersweep.study.Study` has it)."""

    name: str
    objectives: tuple[Objective, ...]
    constraints: tuple[Any, ...]
    space: Any
    storage: Any

    @property
    def id(self) -> int: ...
    def feasible(self, trial: Trial) -> bool: ...


def trial_row(study: ExportedStudy, t: Trial) -> dict[str, Any]:
    """One trial as a flat dict: number, state, objective values, params, times, error."""
    metric_names = [o.metric for o in study.objectives]
    row: dict[str, Any] = {"number": t.number, "state": t.state.value}
    for i, m in enumerate(metric_names):
        row[m] = t.values[i] if t.values is not None else None
    for k, v in t.params.items():
        row[f"params.{k}"] = v
    for k, v in t.metrics.items():
        if k not in metric_names:
            row[f"metrics.{k}"] = v
    if study.constraints:
        row["feasible"] = study.feasible(t) if t.values is not None else None
    row["started_at"] = t.started_at
    row["finished_at"] = t.finished_at
    row["duration"] = t.duration
    row["last_step"] = t.last_step
    row["attempt"] = t.attempt
    row["error"] = t.error
    for k, v in t.user_attrs.items():
        row[f"user_attrs.{k}"] = v
    return row


def export(study: ExportedStudy, path: str | os.PathLike[str], format: str | None = None) -> Path:
    """Write every trial to CSV or JSON (by ``format`` or the file suffix).

    The trials are streamed from the storage in batches, so memory stays flat however
    large the study. CSV has one row per trial, times as ISO 8601 (UTC); JSON holds
    every intermediate report, times as UNIX seconds.
    """
    p = Path(path)
    fmt = (format or p.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "json"):
        raise HypersweepError(f"export: unknown format {fmt!r}; use .csv or .json")
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as f:
        if fmt == "json":
            _write_json(study, f)
        else:
            _write_csv(study, f)
    return p


def _write_json(study: ExportedStudy, f: Any) -> None:
    head = json.dumps(
        json_safe(
            {
                "study": study.name,
                "objectives": [o.to_dict() for o in study.objectives],
                "space": study.space.to_spec(),
                "trials": [],
            }
        ),
        indent=2,
        default=str,
        allow_nan=False,
    )
    tail = "[]\n}"
    first = True
    for t in study.storage.iter_trials(study.id):
        f.write((head[: -len(tail)] + "[\n") if first else ",\n")
        first = False
        text = json.dumps(json_safe(trial_json(t)), indent=2, default=str, allow_nan=False)
        f.write("\n".join("    " + line for line in text.split("\n")))
    f.write(head + "\n" if first else "\n  ]\n}\n")


def _write_csv(study: ExportedStudy, f: Any) -> None:
    # pass 1 finds the columns (in order of first appearance), pass 2 writes the rows
    cols: dict[str, None] = {}
    for t in study.storage.iter_trials(study.id, reports=False):
        for k in trial_row(study, t):
            cols.setdefault(k, None)
    w = csv.DictWriter(f, fieldnames=list(cols) or ["number"])
    w.writeheader()
    for t in study.storage.iter_trials(study.id):
        row = trial_row(study, t)
        for k in ("started_at", "finished_at"):
            row[k] = iso(row[k])
        w.writerow({k: "" if v is None else v for k, v in row.items()})


def iso(ts: float | None) -> str | None:
    """A UNIX time as ISO 8601 in UTC (``2026-01-31T12:00:00.250000+00:00``)."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).isoformat()


def json_safe(x: Any) -> Any:
    """``x`` with NaN and infinities (allowed in intermediate reports) as ``null``: strict
    JSON that every reader accepts."""
    if isinstance(x, float):
        return x if np.isfinite(x) else None
    if isinstance(x, Mapping):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    return x


def trial_json(t: Trial) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.value,
        "params": t.params,
        "values": list(t.values) if t.values is not None else None,
        "metrics": t.metrics,
        "reports": {str(k): v for k, v in sorted(t.reports.items())},
        "started_at": t.started_at,
        "finished_at": t.finished_at,
        "worker_id": t.worker_id,
        "error": t.error,
        "attempt": t.attempt,
        "budget": t.budget,
        "resume_from": t.resume_from,
        "user_attrs": t.user_attrs,
        "system_attrs": t.system_attrs,
    }
