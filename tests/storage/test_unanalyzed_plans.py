"""PostgreSQL: on a trials table that was never analyzed (autovacuum off, or not run yet:
no statistics), the statements that find one trial by its id still go by the primary
key. With ``study_id = :sid`` beside ``id = :tid`` the planner took an index that starts
with ``study_id`` and filtered all of the study's rows for the id: each heartbeat, report
and finish read every row of the study (2,000 per statement at the end of the 1,000-worker
simulation)."""

from __future__ import annotations

from typing import Any

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
