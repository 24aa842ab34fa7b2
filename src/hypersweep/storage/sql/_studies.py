"""Studies in the SQL storage, and the PostgreSQL single-statement trial writes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hypersweep.errors import (
    DuplicateTrialError,
    MaxTrialsReached,
    StorageError,
    StudyNotFound,
)
from hypersweep.storage.base import (
    StudyRecord,
)
from hypersweep.storage.sql._engine import NO_LIMIT
from hypersweep.storage.sql._pg_driver import PGDriver
from hypersweep.storage.sql._schema import (
    dumps,
    loads,
    reports,
    row_to_trial,
    studies,
    trials,
    writes,
)
from hypersweep.trial import Objective, Trial, TrialState


class SQLStudies(PGDriver):
    """Studies, counts, and the one-statement PostgreSQL paths of trial writes."""

    # ------------------------------------------------------------------------------------
    # studies
    # ------------------------------------------------------------------------------------
    @staticmethod
    def _record(r: Any) -> StudyRecord:
        objs = tuple(Objective(o["metric"], o["goal"]) for o in json.loads(r.objectives))
        return StudyRecord(
            id=r.id,
            name=r.name,
            objectives=objs,
            space=loads(r.space),
            attrs=loads(r.attrs, {}),
            created_at=r.created_at,
        )

    def create_study(
        self,
        name: str,
        objectives: Sequence[Objective],
        space: Mapping[str, Any] | None,
        attrs: Mapping[str, Any] | None = None,
    ) -> StudyRecord:
        values = {
            "name": name,
            "objectives": dumps([o.to_dict() for o in objectives]),
            "space": None if space is None else dumps(space),
            "attrs": dumps(dict(attrs or {})),
            "created_at": time.time(),
            "seq": 0,
            "trial_seq": 0,
            "report_seq": 0,
            "n_trials": 0,
        }
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = (
                pg_insert(studies).values(**values).on_conflict_do_nothing(index_elements=["name"])
            )
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = (
                sqlite_insert(studies)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["name"])
            )

        def run(conn: Connection) -> StudyRecord:
            conn.execute(stmt)
            row = conn.execute(sa.select(studies).where(studies.c.name == name)).first()
            return self._record(row)

        return self._write(run)

    def get_study(self, name: str) -> StudyRecord:
        row = self._read(
            lambda c: c.execute(sa.select(studies).where(studies.c.name == name)).first()
        )
        if row is None:
            raise StudyNotFound(f"no study named {name!r} in {self.url}")
        return self._record(row)

    def list_studies(self) -> list[StudyRecord]:
        rows = self._read(lambda c: c.execute(sa.select(studies).order_by(studies.c.id)).all())
        return [self._record(r) for r in rows]

    def delete_study(self, name: str) -> None:
        def run(conn: Connection) -> None:
            sid = conn.execute(sa.select(studies.c.id).where(studies.c.name == name)).scalar()
            if sid is None:
                raise StudyNotFound(f"no study named {name!r} in {self.url}")
            conn.execute(writes.delete().where(writes.c.study_id == sid))
            conn.execute(reports.delete().where(reports.c.study_id == sid))
            conn.execute(trials.delete().where(trials.c.study_id == sid))
            conn.execute(studies.delete().where(studies.c.id == sid))

        self._write(run)

    def update_study(
        self,
        study_id: int,
        *,
        attrs: Mapping[str, Any] | None = None,
        space: Mapping[str, Any] | None = None,
    ) -> StudyRecord:
        def run(conn: Connection) -> StudyRecord:
            q = sa.select(studies).where(studies.c.id == study_id)
            if self.dialect == "postgresql":
                q = q.with_for_update()
            row = conn.execute(q).first()
            if row is None:
                raise StudyNotFound(f"no study with id {study_id}")
            changes: dict[str, Any] = {}
            if attrs:
                changes["attrs"] = dumps({**loads(row.attrs, {}), **attrs})
            if space is not None:
                changes["space"] = dumps(space)
            if changes:
                conn.execute(studies.update().where(studies.c.id == study_id).values(**changes))
                row = conn.execute(sa.select(studies).where(studies.c.id == study_id)).first()
            return self._record(row)

        return self._write(run)

    def count_trials(self, study_id: int) -> dict[TrialState, int]:
        rows = self._read(
            lambda c: c.execute(
                sa.select(trials.c.state, sa.func.count())
                .where(trials.c.study_id == study_id)
                .group_by(trials.c.state)
            ).all()
        )
        counts = dict.fromkeys(TrialState, 0)
        for state, n in rows:
            counts[TrialState(state)] = int(n)
        return counts

    # ------------------------------------------------------------------------------------
    # PostgreSQL single-statement paths: the trial write and its ledger row in one
    # data-modifying CTE (one round trip, atomic on its own). The change's sequence number
    # is the transaction id; only a create touches the study row (n_trials, the trial's
    # number), so finishes, claims and reports of different trials never wait on each other
    # ------------------------------------------------------------------------------------
    def _single(
        self,
        key: str,
        stmt: Any,
        params: dict[str, Any],
        replay: Callable[[Connection, int | None], Any],
    ) -> Any:
        """Run one self-committing statement that writes ``params["tok"]`` to the ledger;
        a retry after a lost reply returns ``replay`` of what the first attempt wrote."""
        sql, _ = self._driver_sql((key, 0), stmt)

        def run(conn: Connection) -> Any:
            rows = self._pg_run(conn, sql, params)
            return rows[0] if rows else None

        return self._write(run, params["tok"], replay, begin=False)

    _PG_CREATE = sa.text(
        "WITH s AS (UPDATE hs_studies SET n_trials = n_trials + 1 "
        "WHERE id = :sid AND n_trials < :max "
        "RETURNING pg_current_xact_id()::text::bigint AS seq, n_trials), "
        "i AS (INSERT INTO hs_trials (study_id, number, state, params, started_at, "
        "heartbeat_at, worker_id, user_attrs, system_attrs, dedup_key, seq, budget, "
        "resume_from) "
        "SELECT :sid, s.n_trials - 1, :state, :params, :started, :started, :worker, :ua, "
        ":sa, :key, s.seq, :budget, :resume FROM s RETURNING id, number), "
        "w AS (INSERT INTO hs_writes (token, study_id, ref, created_at) "
        "SELECT :tok, :sid, i.id, :now FROM i) "
        "SELECT id, number FROM i"
    )

    def _pg_create_trial(
        self,
        study_id: int,
        state: TrialState,
        params: Mapping[str, Any],
        p_json: str,
        u_json: str,
        s_json: str,
        sys_attrs: dict[str, Any],
        user_attrs: Mapping[str, Any] | None,
        worker_id: str | None,
        key: str | None,
        now: float,
        max_trials: int | None,
        budget: float | None,
        resume_from: int | None,
    ) -> Trial:
        running = state == TrialState.RUNNING
        started = now if running else None
        worker = worker_id if running else None
        try:
            row = self._single(
                "pg_create",
                self._PG_CREATE,
                {
                    "sid": study_id,
                    "state": state.value,
                    "params": p_json,
                    "started": started,
                    "worker": worker,
                    "ua": u_json,
                    "sa": s_json,
                    "key": key,
                    "budget": budget,
                    "resume": resume_from,
                    "max": NO_LIMIT if max_trials is None else max_trials,
                    "tok": uuid.uuid4().hex,
                    "now": now,
                },
                self._trial_by_id,
            )
        except StorageError as e:
            if isinstance(e.__cause__, IntegrityError):
                raise DuplicateTrialError(f"a trial with key {key!r} exists") from None
            raise
        if isinstance(row, Trial):  # a retry found the first attempt's trial
            return row
        if row is None:
            n = self._read(
                lambda c: c.execute(
                    sa.select(studies.c.n_trials).where(studies.c.id == study_id)
                ).scalar()
            )
            if n is None:
                raise StudyNotFound(f"no study with id {study_id}")
            raise MaxTrialsReached(f"the study holds {n} trials (max_trials {max_trials})")
        if not self._stats_known and row.number >= self.STATS_AT:
            self._pg_ensure_statistics()
        return Trial(
            number=int(row.number),
            state=state,
            params=dict(params),
            started_at=started,
            heartbeat_at=started,
            worker_id=worker,
            user_attrs=dict(user_attrs or {}),
            system_attrs=sys_attrs,
            id=int(row.id),
            budget=budget,
            resume_from=resume_from,
        )

    # finish a trial in one statement (its start time and attempt: the given ones, else its own;
    # found by its primary key: see _schema.of_study)
    _PG_FINISH_AT = sa.text(
        "WITH s AS (SELECT pg_current_xact_id()::text::bigint AS seq), "
        "u AS (UPDATE hs_trials AS t SET state = :state, trial_values = :vals, "
        "metrics = :metrics, error = :error, finished_at = :now, seq = s.seq, "
        "started_at = COALESCE(CAST(:started AS DOUBLE PRECISION), t.started_at) FROM s "
        "WHERE t.id = :tid AND t.study_id + 0 = :sid AND t.state IN ('RUNNING', 'QUEUED') "
        "AND t.attempt = COALESCE(CAST(:attempt AS INTEGER), t.attempt) "
        "RETURNING t.id, t.number, t.state, t.params, t.trial_values, t.metrics, "
        "t.started_at, t.finished_at, t.heartbeat_at, t.worker_id, t.error, t.user_attrs, "
        "t.system_attrs, t.attempt, t.budget, t.resume_from), "
        "w AS (INSERT INTO hs_writes (token, study_id, ref, created_at) "
        "SELECT :tok, :sid, u.id, :now FROM u) "
        "SELECT * FROM u"
    )

    def _pg_finish_trial(
        self,
        study_id: int,
        trial_id: int,
        state: TrialState,
        v_json: str | None,
        m_json: str,
        error: str | None,
        now: float,
        token: str,
        started_at: float | None = None,
        attempt: int | None = None,
    ) -> Trial | None:
        params = {
            "sid": study_id,
            "tid": trial_id,
            "state": state.value,
            "vals": v_json,
            "metrics": m_json,
            "error": error,
            "now": now,
            "tok": token,
        }
        # NULL started_at / attempt keep the trial's own (COALESCE in the statement)
        row = self._single(
            "pg_finish",
            self._PG_FINISH_AT,
            {**params, "started": started_at, "attempt": attempt},
            self._trial_by_id,
        )
        return row if row is None or isinstance(row, Trial) else row_to_trial(row)
