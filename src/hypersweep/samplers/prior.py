"""Transfer: how the model-based samplers (``tpe``, ``gp``) read a study's prior block.

A study warm-started with ``mode: prior`` carries a :class:`~hypersweep.history.Prior`
(a related study's finished trials, encoded in this study's space) in its
:class:`~hypersweep.history.History`. The samplers stay pure functions of (space,
history, rng): everything here is computed from the history alone.

**The duel.** A prior can mislead: a study of another problem knows where *its* optimum
is. So the study's first own trials (:data:`DUEL`: 3 guided, 6 exploring) mix proposals
guided by the prior (``system_attrs["transfer"] = "guided"``) and space-filling ones
(``"explore"``, the Sobol points a cold start would try; :func:`duel_role`). Exploring
points are an unbiased sample of the new problem; a related prior puts its guided points
far ahead of them. :func:`relatedness` is the probability that a guided trial beats an
exploring one (the Mann-Whitney AUC over the pairs), rescaled so that :data:`AUC_FLOOR`
or less counts as unrelated (0) and 1 as related (1); while fewer than one guided and two
exploring trials have values the prior is trusted (1). A prior found unrelated ends the
duel early and weighs nothing from then on: the search continues as a cold start whose
first trials happened to include a few of the prior's guesses.

* :func:`effective_weight`: the weight of one prior row, ``prior.weight`` x relatedness
  x ``HALF_LIFE / (HALF_LIFE + n_own)`` (:data:`HALF_LIFE`): the study's own evidence
  takes over as it accumulates.
* :func:`prior_design`: the prior's best configurations not tried yet, ``gp``'s guided
  proposals (a warm-started initial design: its model then sees the study's own trials
  only, which converges finely where prior rows of a shifted optimum would blur it).
* :func:`merged` (``tpe``): the history with the prior rows in front and their values mapped onto
  this study's scale (quantile matching of ranks, per objective), so a sampler can model
  both blocks at once; the prior's values on the related problem may have any offset
  and scale.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from hypersweep.history import History
from hypersweep.samplers.base import Proposal, near_any
from hypersweep.space import Space

__all__ = [
    "AUC_FLOOR",
    "DUEL",
    "HALF_LIFE",
    "ROLE",
    "duel_role",
    "effective_weight",
    "forgotten",
    "merged",
    "prior_design",
    "relatedness",
    "sobol_position",
    "tag",
]

#: the roles of the duel's own trials in order (g: guided, e: exploring)
DUEL = "geegeegee"
#: a guided trial beating an exploring one with this probability or less: unrelated
AUC_FLOOR = 0.9
#: own observations at which the prior's weight has halved (relatedness aside): the
#: prior steers the first proposals, the study's own evidence takes over soon
#: (``docs/transfer.md`` has the measurements)
HALF_LIFE = 5
#: the system attribute that marks a trial's role in the duel
ROLE = "transfer"


def _ranks(y: np.ndarray) -> np.ndarray:
    order = np.argsort(y, kind="stable")
    r = np.empty(y.size)
    r[order] = np.arange(y.size)
    return r


@dataclass(frozen=True)
class _Roles:
    guided: list[float]  # first-objective values of the guided trials (lower is better)
    explore: list[float]  # ... of the exploring ones
    n: int  # trials of the duel in any state
    guided_rows: np.ndarray  # row numbers of the guided trials


#: a history's roles by its version: every ask of a transfer study reads them several
#: times, and finding them scans the trials
_CACHE: weakref.WeakKeyDictionary[History, tuple[tuple[int, int], _Roles]] = (
    weakref.WeakKeyDictionary()
)


def _roles(history: History) -> _Roles:
    """The duel's trials of ``history`` (cached by its version)."""
    key = (history.version, history.n)
    hit = _CACHE.get(history)
    if hit is not None and hit[0] == key:
        return hit[1]
    guided: list[float] = []
    explore: list[float] = []
    rows: list[int] = []
    trials = history.trials
    for i in range(history.n):
        t = trials[i]
        if t is None:
            continue
        role = t.system_attrs.get(ROLE)
        if role not in ("guided", "explore"):
            continue
        if role == "guided":
            rows.append(i)
        y = history.Y[i, 0]
        if history.valid[i] and np.isfinite(y):
            (guided if role == "guided" else explore).append(float(y))
    out = _Roles(guided, explore, len(guided) + len(explore), np.asarray(rows, dtype=int))
    _CACHE[history] = (key, out)
    return out


def relatedness(history: History) -> float:
    """How related the prior is to this study's problem, in ``[0, 1]`` (see the module
    docstring); 0 without a prior."""
    p = history.prior
    if p is None or len(p) == 0:
        return 0.0
    r = _roles(history)
    guided, explore = r.guided, r.explore
    if len(guided) < 1 or len(explore) < 2:
        return 1.0
    g = np.asarray(guided)[:, None]
    e = np.asarray(explore)[None, :]
    auc = float(((g < e) + 0.5 * (g == e)).mean())
    return float(min(1.0, max(0.0, (auc - AUC_FLOOR) / (1.0 - AUC_FLOOR))))


def effective_weight(history: History) -> float:
    """The weight of one prior row now: ``prior.weight`` x :func:`relatedness` x
    ``HALF_LIFE / (HALF_LIFE + own observations)``; 0 without a prior."""
    p = history.prior
    if p is None or len(p) == 0:
        return 0.0
    n_own = history.n_observed
    return p.weight * relatedness(history) * HALF_LIFE / (HALF_LIFE + n_own)


def forgotten(history: History) -> np.ndarray | None:
    """The rows a sampler leaves out of its model: the guided trials of a prior found
    unrelated (``None``: none). They were placed by the other problem's optimum, and in
    a young study they are the only points the space-filling sequence did not spread:
    kept, they pull the model to that problem's basin (on BBOB f12, d = 5, 12 seeds, a
    cold TPE whose first trial was the source study's best took 1.25 times a cold
    start's evaluations to the target, with a random first trial 1.09). They stay trials
    of the study (counts, best, export); the search goes on as a cold start would."""
    p = history.prior
    if p is None or len(p) == 0 or relatedness(history) > 0:
        return None
    rows = _roles(history).guided_rows
    if rows.size == 0:
        return None
    out = np.zeros(history.n, dtype=bool)
    out[rows] = True
    return out


def sobol_position(history: History) -> int:
    """The index of the next space-filling point of a study: its trial count, less its
    guided trials. A study with a prior thus explores with exactly the points a cold
    start would try, in the same order (the duel's exploring trials, and the start-up
    points of a study whose prior was dropped)."""
    if history.prior is None:
        return history.n
    return history.n - _roles(history).guided_rows.size


def duel_role(history: History) -> str | None:
    """``"guided"`` or ``"explore"``: the role of the next proposal while the duel goes
    on (the order :data:`DUEL`); ``None`` without a prior, once the duel has had its
    trials, or once the prior was found unrelated."""
    p = history.prior
    if p is None or len(p) == 0:
        return None
    n = _roles(history).n
    if n >= len(DUEL) or effective_weight(history) == 0.0:
        return None
    return "guided" if DUEL[n] == "g" else "explore"


def prior_design(space: Space, history: History, n: int) -> list[Proposal]:
    """The ``n`` best prior configurations (first objective) that no trial of the study
    has yet: a warm-started initial design (``gp``'s guided proposals)."""
    p = history.prior
    assert p is not None
    order = np.argsort(p.Y[:, 0], kind="stable")
    held = history.X[history.valid]
    out: list[Proposal] = []
    for i in order:
        if len(out) == n:
            break
        if held.shape[0] and near_any(held, p.X[i][None, :]).any():
            continue
        out.append(Proposal(space.decode_many(p.X[i][None, :])[0]))
        held = np.vstack([held, p.X[i][None, :]])
    return out or [Proposal(q) for q in space.decode_many(p.X[order[:n]])]


def tag(proposals: Sequence[Proposal], role: str | None) -> list[Proposal]:
    """``proposals`` marked with their duel ``role`` (unchanged when ``None``)."""
    if role is None:
        return list(proposals)
    return [replace(p, system_attrs={**p.system_attrs, ROLE: role}) for p in proposals]


def merged(history: History) -> tuple[History, int]:
    """``(history with the prior rows first, number of prior rows)``; the prior's values
    are mapped onto the quantiles of this study's own values (per objective) once it
    has two, else kept as they are. Without a prior: ``(history, 0)``."""
    p = history.prior
    if p is None or len(p) == 0:
        return history, 0
    _, Y = history.observed()
    Yp = p.Y.copy()
    if Y.shape[0] >= 2:
        for j in range(Yp.shape[1]):
            q = (_ranks(p.Y[:, j]) + 0.5) / len(p)
            Yp[:, j] = np.quantile(Y[:, j], q)
    return history.with_prior(Yp), len(p)
