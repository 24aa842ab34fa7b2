"""What a :class:`~hypersweep.study.Study` checks and derives when it is created or
resumed: objectives, the worker id, the study seed, and how a stored space differs."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hypersweep._validate import STUDY_NAME
from hypersweep.errors import SpecError, StudyNotFound
from hypersweep.history import RUNNING, History
from hypersweep.space import Space
from hypersweep.storage.base import Storage, StudyRecord
from hypersweep.trial import Objective

log = logging.getLogger("hypersweep")

__all__ = [
    "ObjectiveLike",
    "canon_spec",
    "check_study_args",
    "describe_objectives",
    "make_worker_id",
    "must_exist",
    "open_record",
    "parse_objectives",
    "space_changed",
    "space_diff",
    "study_seed",
    "worker_dead",
]

ObjectiveLike = Objective | str | Mapping[str, Any]


def parse_objectives(
    objective: ObjectiveLike | Sequence[ObjectiveLike] | None,
) -> tuple[Objective, ...]:
    if objective is None:
        return (Objective("value", "minimize"),)
    items = objective if isinstance(objective, (list, tuple)) else [objective]
    out = []
    for o in items:
        if isinstance(o, Objective):
            out.append(o)
        elif isinstance(o, str):
            out.append(Objective(o))
        elif isinstance(o, Mapping):
            extra = set(o) - {"metric", "goal"}
            if extra:
                raise SpecError(f"objective.{sorted(extra)[0]}: unknown key; use metric and goal")
            if "metric" not in o:
                raise SpecError(
                    "objective.metric: missing, e.g. {metric: val_accuracy, goal: maximize}"
                )
            out.append(Objective(o["metric"], o.get("goal", "minimize")))
        else:
            raise SpecError(f"objective: expected a metric name or {{metric, goal}}, got {o!r}")
    names = [o.metric for o in out]
    if len(set(names)) != len(names):
        raise SpecError(f"objective: metric {names[0]!r} is listed twice")
    if not out:
        raise SpecError("objective: give at least one metric")
    return tuple(out)


def make_worker_id() -> str:
    """``host:pid:token``: unique per process, and tells whether a local worker is alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def worker_dead(worker_id: str | None, me: str) -> bool:
    if not worker_id or worker_id == me:
        return False
    parts = worker_id.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return True  # an earlier life of this pid: our own id differs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def study_seed(seed: int | None, sampler_seed: int | None, rec: Any) -> int:
    """The study seed: the one given, else the sampler's, else the stored one (a study
    stored without one gets a seed derived from its name, the same in every process)."""
    if seed is not None:
        return int(seed)
    if sampler_seed is not None:
        return int(sampler_seed)
    stored = rec.attrs.get("seed")
    if isinstance(stored, int) and not isinstance(stored, bool):
        return stored
    import hashlib

    return int.from_bytes(hashlib.blake2b(rec.name.encode(), digest_size=4).digest(), "big")


def canon_spec(spec: Any) -> Any:
    """A space spec as stored (JSON), so tuples and lists compare equal."""
    return json.loads(json.dumps(spec, default=str))


def space_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    old, new = canon_spec(old), canon_spec(new)
    parts = []
    for what, names in (
        ("added", [k for k in new if k not in old]),
        ("removed", [k for k in old if k not in new]),
        ("changed", [k for k in new if k in old and old[k] != new[k]]),
    ):
        if names:
            shown = ", ".join(names[:5]) + (
                f" and {len(names) - 5} more" if len(names) > 5 else ""
            )
            parts.append(f"{what} {shown}")
    return "; ".join(parts) or "reordered"


def space_changed(name: str, url: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    return (
        f"space: study {name!r} in {url} has a different search space "
        f"({space_diff(old, new)}); run under another name (hypersweep run --new-name "
        "NAME, or Study(another_name, ...)) or extend the stored space, keeping every "
        "earlier trial (--extend-space, or Study(..., extend_space=True))"
    )


def describe_objectives(objs: Sequence[Objective]) -> str:
    return ", ".join(f"{o.goal} {o.metric}" for o in objs)


def check_study_args(name: Any, seed: Any) -> None:
    """Refuse an invalid study name or seed (before any storage is opened)."""
    if not isinstance(name, str) or not STUDY_NAME.fullmatch(name):
        raise SpecError(
            f"name: {name!r} is not a valid study name; use letters, digits, '_', '.', "
            "'-' (at most 200 characters, starting with a letter or digit)"
        )
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63
    ):
        raise SpecError(f"seed: must be an integer from 0 to 2**63-1, got {seed!r:.60}")


def open_record(
    storage: Storage,
    name: str,
    new_space: Space | None,
    objective: ObjectiveLike | Sequence[ObjectiveLike] | None,
    seed: int | None,
    extend_space: bool,
) -> StudyRecord:
    """The stored study ``name``: created with ``new_space`` where it does not exist,
    checked against the stored objectives and space where it does (see
    :class:`~hypersweep.study.Study` for the rules); every refusal is one line naming the
    argument and the fix."""
    if new_space is None:
        try:
            rec = storage.get_study(name)
        except StudyNotFound:  # a define-by-run study: its space is learned as it runs
            rec = storage.create_study(
                name,
                parse_objectives(objective),
                {},
                attrs={"seed": _first_seed(seed), "define_by_run": True},
            )
        if objective is not None and parse_objectives(objective) != rec.objectives:
            raise SpecError(
                f"objective: study {name!r} was created with {describe_objectives(rec.objectives)}"
            )
    else:
        objs = parse_objectives(objective)
        rec = storage.create_study(
            name, objs, new_space.to_spec(), attrs={"seed": _first_seed(seed)}
        )
        if rec.objectives != objs:
            raise SpecError(
                f"objective: study {name!r} already exists with "
                f"{describe_objectives(rec.objectives)}, "
                f"not {describe_objectives(objs)}; use a new study name"
            )
        spec = new_space.to_spec()
        if rec.space is not None and canon_spec(rec.space) != canon_spec(spec):
            if not extend_space:
                raise SpecError(space_changed(name, storage.url, rec.space, spec))
            log.warning(
                "study %r: search space extended (%s); earlier trials that do "
                "not fit it stay in the study but not in the sampler's model",
                name,
                space_diff(rec.space, spec),
            )
            # marks the study, so readers look for trials outside its space only then
            rec = storage.update_study(rec.id, space=spec, attrs={"space_extended": True})
        elif rec.space is None:
            rec = storage.update_study(rec.id, space=spec)
    return rec


def _first_seed(seed: int | None) -> int:
    """The seed stored with a new study: the one given, else drawn at random once."""
    if seed is not None:
        return seed
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)  # drawn, not given: one integer
    return entropy % 2**31


def must_exist(storage: Storage, name: str) -> None:
    """Refuse to open a study that does not exist for reading (one line)."""
    try:
        storage.get_study(name)
    except StudyNotFound:
        raise SpecError(
            f"study: {name!r} does not exist in {storage.url}; create it with "
            f"Study({name!r}, space=...) or run it first"
        ) from None


def recover_lost(
    storage: Storage,
    study_id: int,
    name: str,
    h: History,
    me: str,
    stale_after: float,
    retries: int,
) -> list[int]:
    """The work of :meth:`Study.recover` on a synced study (``h``, seen by worker ``me``):
    re-queue (attempt ``<= retries``) or fail its RUNNING trials whose worker is gone;
    their numbers."""
    dead = {
        t.worker_id
        for t in (h.trials[i] for i in np.flatnonzero(h.state == RUNNING))
        if worker_dead(t.worker_id, me)
    }
    requeued, failed = storage.recover_stale_trials(
        study_id,
        time.time() - stale_after,
        dead_workers=[d for d in dead if d],
        retries=retries,
    )
    for what, numbers in (("re-queued", requeued), ("marked FAILED", failed)):
        if numbers:
            log.warning("study %r: trials %s lost their worker; %s", name, numbers, what)
    return sorted(requeued + failed)
