"""Opening SQLite and PostgreSQL databases, and telling transient faults from lasting
ones."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError

from hypersweep.errors import (
    StorageError,
)


def normalize_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_parent(url: str, db: Path) -> None:
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


def check_writable(url: str, db: Path) -> None:
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


def read_only_url(db: Path, immutable: bool = False) -> str:
    """An SQLAlchemy URL that opens the SQLite file ``db`` read-only (``mode=ro``)."""
    from urllib.parse import quote

    extra = "&immutable=1" if immutable else ""
    return f"sqlite:///file:{quote(str(db.resolve()))}?mode=ro{extra}&uri=true"


def open_immutable(db: Path) -> bool:
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


def sqlite_read_only(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA query_only=1")
    cur.close()


def cannot_read_only(e: StorageError) -> bool:
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


def is_disconnect(e: BaseException) -> bool:
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


def fault_text(e: BaseException) -> str:
    """``storage: <driver error>: <its message>`` for a failed statement."""
    orig = getattr(e, "orig", None) or e
    return f"storage: {type(orig).__name__}: {orig}"


def is_transient(e: BaseException) -> bool:
    """A lock timeout, deadlock, serialization failure or dropped connection worth
    retrying."""
    if is_disconnect(e):
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
