"""PostgreSQL numbers changes by transaction id, with no study-wide lock (issue 15 point
5): a sync never moves its watermark past a transaction still in flight, so a change that
commits late (after a later-numbered one was read) still reaches every reader; rows
numbered ahead of the server's transaction ids (a restored or copied database) are
renumbered when the storage opens."""

from __future__ import annotations

import sqlalchemy as sa

from hypersweep.storage import open_storage
from hypersweep.testing.storage import Replica
from hypersweep.trial import Objective, TrialState


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def test_a_change_committed_late_is_not_skipped_by_a_later_ones_watermark(
    postgres_url: str,
) -> None:
    s = open_storage(postgres_url)
    sid = s.create_study("late", [Objective("loss")], None).id
    a = s.create_trial(sid, {"x": 1})
    b = s.create_trial(sid, {"x": 2})
    reader = Replica(s, sid)
    reader.sync()
    eng = _engine(postgres_url)
    slow = eng.connect()
    try:
        # a writer takes its transaction id (its change's number) first, then stalls
        tx = slow.begin()
        slow.exec_driver_sql(
            "UPDATE hs_trials SET state = 'COMPLETED', trial_values = '[1.0]', "
            "finished_at = 1, seq = pg_current_xact_id()::text::bigint WHERE id = %(id)s",
            {"id": a.id},
        )
        # a later transaction (a higher number) commits meanwhile, and is read
        s.finish_trial(sid, b.id, TrialState.COMPLETED, values=[2.0])
        before = reader.watermark
        reader.sync()
        assert reader.trials[b.number].state == TrialState.COMPLETED
        assert reader.trials[a.number].state == TrialState.RUNNING
        held = reader.watermark
        xid = slow.exec_driver_sql("SELECT pg_current_xact_id()::text::bigint").scalar()
        assert before <= held < int(xid), "the watermark passed a transaction in flight"
        tx.commit()
    finally:
        slow.close()
        eng.dispose()
    reader.sync()  # the late change arrives
    assert reader.trials[a.number].state == TrialState.COMPLETED
    assert reader.trials[a.number].values == (1.0,)
    reader.assert_matches()
    quiet = reader.watermark
    res = s.sync(sid, quiet)
    assert (res.trials, res.reports, res.watermark) == ([], [], quiet)
    s.close()


def test_rows_numbered_ahead_of_the_servers_transactions_are_renumbered_on_open(
    postgres_url: str,
) -> None:
    s = open_storage(postgres_url)
    sid = s.create_study("ahead", [Objective("loss")], None).id
    t = s.create_trial(sid, {"x": 1})
    s.report(sid, t.id, 0, {"loss": 1.0})
    s.close()
    eng = _engine(postgres_url)
    with eng.begin() as c:  # as if copied in from a database with a larger counter
        c.exec_driver_sql("UPDATE hs_trials SET seq = seq + 1000000000000")
        c.exec_driver_sql("UPDATE hs_reports SET seq = seq + 1000000000000")
    s = open_storage(postgres_url)
    with eng.connect() as c:
        top = c.exec_driver_sql(
            "SELECT GREATEST((SELECT max(seq) FROM hs_trials), (SELECT max(seq) FROM hs_reports))"
        ).scalar()
        now = c.exec_driver_sql("SELECT pg_current_xact_id()::text::bigint").scalar()
    eng.dispose()
    assert int(top) < int(now)
    reader = Replica(s, sid)
    reader.sync()
    reader.assert_matches()
    quiet = reader.watermark
    assert s.sync(sid, quiet).trials == []  # idle: nothing is read again and again
    s.finish_trial(sid, t.id, TrialState.COMPLETED, values=[0.5])
    reader.sync()
    assert reader.trials[0].values == (0.5,)
    s.close()
