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

from hypersweep.storage.sql._reads import SQLStorage
from hypersweep.storage.sql._schema import metadata as metadata
from hypersweep.storage.sql._schema import reports as reports
from hypersweep.storage.sql._schema import schema_table as schema_table
from hypersweep.storage.sql._schema import studies as studies
from hypersweep.storage.sql._schema import trials as trials
from hypersweep.storage.sql._schema import writes as writes

__all__ = ["SQLStorage"]
