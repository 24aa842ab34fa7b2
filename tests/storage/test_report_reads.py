"""The narrow read of the report path: Storage.reports_since on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hypersweep.storage import Storage, open_storage
from hypersweep.trial import Objective, TrialState


@pytest.fixture
def storage(storage_url: str) -> Iterator[Storage]:
    s = open_storage(storage_url)
    yield s
    s.close()


def test_reports_since_returns_only_newer_reports_in_order(storage: Storage) -> None:
    st = storage.create_study("s", (Objective("loss"),), {})
    a = storage.create_trial(st.id, {"x": 1}, state=TrialState.RUNNING)
    b = storage.create_trial(st.id, {"x": 2}, state=TrialState.RUNNING)
    assert storage.reports_since(st.id, 0) == ([], 0)
    storage.report(st.id, a.id, 0, {"loss": 1.0})
    first, mark = storage.reports_since(st.id, 0)
    assert [(r.number, r.step, r.metrics) for r in first] == [(0, 0, {"loss": 1.0})]
    assert mark == storage.sync(st.id).watermark  # the report is the newest change
    storage.report(st.id, b.id, 0, {"loss": 2.0})
    storage.report(st.id, a.id, 1, {"loss": 0.5})
    storage.finish_trial(st.id, b.id, TrialState.COMPLETED, values=(2.0,))  # not a report
    new, mark2 = storage.reports_since(st.id, mark)
    assert [(r.number, r.step) for r in new] == [(1, 0), (0, 1)]
    assert mark < mark2 < storage.sync(st.id).watermark
    assert storage.reports_since(st.id, mark2) == ([], mark2)
