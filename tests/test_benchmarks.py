"""The BBOB benchmark's bookkeeping: task selection, resuming and the report's arithmetic.

The published tables in ``docs/benchmarks.md`` come from ``benchmarks/bbob.py``; these tests
check its report on hand-made records (no ``cocoex`` needed), so a wrong mean, rank or
subset would show here rather than in a published number.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bbob() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bbob_bench", ROOT / "benchmarks" / "bbob.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bbob_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


def rec(sampler: str, function: int, instance: int, trace: list[float], dim: int = 2,
        seconds: float = 1.0) -> dict[str, Any]:
    return {"sampler": sampler, "function": function, "dim": dim, "instance": instance,
            "budget": len(trace), "f_opt": 0.0, "seconds": seconds, "trace": trace}


def table(report: str, title: str) -> dict[str, list[str]]:
    """The rows of the markdown table under the heading starting with ``title``."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## " + title))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 4:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_gp_subset_and_resume_select_the_right_tasks(bbob: ModuleType) -> None:
    args = bbob.parse_args(["--functions", "1,2", "--dims", "2,5", "--instances", "1-3",
                            "--gp-instances", "1", "--gp-dims", "5", "--budget", "10"])
    tasks = bbob.make_tasks(args, ["random", "gp"])
    assert sum(t[0] == "random" for t in tasks) == 2 * 2 * 3
    assert sorted(t[1:] for t in tasks if t[0] == "gp") == [(1, 5, 1, 10), (2, 5, 1, 10)]
    done = {bbob._key(rec("gp", 1, 1, [1.0] * 10, dim=5))}
    assert len([t for t in tasks if t not in done]) == len(tasks) - 1


def test_load_records_ignores_a_torn_last_line(bbob: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(rec("random", 1, 1, [3.0, 2.0])) + "\n" + '{"sampler": "ra')
    assert [r["sampler"] for r in bbob.load_records(path)] == ["random"]


def test_report_means_ranks_and_common_problems(bbob: ModuleType) -> None:
    args = bbob.parse_args(["--samplers", "random,tpe,gp", "--functions", "1,2",
                            "--dims", "2", "--instances", "1,2", "--gp-instances", "1",
                            "--budget", "4", "--checkpoints", "2", "--report-only"])
    records = [
        # f1 i1: gp best, tpe and random tie; f1 i2 and f2: tpe best
        rec("random", 1, 1, [10, 10, 1e-1, 1e-1]), rec("tpe", 1, 1, [10, 1, 1, 1e-1]),
        rec("gp", 1, 1, [1, 1e-3, 1e-3, 1e-9], seconds=3.0),
        rec("random", 1, 2, [10, 10, 10, 10]), rec("tpe", 1, 2, [10, 10, 1, 1]),
        rec("random", 2, 1, [100, 10, 10, 1]), rec("tpe", 2, 1, [1, 1, 1, 1e-2]),
        rec("gp", 2, 1, [10, 10, 10, 1e-1], seconds=5.0),
        rec("random", 2, 2, [1, 1, 1, 1]), rec("tpe", 2, 2, [1, 1, 1, 1e-1]),
    ]
    report = bbob.build_report(records, ["random", "tpe", "gp"], args, "cmd")

    means = table(report, "Mean log10 precision after 2 / 4 evaluations (each")
    # random at 2 evals: log10 of 10, 10, 10, 1 -> 0.75; at 4: -1, 1, 0, 0 -> 0.0
    assert means["random"] == ["4", "0.75 / 0.00"]
    # gp: its two runs only; the 1e-9 is floored at 1e-8 -> (-8 + -1) / 2
    assert means["gp"] == ["2", "-1.00 / -4.50"]

    # ranks over the 4 problems random and tpe both ran (gp ran only 2 of them)
    full = table(report, "Average rank after 4 evaluations (samplers that ran every")
    assert set(full) == {"random", "tpe"}
    assert full["tpe"][0] == f"{(1.5 + 1 + 1 + 1) / 4:.2f}"
    assert full["random"][0] == f"{(1.5 + 2 + 2 + 2) / 4:.2f}"

    # on the problems every sampler ran (instance 1): gp first on f1, tpe first on f2
    common = table(report, "Average rank after 4 evaluations (all samplers")
    assert common["gp"][0] == f"{(1 + 2) / 2:.2f}"
    assert common["tpe"][0] == f"{(2.5 + 1) / 2:.2f}"
    assert common["random"][0] == f"{(2.5 + 3) / 2:.2f}"
    assert "d=2: 2" in report

    secs = table(report, "Mean seconds per run")
    assert math.isclose(float(secs["gp"][0]), 4.0)
    assert "printed with --report-only" in report
