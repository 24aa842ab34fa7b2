"""Shared fixtures.

Storage backends: ``memory``, ``sqlite`` (a fresh file per test) and ``postgres`` (the
server at ``HYPERSWEEP_TEST_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``;
a fresh schema per test). PostgreSQL tests run always; they are skipped only when
``HYPERSWEEP_SKIP_POSTGRES=1`` is set, and then the skip says so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get(
    "HYPERSWEEP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SKIP_PG = os.environ.get("HYPERSWEEP_SKIP_POSTGRES") == "1"


def _pg_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema (dropped afterwards)."""
    if SKIP_PG:
        pytest.skip("PostgreSQL tests skipped because HYPERSWEEP_SKIP_POSTGRES=1")
    import sqlalchemy as sa

    schema = f"hs_test_{uuid.uuid4().hex[:10]}"
    admin_url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(admin_url)
    with engine.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _pg_schema_url()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def storage_url(request, tmp_path) -> Iterator[str]:
    """Each storage backend in turn, as a URL."""
    if request.param == "memory":
        yield "memory"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'studies.db'}"
    else:
        yield from _pg_schema_url()
