"""SQL storage on SQLAlchemy Core: SQLite (embedded default) and PostgreSQL (psycopg 3).

Design (see :mod:`hypersweep.storage.base` for the contract):

* Every change is one short transaction. Writers first bump the study row
  (``UPDATE hs_studies SET seq = seq + 1 ... RETURNING``): that takes the study's row lock
  (PostgreSQL) or the database write lock (SQLite ``BEGIN IMMEDIATE``), serializes trial
  numbering, and hands out the sequence number stamped on every row the transaction
  changes. Because a sequence number becomes visible only when its transaction commits,
  and the lock orders commits, a reader that sees ``hs_studies.seq = W`` knows every
  change numbered ``<= W`` is visible: :meth:`SQLStorage.sync` reads ``(watermark, W]``
  and never misses a change.
* One transaction per ask (``create_trial``) and one per tell (``finish_trial``); the
  sync before an ask is one indexed query when nothing changed, three otherwise.
* SQLite runs in WAL mode with a 30 s busy timeout and ``synchronous=NORMAL`` (a killed
  process loses nothing committed); writers use ``BEGIN IMMEDIATE`` so lock waits happen
  up front, never as a failed upgrade. Transient lock/serialization errors are retried.
* Supported concurrency: SQLite — many processes on one machine (one writer at a time;
  tens of trials per second in total); PostgreSQL — many processes on many machines.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, PendingRollbackError

from hypersweep.errors import (
    DuplicateTrialError,
    MaxTrialsReached,
    StorageError,
    StudyNotFound,
    TrialNotRunning,
)
from hypersweep.storage.base import (
    FINISHED_WITH_VALUE,
    SCHEMA_VERSION,
    HistoryColumns,
    Report,
    Storage,
    StudyRecord,
    SyncResult,
    best_of,
    group_reports,
)
from hypersweep.trial import Objective, Trial, TrialState

__all__ = ["SQLStorage"]

T = TypeVar("T")

metadata = sa.MetaData()

schema_table = sa.Table(
    "hs_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
)

studies = sa.Table(
    "hs_studies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("objectives", sa.Text, nullable=False),
    sa.Column("space", sa.Text),
    sa.Column("attrs", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("trial_seq", sa.BigInteger, nullable=False),  # last seq that changed a trial
    sa.Column("report_seq", sa.BigInteger, nullable=False),  # last seq that added a report
    sa.Column("n_trials", sa.Integer, nullable=False),
    sa.UniqueConstraint("name", name="uq_hs_studies_name"),
)

trials = sa.Table(
    "hs_trials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "study_id", sa.Integer, sa.ForeignKey("hs_studies.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("trial_values", sa.Text),
    sa.Column("metrics", sa.Text),
    sa.Column("started_at", sa.Double),
    sa.Column("finished_at", sa.Double),
    sa.Column("heartbeat_at", sa.Double),
    sa.Column("worker_id", sa.String(255)),
    sa.Column("error", sa.Text),
    sa.Column("user_attrs", sa.Text),
    sa.Column("system_attrs", sa.Text),
    sa.Column("dedup_key", sa.String(255)),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),  # schema v3
    sa.UniqueConstraint("study_id", "number", name="uq_hs_trials_number"),
    sa.UniqueConstraint("study_id", "dedup_key", name="uq_hs_trials_key"),
    sa.Index("ix_hs_trials_study_seq", "study_id", "seq"),
    sa.Index("ix_hs_trials_study_state", "study_id", "state"),
)

reports = sa.Table(
    "hs_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "study_id", sa.Integer, sa.ForeignKey("hs_studies.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "trial_id", sa.Integer, sa.ForeignKey("hs_trials.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Index("ix_hs_reports_study_seq", "study_id", "seq"),
    sa.Index("ix_hs_reports_trial", "trial_id"),
)

# The write ledger: one row per non-idempotent write (create, claim, report, finish), in
# the write's own transaction, keyed by a token drawn once per call. A transaction retried
# after its connection dropped first looks its token up: found means the earlier attempt
# committed (only its reply was lost), so the write is not applied twice. Rows older than
# _LEDGER_KEEP seconds are pruned (a retry never waits that long).
writes = sa.Table(
    "hs_writes",
    metadata,
    sa.Column("token", sa.String(32), primary_key=True),
    sa.Column(
        "study_id", sa.Integer, sa.ForeignKey("hs_studies.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("ref", sa.Integer),  # the trial the write concerned
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_hs_writes_created", "created_at"),
)
_LEDGER_KEEP = 3600.0
_RECONNECT_FOR = 60.0
_PRUNE_EVERY = 1000
_NOT_FOUND = object()
_NO_LIMIT = 2**62

_TRIAL_COLS = [
    trials.c.id,
    trials.c.number,
    trials.c.state,
    trials.c.params,
    trials.c.trial_values,
    trials.c.metrics,
    trials.c.started_at,
    trials.c.finished_at,
    trials.c.heartbeat_at,
    trials.c.worker_id,
    trials.c.error,
    trials.c.user_attrs,
    trials.c.system_attrs,
    trials.c.attempt,
]


def _dumps(x: Any) -> str:
    return json.dumps(x, separators=(",", ":"), allow_nan=True)


def _loads(s: str | None, default: Any = None) -> Any:
    return default if s is None else json.loads(s)


def _row_to_trial(r: Any) -> Trial:
    vals = _loads(r.trial_values)
    return Trial(
        number=r.number,
        state=TrialState(r.state),
        params=_loads(r.params, {}),
        values=tuple(vals) if vals is not None else None,
        metrics=_loads(r.metrics, {}),
        started_at=r.started_at,
        finished_at=r.finished_at,
        heartbeat_at=r.heartbeat_at,
        worker_id=r.worker_id,
        error=r.error,
        user_attrs=_loads(r.user_attrs, {}),
        system_attrs=_loads(r.system_attrs, {}),
        id=r.id,
        attempt=int(r.attempt),
    )


def _normalize_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _make_parent(url: str, db: Path) -> None:
    """Create the folder of an SQLite file; a one-line StorageError when it cannot be."""
    parent = db.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        bad = next((p for p in [parent, *parent.parents] if p.exists() and not p.is_dir()), parent)
        raise StorageError(
            f"storage: cannot use {url}: {str(bad)!r} is a file, not a folder; choose "
            "another path for the database"
        ) from None
    except OSError as e:
        raise StorageError(
            f"storage: cannot create the folder {str(parent)!r} for {url}: {e.strerror or e}"
        ) from None


def _check_writable(url: str, db: Path) -> None:
    """A database that this process may not write (file or folder: SQLite keeps its
    write-ahead log next to the file) gives one line, before SQLite leaves files behind."""
    what = None
    if db.exists() and not os.access(db, os.W_OK):
        what = "the file"
    elif not os.access(db.parent, os.W_OK | os.X_OK):
        what = "its folder"
    if what is not None:
        raise StorageError(
            f"storage: {url} is read-only ({what} cannot be written by this user); a sweep "
            "needs write access to the file and its folder (status, ls, best and export "
            "can read it as it is)"
        )


def _read_only_url(db: Path, immutable: bool = False) -> str:
    """An SQLAlchemy URL that opens the SQLite file ``db`` read-only (``mode=ro``)."""
    from urllib.parse import quote

    extra = "&immutable=1" if immutable else ""
    return f"sqlite:///file:{quote(str(db.resolve()))}?mode=ro{extra}&uri=true"


def _immutable(db: Path) -> bool:
    """Open a read-only SQLite file as ``immutable``: when this process may not write the
    file or its folder (so SQLite could not keep its WAL index there, and must leave no
    file behind) and no write-ahead log holds changes not yet in the file."""

    def writable(p: Path) -> bool:
        return os.access(p, os.W_OK)

    if writable(db) and writable(db.parent):
        return False
    try:
        return os.path.getsize(f"{db}-wal") == 0
    except OSError:
        return True


def _sqlite_read_only(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA query_only=1")
    cur.close()


def _cannot_read_only(e: StorageError) -> bool:
    """``mode=ro`` failed because SQLite cannot keep its WAL index next to the file."""
    msg = str(e).lower()
    return "readonly" in msg or "unable to open" in msg or "disk i/o" in msg


_DISCONNECT_TEXT = (
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "consuming input failed",
    "connection is lost",
    "ssl syscall",
    "connection refused",
)


def _is_disconnect(e: BaseException) -> bool:
    """The connection dropped (the server terminated it, a network failure, a restart):
    the transaction either committed before or never will; a retry on a new connection
    is safe because non-idempotent writes carry a ledger token."""
    if isinstance(e, PendingRollbackError):  # SQLAlchemy invalidated it after a drop
        return True
    if not isinstance(e, DBAPIError):
        return False
    if e.connection_invalidated:
        return True
    code = getattr(e.orig, "sqlstate", None) or ""
    if code.startswith("08") or code in ("57P01", "57P02", "57P03"):
        return True
    if isinstance(e, OperationalError) and not code:
        msg = str(e.orig).lower()
        return any(t in msg for t in _DISCONNECT_TEXT)
    return False


def _fault_text(e: BaseException) -> str:
    """``storage: <driver error>: <its message>`` for a failed statement."""
    orig = getattr(e, "orig", None) or e
    return f"storage: {type(orig).__name__}: {orig}"


def _is_transient(e: BaseException) -> bool:
    """A lock timeout, deadlock, serialization failure or dropped connection worth
    retrying."""
    if _is_disconnect(e):
        return True
    if isinstance(e, OperationalError):
        msg = str(e.orig).lower() if e.orig is not None else str(e).lower()
        if "locked" in msg or "busy" in msg:
            return True
    if isinstance(e, DBAPIError):
        code = getattr(e.orig, "sqlstate", None) or getattr(e.orig, "pgcode", None)
        if code in ("40001", "40P01", "55P03"):
            return True
        if e.connection_invalidated:
            return True
    return False


def _stale_where(study_id: int, stale_before: float, dead_workers: Iterable[str]) -> Any:
    """RUNNING trials of the study whose heartbeat is older than ``stale_before`` or whose
    worker is known dead."""
    dead = [d for d in dead_workers if d]
    cond = trials.c.heartbeat_at < stale_before
    if dead:
        cond = sa.or_(cond, trials.c.worker_id.in_(dead))
    return sa.and_(trials.c.study_id == study_id, trials.c.state == TrialState.RUNNING.value, cond)


class SQLStorage(Storage):
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

    def __init__(self, url: str, retries: int = 20, read_only: bool = False) -> None:
        self.url = url
        self.retries = retries
        self.read_only = read_only
        self._db_path: Path | None = None
        self._db_id: tuple[int, int] | None = None
        full = _normalize_url(url)
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
                full = _read_only_url(self._db_path, immutable=_immutable(self._db_path))
            else:
                _make_parent(url, self._db_path)
                _check_writable(url, self._db_path)
            kwargs["connect_args"] = {"timeout": 30.0, "check_same_thread": False}
            self._begin = "BEGIN IMMEDIATE"
        elif self.dialect == "postgresql":
            kwargs["pool_size"] = 2
            kwargs["max_overflow"] = 8
            self._begin = "BEGIN"
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
                self._engine, "connect", _sqlite_read_only if read_only else self._sqlite_pragmas
            )
        self._returning = self.dialect == "postgresql" or sqlite3.sqlite_version_info >= (3, 35)
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._n_writes = 0
        if read_only:
            self._check_schema_read_only()
        else:
            self._init_schema()
            self._ensure_read_indexes()
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
                if self._db_path is None or not _cannot_read_only(e):
                    raise
                self._engine.dispose()
                self._engine = sa.create_engine(
                    _read_only_url(self._db_path, immutable=True),
                    isolation_level="AUTOCOMMIT",
                    connect_args={"timeout": 30.0, "check_same_thread": False},
                )
                sa.event.listen(self._engine, "connect", _sqlite_read_only)
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
                        if _is_disconnect(exc):
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
                return result  # type: ignore[no-any-return]
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
                        return found  # type: ignore[no-any-return]
                if isinstance(e, IntegrityError) or self._give_up(e, attempt, t0):
                    raise StorageError(_fault_text(e)) from e
                retried = True
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def _give_up(self, e: BaseException, attempt: int, t0: float) -> bool:
        """Stop retrying: not transient, or ``retries`` attempts made — except that a
        dropped connection is retried for up to ``_RECONNECT_FOR`` seconds in all (a
        server restart or a burst of terminated connections outlasts 20 quick tries)."""
        if not _is_transient(e):
            return True
        if attempt < self.retries - 1:
            return False
        return not (_is_disconnect(e) and time.monotonic() - t0 < _RECONNECT_FOR)

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
        row = conn.execute(sa.select(*_TRIAL_COLS).where(trials.c.id == ref)).first()
        if row is None:
            raise StorageError(f"storage: trial id {ref} vanished after it was written")
        return _row_to_trial(row)

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
                        if _is_disconnect(exc):
                            conn.invalidate()  # never back into the pool
                        raise
            except (OperationalError, DBAPIError, PendingRollbackError) as e:
                if self._give_up(e, attempt, t0):
                    raise StorageError(_fault_text(e)) from e
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
                if not _is_disconnect(exc):
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
            return v  # type: ignore[no-any-return]

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

    _READ_INDEXES = ("ix_hs_trials_best", "ix_hs_trials_study_state_number")

    def _ensure_read_indexes(self) -> None:
        """Create the aggregate reads' indexes if they are missing (a read first, so an
        up-to-date database takes no write lock). A database this process cannot write
        (read-only) stays readable: the reads then run without them, only slower."""
        names = ", ".join(f"'{n}'" for n in self._READ_INDEXES)
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
            if have != set(self._READ_INDEXES):
                self._write(self._read_indexes)
        except StorageError as e:
            import logging

            logging.getLogger("hypersweep").debug("storage: read indexes not created: %s", e)

    def _read_indexes(self, conn: Connection) -> None:
        """Indexes behind the aggregate reads; created idempotently (no schema change)."""
        for stmt in (
            "CREATE INDEX IF NOT EXISTS ix_hs_trials_best ON hs_trials "
            f"(study_id, {self._value0_sql()}) WHERE {_DONE_SQL}",
            "CREATE INDEX IF NOT EXISTS ix_hs_trials_study_state_number ON hs_trials "
            "(study_id, state, number)",
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

    def _bump(
        self, conn: Connection, study_id: int, new_trials: int = 0, kind: str = "trial"
    ) -> tuple[int, int]:
        """Take the study's write lock; return (new seq, n_trials after the bump).

        ``kind`` says what the transaction changes ("trial" or "report"), so a reader can
        skip the query for the other kind."""
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

    def close(self) -> None:
        self._engine.dispose()

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "retries": self.retries, "read_only": self.read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(
            state["url"],
            state["retries"],  # type: ignore[misc]
            state.get("read_only", False),
        )

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
            space=_loads(r.space),
            attrs=_loads(r.attrs, {}),
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
            "objectives": _dumps([o.to_dict() for o in objectives]),
            "space": None if space is None else _dumps(space),
            "attrs": _dumps(dict(attrs or {})),
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
                changes["attrs"] = _dumps({**_loads(row.attrs, {}), **attrs})
            if space is not None:
                changes["space"] = _dumps(space)
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
    # PostgreSQL single-statement paths: the study bump and the trial write in one
    # data-modifying CTE (one round trip, atomic on its own; the row lock on the study is
    # held to the statement's commit, so sequence numbers still become visible in order)
    # ------------------------------------------------------------------------------------
    def _single(
        self,
        stmt: Any,
        params: dict[str, Any],
        replay: Callable[[Connection, int | None], Any],
    ) -> Any:
        """Run one self-committing statement that writes ``params["tok"]`` to the ledger;
        a retry after a lost reply returns ``replay`` of what the first attempt wrote."""

        def run(conn: Connection) -> Any:
            return conn.execute(stmt, params).first()

        return self._write(run, params["tok"], replay, begin=False)

    _PG_CREATE = sa.text(
        "WITH s AS (UPDATE hs_studies SET seq = seq + 1, trial_seq = seq + 1, "
        "n_trials = n_trials + 1 WHERE id = :sid AND n_trials < :max "
        "RETURNING seq, n_trials), "
        "i AS (INSERT INTO hs_trials (study_id, number, state, params, started_at, "
        "heartbeat_at, worker_id, user_attrs, system_attrs, dedup_key, seq) "
        "SELECT :sid, s.n_trials - 1, :state, :params, :started, :started, :worker, :ua, "
        ":sa, :key, s.seq FROM s RETURNING id, number), "
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
    ) -> Trial:
        running = state == TrialState.RUNNING
        started = now if running else None
        worker = worker_id if running else None
        try:
            row = self._single(
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
                    "max": _NO_LIMIT if max_trials is None else max_trials,
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
        )

    # finish a trial in one statement (its start time and attempt: the given ones, else its own)
    _PG_FINISH_AT = sa.text(
        "WITH s AS (UPDATE hs_studies SET seq = seq + 1, trial_seq = seq + 1 "
        "WHERE id = :sid RETURNING seq), "
        "u AS (UPDATE hs_trials AS t SET state = :state, trial_values = :vals, "
        "metrics = :metrics, error = :error, finished_at = :now, seq = s.seq, "
        "started_at = COALESCE(CAST(:started AS DOUBLE PRECISION), t.started_at) FROM s "
        "WHERE t.id = :tid AND t.study_id = :sid AND t.state IN ('RUNNING', 'QUEUED') "
        "AND t.attempt = COALESCE(CAST(:attempt AS INTEGER), t.attempt) "
        "RETURNING t.id, t.number, t.state, t.params, t.trial_values, t.metrics, "
        "t.started_at, t.finished_at, t.heartbeat_at, t.worker_id, t.error, t.user_attrs, "
        "t.system_attrs, t.attempt), "
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
            self._PG_FINISH_AT,
            {**params, "started": started_at, "attempt": attempt},
            self._trial_by_id,
        )
        return row if row is None or isinstance(row, Trial) else _row_to_trial(row)

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
            _dumps(dict(params)),
            _dumps(dict(user_attrs or {})),
            _dumps(sys_attrs),
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
            }
            if self._returning:
                stmt = trials.insert().values(**values).returning(trials.c.id)
                tid = conn.execute(stmt).scalar()
            else:
                tid = conn.execute(trials.insert().values(**values)).inserted_primary_key[0]
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
                sa.select(*_TRIAL_COLS)
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
            return _row_to_trial(row).with_(
                state=TrialState.RUNNING, started_at=now, heartbeat_at=now, worker_id=worker_id
            )

        try:
            return self._write(run, token, self._trial_by_id)
        except _Empty:
            return None

    def _locked_trial(self, conn: Connection, study_id: int, trial_id: int) -> Any:
        row = conn.execute(
            sa.select(*_TRIAL_COLS).where(trials.c.id == trial_id, trials.c.study_id == study_id)
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
    ) -> None:
        now = time.time() if now is None else now
        m_json = _dumps({k: float(v) for k, v in metrics.items()})
        token = uuid.uuid4().hex

        def run(conn: Connection) -> None:
            seq, _ = self._bump(conn, study_id, kind="report")
            row = conn.execute(
                sa.select(trials.c.state, trials.c.number).where(
                    trials.c.id == trial_id, trials.c.study_id == study_id
                )
            ).first()
            if row is None:
                raise KeyError(f"no trial with id {trial_id}")
            if row.state != TrialState.RUNNING.value:
                raise TrialNotRunning(f"trial {row.number} is {row.state}, cannot report")
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
        v_json = None if vals is None else _dumps(list(vals))
        m_json = _dumps(dict(metrics or {}))
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
            return _row_to_trial(row).with_(
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
            ua = {**_loads(row.user_attrs, {}), **(user or {})}
            sa_ = {**_loads(row.system_attrs, {}), **(system or {})}
            conn.execute(
                trials.update()
                .where(trials.c.id == trial_id)
                .values(user_attrs=_dumps(ua), system_attrs=_dumps(sa_), seq=seq)
            )
            return _row_to_trial(row).with_(user_attrs=ua, system_attrs=sa_)

        return self._write(run)

    def heartbeat(self, study_id: int, trial_ids: Iterable[int], now: float | None = None) -> None:
        ids = list(trial_ids)
        if not ids:
            return
        now = time.time() if now is None else now
        stmt = (
            trials.update()
            .where(
                trials.c.study_id == study_id,
                trials.c.id.in_(ids),
                trials.c.state == TrialState.RUNNING.value,
            )
            .values(heartbeat_at=now)
        )
        self._write(lambda c: c.execute(stmt))

    def fail_stale_trials(
        self,
        study_id: int,
        stale_before: float,
        dead_workers: Iterable[str] = (),
        now: float | None = None,
    ) -> list[int]:
        now = time.time() if now is None else now
        where = _stale_where(study_id, stale_before, dead_workers)

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

        t = _row_to_trial(row)
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
                system_attrs=_dumps(attrs),
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
            got = conn.execute(sa.select(*_TRIAL_COLS).where(trials.c.id == trial_id)).first()
            return _row_to_trial(got)

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
        where = _stale_where(study_id, stale_before, dead_workers)
        probe = sa.select(trials.c.id).where(where).limit(1)
        if not self._read(lambda c: c.execute(probe).first()):
            return [], []

        def run(conn: Connection) -> tuple[list[int], list[int]]:
            seq, _ = self._bump(conn, study_id)
            rows = conn.execute(
                sa.select(*_TRIAL_COLS).where(where).order_by(trials.c.number)
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

    def sync(self, study_id: int, watermark: int = 0) -> SyncResult:
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
                    sa.select(*_TRIAL_COLS)
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
            return SyncResult([], [], int(head.seq), _loads(head.attrs, {}))
        head, rows, reps = self._snapshot(changes)
        return SyncResult(
            [_row_to_trial(r) for r in rows],
            [Report(r.number, r.step, json.loads(r.metrics)) for r in reps],
            int(head.seq),
            _loads(head.attrs, {}),
        )

    def get_trials(self, study_id: int, states: Iterable[TrialState] | None = None) -> list[Trial]:
        wanted = None if states is None else [s.value for s in states]

        def run(conn: Connection) -> tuple[list[Any], list[Any]]:
            q = sa.select(*_TRIAL_COLS).where(trials.c.study_id == study_id)
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
        by_trial = group_reports((r.number, r.step, json.loads(r.metrics)) for r in reps)
        return [_row_to_trial(r).with_(reports=by_trial.get(r.number, {})) for r in rows]

    def get_trial(self, study_id: int, number: int) -> Trial:
        def run(conn: Connection) -> tuple[Any, list[Any]]:
            row = conn.execute(
                sa.select(*_TRIAL_COLS).where(
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
        merged = group_reports((number, r.step, json.loads(r.metrics)) for r in reps)
        return _row_to_trial(row).with_(reports=merged.get(number, {}))

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
        return tuple(Objective(o["metric"], o["goal"]) for o in json.loads(text))

    def best_trials(self, study_id: int) -> list[Trial]:
        objs = self._objectives_of(study_id)
        # literal states: the planner matches the partial index's predicate only then
        done = sa.and_(trials.c.study_id == study_id, sa.text(_DONE_SQL))
        if len(objs) == 1:
            v0 = self._value0()
            order = v0 if objs[0].goal == "minimize" else sa.desc(v0)

            def best(conn: Connection) -> Any:
                # one ordered read of ix_hs_trials_best; ties (equal values) sort by number
                return conn.execute(
                    sa.select(*_TRIAL_COLS).where(done).order_by(order, trials.c.number).limit(1)
                ).first()

            row = self._read(best)
            return [] if row is None else [_row_to_trial(row)]
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
                values=tuple(json.loads(r.trial_values)),
            )
            for r in rows
        ]
        front = [
            t.number
            for t in best_of(
                [t for t in pts if t.values is not None and len(t.values) == len(objs)], objs
            )
        ]
        return self._trials_by_number(study_id, front)

    def _trials_by_number(self, study_id: int, numbers: Sequence[int]) -> list[Trial]:
        out: list[Trial] = []
        for i in range(0, len(numbers), 500):
            chunk = list(numbers[i : i + 500])
            out.extend(
                _row_to_trial(r)
                for r in self._read(
                    lambda c, chunk=chunk: c.execute(
                        sa.select(*_TRIAL_COLS)
                        .where(trials.c.study_id == study_id, trials.c.number.in_(chunk))
                        .order_by(trials.c.number)
                    ).all()
                )
            )
        return out

    def running_trials(self, study_id: int) -> list[Trial]:
        def run(conn: Connection) -> tuple[Sequence[Any], Sequence[Any]]:
            rows = conn.execute(
                sa.select(*_TRIAL_COLS)
                .where(
                    trials.c.study_id == study_id,
                    trials.c.state == TrialState.RUNNING.value,
                )
                .order_by(trials.c.number)
            ).all()
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
        by = group_reports((r.number, r.step, json.loads(r.metrics)) for r in reps)
        return [_row_to_trial(r).with_(reports=by.get(r.number, {})) for r in rows]

    def last_trial(self, study_id: int, state: TrialState) -> Trial | None:
        row = self._read(
            lambda c: c.execute(
                sa.select(*_TRIAL_COLS)
                .where(
                    trials.c.study_id == study_id,
                    trials.c.state == state.value,
                )
                .order_by(trials.c.number.desc())
                .limit(1)
            ).first()
        )
        return None if row is None else _row_to_trial(row)

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
                    sa.select(*_TRIAL_COLS)
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
                    sa.select(_reports.c.number, _reports.c.step, _reports.c.metrics)
                    .where(_reports.c.trial_id.in_([r.id for r in rows]))
                    .order_by(_reports.c.seq, _reports.c.id)
                ).all()
                return rows, reps

            rows, reps = self._read(run)
            if not rows:
                return
            by = group_reports((r.number, r.step, json.loads(r.metrics)) for r in reps)
            for r in rows:
                yield _row_to_trial(r).with_(reports=by.get(r.number, {}))
            after = rows[-1].number

    def load_history(self, study_id: int, reports: bool = False) -> HistoryColumns:
        begin = (
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            if self.dialect == "postgresql"
            else "BEGIN"
        )

        def run(conn: Connection) -> HistoryColumns:
            conn.exec_driver_sql(begin)  # one snapshot for every query below
            try:
                head = conn.execute(
                    sa.select(studies.c.seq, studies.c.attrs).where(studies.c.id == study_id)
                ).first()
                if head is None:
                    raise StudyNotFound(f"no study with id {study_id}")
                cols = _columns(
                    self._raw_rows(
                        conn,
                        sa.select(
                            trials.c.number,
                            trials.c.state,
                            trials.c.params,
                            trials.c.trial_values,
                            trials.c.id,
                            trials.c.metrics,
                            trials.c.started_at,
                            trials.c.finished_at,
                            trials.c.heartbeat_at,
                            trials.c.worker_id,
                            trials.c.error,
                            trials.c.user_attrs,
                            trials.c.system_attrs,
                            trials.c.attempt,
                        )
                        .where(trials.c.study_id == study_id)
                        .order_by(trials.c.number),
                    )
                )
                reps = None
                if reports:
                    reps = [
                        Report(r.number, r.step, json.loads(r.metrics))
                        for r in conn.execute(self._reports_query(study_id, int(head.seq)))
                    ]
            finally:
                conn.exec_driver_sql("COMMIT")
            return HistoryColumns(
                *cols, watermark=int(head.seq), attrs=_loads(head.attrs, {}), reports=reps
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

    def reports_since(self, study_id: int, watermark: int) -> tuple[list[Report], int]:
        q = (
            sa.select(reports.c.seq, reports.c.number, reports.c.step, reports.c.metrics)
            .where(reports.c.study_id == study_id, reports.c.seq > watermark)
            .order_by(reports.c.seq, reports.c.id)
        )
        rows = self._read(lambda c: c.execute(q).all())
        out = [Report(r.number, r.step, json.loads(r.metrics)) for r in rows]
        return out, (int(rows[-1].seq) if rows else watermark)

    def reports_until(self, study_id: int, watermark: int) -> list[Report]:
        rows = self._read(lambda c: c.execute(self._reports_query(study_id, watermark)).all())
        return [Report(r.number, r.step, json.loads(r.metrics)) for r in rows]


_DONE_SQL = (
    "state IN (" + ", ".join(f"'{s.value}'" for s in FINISHED_WITH_VALUE) + ") "
    "AND trial_values IS NOT NULL"
)
_reports = reports  # the table, where a parameter named ``reports`` shadows it


def _columns(result: Any) -> tuple[list[Any], list[Any], list[Any], list[Any], list[Any]]:
    """Rows of (number, state, params, values, *rest) as columns (``rest`` as in
    :class:`~hypersweep.storage.base.HistoryColumns`); repeated texts (states,
    "{}", worker ids) share one object, so 100k rows cost little memory."""
    numbers: list[int] = []
    states: list[str] = []
    params: list[str] = []
    values: list[Any] = []
    rest: list[tuple[Any, ...]] = []
    seen: dict[Any, Any] = {}
    share = seen.setdefault
    for r in result:
        numbers.append(r[0])
        states.append(share(r[1], r[1]))
        params.append(r[2])
        values.append(r[3])
        rest.append(
            (
                r[4],
                share(r[5], r[5]),
                r[6],
                r[7],
                r[8],
                share(r[9], r[9]),
                r[10],
                share(r[11], r[11]),
                share(r[12], r[12]),
                r[13],
            )
        )
    return numbers, states, params, values, rest
