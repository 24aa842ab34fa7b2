"""Storage.twin: a second handle on the same database whose reads do not queue behind a
long read of the first (the dashboard loads a large study's arrays through one while its
summary answers from the other)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import hypersweep as hs
from hypersweep.storage import open_storage


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_twin_answers_while_the_original_is_held_by_a_long_read(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 's.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    s = hs.Study("twin", space={"x": hs.Float(0, 1)}, objective="loss", storage=url)
    s.tell(s.ask(), 0.5)
    storage = open_storage(url, read_only=True)
    twin = storage.twin()
    assert twin is not storage and twin.read_only
    started, release = threading.Event(), threading.Event()

    def long_read() -> None:  # the original's connection busy for up to 20 s
        storage._read(lambda conn: (started.set(), release.wait(20)))

    th = threading.Thread(target=long_read)
    th.start()
    try:
        assert started.wait(10)
        t0 = time.monotonic()
        rec = twin.get_study("twin")
        assert [t.values for t in twin.get_trials(rec.id)] == [(0.5,)]
        assert time.monotonic() - t0 < 10  # not queued behind the 20 s read
        asked: list[float] = []
        waiter = threading.Thread(target=lambda: asked.append(storage.get_study("twin").id))
        waiter.start()
        waiter.join(0.5)
        assert not asked, "the original's own reads queue behind its long read"
    finally:
        release.set()
        th.join(30)
    waiter.join(30)
    assert asked == [rec.id]


def test_an_in_memory_storage_is_its_own_twin() -> None:
    storage = open_storage("memory")
    assert storage.twin() is storage
