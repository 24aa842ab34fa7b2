"""PostgreSQL's incremental sync: transaction ids as change numbers, one statement in the
common case."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hypersweep._json import loads as json_loads
from hypersweep.errors import StudyNotFound
from hypersweep.storage.base import Report, SyncResult
from hypersweep.storage.sql._schema import (
    TRIAL_COLS,
    loads,
    reports,
    row_to_trial,
    studies,
    trials,
)
from hypersweep.storage.sql._writes import SQLWrites

_by_number = operator.attrgetter("number")
_ALL = 2**62


class PGSync(SQLWrites):
    """The PostgreSQL half of :meth:`SQLStorage.sync <hypersweep.storage.sql.SQLStorage.sync>`."""

    # ------------------------------------------------------------------------------------
    # PostgreSQL: sequence numbers are transaction ids (no study lock; see _pg_bump), so a
    # reader's new watermark is the highest number it read, but never at or above the
    # oldest transaction in flight in its snapshot: what that one writes later is then
    # still above the watermark. Rows between the two may be read twice; a trial is a
    # snapshot and reports merge by step, so a second read changes nothing.
    # ------------------------------------------------------------------------------------
    def _pg_head(self, study_id: int) -> Any:
        """attrs and the highest change number of the study's trials and of its reports."""
        return sa.select(
            studies.c.attrs,
            # the highest as "ORDER BY seq DESC LIMIT 1", not max(): see _pg_sync_statement
            sa.select(trials.c.seq)
            .where(trials.c.study_id == study_id, trials.c.seq.is_not(None))
            .order_by(trials.c.seq.desc())
            .limit(sa.bindparam("one", 1, type_=sa.Integer(), literal_execute=False))
            .scalar_subquery()
            .label("trial_seq"),
            sa.select(sa.func.max(reports.c.seq))
            .where(reports.c.study_id == study_id)
            .scalar_subquery()
            .label("report_seq"),
            sa.literal_column(self.PG_XMIN).label("xmin"),
        ).where(studies.c.id == study_id)

    @staticmethod
    def _safe(watermark: int, read: Iterable[int], xmin: int) -> int:
        top = max(read, default=None)
        return watermark if top is None else max(watermark, min(int(top), int(xmin) - 1))

    def _pg_sync_statement(self, study_id: int) -> Any:
        """The head of study ``study_id`` joined with its trials changed since ``:wm``
        (built once per study: building it costs more than running it).

        The driver prepares the statement, and PostgreSQL keeps a generic plan of it,
        made without the watermark's value from the statistics of that moment. Unordered,
        that plan read the whole study on every ask: with no statistics (a new table)
        every index that starts with ``study_id`` costs the same, and it took
        ``(study_id, state, number)`` and filtered ``seq``; with statistics it scanned
        the table. A new study's sync cost 0.24 ms of server CPU more per ask for every
        1,000 trials. So both reads of ``hs_trials`` are ordered by ``seq`` under a
        ``LIMIT`` parameter: a limit of unknown size makes the planner cost the
        ``(study_id, seq)`` range, which needs no sort, as the cheapest plan once there
        are statistics, and ``_pg_ensure_statistics`` sees that there are."""
        q = self._statements.get(("pg_sync", study_id))
        if q is None:
            h = self._pg_head(study_id).subquery("h")
            t = (
                sa.select(*TRIAL_COLS, trials.c.seq)
                .where(
                    trials.c.study_id == study_id,
                    trials.c.seq > sa.bindparam("wm", type_=sa.BigInteger()),
                )
                .order_by(trials.c.seq)  # served by the index's order: no sort node
                .limit(sa.bindparam("all", _ALL, type_=sa.BigInteger(), literal_execute=False))
                .subquery("t")
            )
            first = sa.func.row_number().over() == 1  # the attrs once, not on every row
            # by seq, not by number: the caller sorts (a sort in the server copies every
            # wide row)
            q = self._statements[("pg_sync", study_id)] = sa.select(
                sa.case((first, h.c.attrs)).label("attrs"),
                h.c.trial_seq,
                h.c.report_seq,
                h.c.xmin,
                *[t.c[c.name] for c in TRIAL_COLS],
                t.c.seq,
            ).select_from(h.outerjoin(t, sa.true()))
        return q

    def _pg_sync(self, study_id: int, watermark: int) -> SyncResult:
        def changes(conn: Connection) -> tuple[Any, Sequence[Any], Sequence[Any]]:
            head = conn.execute(self._pg_head(study_id)).first()
            if head is None:
                raise StudyNotFound(f"no study with id {study_id}")
            rows: Sequence[Any] = []
            reps: Sequence[Any] = []
            if (head.trial_seq or 0) > watermark:
                rows = sorted(  # by seq in the server, for the plan (_pg_sync_statement)
                    conn.execute(
                        sa.select(*TRIAL_COLS, trials.c.seq)
                        .where(trials.c.study_id == study_id, trials.c.seq > watermark)
                        .order_by(trials.c.seq)
                        .limit(sa.bindparam("all", _ALL, type_=sa.BigInteger()))
                    ).all(),
                    key=_by_number,
                )
            if (head.report_seq or 0) > watermark:
                reps = conn.execute(
                    sa.select(reports.c.seq, reports.c.number, reports.c.step, reports.c.metrics)
                    .where(reports.c.study_id == study_id, reports.c.seq > watermark)
                    .order_by(reports.c.seq, reports.c.id)
                ).all()
            return head, rows, reps

        # the common cases in one statement (one snapshot, no transaction): the head and
        # the trials changed since the watermark, or the head alone when none changed
        sql, bound = self._driver_sql(("pg_sync_sql", study_id), self._pg_sync_statement(study_id))
        found = self._read(lambda c: self._pg_run(c, sql, {**bound, "wm": watermark}))
        if not found:
            raise StudyNotFound(f"no study with id {study_id}")
        head = found[0]
        attrs = next((r.attrs for r in found if r.attrs is not None), None)
        if (head.report_seq or 0) <= watermark:  # no new report: this read is the sync
            changed = sorted((r for r in found if r.id is not None), key=_by_number)
            if not changed:
                top = max(head.trial_seq or 0, head.report_seq or 0)
                return SyncResult([], [], int(top), loads(attrs, {}))
            mark = self._safe(watermark, [r.seq for r in changed], head.xmin)
            return SyncResult([row_to_trial(r) for r in changed], [], mark, loads(attrs, {}))
        head, rows, reps = self._snapshot(changes)  # trials and reports as of one snapshot
        mark = self._safe(watermark, [r.seq for r in rows] + [r.seq for r in reps], head.xmin)
        return SyncResult(
            [row_to_trial(r) for r in rows],
            [Report(r.number, r.step, json_loads(r.metrics)) for r in reps],
            mark,
            loads(head.attrs, {}),
        )
