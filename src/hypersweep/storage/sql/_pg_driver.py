"""PostgreSQL's hot path: the statements every ask and tell run (a sync, a create, a
finish) go to the driver's own cursor, and the trials table gets statistics early
enough for the plans the server keeps for them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from hypersweep.errors import StorageError
from hypersweep.storage.sql._engine import SQLEngine


class PGDriver(SQLEngine):
    """The driver-level execution of :class:`~hypersweep.storage.sql.SQLStorage`'s hot
    PostgreSQL statements."""

    def _pg_run(self, conn: Connection, sql: str, params: dict[str, Any]) -> list[Any]:
        """Run one statement of the PostgreSQL hot path (a sync, a create, a finish) on
        the driver's own cursor and return its rows (attributes by column name).

        ``sql`` is in the driver's ``%(name)s`` style (see :meth:`_driver_sql`). Going
        through SQLAlchemy's execution costs about 40 us of CPU more per statement, and
        builds the result's column descriptions each time: a third of a worker's CPU per
        trial. A driver error is raised as SQLAlchemy wraps it (an ``OperationalError``,
        ``IntegrityError``, ... marked ``connection_invalidated`` when the connection
        dropped), so retries and reconnects treat it as any other statement's."""
        dbapi = conn.connection.driver_connection
        events = self._engine.dispatch  # SQLAlchemy's cursor events still see it
        try:
            with dbapi.cursor(row_factory=self._named_rows) as cur:  # type: ignore[union-attr]
                for fn in events.before_cursor_execute:
                    fn(conn, cur, sql, params, None, False)
                cur.execute(sql, params, binary=True)
                rows = cur.fetchall()  # every hot statement returns rows
                for fn in events.after_cursor_execute:
                    fn(conn, cur, sql, params, None, False)
                return rows
        except self._driver_error as e:
            dialect = self._engine.dialect
            raise DBAPIError.instance(
                sql,
                params,
                e,
                self._driver_error,
                connection_invalidated=dialect.is_disconnect(e, dbapi, None),  # type: ignore[arg-type]
                dialect=dialect,
            ) from e

    def _driver_sql(self, key: tuple[str, int], stmt: Any) -> tuple[str, dict[str, Any]]:
        """``stmt`` compiled for the driver once per ``key``: its text and the values of
        the parameters it binds itself."""
        found = self._statements.get(key)
        if found is None:
            compiled = stmt.compile(dialect=self._engine.dialect)
            found = self._statements[key] = (str(compiled), dict(compiled.params))
        return found  # type: ignore[no-any-return,unused-ignore]

    #: the trial number at which a study's worker checks the trials table's statistics
    STATS_AT = 999

    def _pg_ensure_statistics(self) -> None:
        """ANALYZE ``hs_trials`` if its statistics describe fewer rows than this study
        alone now holds (none at all on a new database until autovacuum's first round,
        or with autovacuum off); once per storage object, when a study's 1,000th trial
        is created.

        The hot statements are prepared by the driver, and PostgreSQL keeps for each a
        generic plan, made without the values from the statistics of the moment:

        - with none, every index that starts with ``study_id`` costs the same, and the
          sync's plan could filter the whole study where an index range reads a few
          rows (``_pg_sync_statement``);
        - with those of a tiny table, a sequential scan is the cheapest way to find one
          trial by its id, and the plan keeps scanning as the table grows.

        Statistics of a table this size fix both, and invalidate the plans made so far.
        A role that does not own the table gets a warning from the server, not an
        error, and the statements keep their plans."""
        self._stats_known = True
        rows = "SELECT reltuples FROM pg_class WHERE oid = 'hs_trials'::regclass"
        try:
            if (self._read(lambda c: c.exec_driver_sql(rows).scalar()) or 0) < self.STATS_AT:
                self._read(lambda c: c.exec_driver_sql("ANALYZE hs_trials"))
        except StorageError as e:  # housekeeping: the study goes on without it
            import logging

            logging.getLogger("hypersweep").debug("storage: ANALYZE hs_trials failed: %s", e)
