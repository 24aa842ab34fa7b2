"""The sweep file's warm_start key (hypersweep.spec.warm_start) and its application."""

from __future__ import annotations

import textwrap

import pytest

import hypersweep as hs
from hypersweep.spec import build, load
from hypersweep.spec.model import SweepFileError
from hypersweep.trial import TrialState


def sweep(tmp_path, warm: str, name: str = "dst"):
    p = tmp_path / f"{name}.yaml"
    p.write_text(
        textwrap.dedent(f"""\
        name: {name}
        function: math:sqrt
        space:
          x: uniform(0, 1)
        objective: {{metric: loss, goal: minimize}}
        storage: sqlite:///{tmp_path}/s.db
        """)
        + warm
    )
    return p


@pytest.mark.parametrize(
    ("warm", "message"),
    [
        ("warm_start: old\n", "warm_start: expected a mapping"),
        ("warm_start: {top: 3}\n", "warm_start.from: must be a study name"),
        ("warm_start: {from: a, weigth: 1}\n", "warm_start.weigth: unknown key.*weight"),
        ("warm_start: {from: a, mode: both}\n", "warm_start.mode"),
        ("warm_start: {from: a, top: 0}\n", "warm_start.top"),
        ("warm_start: {from: a, weight: 1.5}\n", "warm_start.weight"),
    ],
)
def test_bad_warm_start_is_one_located_line(tmp_path, warm, message):
    with pytest.raises(SweepFileError, match=message) as e:
        load(sweep(tmp_path, warm))
    assert ".yaml:7 warm_start" in str(e.value) and "\n" not in str(e.value)


def test_build_applies_warm_start(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    src = hs.Study("src", space={"x": hs.Float(0, 1)}, objective="loss", storage=url, seed=0)
    for _ in range(6):
        t = src.ask()
        src.tell(t, t.params["x"])
    study, _ = build(load(sweep(tmp_path, "warm_start: {from: src, top: 2}\n")))
    queued = study.trials([TrialState.QUEUED])
    assert [t.params for t in queued] == [t.params for t in src.best_trials[:1]] + [
        sorted(src.trials(), key=lambda t: t.value)[1].params
    ]
    study2, _ = build(load(sweep(tmp_path, "warm_start: {from: src, mode: prior}\n", "p")))
    assert study2.history.prior is not None and len(study2.history.prior) == 6
