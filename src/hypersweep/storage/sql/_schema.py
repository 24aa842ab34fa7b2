"""The SQL storage's tables, its row <-> :class:`~hypersweep.trial.Trial` mapping and
its data migrations."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hypersweep._json import loads_or
from hypersweep.storage.base import (
    FINISHED_WITH_VALUE,
)
from hypersweep.trial import Trial, TrialState

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
    sa.Column("budget", sa.Double),  # schema v4
    sa.Column("resume_from", sa.Integer),  # schema v4
    sa.UniqueConstraint("study_id", "number", name="uq_hs_trials_number"),
    sa.UniqueConstraint("study_id", "dedup_key", name="uq_hs_trials_key"),
    sa.Index("ix_hs_trials_study_seq", "study_id", "seq"),
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
TRIAL_COLS = [
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
    trials.c.budget,
    trials.c.resume_from,
]


def dumps(x: Any) -> str:
    return json.dumps(x, separators=(",", ":"), allow_nan=True)


def loads(s: str | None, default: Any = None) -> Any:
    return loads_or(s, default)


_STATES = {s.value: s for s in TrialState}


def row_to_trial(r: Any) -> Trial:
    vals = loads(r.trial_values)
    return Trial.from_fields(
        {
            "number": r.number,
            "state": _STATES.get(r.state) or TrialState(r.state),
            "params": loads(r.params, {}),
            "values": tuple(vals) if vals is not None else None,
            "metrics": loads(r.metrics, {}),
            "reports": {},
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "heartbeat_at": r.heartbeat_at,
            "worker_id": r.worker_id,
            "error": r.error,
            "user_attrs": loads(r.user_attrs, {}),
            "system_attrs": loads(r.system_attrs, {}),
            "id": r.id,
            "attempt": int(r.attempt),
            "budget": r.budget,
            "resume_from": r.resume_from,
            "seed": None,
        }
    )


def of_study(study_id: int) -> Any:
    """The check that a trial looked up by its id belongs to study ``study_id``, written so
    that no index can serve it (``study_id + 0``): the lookup then goes by the primary key.
    A table that was never analyzed (autovacuum off, or not run yet) has no statistics,
    and with a plain ``study_id = :sid`` beside ``id = :tid`` PostgreSQL's planner can take
    an index that starts with ``study_id`` and filter every row of the study for the id:
    each heartbeat, report and finish then read all of the study's rows."""
    return trials.c.study_id + 0 == study_id


def stale_where(study_id: int, stale_before: float, dead_workers: Iterable[str]) -> Any:
    """RUNNING trials of the study whose heartbeat is older than ``stale_before`` or whose
    worker is known dead."""
    dead = [d for d in dead_workers if d]
    cond = trials.c.heartbeat_at < stale_before
    if dead:
        cond = sa.or_(cond, trials.c.worker_id.in_(dead))
    return sa.and_(trials.c.study_id == study_id, trials.c.state == TrialState.RUNNING.value, cond)


def move_trial_facts(conn: Connection) -> None:
    """Schema v4: move ``system_attrs["budget"]`` and ``["restore_from"]`` of every trial
    into the ``budget`` and ``resume_from`` columns (parsed here, not in SQL: the texts
    may hold what PostgreSQL's JSON type refuses, such as ``NaN``)."""
    rows = conn.execute(
        sa.select(trials.c.id, trials.c.system_attrs).where(
            sa.or_(
                trials.c.system_attrs.like('%"budget"%'),
                trials.c.system_attrs.like('%"restore_from"%'),
            )
        )
    ).all()
    changes = []
    for r in rows:
        attrs = loads(r.system_attrs, {})
        if not isinstance(attrs, dict) or not ({"budget", "restore_from"} & attrs.keys()):
            continue
        budget, source = attrs.pop("budget", None), attrs.pop("restore_from", None)
        ok_budget = isinstance(budget, (int, float)) and not isinstance(budget, bool)
        ok_source = isinstance(source, int) and not isinstance(source, bool) and source >= 0
        changes.append(
            {
                "tid": r.id,
                "b": float(budget) if ok_budget else None,
                "r": source if ok_source else None,
                "sa": dumps(attrs),
            }
        )
    if changes:
        conn.execute(
            trials.update()
            .where(trials.c.id == sa.bindparam("tid"))
            .values(
                budget=sa.bindparam("b"),
                resume_from=sa.bindparam("r"),
                system_attrs=sa.bindparam("sa"),
            ),
            changes,
        )


DONE_SQL = (
    "state IN (" + ", ".join(f"'{s.value}'" for s in FINISHED_WITH_VALUE) + ") "
    "AND trial_values IS NOT NULL"
)
reports_table = reports  # the table, where a parameter named ``reports`` shadows it


def as_columns(result: Any) -> tuple[list[Any], list[Any], list[Any], list[Any], list[Any]]:
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
                r[14],
                r[15],
            )
        )
    return numbers, states, params, values, rest
