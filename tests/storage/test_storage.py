"""Storage: the contract suite on every backend, concurrency, and crash recovery."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hypersweep as hs
from hypersweep.errors import StorageError
from hypersweep.storage import InMemoryStorage, Storage, open_storage
from hypersweep.storage.base import SCHEMA_VERSION
from hypersweep.testing.storage import StorageContract
from hypersweep.trial import TrialState


class TestStorageContract(StorageContract):
    """The shared suite, once per backend (memory, SQLite file, PostgreSQL)."""

    @pytest.fixture
    def storage(self, storage_url: str) -> Iterator[Storage]:
        s = open_storage(storage_url)
        yield s
        s.close()


class _BaseHead(InMemoryStorage):
    """A backend that does not answer ``head`` itself (as a third-party one may not)."""

    head = Storage.head


def test_the_default_head_is_what_a_backend_answers() -> None:
    """``Storage.head``'s default (for backends written before it) gives what the
    backends' own one-statement answers give, after the same writes."""
    answers = []
    for s in (InMemoryStorage(), _BaseHead()):
        sid = s.create_study("s", [hs.Objective("loss")], None).id
        a = s.create_trial(sid, {"x": 1})
        s.create_trial(sid, {"x": 2}, state=TrialState.QUEUED)
        s.update_study(sid, attrs={"stop_requested": True})
        answers.append(s.head(sid))
        s.claim_trial(sid, "w")
        s.finish_trial(sid, a.id, TrialState.COMPLETED, values=[0.5])
        answers.append(s.head(sid))
    assert answers[:2] == answers[2:]
    assert [(h.n_trials, h.queued) for h in answers[:2]] == [(2, True), (2, False)]


def test_open_storage_urls(tmp_path: Path) -> None:
    assert isinstance(open_storage("memory"), InMemoryStorage)
    s = open_storage(f"sqlite:///{tmp_path}/sub/dir/x.db")  # folders are created
    assert (tmp_path / "sub/dir/x.db").exists()
    s.close()
    with pytest.raises(StorageError, match="unsupported URL"):
        open_storage("mysql://x")
    with pytest.raises(StorageError, match="in-memory SQLite"):
        open_storage("sqlite://")


def test_sqlite_uses_wal(sqlite_url: str) -> None:
    s = open_storage(sqlite_url)
    s.create_study("x", [hs.Objective("loss")], None)
    import sqlite3

    path = sqlite_url.removeprefix("sqlite:///")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(sqlite_url: str) -> None:
    import sqlite3

    open_storage(sqlite_url).close()
    path = sqlite_url.removeprefix("sqlite:///")
    con = sqlite3.connect(path)
    con.execute("UPDATE hs_schema SET version = 99")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="newer than this hypersweep"):
        open_storage(sqlite_url)


def test_default_storage_is_sqlite_under_dot_hypersweep(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    study = hs.Study("default-url", space={"x": hs.Float(0, 1)}, sampler="random")
    study.tell(study.ask(), 0.5)
    assert (tmp_path / ".hypersweep" / "studies.db").exists()
    assert study.storage.url == "sqlite:///.hypersweep/studies.db"


# --------------------------------------------------------------------------------------
# concurrency: 8 processes x 250 trials on one database
# --------------------------------------------------------------------------------------
def _ask_tell_worker(url: str, n: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    errors = []
    numbers = []
    try:
        study = hs.Study(
            "conc",
            space={"x": hs.Float(-1, 1), "c": hs.Choice(["a", "b"])},
            storage=url,
            sampler="random",
        )
        for _ in range(n):
            try:
                t = study.ask()
                numbers.append(t.number)
                study.tell(t, t.params["x"] ** 2)
            except Exception as e:  # counted, never hidden
                errors.append(repr(e))
    except Exception as e:
        errors.append(repr(e))
    out.put((numbers, errors))


def _run_concurrently(url: str, procs: int = 8, per_proc: int = 250) -> None:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_ask_tell_worker, args=(url, per_proc, q)) for _ in range(procs)]
    for p in ps:
        p.start()
    results = [q.get(timeout=600) for _ in ps]
    for p in ps:
        p.join(60)
    errors = [e for _, errs in results for e in errs]
    numbers = [n for nums, _ in results for n in nums]
    assert errors == []
    assert len(numbers) == procs * per_proc
    assert sorted(numbers) == list(range(procs * per_proc))
    study = hs.Study.load("conc", storage=url)
    trials = study.trials()
    assert len(trials) == procs * per_proc
    assert all(t.state == TrialState.COMPLETED for t in trials)


@pytest.mark.slow
def test_eight_processes_on_one_sqlite_file(sqlite_url: str) -> None:
    _run_concurrently(sqlite_url)


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_processes_on_postgres(postgres_url: str) -> None:
    _run_concurrently(postgres_url)


def _create_same_study(url: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        s = hs.Study("race", space={"x": hs.Float(0, 1)}, storage=url)
        out.put(("ok", s._id))
    except Exception as e:
        out.put(("error", repr(e)))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_creation_yields_one_study(backend: str, request) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_create_same_study, args=(url, q)) for _ in range(6)]
    for p in ps:
        p.start()
    results = [q.get(timeout=120) for _ in ps]
    for p in ps:
        p.join(30)
    assert all(kind == "ok" for kind, _ in results), results
    assert len({sid for _, sid in results}) == 1
    assert [s.name for s in open_storage(url).list_studies()] == ["race"]


# --------------------------------------------------------------------------------------
# crash: SIGKILL the optimizing process, then resume
# --------------------------------------------------------------------------------------
CRASH_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import hypersweep as hs

    def slow(params, trial):
        time.sleep(0.4)
        return params["x"] ** 2

    if __name__ == "__main__":
        study = hs.Study("crash", space={"x": hs.Float(-1, 1)}, storage=sys.argv[1],
                         sampler="random")
        study.optimize(slow, max_trials=12, max_concurrent=2)
    """
)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path: Path, sqlite_url: str) -> None:
    script = tmp_path / "crash_run.py"
    script.write_text(CRASH_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), sqlite_url], env=env)
    storage = open_storage(sqlite_url)
    deadline = time.time() + 60
    running: list[int] = []
    while time.time() < deadline:
        try:
            sid = storage.get_study("crash").id
            trials = storage.get_trials(sid)
        except Exception:
            time.sleep(0.1)
            continue
        done = [t for t in trials if t.state == TrialState.COMPLETED]
        running = [t.number for t in trials if t.state == TrialState.RUNNING]
        if len(done) >= 2 and running:
            break
        time.sleep(0.05)
    assert running, "the run never had trials in flight"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    sid = storage.get_study("crash").id
    still = [t.number for t in storage.get_trials(sid, [TrialState.RUNNING])]
    assert still, "SIGKILL should leave the in-flight trials RUNNING in storage"

    subprocess.run([sys.executable, str(script), sqlite_url], env=env, check=True, timeout=120)
    trials = storage.get_trials(sid)
    by_number = {t.number: t for t in trials}
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    for n in still:  # none vanish: re-queued (retries: 1) and run again by the re-run
        assert by_number[n].state == TrialState.COMPLETED
        assert by_number[n].attempt == 2
        assert [a["error"] for a in by_number[n].system_attrs["attempts"]] == ["worker lost"]
    assert len(trials) == 12  # max_trials counts over the whole study: the re-run resumed
    assert all(t.state == TrialState.COMPLETED for t in trials)


def _downgrade(storage: Storage, version: int) -> None:
    """Turn a current database back into one of schema ``version``, as that version
    wrote it: the columns added since are dropped, and (before v4) a trial's budget and
    resume_from are the ``budget`` and ``restore_from`` keys of its system attributes."""
    import json

    import sqlalchemy as sa

    with storage._engine.begin() as c:  # type: ignore[attr-defined]
        if version < 4:
            rows = c.exec_driver_sql(
                "SELECT id, system_attrs, budget, resume_from FROM hs_trials"
            ).all()
            for tid, attrs, budget, source in rows:
                d = json.loads(attrs) if attrs else {}
                if budget is not None:
                    d["budget"] = int(budget) if float(budget).is_integer() else budget
                if source is not None:
                    d["restore_from"] = source
                c.execute(
                    sa.text("UPDATE hs_trials SET system_attrs = :a WHERE id = :i"),
                    {"a": json.dumps(d), "i": tid},
                )
            c.exec_driver_sql("ALTER TABLE hs_trials DROP COLUMN budget")
            c.exec_driver_sql("ALTER TABLE hs_trials DROP COLUMN resume_from")
        if version < 3:
            c.exec_driver_sql("ALTER TABLE hs_trials DROP COLUMN attempt")
        if version < 2:
            c.exec_driver_sql("ALTER TABLE hs_studies DROP COLUMN trial_seq")
            c.exec_driver_sql("ALTER TABLE hs_studies DROP COLUMN report_seq")
        c.exec_driver_sql(f"UPDATE hs_schema SET version = {version}")


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_budget_and_resume_from_move_into_columns_in_place(
    backend: str, version: int, request
) -> None:
    """Schema v4: an older database's ``system_attrs["budget"]`` and ``["restore_from"]``
    become each trial's ``budget`` and ``resume_from`` (the keys leave the attributes),
    and the study goes on: incremental sync, bulk load and new trials with the fields."""
    url = request.getfixturevalue(f"{backend}_url")
    s = open_storage(url)
    hs.Study("pbt", space={"x": hs.Float(0, 1)}, storage=s, sampler="random")
    sid = s.get_study("pbt").id
    lin = {"member": 0, "generation": 1, "parent": 0, "step": 5, "exploit": False}
    first = s.create_trial(sid, {"x": 0.1}, budget=5, system_attrs={"pbt": {"member": 0}})
    s.finish_trial(sid, first.id, TrialState.STOPPED, values=[0.5])
    seg = s.create_trial(sid, {"x": 0.2}, budget=7.5, resume_from=0, system_attrs={"pbt": lin})
    s.finish_trial(sid, seg.id, TrialState.STOPPED, values=[0.25])
    s.create_trial(sid, {"x": 0.3}, user_attrs={"budget": "user's own"})
    _downgrade(s, version)
    with s._engine.begin() as c:  # type: ignore[attr-defined]
        stored = c.exec_driver_sql("SELECT system_attrs FROM hs_trials ORDER BY number").all()
    assert '"restore_from": 0' in stored[1][0]  # the old layout, as v3 wrote it
    s.close()
    again = hs.Study("pbt", storage=url)
    trials = again.trials()
    assert [(t.budget, t.resume_from) for t in trials] == [(5, None), (7.5, 0), (None, None)]
    assert [t.system_attrs for t in trials] == [{"pbt": {"member": 0}}, {"pbt": lin}, {}]
    assert trials[2].user_attrs == {"budget": "user's own"}  # only system attributes move
    assert [t.attempt for t in trials] == [1, 1, 1]
    assert again.best_value == 0.25
    fresh = open_storage(url)
    new = fresh.create_trial(sid, {"x": 0.4}, budget=3, resume_from=1)
    assert (new.number, new.budget, new.resume_from) == (3, 3, 1)
    assert [t.number for t in again.trials()] == [0, 1, 2, 3]  # incremental sync goes on
    assert [(t.budget, t.resume_from) for t in hs.Study.load("pbt", storage=url).trials()][-1] == (
        3,
        1,
    )
    with fresh._engine.begin() as c:  # type: ignore[attr-defined]
        assert c.exec_driver_sql("SELECT version FROM hs_schema").scalar() == SCHEMA_VERSION
    fresh.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_schema_v1_database_is_migrated(backend: str, request) -> None:
    """A database written by schema v1 (no per-kind change markers) is upgraded in place
    and keeps its studies, trials and incremental sync."""
    url = request.getfixturevalue(f"{backend}_url")
    s = open_storage(url)
    study = hs.Study("old", space={"x": hs.Float(0, 1)}, storage=s, sampler="random")
    study.tell(study.ask(), 0.5)
    _downgrade(s, 1)
    s.close()
    again = hs.Study("old", storage=url)
    assert [t.value for t in again.trials()] == [0.5]
    again.tell(again.ask(), 0.25)
    assert again.best_value == 0.25
    with open_storage(url)._engine.begin() as c:  # type: ignore[attr-defined]
        assert c.exec_driver_sql("SELECT version FROM hs_schema").scalar() == SCHEMA_VERSION
    assert [t.attempt for t in again.trials()] == [1, 1]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_schema_v2_database_is_migrated(backend: str, request) -> None:
    """A schema v2 database (no attempt column) is upgraded in place: its trials are at
    attempt 1, and a lost one can be retried."""
    url = request.getfixturevalue(f"{backend}_url")
    s = open_storage(url)
    study = hs.Study("v2", space={"x": hs.Float(0, 1)}, storage=s, sampler="random")
    study.tell(study.ask(), 0.5)
    lost = study.ask()
    _downgrade(s, 2)
    s.close()
    again = hs.Study("v2", storage=url)
    assert [(t.state, t.attempt) for t in again.trials()] == [
        (TrialState.COMPLETED, 1),
        (TrialState.RUNNING, 1),
    ]
    again.requeue(lost.number, "worker lost")
    retry = again.ask()
    assert (retry.number, retry.params, retry.attempt) == (lost.number, lost.params, 2)
    with open_storage(url)._engine.begin() as c:  # type: ignore[attr-defined]
        assert c.exec_driver_sql("SELECT version FROM hs_schema").scalar() == SCHEMA_VERSION
