"""Storage backends: in-memory, and SQL (SQLite and PostgreSQL) on SQLAlchemy Core.

Use :func:`open_storage` with a URL:

* ``None`` -> the default, ``sqlite:///.hypersweep/studies.db`` (relative to the working
  directory);
* ``"memory"`` -> :class:`InMemoryStorage`;
* ``"sqlite:///path.db"`` or ``"postgresql://user@host/db"`` -> :class:`SQLStorage`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypersweep.errors import StorageError
from hypersweep.storage.base import Report, Storage, StudyRecord, SyncResult
from hypersweep.storage.memory import InMemoryStorage

if TYPE_CHECKING:
    from hypersweep.storage.sql import SQLStorage

__all__ = [
    "DEFAULT_URL",
    "InMemoryStorage",
    "Report",
    "SQLStorage",
    "Storage",
    "StudyRecord",
    "SyncResult",
    "open_storage",
    "url_problem",
]

DEFAULT_URL = "sqlite:///.hypersweep/studies.db"
_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")
_MEMORY = ("memory", ":memory:", "memory://")


def url_problem(url: str) -> str | None:
    """Why :func:`open_storage` would refuse ``url``, or ``None`` when it accepts it."""
    if url in _MEMORY or url.startswith(_SCHEMES):
        return None
    return f"unsupported URL {url!r}; use sqlite:///path.db, postgresql://user@host/db or memory"


def open_storage(storage: str | Storage | None = None, *, read_only: bool = False) -> Storage:
    """Open a storage from a URL (or return a :class:`Storage` unchanged).

    ``read_only``: for commands that only read (see :class:`SQLStorage`): nothing is
    created or migrated, and a read-only SQLite file or folder can be read."""
    if isinstance(storage, Storage):
        return storage
    url = DEFAULT_URL if storage is None else str(storage)
    if url in _MEMORY:
        return InMemoryStorage()
    if url.startswith(_SCHEMES):
        from hypersweep.storage.sql import SQLStorage

        return SQLStorage(url, read_only=read_only)
    raise StorageError(
        f"storage: unsupported URL {url!r}; use sqlite:///path.db, "
        "postgresql://user@host/db or memory"
    )


def __getattr__(name: str) -> Any:
    if name == "SQLStorage":
        from hypersweep.storage.sql import SQLStorage

        return SQLStorage
    raise AttributeError(name)
