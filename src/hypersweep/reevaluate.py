"""Multi-seed re-evaluation: run the top configurations again with new seeds before
believing them (``hypersweep reevaluate``, :meth:`Study.reevaluate
<hypersweep.study_transfer.StudyTransfer.reevaluate>`, ``hypersweep best --robust``).

:func:`enqueue_reevaluations` queues, for each of the ``top`` best trials (single
objective, feasible, not re-evaluations themselves), ``seeds`` new trials with the same
parameters. Each new trial carries ``system_attrs = {"reevaluates": <number of the
original>, "repeat": j, "seed": <its seed>}``; its seed is
:func:`~hypersweep._sequence.trial_seed` ``(study seed, original number, repeat=j)``, so
asking again for more seeds continues with repeats that were not run yet.

Re-evaluations are ordinary trials of the study: they run like any other (first, since
they are queued), count toward ``max_trials`` and **stay in the sampler's history**: a
repeated configuration with another seed is evidence of how noisy the objective is there
(the GP fits its noise from it; TPE sees the spread). They never become re-evaluated
themselves, and :func:`robust_ranking` groups them with their original.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypersweep._sequence import trial_seed
from hypersweep.errors import HypersweepError
from hypersweep.trial import Trial, TrialState

__all__ = ["REEVALUATES", "Robust", "enqueue_reevaluations", "format_ranking", "robust_ranking"]

#: the system attribute that links a re-evaluation to its original trial
REEVALUATES = "reevaluates"


@dataclass(frozen=True)
class Robust:
    """One configuration's re-evaluated result.

    Attributes:
        number: the original trial.
        params: its configuration.
        values: the objective value of the original and of each finished re-evaluation.
        mean, std: their mean and sample standard deviation (0 for one value).
        rank: the configuration's rank by ``mean`` (1 = best), goal-aware.
        original_rank: its rank by the original trial's value alone.
        pending: re-evaluations not finished yet (queued or running).
    """

    number: int
    params: dict[str, Any]
    values: tuple[float, ...]
    mean: float
    std: float
    rank: int
    original_rank: int
    pending: int


def _check(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise HypersweepError(f"reevaluate: {name} must be an integer >= 1, got {v!r}")
    return v


def _originals(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if REEVALUATES not in t.system_attrs]


def enqueue_reevaluations(study: Any, top: int, seeds: int) -> list[Trial]:
    """Queue ``seeds`` new-seed runs of each of the ``top`` best trials of ``study`` (a
    :class:`~hypersweep.study.Study`); return the queued trials.

    Raises:
        HypersweepError: a multi-objective study, bad ``top``/``seeds``, or no finished
            trial to re-evaluate.
    """
    _check("top", top)
    _check("seeds", seeds)
    if len(study.objectives) != 1:
        raise HypersweepError(
            "reevaluate: the study has several objectives; re-evaluation ranks by one"
        )
    trials = study.trials()
    best = _best_originals(study, trials)[:top]
    if not best:
        raise HypersweepError(f"reevaluate: study {study.name!r} has no finished trial yet")
    done_repeats: dict[int, int] = {}
    for t in trials:
        o = t.system_attrs.get(REEVALUATES)
        if isinstance(o, int):
            done_repeats[o] = max(done_repeats.get(o, 0), int(t.system_attrs.get("repeat", 0)))
    out = []
    for t in best:
        first = done_repeats.get(t.number, 0) + 1
        for j in range(first, first + seeds):
            attrs = {
                REEVALUATES: t.number,
                "repeat": j,
                "seed": trial_seed(study.seed, t.number, j),
            }
            created = study.storage.create_trial(
                study.id, dict(t.params), state=TrialState.QUEUED, system_attrs=attrs
            )
            out.append(created)
    study.sync()
    return out


def _best_originals(study: Any, trials: Sequence[Trial]) -> list[Trial]:
    """The original (not re-evaluation) feasible finished trials, best first."""
    sign = study.objectives[0].sign
    done = [
        t
        for t in _originals(trials)
        if t.state in (TrialState.COMPLETED, TrialState.STOPPED)
        and t.values is not None
        and study.feasible(t)
    ]
    return sorted(done, key=lambda t: (sign * t.values[0], t.number))  # type: ignore[index]


def robust_ranking(study: Any) -> list[Robust]:
    """The re-evaluated configurations of ``study``, best mean first (configurations
    without a finished re-evaluation are left out)."""
    if len(study.objectives) != 1:
        raise HypersweepError("robust ranking needs a single-objective study")
    sign = study.objectives[0].sign
    trials = study.trials()
    by_number = {t.number: t for t in trials}
    groups: dict[int, list[float]] = {}
    pending: dict[int, int] = {}
    for t in trials:
        o = t.system_attrs.get(REEVALUATES)
        if not isinstance(o, int) or o not in by_number:
            continue
        if t.state in (TrialState.COMPLETED, TrialState.STOPPED) and t.values is not None:
            groups.setdefault(o, []).append(float(t.values[0]))
        elif not t.state.is_finished:
            pending[o] = pending.get(o, 0) + 1
    originals = [n for n in groups if by_number[n].values is not None]
    order_orig = sorted(originals, key=lambda n: (sign * by_number[n].values[0], n))
    rows = []
    for n in originals:
        vals = (float(by_number[n].values[0]), *groups[n])
        mean = sum(vals) / len(vals)
        std = (
            math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
            if len(vals) > 1
            else 0.0
        )
        rows.append((n, vals, mean, std))
    rows.sort(key=lambda r: (sign * r[2], r[0]))
    return [
        Robust(
            number=n,
            params=dict(by_number[n].params),
            values=vals,
            mean=mean,
            std=std,
            rank=i + 1,
            original_rank=order_orig.index(n) + 1,
            pending=pending.get(n, 0),
        )
        for i, (n, vals, mean, std) in enumerate(rows)
    ]


def format_ranking(rows: Sequence[Robust], metric: str) -> str:
    """The table ``hypersweep reevaluate`` and ``best --robust`` print."""
    if not rows:
        return "no re-evaluated configuration yet"
    lines = [f"  rank  (was)  trial  {metric} mean ± std  (n)  params"]
    for r in rows:
        more = f", {r.pending} pending" if r.pending else ""
        lines.append(
            f"  {r.rank:>4}  ({r.original_rank:>3})  {r.number:>5}  "
            f"{r.mean:.6g} ± {r.std:.3g}  ({len(r.values)}{more})  "
            + " ".join(f"{k}={v}" for k, v in r.params.items())
        )
    return "\n".join(lines)
