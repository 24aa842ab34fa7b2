"""PostgreSQL: on a trials table that was never analyzed (autovacuum off, or not run yet:
no statistics), the statements that find one trial by its id still go by the primary
key. With ``study_id = :sid`` beside ``id = :tid`` the planner took an index that starts
with ``study_id`` and filtered all of the study's rows for the id: each heartbeat, report
and finish read every row of the study (2,000 per statement at the end of the 1,000-worker
simulation)."""

from __future__ import annotations

import re
from typing import Any

import psycopg.sql
from sqlalchemy import event

from hypersweep.storage import open_storage
from hypersweep.storage.sql import SQLStorage
from hypersweep.trial import Objective, TrialState


def _plans(s: SQLStorage, calls: list[tuple[str, Any]]) -> list[str]:
    raw = s._engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
        out = []
        for stmt, params in calls:
            cur.execute("EXPLAIN " + stmt, params)  # planned, not run
            out.append("\n".join(r[0] for r in cur.fetchall()))
        return out
    finally:
        raw.close()


def test_a_trial_found_by_its_id_is_found_by_the_primary_key(postgres_url: str) -> None:
    s = open_storage(postgres_url)
    assert isinstance(s, SQLStorage)
    try:
        sid = s.create_study("plans", [Objective("loss")], None).id
        made = [s.create_trial(sid, {"x": i / 400}, worker_id="host:1:a") for i in range(400)]
        for t in made[:200]:
            s.finish_trial(sid, t.id, TrialState.COMPLETED, values=[1.0])
        analyzed = s._read(
            lambda c: c.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'hs_trials'::regclass"
            ).scalar()
        )
        seen: list[tuple[str, Any]] = []

        def record(_c: Any, _cur: Any, stmt: str, params: Any, _ctx: Any, _many: bool) -> None:
            if "hs_trials" in stmt:
                seen.append((stmt, params))

        event.listen(s._engine, "before_cursor_execute", record)
        t = made[250]
        s.heartbeat(sid, [t.id])
        s.report(sid, t.id, 0, {"loss": 2.0})
        s.finish_trial(sid, t.id, TrialState.COMPLETED, values=[2.0])
        event.remove(s._engine, "before_cursor_execute", record)
        by_kind = {
            "heartbeat": [p for p in seen if "set_config" in p[0]],
            "report": [p for p in seen if p[0].startswith("SELECT hs_trials.state")],
            "finish": [p for p in seen if "finished_at" in p[0] and "UPDATE" in p[0]],
        }
        assert all(len(v) == 1 for v in by_kind.values()), (by_kind, seen)
        for kind, calls in by_kind.items():
            found = _plans(s, calls)
            # (with statistics, analyzed >= 0, the planner picks the key in any case)
            assert all("hs_trials_pkey" in p for p in found), (kind, analyzed, found)
    finally:
        s.close()


def _generic_plan(s: SQLStorage, stmt: Any, values: dict[str, Any]) -> str:
    """EXPLAIN ANALYZE of ``stmt`` run as a prepared statement with a generic plan: the
    plan PostgreSQL keeps for a statement the driver prepares, made without the values."""
    sql = str(stmt.compile(dialect=s._engine.dialect))
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        names.append(m.group(1))
        return f"${len(names)}"

    sql = re.sub(r"%\((\w+)\)s", number, sql).replace("%%", "%")
    compiled = stmt.compile(dialect=s._engine.dialect).params
    args = [values.get(n, compiled.get(n)) for n in names]
    raw = s._engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
        cur.execute("SET plan_cache_mode = force_generic_plan")
        cur.execute(f"PREPARE hs_sync_plan AS {sql}")
        literals = ", ".join(psycopg.sql.Literal(a).as_string(cur) for a in args)
        cur.execute(f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE hs_sync_plan({literals})")
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("DEALLOCATE hs_sync_plan")
        cur.execute("RESET plan_cache_mode")
        return plan
    finally:
        raw.close()


def test_a_sync_reads_only_the_changed_trials_under_a_generic_plan(postgres_url: str) -> None:
    """The sync statement is prepared by the driver; PostgreSQL then keeps a generic plan,
    made without the watermark's value. Unordered and unlimited, that plan took an index on
    (study_id, state, number) and filtered every trial of the study by ``seq`` (with no
    statistics), or scanned the table (with them): each ask's sync read the whole study,
    its server CPU growing by 0.24 ms per 1,000 trials. It must read only what changed.

    The 1,000th trial's worker also analyzes a table that has no statistics of its size:
    without them no plan of a new table is predictable, and with those of a tiny table
    the generic plan that finds a trial by its id scans the table."""
    s = open_storage(postgres_url)
    assert isinstance(s, SQLStorage)
    try:
        sid = s.create_study("generic", [Objective("loss")], None).id
        made = [s.create_trial(sid, {"x": i / 1100}, worker_id="host:1:a") for i in range(1100)]
        rows = s._read(
            lambda c: c.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'hs_trials'::regclass"
            ).scalar()
        )
        assert rows >= 1000, rows  # analyzed at the 1,000th trial
        for t in made[:1000]:
            s.finish_trial(sid, t.id, TrialState.COMPLETED, values=[1.0])
        mark = s.sync(sid, 0).watermark
        for t in made[1000:1003]:  # three trials change after the watermark
            s.finish_trial(sid, t.id, TrialState.COMPLETED, values=[2.0])
        plan = _generic_plan(s, s._pg_sync_statement(sid), {"wm": mark})
        assert [ln for ln in plan.splitlines() if "on hs_trials" in ln], plan
        assert "Seq Scan" not in plan, plan
        assert "Rows Removed by Filter" not in plan, plan  # no unchanged trial was visited
        assert "rows=3 loops=1" in plan, plan  # and the three changed ones were read
        assert [t.number for t in s.sync(sid, mark).trials] == [1000, 1001, 1002]
    finally:
        s.close()


def test_an_obsolete_index_is_dropped_when_the_storage_opens(postgres_url: str) -> None:
    """(study_id, state) is served by (study_id, state, number), and every index costs each
    finish (it changes the indexed ``state`` and ``seq``): a database made by an earlier
    release loses it when opened."""
    s = open_storage(postgres_url)
    assert isinstance(s, SQLStorage)
    names = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    try:
        s._read(
            lambda c: c.exec_driver_sql(
                "CREATE INDEX ix_hs_trials_study_state ON hs_trials (study_id, state)"
            )
        )
    finally:
        s.close()
    s = open_storage(postgres_url)
    assert isinstance(s, SQLStorage)
    try:
        have = {r[0] for r in s._read(lambda c: c.exec_driver_sql(names).all())}
        assert "ix_hs_trials_study_state" not in have
        assert {"ix_hs_trials_study_state_number", "ix_hs_trials_study_seq"} <= have
    finally:
        s.close()


def test_the_head_of_a_study_reads_no_trial_rows_under_a_generic_plan(postgres_url: str) -> None:
    """A random-search worker's ask reads only the head (``SQLStorage.head``): the study
    row and whether a trial is QUEUED. That probe must not visit the study's trials, with
    no statistics (a new table) nor with them, or each ask reads the whole study again."""
    s = open_storage(postgres_url)
    assert isinstance(s, SQLStorage)
    try:
        sid = s.create_study("head", [Objective("loss")], None).id
        for n in (400, 1100):  # before the 1,000th trial's ANALYZE, and after it
            made = [s.create_trial(sid, {"x": i / n}) for i in range(n - s.head(sid).n_trials)]
            for t in made:
                s.finish_trial(sid, t.id, TrialState.COMPLETED, values=[1.0])
            h = s.head(sid)
            assert (h.n_trials, h.queued) == (n, False)
            plan = _generic_plan(s, s._statements[("head", sid)], {})
            assert "Seq Scan on hs_trials" not in plan, plan
            assert "Rows Removed by Filter" not in plan, plan
        s.create_trial(sid, {"x": 2.0}, state=TrialState.QUEUED)
        assert s.head(sid).queued
    finally:
        s.close()
