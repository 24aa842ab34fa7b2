"""Trial writes of the SQL storage: create, claim, report, finish, retry, recover."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hypersweep.errors import (
    DuplicateTrialError,
    MaxTrialsReached,
    StorageError,
    TrialNotRunning,
)
from hypersweep.storage.sql._schema import (
    TRIAL_COLS,
    dumps,
    loads,
    of_study,
    reports,
    row_to_trial,
    stale_where,
    trials,
)
from hypersweep.storage.sql._studies import SQLStudies
from hypersweep.trial import Trial, TrialState

#: PostgreSQL: a condition that is always true and, once evaluated (one InitPlan), makes
#: the statement's own transaction commit without waiting for its WAL flush
#: (``synchronous_commit = off`` for this transaction only: ``set_config(..., true)``,
#: so nothing outlives it, which keeps a transaction-mode pooler safe). Used by the
#: heartbeat alone: liveness is not trial state, and a heartbeat lost in a server crash
#: only makes its trial look a few seconds older.
ASYNC_COMMIT = (
    sa.select(sa.func.set_config("synchronous_commit", "off", sa.true())).scalar_subquery()
    == "off"
)


class SQLWrites(SQLStudies):
    """Every trial state change, one transaction each."""

    # ------------------------------------------------------------------------------------
    # trials
    # ------------------------------------------------------------------------------------
    def create_trial(
        self,
        study_id: int,
        params: Mapping[str, Any],
        *,
        state: TrialState = TrialState.RUNNING,
        worker_id: str | None = None,
        key: str | None = None,
        user_attrs: Mapping[str, Any] | None = None,
        system_attrs: Mapping[str, Any] | None = None,
        now: float | None = None,
        max_trials: int | None = None,
        budget: float | None = None,
        resume_from: int | None = None,
    ) -> Trial:
        if state not in (TrialState.QUEUED, TrialState.RUNNING):
            raise ValueError(f"a new trial is QUEUED or RUNNING, not {state}")
        now = time.time() if now is None else now
        token = uuid.uuid4().hex
        running = state == TrialState.RUNNING
        sys_attrs = dict(system_attrs or {})
        if key is not None:
            sys_attrs["key"] = key
        p_json, u_json, s_json = (
            dumps(dict(params)),
            dumps(dict(user_attrs or {})),
            dumps(sys_attrs),
        )

        def run(conn: Connection) -> Trial:
            seq, n = self._bump(conn, study_id, 1)
            if max_trials is not None and n > max_trials:  # rolled back: nothing changes
                raise MaxTrialsReached(f"the study holds {n - 1} trials (max_trials {max_trials})")
            if key is not None:
                taken = conn.execute(
                    sa.select(trials.c.id).where(
                        trials.c.study_id == study_id, trials.c.dedup_key == key
                    )
                ).first()
                if taken is not None:
                    raise DuplicateTrialError(f"a trial with key {key!r} exists")
            values = {
                "study_id": study_id,
                "number": n - 1,
                "state": state.value,
                "params": p_json,
                "started_at": now if running else None,
                "heartbeat_at": now if running else None,
                "worker_id": worker_id if running else None,
                "user_attrs": u_json,
                "system_attrs": s_json,
                "dedup_key": key,
                "seq": seq,
                "budget": budget,
                "resume_from": resume_from,
            }
            tid: Any
            if self._returning:
                stmt = trials.insert().values(**values).returning(trials.c.id)
                tid = conn.execute(stmt).scalar()
            else:
                inserted = conn.execute(trials.insert().values(**values)).inserted_primary_key
                if inserted is None:
                    raise StorageError("storage: the new trial's id was not returned")
                tid = inserted[0]
            self._ledger(conn, token, study_id, int(tid))
            return Trial(
                number=n - 1,
                state=state,
                params=dict(params),
                started_at=values["started_at"],
                heartbeat_at=values["heartbeat_at"],
                worker_id=values["worker_id"],
                user_attrs=dict(user_attrs or {}),
                system_attrs=sys_attrs,
                id=int(tid),
                budget=budget,
                resume_from=resume_from,
            )

        try:
            if self.dialect == "postgresql":
                return self._pg_create_trial(
                    study_id,
                    state,
                    params,
                    p_json,
                    u_json,
                    s_json,
                    sys_attrs,
                    user_attrs,
                    worker_id,
                    key,
                    now,
                    max_trials,
                    budget,
                    resume_from,
                )
            return self._write(run, token, self._trial_by_id)
        except StorageError as e:
            if isinstance(e.__cause__, IntegrityError):
                raise DuplicateTrialError(f"a trial with key {key!r} exists") from None
            raise

    def claim_trial(
        self,
        study_id: int,
        worker_id: str | None,
        now: float | None = None,
        max_trials: int | None = None,
    ) -> Trial | None:
        now = time.time() if now is None else now
        token = uuid.uuid4().hex

        class _Empty(Exception):
            pass

        def run(conn: Connection) -> Trial:
            seq, _ = self._bump(conn, study_id)
            q = (
                sa.select(*TRIAL_COLS)
                .where(trials.c.study_id == study_id, trials.c.state == TrialState.QUEUED.value)
                .order_by(trials.c.number)
                .limit(1)
            )
            if max_trials is not None:
                q = q.where(trials.c.number < max_trials)
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            row = conn.execute(q).first()
            if row is None:
                raise _Empty
            conn.execute(
                trials.update()
                .where(trials.c.id == row.id)
                .values(
                    state=TrialState.RUNNING.value,
                    started_at=now,
                    heartbeat_at=now,
                    worker_id=worker_id,
                    seq=seq,
                )
            )
            self._ledger(conn, token, study_id, int(row.id))
            return row_to_trial(row).with_(
                state=TrialState.RUNNING, started_at=now, heartbeat_at=now, worker_id=worker_id
            )

        try:
            return self._write(run, token, self._trial_by_id)
        except _Empty:
            return None

    def _locked_trial(self, conn: Connection, study_id: int, trial_id: int) -> Any:
        row = conn.execute(
            sa.select(*TRIAL_COLS).where(trials.c.id == trial_id, of_study(study_id))
        ).first()
        if row is None:
            raise KeyError(f"no trial with id {trial_id} in study {study_id}")
        return row

    def report(
        self,
        study_id: int,
        trial_id: int,
        step: int,
        metrics: Mapping[str, float],
        now: float | None = None,
        attempt: int | None = None,
    ) -> None:
        now = time.time() if now is None else now
        m_json = dumps({k: float(v) for k, v in metrics.items()})
        token = uuid.uuid4().hex

        def run(conn: Connection) -> None:
            seq, _ = self._bump(conn, study_id, kind="report")
            q = sa.select(trials.c.state, trials.c.number, trials.c.attempt).where(
                trials.c.id == trial_id, of_study(study_id)
            )
            if self.dialect == "postgresql":  # a re-queue of it waits for this report
                q = q.with_for_update(read=True)
            row = conn.execute(q).first()
            if row is None:
                raise KeyError(f"no trial with id {trial_id}")
            if row.state != TrialState.RUNNING.value:
                raise TrialNotRunning(f"trial {row.number} is {row.state}, cannot report")
            if attempt is not None and int(row.attempt) != attempt:
                raise TrialNotRunning(
                    f"trial {row.number} is at attempt {row.attempt}, not {attempt}: "
                    "it was re-queued and claimed again"
                )
            conn.execute(
                reports.insert().values(
                    study_id=study_id,
                    trial_id=trial_id,
                    number=row.number,
                    step=int(step),
                    metrics=m_json,
                    created_at=now,
                    seq=seq,
                )
            )
            conn.execute(trials.update().where(trials.c.id == trial_id).values(heartbeat_at=now))
            self._ledger(conn, token, study_id, trial_id)

        self._write(run, token, lambda _c, _ref: None)

    def finish_trial(
        self,
        study_id: int,
        trial_id: int,
        state: TrialState,
        *,
        values: Sequence[float] | None = None,
        metrics: Mapping[str, Any] | None = None,
        error: str | None = None,
        now: float | None = None,
        started_at: float | None = None,
        attempt: int | None = None,
    ) -> Trial:
        if not state.is_finished:
            raise ValueError(f"finish_trial needs an end state, got {state}")
        now = time.time() if now is None else now
        vals = None if values is None else tuple(float(v) for v in values)
        if vals is not None and not all(math.isfinite(v) for v in vals):
            raise ValueError(f"objective values must be finite, got {vals}")
        v_json = None if vals is None else dumps(list(vals))
        m_json = dumps(dict(metrics or {}))
        token = uuid.uuid4().hex
        check_first = False

        if self.dialect == "postgresql":
            done = self._pg_finish_trial(
                study_id, trial_id, state, v_json, m_json, error, now, token, started_at, attempt
            )
            if done is not None:
                return done.with_(values=vals, metrics=dict(metrics or {}))
            # not RUNNING/QUEUED (or missing): the locked path below raises the right error
            check_first = True  # unless a retried attempt of the statement did finish it

        def run(conn: Connection) -> Trial:
            seq, _ = self._bump(conn, study_id)
            row = self._locked_trial(conn, study_id, trial_id)
            if TrialState(row.state).is_finished:
                raise TrialNotRunning(f"trial {row.number} is already {row.state}")
            if attempt is not None and int(row.attempt) != attempt:
                raise TrialNotRunning(
                    f"trial {row.number} is at attempt {row.attempt}, not {attempt}"
                )
            start = row.started_at if started_at is None else started_at
            conn.execute(
                trials.update()
                .where(trials.c.id == trial_id)
                .values(
                    state=state.value,
                    trial_values=v_json,
                    metrics=m_json,
                    error=error,
                    finished_at=now,
                    seq=seq,
                    started_at=start,
                )
            )
            self._ledger(conn, token, study_id, trial_id)
            return row_to_trial(row).with_(
                state=state,
                values=vals,
                metrics=dict(metrics or {}),
                error=error,
                finished_at=now,
                started_at=start,
            )

        return self._write(run, token, self._trial_by_id, check_first=check_first)

    def set_trial_attrs(
        self,
        study_id: int,
        trial_id: int,
        *,
        user: Mapping[str, Any] | None = None,
        system: Mapping[str, Any] | None = None,
    ) -> Trial:
        def run(conn: Connection) -> Trial:
            seq, _ = self._bump(conn, study_id)
            row = self._locked_trial(conn, study_id, trial_id)
            ua = {**loads(row.user_attrs, {}), **(user or {})}
            sa_ = {**loads(row.system_attrs, {}), **(system or {})}
            conn.execute(
                trials.update()
                .where(trials.c.id == trial_id)
                .values(user_attrs=dumps(ua), system_attrs=dumps(sa_), seq=seq)
            )
            return row_to_trial(row).with_(user_attrs=ua, system_attrs=sa_)

        return self._write(run)

    def set_trial_params(self, study_id: int, trial_id: int, params: Mapping[str, Any]) -> Trial:
        def run(conn: Connection) -> Trial:
            seq, _ = self._bump(conn, study_id)
            row = self._locked_trial(conn, study_id, trial_id)
            conn.execute(
                trials.update()
                .where(trials.c.id == trial_id)
                .values(params=dumps(dict(params)), seq=seq)
            )
            return row_to_trial(row).with_(params=dict(params))

        return self._write(run)

    def heartbeat(self, study_id: int, trial_ids: Iterable[int], now: float | None = None) -> None:
        ids = list(trial_ids)
        if not ids:
            return
        now = time.time() if now is None else now
        where = [
            of_study(study_id),  # by the primary key
            trials.c.id.in_(ids),
            trials.c.state == TrialState.RUNNING.value,
        ]
        if self.dialect == "postgresql":
            where.append(ASYNC_COMMIT)
        stmt = trials.update().where(*where).values(heartbeat_at=now)
        # PostgreSQL: one self-committing statement (BEGIN, UPDATE, COMMIT would be three
        # round trips, on every worker every few seconds) whose commit does not wait for
        # the WAL flush; SQLite keeps its BEGIN IMMEDIATE
        self._write(lambda c: c.execute(stmt), begin=self.dialect != "postgresql")

    def fail_stale_trials(
        self,
        study_id: int,
        stale_before: float,
        dead_workers: Iterable[str] = (),
        now: float | None = None,
    ) -> list[int]:
        now = time.time() if now is None else now
        where = stale_where(study_id, stale_before, dead_workers)

        # cheap check without the write lock first: most of the time nothing is stale
        probe = sa.select(trials.c.id).where(where).limit(1)
        if not self._read(lambda c: c.execute(probe).first()):
            return []

        def run(conn: Connection) -> list[int]:
            seq, _ = self._bump(conn, study_id)
            rows = conn.execute(sa.select(trials.c.id, trials.c.number).where(where)).all()
            if rows:
                conn.execute(
                    trials.update()
                    .where(trials.c.id.in_([r.id for r in rows]))
                    .values(
                        state=TrialState.FAILED.value,
                        error="worker lost",
                        finished_at=now,
                        seq=seq,
                    )
                )
            return [int(r.number) for r in rows]

        return self._write(run)

    def _requeue_row(self, conn: Connection, row: Any, reason: str, seq: int, now: float) -> None:
        from hypersweep.storage.memory import attempt_record

        t = row_to_trial(row)
        attrs = {
            **t.system_attrs,
            "attempts": [*t.system_attrs.get("attempts", []), attempt_record(t, reason, now)],
        }
        conn.execute(
            trials.update()
            .where(trials.c.id == row.id)
            .values(
                state=TrialState.QUEUED.value,
                attempt=t.attempt + 1,
                started_at=None,
                heartbeat_at=None,
                worker_id=None,
                system_attrs=dumps(attrs),
                seq=seq,
            )
        )

    def requeue_trial(
        self,
        study_id: int,
        trial_id: int,
        reason: str,
        *,
        attempt: int | None = None,
        now: float | None = None,
    ) -> Trial:
        now = time.time() if now is None else now

        def run(conn: Connection) -> Trial:
            seq, _ = self._bump(conn, study_id)
            row = self._locked_trial(conn, study_id, trial_id)
            if row.state != TrialState.RUNNING.value or (
                attempt is not None and int(row.attempt) != attempt
            ):
                raise TrialNotRunning(
                    f"trial {row.number} is {row.state} (attempt {row.attempt}), cannot re-queue"
                )
            self._requeue_row(conn, row, reason, seq, now)
            got = conn.execute(sa.select(*TRIAL_COLS).where(trials.c.id == trial_id)).first()
            return row_to_trial(got)

        return self._write(run)

    def recover_stale_trials(
        self,
        study_id: int,
        stale_before: float,
        dead_workers: Iterable[str] = (),
        retries: int = 0,
        now: float | None = None,
    ) -> tuple[list[int], list[int]]:
        now = time.time() if now is None else now
        where = stale_where(study_id, stale_before, dead_workers)
        probe = sa.select(trials.c.id).where(where).limit(1)
        if not self._read(lambda c: c.execute(probe).first()):
            return [], []

        def run(conn: Connection) -> tuple[list[int], list[int]]:
            seq, _ = self._bump(conn, study_id)
            rows = conn.execute(
                sa.select(*TRIAL_COLS).where(where).order_by(trials.c.number)
            ).all()
            requeued, failed = [], []
            for r in rows:
                if int(r.attempt) <= retries:
                    self._requeue_row(conn, r, "worker lost", seq, now)
                    requeued.append(int(r.number))
                else:
                    failed.append(int(r.number))
            if failed:
                conn.execute(
                    trials.update()
                    .where(trials.c.study_id == study_id, trials.c.number.in_(failed))
                    .values(
                        state=TrialState.FAILED.value,
                        error="worker lost",
                        finished_at=now,
                        seq=seq,
                    )
                )
            return requeued, failed

        return self._write(run)
