"""The SQL storage's engine: connections, transactions, the write ledger, the schema."""

from __future__ import annotations

import itertools
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, PendingRollbackError

from hypersweep.errors import (
    StorageError,
    StudyNotFound,
)
from hypersweep.storage.base import (
    SCHEMA_VERSION,
    Storage,
)
from hypersweep.storage.sql._connect import (
    cannot_read_only,
    check_writable,
    fault_text,
    is_disconnect,
    is_transient,
    make_parent,
    normalize_url,
    open_immutable,
    read_only_url,
    sqlite_read_only,
)
from hypersweep.storage.sql._schema import (
    DONE_SQL,
    TRIAL_COLS,
    metadata,
    move_trial_facts,
    row_to_trial,
    schema_table,
    studies,
    trials,
    writes,
)
from hypersweep.trial import Trial

T = TypeVar("T")

_LEDGER_KEEP = 3600.0
_RECONNECT_FOR = 60.0
_PRUNE_EVERY = 1000
_NOT_FOUND = object()
NO_LIMIT = 2**62


class SQLEngine(Storage):
    """Connections, transactions with retries and the write ledger, the schema and its
    migrations, and the change numbering (:meth:`_bump`); the public class is
    :class:`~hypersweep.storage.sql.SQLStorage`."""

    def __init__(self, url: str, retries: int = 20, read_only: bool = False) -> None:
        self.url = url
        self.retries = retries
        self.read_only = read_only
        self._db_path: Path | None = None
        self._db_id: tuple[int, int] | None = None
        full = normalize_url(url)
        try:
            sa_url = sa.engine.make_url(full)
        except sa.exc.ArgumentError as e:
            raise StorageError(f"storage: invalid URL {url!r}: {e}") from None
        self.dialect = sa_url.get_backend_name()
        kwargs: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"}
        if self.dialect == "sqlite":
            db = sa_url.database
            if not db or db == ":memory:":
                raise StorageError(
                    "storage: an in-memory SQLite database cannot be shared between "
                    "processes; use storage='memory' or sqlite:///path.db"
                )
            self._db_path = Path(db).expanduser()
            if read_only:
                full = read_only_url(self._db_path, immutable=open_immutable(self._db_path))
            else:
                make_parent(url, self._db_path)
                check_writable(url, self._db_path)
            kwargs["connect_args"] = {"timeout": 30.0, "check_same_thread": False}
            self._begin = "BEGIN IMMEDIATE"
        elif self.dialect == "postgresql":
            kwargs["pool_size"] = 2
            kwargs["max_overflow"] = 8
            self._begin = "BEGIN"
            import psycopg
            import psycopg.rows

            self._driver_error: type[Exception] = psycopg.Error
            self._named_rows = psycopg.rows.namedtuple_row
        else:
            raise StorageError(
                f"storage: unsupported database {self.dialect!r}; use sqlite or postgresql"
            )
        try:
            self._engine: Engine = sa.create_engine(full, **kwargs)
        except ModuleNotFoundError as e:
            raise StorageError(
                f"storage: the driver for {self.dialect} is missing ({e.name}); "
                "pip install 'psycopg[binary]'"
            ) from None
        if self.dialect == "sqlite":
            sa.event.listen(
                self._engine, "connect", sqlite_read_only if read_only else self._sqlite_pragmas
            )
        self._returning = self.dialect == "postgresql" or sqlite3.sqlite_version_info >= (3, 35)
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._n_writes = 0
        self._statements: dict[tuple[str, int], Any] = {}  # built once per (query, study)
        self._stats_known = self.dialect != "postgresql"  # see _pg_ensure_statistics
        if read_only:
            self._check_schema_read_only()
        else:
            self._init_schema()
            self._ensure_read_indexes()
            if self.dialect == "postgresql":
                self._pg_renumber_ahead()
        if self._db_path is not None and not read_only:
            try:
                st = os.stat(self._db_path)
                self._db_id = (st.st_dev, st.st_ino)
            except OSError:
                self._db_id = None

    def check(self) -> None:
        """An SQLite file deleted or replaced while open (SQLite would go on writing to
        the deleted file, and every result would be lost) raises :class:`StorageError`."""
        if self._db_id is None or self._db_path is None:
            return
        try:
            st = os.stat(self._db_path)
        except OSError as e:
            gone = "its folder is gone" if not self._db_path.parent.exists() else "it is gone"
            err = StorageError(
                f"storage: the database file {str(self._db_path)!r} was deleted while in use "
                f"({gone}: {e.strerror}); what was written since is lost"
            )
            err.lost = True  # type: ignore[attr-defined]
            raise err from None
        if (st.st_dev, st.st_ino) != self._db_id:
            err = StorageError(
                f"storage: the database file {str(self._db_path)!r} was replaced by another "
                "file while in use; what was written since went to the old file"
            )
            err.lost = True  # type: ignore[attr-defined]
            raise err

    def _check_schema_read_only(self) -> None:
        """The read-only open: the schema must be there and current (nothing is created
        or migrated). Falls back to ``immutable`` when ``mode=ro`` cannot read."""

        def version(conn: Connection) -> Any:
            return conn.execute(sa.select(sa.func.max(schema_table.c.version))).scalar()

        try:
            try:
                v = self._read(version)
            except StorageError as e:
                if self._db_path is None or not cannot_read_only(e):
                    raise
                self._engine.dispose()
                self._engine = sa.create_engine(
                    read_only_url(self._db_path, immutable=True),
                    isolation_level="AUTOCOMMIT",
                    connect_args={"timeout": 30.0, "check_same_thread": False},
                )
                sa.event.listen(self._engine, "connect", sqlite_read_only)
                v = self._read(version)
        except StorageError as e:
            msg = str(e.__cause__.orig if isinstance(e.__cause__, DBAPIError) else e)
            if "no such table" in msg or "does not exist" in msg:
                raise StorageError(f"storage: {self.url} holds no hypersweep studies") from None
            raise StorageError(f"storage: cannot read {self.url}: {msg}") from None
        if v is None:
            raise StorageError(f"storage: {self.url} holds no hypersweep studies")
        if v != SCHEMA_VERSION:
            newer = v > SCHEMA_VERSION
            raise StorageError(
                f"storage: {self.url} has schema version {v}, "
                + (
                    f"newer than this hypersweep understands ({SCHEMA_VERSION}); upgrade "
                    "hypersweep"
                    if newer
                    else f"older than this hypersweep's ({SCHEMA_VERSION}); open it once with "
                    "write access (e.g. hypersweep stop or run) to upgrade it"
                )
            )

    @staticmethod
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    # ------------------------------------------------------------------------------------
    # connection and transaction helpers
    # ------------------------------------------------------------------------------------
    def _check_fork(self) -> None:
        if os.getpid() != self._pid:  # never share pooled connections across a fork
            self._engine.dispose(close=False)
            self._pid = os.getpid()

    def _write(
        self,
        fn: Callable[[Connection], T],
        token: str | None = None,
        replay: Callable[[Connection, int | None], T] | None = None,
        *,
        begin: bool = True,
        check_first: bool = False,
    ) -> T:
        """Run ``fn`` in one write transaction, retrying transient lock errors.

        With ``token`` (``fn`` writes it to the ledger), a retry first looks the token up
        and, if an earlier attempt committed, returns ``replay(conn, ref)`` instead of
        writing again. ``begin=False``: ``fn`` is one statement that commits on its own.
        ``check_first``: look the token up before the first attempt too.
        """
        self._check_fork()
        delay = 0.005
        retried = check_first
        t0 = time.monotonic()
        for attempt in itertools.count():
            try:
                with self._lock, self._engine.connect() as conn:
                    if begin:
                        conn.exec_driver_sql(self._begin)
                    try:
                        result: Any = _NOT_FOUND
                        if retried and token is not None and replay is not None:
                            result = self._replay(conn, token, replay)
                        if result is _NOT_FOUND:
                            result = fn(conn)
                    except BaseException as exc:
                        if is_disconnect(exc):
                            conn.invalidate()  # never back into the pool
                        elif begin:
                            try:
                                conn.exec_driver_sql("ROLLBACK")
                            except Exception:
                                conn.invalidate()
                        raise
                    if begin:
                        conn.exec_driver_sql("COMMIT")
                if token is not None:
                    self._count_write()
                return result  # type: ignore[no-any-return,unused-ignore]
            except (OperationalError, DBAPIError, PendingRollbackError) as e:
                if (
                    isinstance(e, IntegrityError)
                    and retried
                    and token is not None
                    and (replay is not None)
                ):
                    # an earlier attempt may hold the token (it committed while this one
                    # waited on it): then that attempt's write is the result
                    found = self._read(lambda c: self._replay(c, token, replay))
                    if found is not _NOT_FOUND:
                        return found  # type: ignore[no-any-return,unused-ignore]
                if isinstance(e, IntegrityError) or self._give_up(e, attempt, t0):
                    raise StorageError(fault_text(e)) from e
                retried = True
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def _give_up(self, e: BaseException, attempt: int, t0: float) -> bool:
        """Stop retrying: not transient, or ``retries`` attempts made — except that a
        dropped connection is retried for up to ``_RECONNECT_FOR`` seconds in all (a
        server restart or a burst of terminated connections outlasts 20 quick tries)."""
        if not is_transient(e):
            return True
        if attempt < self.retries - 1:
            return False
        return not (is_disconnect(e) and time.monotonic() - t0 < _RECONNECT_FOR)

    @staticmethod
    def _replay(
        conn: Connection, token: str, replay: Callable[[Connection, int | None], T]
    ) -> Any:
        row = conn.execute(sa.select(writes.c.ref).where(writes.c.token == token)).first()
        return _NOT_FOUND if row is None else replay(conn, row.ref)

    @staticmethod
    def _ledger(conn: Connection, token: str, study_id: int, ref: int | None) -> None:
        conn.execute(
            writes.insert().values(token=token, study_id=study_id, ref=ref, created_at=time.time())
        )

    def _count_write(self) -> None:
        self._n_writes += 1
        if self._n_writes % _PRUNE_EVERY:
            return
        stmt = writes.delete().where(writes.c.created_at < time.time() - _LEDGER_KEEP)
        try:
            self._read(lambda c: c.execute(stmt))  # autocommit, its own short statement
        except StorageError:  # pruning is housekeeping: the next round retries
            pass

    def _trial_by_id(self, conn: Connection, ref: int | None) -> Trial:
        row = conn.execute(sa.select(*TRIAL_COLS).where(trials.c.id == ref)).first()
        if row is None:
            raise StorageError(f"storage: trial id {ref} vanished after it was written")
        return row_to_trial(row)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        self._check_fork()
        delay = 0.005
        t0 = time.monotonic()
        for attempt in itertools.count():
            try:
                with self._lock, self._engine.connect() as conn:
                    try:
                        return fn(conn)
                    except (DBAPIError, PendingRollbackError) as exc:
                        if is_disconnect(exc):
                            conn.invalidate()  # never back into the pool
                        raise
            except (OperationalError, DBAPIError, PendingRollbackError) as e:
                if self._give_up(e, attempt, t0):
                    raise StorageError(fault_text(e)) from e
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def _snapshot(self, fn: Callable[[Connection], T]) -> T:
        """Run the reads of ``fn`` in one read transaction: every statement sees the same
        committed state (SQLite: one deferred ``BEGIN``, whose first read fixes the WAL
        snapshot; PostgreSQL: ``REPEATABLE READ READ ONLY``, one snapshot for the whole
        transaction, where the default READ COMMITTED would take one per statement)."""
        begin = (
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            if self.dialect == "postgresql"
            else "BEGIN"
        )

        def run(conn: Connection) -> T:
            conn.exec_driver_sql(begin)
            try:
                result = fn(conn)
            except BaseException as exc:
                if not is_disconnect(exc):
                    try:
                        conn.exec_driver_sql("ROLLBACK")
                    except Exception:
                        conn.invalidate()
                raise
            conn.exec_driver_sql("COMMIT")
            return result

        return self._read(run)

    def _init_schema(self) -> None:
        def create(conn: Connection) -> int | None:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(827364519)")
            metadata.create_all(conn, checkfirst=True)
            v = conn.execute(sa.select(sa.func.max(schema_table.c.version))).scalar()
            if v is None:
                conn.execute(schema_table.insert().values(version=SCHEMA_VERSION))
            elif v < SCHEMA_VERSION:
                self._migrate(conn, int(v))
                conn.execute(schema_table.delete())
                conn.execute(schema_table.insert().values(version=SCHEMA_VERSION))
            return None if v is None else int(v)

        try:
            version = self._write(create)
        except StorageError as e:
            if "readonly" in str(e).lower() or "read-only" in str(e).lower():
                raise StorageError(
                    f"storage: {self.url} is read-only (attempt to write a readonly database); "
                    "a sweep needs write access to the file and its folder (status, ls, "
                    "best and export can read it as it is)"
                ) from None
            raise StorageError(f"storage: cannot open {self.url}: {e}") from None
        except DBAPIError as e:
            raise StorageError(f"storage: cannot open {self.url}: {e.orig}") from None
        if version is not None and version > SCHEMA_VERSION:
            raise StorageError(
                f"storage: {self.url} has schema version {version}, newer than this "
                f"hypersweep understands ({SCHEMA_VERSION}); upgrade hypersweep"
            )

    def _value0_sql(self) -> str:
        """The first objective value as a number, from the stored JSON list (the expression
        the ``ix_hs_trials_best`` index is built on)."""
        if self.dialect == "postgresql":
            return "((trial_values::jsonb ->> 0)::double precision)"
        return "json_extract(trial_values, '$[0]')"

    def _value0(self) -> Any:
        return sa.literal_column(self._value0_sql(), sa.Double)

    _READ_INDEXES = ("ix_hs_trials_best", "ix_hs_trials_study_state_number", "ix_hs_trials_queued")
    #: indexes earlier releases made that no read needs: each one costs every write of a
    #: trial (a finish changes ``state`` and ``seq``, so it updates every index).
    #: ``(study_id, state)`` is served by ``(study_id, state, number)``.
    _OBSOLETE_INDEXES = ("ix_hs_trials_study_state",)

    def _ensure_read_indexes(self) -> None:
        """Create the aggregate reads' indexes if they are missing, and drop obsolete ones
        (a read first, so an up-to-date database takes no write lock). A database this
        process cannot write (read-only) stays readable: the reads then run without
        them, only slower."""
        names = ", ".join(f"'{n}'" for n in self._READ_INDEXES + self._OBSOLETE_INDEXES)
        if self.dialect == "postgresql":
            q = sa.text(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                f"AND indexname IN ({names})"
            )
        else:
            q = sa.text(
                f"SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ({names})"
            )
        try:
            have = {r[0] for r in self._read(lambda c: c.execute(q).all())}
            if have != set(self._READ_INDEXES):  # one missing, or an obsolete one there
                self._write(self._read_indexes)
        except StorageError as e:
            import logging

            logging.getLogger("hypersweep").debug("storage: read indexes not created: %s", e)

    def _read_indexes(self, conn: Connection) -> None:
        """Indexes behind the aggregate reads; created idempotently (no schema change)."""
        for stmt in (
            "CREATE INDEX IF NOT EXISTS ix_hs_trials_best ON hs_trials "
            f"(study_id, {self._value0_sql()}) WHERE {DONE_SQL}",
            "CREATE INDEX IF NOT EXISTS ix_hs_trials_study_state_number ON hs_trials "
            "(study_id, state, number)",
            # the queue alone (the head's probe; tiny, and a finish adds no entry): on a
            # table without statistics the planner took wider indexes and filtered them
            "CREATE INDEX IF NOT EXISTS ix_hs_trials_queued ON hs_trials "
            "(study_id, number) WHERE state = 'QUEUED'",
            *[f"DROP INDEX IF EXISTS {name}" for name in self._OBSOLETE_INDEXES],
        ):
            conn.exec_driver_sql(stmt)

    @staticmethod
    def _migrate(conn: Connection, version: int) -> None:
        """Upgrade an older schema in place (inside the schema transaction)."""
        if version < 2:  # v2: per-kind change markers on studies (sync skips idle queries)
            for col in ("trial_seq", "report_seq"):
                conn.exec_driver_sql(
                    f"ALTER TABLE hs_studies ADD COLUMN {col} BIGINT NOT NULL DEFAULT 0"
                )
            conn.exec_driver_sql("UPDATE hs_studies SET trial_seq = seq, report_seq = seq")
        if version < 3:  # v3: the attempt of each trial (retries re-queue the same trial)
            conn.exec_driver_sql(
                "ALTER TABLE hs_trials ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1"
            )
        if version < 4:  # v4: budget and resume_from, once system_attrs keys, are columns
            conn.exec_driver_sql("ALTER TABLE hs_trials ADD COLUMN budget DOUBLE PRECISION")
            conn.exec_driver_sql("ALTER TABLE hs_trials ADD COLUMN resume_from INTEGER")
            move_trial_facts(conn)

    def _bump(
        self, conn: Connection, study_id: int, new_trials: int = 0, kind: str = "trial"
    ) -> tuple[int, int]:
        """Take the study's write lock; return (new seq, n_trials after the bump).

        ``kind`` says what the transaction changes ("trial" or "report"), so a reader can
        skip the query for the other kind."""
        if self.dialect == "postgresql":
            return self._pg_bump(conn, study_id, new_trials)
        marker = studies.c.trial_seq if kind == "trial" else studies.c.report_seq
        stmt = (
            studies.update()
            .where(studies.c.id == study_id)
            .values(
                {
                    studies.c.seq: studies.c.seq + 1,
                    marker: studies.c.seq + 1,
                    studies.c.n_trials: studies.c.n_trials + new_trials,
                }
            )
        )
        if self._returning:
            row = conn.execute(stmt.returning(studies.c.seq, studies.c.n_trials)).first()
        else:
            conn.execute(stmt)
            row = conn.execute(
                sa.select(studies.c.seq, studies.c.n_trials).where(studies.c.id == study_id)
            ).first()
        if row is None:
            raise StudyNotFound(f"no study with id {study_id}")
        return int(row[0]), int(row[1])

    #: the writing transaction's id (assigned here if it has none yet): on PostgreSQL the
    #: sequence number of every row a transaction writes (see :meth:`_pg_bump`)
    PG_XID = "pg_current_xact_id()::text::bigint"
    #: the oldest transaction still in flight in this statement's snapshot: every change
    #: numbered below it is final (committed or rolled back). A sub-select, so that it is
    #: computed once per statement (an InitPlan), not again (a copy of the snapshot each
    #: time) for every row of a read that carries it on each row (``reports_since``)
    PG_XMIN = "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"

    def _pg_bump(self, conn: Connection, study_id: int, new_trials: int) -> tuple[int, int]:
        """PostgreSQL: no study lock. A change's sequence number is its transaction's id
        (``pg_current_xact_id``: increasing, never reused); only a new trial touches the
        study row (its number, ``n_trials``: one short row lock, held by creates alone).
        Transaction ids are not committed in order, so readers take as their watermark
        no more than their snapshot's oldest in-flight id minus one (see
        ``SQLStorage.sync``): nothing numbered at or below it can appear later."""
        if not new_trials:
            xid: Any = conn.exec_driver_sql(f"SELECT {self.PG_XID}").scalar()
            return int(xid), 0
        row = conn.execute(
            sa.text(
                f"UPDATE hs_studies SET n_trials = n_trials + :k WHERE id = :sid "
                f"RETURNING {self.PG_XID}, n_trials"
            ),
            {"k": new_trials, "sid": study_id},
        ).first()
        if row is None:
            raise StudyNotFound(f"no study with id {study_id}")
        return int(row[0]), int(row[1])

    def _pg_renumber_ahead(self) -> None:
        """Rows numbered above every transaction id so far (a database restored into a
        new server, rows copied in from elsewhere, or written by a release that counted
        changes on the study row) would be read by every sync, as if still in flight:
        renumber them to this transaction's id. The check is one index probe per study."""
        ahead = sa.text(
            "SELECT GREATEST((SELECT max((SELECT max(t.seq) FROM hs_trials t "
            "WHERE t.study_id = s.id)) FROM hs_studies s), (SELECT max((SELECT max(r.seq) "
            "FROM hs_reports r WHERE r.study_id = s.id)) FROM hs_studies s)) "
            f"> {self.PG_XMIN}"
        )
        if not self._read(lambda c: c.execute(ahead).scalar()):
            return

        def run(conn: Connection) -> None:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(827364519)")
            for table in ("hs_trials", "hs_reports"):
                conn.exec_driver_sql(
                    f"UPDATE {table} SET seq = {self.PG_XID} WHERE seq >= {self.PG_XID}"
                )

        self._write(run)

    def close(self) -> None:
        self._engine.dispose()

    def twin(self) -> SQLEngine:
        return type(self)(**self.__getstate__())  # the state a pickle carries: one list

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "retries": self.retries, "read_only": self.read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["url"], state["retries"], state.get("read_only", False))
