"""Reads of the SQL storage: incremental sync, snapshots, aggregates and bulk loads."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hypersweep._json import loads as json_loads
from hypersweep.errors import (
    StudyNotFound,
)
from hypersweep.storage.base import (
    HistoryColumns,
    Report,
    StudyHead,
    SyncResult,
    group_reports,
)
from hypersweep.storage.sql._pg_sync import PGSync
from hypersweep.storage.sql._schema import (
    DONE_SQL,
    TRIAL_COLS,
    as_columns,
    loads,
    reports,
    reports_table,
    row_to_trial,
    studies,
    trials,
)
from hypersweep.trial import Objective, Trial, TrialState


class SQLStorage(PGSync):
    """Studies in a SQL database: ``sqlite:///path.db`` or ``postgresql://user@host/db``.

    Args:
        url: the database URL. ``postgresql://`` uses the psycopg 3 driver. A relative
            SQLite path is relative to the working directory; its folder is created.
        retries: attempts for a transaction that hits a transient lock/serialization
            error or a dropped connection (a dropped connection is retried for at least
            60 s in all).
        read_only: open for reading only (``hypersweep status``/``ls``/``best``/
            ``export``): nothing is created or migrated, and an SQLite file is opened with
            ``mode=ro`` (so a file or folder without write permission can be read); where
            SQLite cannot even keep its shared-memory index there (a read-only folder), the
            file is opened as ``immutable`` (nobody can be writing it then). Writes raise
            :class:`StorageError`.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> s = SQLStorage(f"sqlite:///{os.path.join(d, 'x.db')}")
        >>> s.create_study("demo", [Objective("loss")], None).name
        'demo'
    """

    def sync(self, study_id: int, watermark: int = 0) -> SyncResult:
        if self.dialect == "postgresql":
            return self._pg_sync(study_id, watermark)
        head_q = sa.select(
            studies.c.seq,
            studies.c.trial_seq,
            studies.c.report_seq,
            studies.c.attrs,
        ).where(studies.c.id == study_id)

        def idle(conn: Connection) -> Any:
            return conn.execute(head_q).first()

        def changes(conn: Connection) -> tuple[Any, Sequence[Any], Sequence[Any]]:
            # one snapshot: the head, the trials and the reports are read as of the same
            # commit, so every report returned belongs to a trial that this result or an
            # earlier one holds, and the watermark W covers exactly what was read
            head = conn.execute(head_q).first()
            if head is None:
                raise StudyNotFound(f"no study with id {study_id}")
            rows: Sequence[Any] = []
            reps: Sequence[Any] = []
            if head.trial_seq > watermark:
                rows = conn.execute(
                    sa.select(*TRIAL_COLS)
                    .where(
                        trials.c.study_id == study_id,
                        trials.c.seq > watermark,
                    )
                    .order_by(trials.c.number)
                ).all()
            if head.report_seq > watermark:
                reps = conn.execute(
                    sa.select(reports.c.number, reports.c.step, reports.c.metrics)
                    .where(
                        reports.c.study_id == study_id,
                        reports.c.seq > watermark,
                    )
                    .order_by(reports.c.seq, reports.c.id)
                ).all()
            return head, rows, reps

        # the common case, nothing new, is one indexed read outside any transaction
        head = self._read(idle)
        if head is None:
            raise StudyNotFound(f"no study with id {study_id}")
        if int(head.seq) <= watermark:
            return SyncResult([], [], int(head.seq), loads(head.attrs, {}))
        head, rows, reps = self._snapshot(changes)
        return SyncResult(
            [row_to_trial(r) for r in rows],
            [Report(r.number, r.step, json_loads(r.metrics)) for r in reps],
            int(head.seq),
            loads(head.attrs, {}),
        )

    def head(self, study_id: int) -> StudyHead:
        # one statement: the study row and the first QUEUED trial's number, read from
        # the partial index ix_hs_trials_queued (only the queue): on a table without
        # statistics a probe of the wider study_id indexes filtered the whole study
        # (tests/storage/test_unanalyzed_plans.py)
        q = self._statements.get(("head", study_id))
        if q is None:
            first_queued = (
                sa.select(trials.c.number)
                .where(
                    trials.c.study_id == study_id,
                    trials.c.state == sa.literal_column(f"'{TrialState.QUEUED.value}'"),
                )
                .order_by(trials.c.number)
                .limit(sa.bindparam("one", 1, type_=sa.Integer(), literal_execute=False))
                .scalar_subquery()
            )
            q = self._statements[("head", study_id)] = sa.select(
                studies.c.n_trials, studies.c.attrs, first_queued.label("queued")
            ).where(studies.c.id == study_id)
        if self.dialect == "postgresql":
            sql, bound = self._driver_sql(("head_sql", study_id), q)
            found = self._read(lambda c: self._pg_run(c, sql, bound))
            row = found[0] if found else None
        else:
            row = self._read(lambda c: c.execute(q).first())
        if row is None:
            raise StudyNotFound(f"no study with id {study_id}")
        return StudyHead(int(row.n_trials), row.queued is not None, loads(row.attrs, {}))

    def get_trials(self, study_id: int, states: Iterable[TrialState] | None = None) -> list[Trial]:
        wanted = None if states is None else [s.value for s in states]

        def run(conn: Connection) -> tuple[Sequence[Any], Sequence[Any]]:
            q = sa.select(*TRIAL_COLS).where(trials.c.study_id == study_id)
            if wanted is not None:
                q = q.where(trials.c.state.in_(wanted))
            rows = conn.execute(q.order_by(trials.c.number)).all()
            reps = conn.execute(
                sa.select(reports.c.number, reports.c.step, reports.c.metrics)
                .where(reports.c.study_id == study_id)
                .order_by(reports.c.seq, reports.c.id)
            ).all()
            return rows, reps

        rows, reps = self._snapshot(run)
        by_trial = group_reports((r.number, r.step, json_loads(r.metrics)) for r in reps)
        return [row_to_trial(r).with_(reports=by_trial.get(r.number, {})) for r in rows]

    def get_trial(self, study_id: int, number: int) -> Trial:
        def run(conn: Connection) -> tuple[Any, Sequence[Any]]:
            row = conn.execute(
                sa.select(*TRIAL_COLS).where(
                    trials.c.study_id == study_id, trials.c.number == number
                )
            ).first()
            if row is None:
                raise KeyError(number)
            reps = conn.execute(
                sa.select(reports.c.step, reports.c.metrics)
                .where(reports.c.trial_id == row.id)
                .order_by(reports.c.seq, reports.c.id)
            ).all()
            return row, reps

        row, reps = self._snapshot(run)
        merged = group_reports((number, r.step, json_loads(r.metrics)) for r in reps)
        return row_to_trial(row).with_(reports=merged.get(number, {}))

    # ------------------------------------------------------------------------------------
    # aggregate and bulk reads (status, best, ls, export, opening a study)
    # ------------------------------------------------------------------------------------
    def _objectives_of(self, study_id: int) -> tuple[Objective, ...]:
        text = self._read(
            lambda c: c.execute(
                sa.select(studies.c.objectives).where(studies.c.id == study_id)
            ).scalar()
        )
        if text is None:
            raise StudyNotFound(f"no study with id {study_id}")
        return tuple(Objective(o["metric"], o["goal"]) for o in json_loads(text))

    def best_trials(self, study_id: int) -> list[Trial]:
        objs = self._objectives_of(study_id)
        # literal states: the planner matches the partial index's predicate only then
        done = sa.and_(trials.c.study_id == study_id, sa.text(DONE_SQL))
        if len(objs) == 1:
            v0 = self._value0()
            order = v0 if objs[0].goal == "minimize" else sa.desc(v0)

            def best(conn: Connection) -> Any:
                # one ordered read of ix_hs_trials_best; ties (equal values) sort by number
                return conn.execute(
                    sa.select(*TRIAL_COLS).where(done).order_by(order, trials.c.number).limit(1)
                ).first()

            row = self._read(best)
            return [] if row is None else [row_to_trial(row)]
        rows = self._read(
            lambda c: c.execute(
                sa.select(trials.c.number, trials.c.trial_values)
                .where(done)
                .order_by(trials.c.number)
            ).all()
        )
        pts = [
            Trial(
                number=r.number,
                state=TrialState.COMPLETED,
                params={},
                values=tuple(json_loads(r.trial_values)),
            )
            for r in rows
        ]
        from hypersweep._best import best_of  # numpy: not on the status/ls path

        front = [t.number for t in best_of(pts, objs)]
        return self._trials_by_number(study_id, front)

    def _trials_by_number(self, study_id: int, numbers: Sequence[int]) -> list[Trial]:
        out: list[Trial] = []
        for i in range(0, len(numbers), 500):
            q = (
                sa.select(*TRIAL_COLS)
                .where(trials.c.study_id == study_id, trials.c.number.in_(numbers[i : i + 500]))
                .order_by(trials.c.number)
            )

            def run(conn: Connection, q: Any = q) -> Sequence[Any]:
                return conn.execute(q).all()

            out.extend(row_to_trial(r) for r in self._read(run))
        return out

    def running_trials(self, study_id: int, limit: int | None = None) -> list[Trial]:
        # ix_hs_trials_study_state_number finds the running rows; ix_hs_reports_trial their
        # latest step's reports
        def run(conn: Connection) -> tuple[Sequence[Any], Sequence[Any]]:
            q = (
                sa.select(*TRIAL_COLS)
                .where(
                    trials.c.study_id == study_id,
                    trials.c.state == TrialState.RUNNING.value,
                )
                .order_by(trials.c.number)
            )
            rows = conn.execute(q if limit is None else q.limit(limit)).all()
            if not rows:
                return rows, []
            ids = [r.id for r in rows]
            last = (
                sa.select(reports.c.trial_id, sa.func.max(reports.c.step).label("step"))
                .where(reports.c.trial_id.in_(ids))
                .group_by(reports.c.trial_id)
                .subquery()
            )
            reps = conn.execute(
                sa.select(reports.c.number, reports.c.step, reports.c.metrics)
                .join(
                    last,
                    sa.and_(reports.c.trial_id == last.c.trial_id, reports.c.step == last.c.step),
                )
                .order_by(reports.c.seq, reports.c.id)
            ).all()
            return rows, reps

        rows, reps = self._read(run)
        by = group_reports((r.number, r.step, json_loads(r.metrics)) for r in reps)
        return [row_to_trial(r).with_(reports=by.get(r.number, {})) for r in rows]

    def last_trial(self, study_id: int, state: TrialState) -> Trial | None:
        row = self._read(
            lambda c: c.execute(
                sa.select(*TRIAL_COLS)
                .where(
                    trials.c.study_id == study_id,
                    trials.c.state == state.value,
                )
                .order_by(trials.c.number.desc())
                .limit(1)
            ).first()
        )
        return None if row is None else row_to_trial(row)

    def last_activity(self, study_id: int) -> float | None:
        # one pass over the study's rows inside the database (a report also moves its
        # trial's heartbeat, so the three columns cover every write)
        row = self._read(
            lambda c: c.execute(
                sa.select(
                    sa.func.max(trials.c.started_at),
                    sa.func.max(trials.c.finished_at),
                    sa.func.max(trials.c.heartbeat_at),
                ).where(trials.c.study_id == study_id)
            ).first()
        )
        times = [x for x in (row or ()) if x is not None]
        return max(times) if times else None

    def trial_seconds(self, study_id: int, now: float | None = None) -> float:
        # one aggregate inside the database (a 100k-trial study's status stays fast)
        at = time.time() if now is None else now
        running = trials.c.state == TrialState.RUNNING.value
        end = sa.case((trials.c.finished_at.is_not(None), trials.c.finished_at), (running, at))
        pick = sa.func.greatest if self.dialect == "postgresql" else sa.func.max
        spent = pick(end - trials.c.started_at, 0.0)  # (the two-argument maximum)
        total = self._read(
            lambda c: c.execute(
                sa.select(sa.func.coalesce(sa.func.sum(spent), 0.0)).where(
                    trials.c.study_id == study_id, trials.c.started_at.is_not(None)
                )
            ).scalar()
        )
        return float(total or 0.0)

    def iter_trials(
        self,
        study_id: int,
        *,
        reports: bool = True,
        batch_size: int = 1000,
    ) -> Iterator[Trial]:
        after = -1
        while True:

            def run(conn: Connection, after: int = after) -> tuple[Sequence[Any], Any]:
                rows = conn.execute(
                    sa.select(*TRIAL_COLS)
                    .where(
                        trials.c.study_id == study_id,
                        trials.c.number > after,
                    )
                    .order_by(trials.c.number)
                    .limit(batch_size)
                ).all()
                if not rows or not reports:
                    return rows, []
                reps = conn.execute(
                    sa.select(
                        reports_table.c.number, reports_table.c.step, reports_table.c.metrics
                    )
                    .where(reports_table.c.trial_id.in_([r.id for r in rows]))
                    .order_by(reports_table.c.seq, reports_table.c.id)
                ).all()
                return rows, reps

            rows, reps = self._read(run)
            if not rows:
                return
            by = group_reports((r.number, r.step, json_loads(r.metrics)) for r in reps)
            for r in rows:
                yield row_to_trial(r).with_(reports=by.get(r.number, {}))
            after = rows[-1].number

    def load_history(
        self, study_id: int, reports: bool = False, last_reported: Sequence[str] = ()
    ) -> HistoryColumns:
        begin = (
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            if self.dialect == "postgresql"
            else "BEGIN"
        )

        def run(conn: Connection) -> HistoryColumns:
            conn.exec_driver_sql(begin)  # one snapshot for every query below
            try:
                if self.dialect == "postgresql":
                    h = conn.execute(self._pg_head(study_id)).first()
                    if h is None:
                        raise StudyNotFound(f"no study with id {study_id}")
                    seqs = [s for s in (h.trial_seq, h.report_seq) if s is not None]
                    mark = self._safe(0, seqs, h.xmin)
                    attrs = h.attrs
                else:
                    row = conn.execute(
                        sa.select(studies.c.seq, studies.c.attrs).where(studies.c.id == study_id)
                    ).first()
                    if row is None:
                        raise StudyNotFound(f"no study with id {study_id}")
                    mark, attrs = int(row.seq), row.attrs
                cols = as_columns(
                    self._raw_rows(
                        conn,
                        # the columns a History needs first, then the rest of a row
                        # (as_columns reads them in this order)
                        sa.select(
                            trials.c.number,
                            trials.c.state,
                            trials.c.params,
                            trials.c.trial_values,
                            trials.c.id,
                            *TRIAL_COLS[5:],
                        )
                        .where(trials.c.study_id == study_id)
                        .order_by(trials.c.number),
                    )
                )
                reps = None
                if reports:
                    reps = [
                        Report(r.number, r.step, json_loads(r.metrics))
                        for r in conn.execute(self._reports_query(study_id, mark))
                    ]
                last: dict[int, dict[str, Any]] = {}
                for m in last_reported:
                    for number, v in self._last_reported(conn, study_id, mark, m):
                        last.setdefault(number, {})[m] = v
            finally:
                conn.exec_driver_sql("COMMIT")
            return HistoryColumns(
                *cols,
                watermark=mark,
                attrs=loads(attrs, {}),
                reports=reps,
                last_reported=last if last_reported else None,
            )

        return self._read(run)

    def _raw_rows(
        self,
        conn: Connection,
        stmt: Any,
        batch: int = 5000,
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of ``stmt`` as plain tuples straight from the driver, ``batch`` at a
        time (a server-side cursor on PostgreSQL; the caller holds a transaction): a
        bulk read of 100k rows then skips SQLAlchemy's per-row work."""
        compiled = stmt.compile(dialect=self._engine.dialect)
        dbapi: Any = conn.connection.dbapi_connection
        if self.dialect == "postgresql":
            cur = dbapi.cursor(name=f"hs_bulk_{os.getpid()}_{threading.get_ident()}")
            cur.itersize = batch
            params: Any = compiled.params
        else:
            cur = dbapi.cursor()
            params = tuple(compiled.params[k] for k in (compiled.positiontup or ()))
        try:
            cur.execute(compiled.string, params)
            while True:
                rows = cur.fetchmany(batch)
                if not rows:
                    return
                yield from rows
        finally:
            cur.close()

    def _reports_query(self, study_id: int, until: int) -> Any:
        return (
            sa.select(reports.c.number, reports.c.step, reports.c.metrics)
            .where(reports.c.study_id == study_id, reports.c.seq <= until)
            .order_by(reports.c.seq, reports.c.id)
        )

    def _last_reported(
        self, conn: Connection, study_id: int, until: int, metric: str
    ) -> list[tuple[int, Any]]:
        """``(number, value)`` of ``metric`` in each trial's last report that has it
        (highest step, then latest), up to ``until``. The database picks the rows by a
        substring of the stored text; a row that matched without holding the metric (a
        hand-written text) makes this read the matching rows and pick in Python."""
        needle = json.dumps(metric) + ":"  # how the metrics texts are written
        find = sa.func.strpos if self.dialect == "postgresql" else sa.func.instr
        where = (
            reports.c.study_id == study_id,
            reports.c.seq <= until,
            find(reports.c.metrics, needle) > 0,
        )
        order = (reports.c.step.desc(), reports.c.seq.desc(), reports.c.id.desc())
        rank = sa.func.row_number().over(partition_by=reports.c.number, order_by=order)
        inner = sa.select(reports.c.number, reports.c.metrics, rank.label("rk")).where(*where)
        sub = inner.subquery()
        out = []
        top = sa.select(sub.c.number, sub.c.metrics).where(sub.c.rk == 1)
        for number, text in conn.execute(top):
            m = json_loads(text)
            if metric not in m:
                break
            out.append((number, m[metric]))
        else:
            return out
        rows = conn.execute(
            sa.select(reports.c.number, reports.c.metrics)
            .where(*where)
            .order_by(reports.c.number, *order)
        )
        picked: dict[int, Any] = {}
        for number, text in rows:
            m = json_loads(text)
            if number not in picked and metric in m:
                picked[number] = m[metric]
        return list(picked.items())

    def reports_since(self, study_id: int, watermark: int) -> tuple[list[Report], int]:
        q = (
            sa.select(reports.c.seq, reports.c.number, reports.c.step, reports.c.metrics)
            .where(reports.c.study_id == study_id, reports.c.seq > watermark)
            .order_by(reports.c.seq, reports.c.id)
        )
        if self.dialect == "postgresql":  # the rows and their snapshot's horizon at once
            q = q.add_columns(sa.literal_column(self.PG_XMIN).label("xmin"))
        rows = self._read(lambda c: c.execute(q).all())
        out = [Report(r.number, r.step, json_loads(r.metrics)) for r in rows]
        if not rows:
            return out, watermark
        if self.dialect == "postgresql":
            return out, self._safe(watermark, [r.seq for r in rows], rows[0].xmin)
        return out, int(rows[-1].seq)

    def reports_until(self, study_id: int, watermark: int) -> list[Report]:
        rows = self._read(lambda c: c.execute(self._reports_query(study_id, watermark)).all())
        return [Report(r.number, r.step, json_loads(r.metrics)) for r in rows]
