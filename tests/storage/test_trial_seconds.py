"""Storage.trial_seconds: the aggregate ``status`` prints equals the sum over the trials."""

from __future__ import annotations

from pathlib import Path

import pytest

import hypersweep as hs
from hypersweep.cost import trial_seconds


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
def test_the_aggregate_equals_the_sum_over_trials(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = {"memory": "memory", "sqlite": f"sqlite:///{tmp_path / 's.db'}"}.get(backend)
    if url is None:
        url = request.getfixturevalue("postgres_url")
    s = hs.Study("cost", space={"x": hs.Float(0, 1)}, objective="loss", storage=url)
    for i in range(4):
        t = s.ask()
        s.tell(t, float(i), started_at=100.0 + i, finished_at=102.5 + 2 * i)
    s.tell(s.ask(), state="FAILED", error="boom", started_at=200.0, finished_at=201.0)
    running = s.ask()
    now = running.started_at + 7.0
    want = trial_seconds(s.trials(), now)
    assert want == pytest.approx(2.5 + 3.5 + 4.5 + 5.5 + 1.0 + 7.0)
    assert s.storage.trial_seconds(s._id, now) == pytest.approx(want)
