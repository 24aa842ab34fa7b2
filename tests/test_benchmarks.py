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


def rec(
    sampler: str,
    function: int,
    instance: int,
    trace: list[float],
    dim: int = 2,
    seconds: float = 1.0,
) -> dict[str, Any]:
    return {
        "sampler": sampler,
        "function": function,
        "dim": dim,
        "instance": instance,
        "budget": len(trace),
        "f_opt": 0.0,
        "seconds": seconds,
        "trace": trace,
    }


def table(report: str, title: str) -> dict[str, list[str]]:
    """The rows of the markdown table under the heading starting with ``title``."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## " + title))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 4 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_gp_subset_and_resume_select_the_right_tasks(bbob: ModuleType) -> None:
    args = bbob.parse_args(
        [
            "--functions",
            "1,2",
            "--dims",
            "2,5",
            "--instances",
            "1-3",
            "--gp-instances",
            "1",
            "--gp-dims",
            "5",
            "--budget",
            "10",
        ]
    )
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
    args = bbob.parse_args(
        [
            "--samplers",
            "random,tpe,gp",
            "--functions",
            "1,2",
            "--dims",
            "2",
            "--instances",
            "1,2",
            "--gp-instances",
            "1",
            "--budget",
            "4",
            "--checkpoints",
            "2",
            "--report-only",
        ]
    )
    records = [
        # f1 i1: gp best, tpe and random tie; f1 i2 and f2: tpe best
        rec("random", 1, 1, [10, 10, 1e-1, 1e-1]),
        rec("tpe", 1, 1, [10, 1, 1, 1e-1]),
        rec("gp", 1, 1, [1, 1e-3, 1e-3, 1e-9], seconds=3.0),
        rec("random", 1, 2, [10, 10, 10, 10]),
        rec("tpe", 1, 2, [10, 10, 1, 1]),
        rec("random", 2, 1, [100, 10, 10, 1]),
        rec("tpe", 2, 1, [1, 1, 1, 1e-2]),
        rec("gp", 2, 1, [10, 10, 10, 1e-1], seconds=5.0),
        rec("random", 2, 2, [1, 1, 1, 1]),
        rec("tpe", 2, 2, [1, 1, 1, 1e-1]),
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


# ----------------------------------------------------------------------------------------
# benchmarks/failures.py: the report's arithmetic and the problems' definitions
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def failures() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "failures_bench", ROOT / "benchmarks" / "failures.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["failures_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


def frec(
    sampler: str,
    problem: str,
    best: float | None,
    failed: int = 0,
    infeasible: int = 0,
    group: str = "constrained",
    seed: int = 1,
) -> dict[str, Any]:
    return {
        "sampler": sampler,
        "group": group,
        "problem": problem,
        "seed": seed,
        "budget": 10,
        "f_opt": 0.0,
        "seconds": 1.0,
        "n_failed": failed,
        "n_infeasible": infeasible,
        "best": best,
    }


def test_failures_report_ranks_regrets_and_runs_without_a_feasible_value(
    failures: ModuleType,
) -> None:
    recs = [
        frec("a", "g8", 1e-3, infeasible=2),
        frec("b", "g8", 1e-1, infeasible=5),
        frec("c", "g8", None, infeasible=10),
        frec("a", "g4", 10.0),
        frec("b", "g4", 1.0),
        frec("c", "g4", 1.0),
        frec("a", "f1-d2-i1", 1e-9, failed=3, group="crash"),
        frec("b", "f1-d2-i1", 1e-2, failed=1, group="crash"),
        frec("c", "f1-d2-i1", 1e-2, failed=9, group="crash"),
        frec("a", "f1-d5-i1", 1.0, group="crash"),  # b and c did not run it: left out
    ]
    s = failures.summarize(recs, ["a", "b", "c"])
    g8 = s["constrained g8"]
    assert g8["a"]["rank"] == 1 and g8["b"]["rank"] == 2 and g8["c"]["rank"] == 3
    assert g8["c"]["none"] == 1
    # no feasible value counts as the worst log10 regret reached on the problem (b's -1)
    assert g8["c"]["regret"] == pytest.approx(-1.0)
    assert g8["c"]["waste"] == pytest.approx(100.0)
    both = s["constrained"]
    assert both["b"]["rank"] == pytest.approx((2 + 1.5) / 2)  # ties share their mean rank
    assert both["a"]["regret"] == pytest.approx((-3 + 1) / 2)
    crash = s["crash d=2"]
    assert crash["a"]["regret"] == pytest.approx(-8.0)  # the 1e-8 floor
    assert crash["c"]["waste"] == pytest.approx(90.0) and crash["b"]["rank"] == 2.5
    assert "crash d=5" not in s


def test_failures_problems_have_their_published_optima_feasible(failures: ModuleType) -> None:
    import numpy as np

    crash_share = np.mean(
        [failures.crashes(x) for x in np.random.default_rng(0).uniform(-5, 5, (200_000, 5))]
    )
    assert crash_share == pytest.approx(0.30, abs=0.005)
    known = {
        "g4": [78.0, 33.0, 29.995256025682, 45.0, 36.775812905788],
        "g8": [1.2279713, 4.2453733],
        "g9": [2.330499, 1.951372, -0.4775414, 4.365726, -0.6244870, 1.038131, 1.594227],
    }
    for name, x in known.items():
        p = failures.PROBLEMS[name]
        viol = p.violations(np.array(x))
        assert max(viol) <= 1e-3 * max(1.0, abs(p.f_opt)), (name, viol)
        assert p.f(np.array(x)) == pytest.approx(p.f_opt, rel=1e-5, abs=1e-5)
