"""Population based training (PBT): a population trained in segments, exploit and explore.

Reference: Jaderberg, Dalibard, Osindero, Czarnecki, Donahue, Razavi, Vinyals, Green,
Dunning, Simonyan, Fernando, Kavukcuoglu, "Population Based Training of Neural Networks",
arXiv:1711.09846, 2017.

How PBT fits hypersweep's boundaries (``DESIGN.md`` §3)
    PBT needs to *pause* a member, compare it with the population, and *resume* it --
    with its own weights and hyperparameters, or with a better member's weights and
    perturbed hyperparameters. hypersweep keeps trials immutable once finished, so a
    pause is the end of a trial and a resume is a new trial (Syne Tune's "resume trial N,
    optionally with a new config", ``EXEMPLARS.md`` §2). Each trial of a PBT study is one
    *segment*: one member trained for ``perturbation_interval`` steps.

    * :class:`PBTSampler` (``sampler: pbt``) proposes segments. The first
      ``population_size`` proposals draw members from the prior. After that each proposal
      advances one *ready* member (its newest segment has ended): the one with the lowest
      generation, then the lowest member index, so rounds stay in step. The member's
      segment is ranked by the study's first objective against the other members' finished
      segments of the same generation (the values at the same step). If it is in the worst
      ``quantile_fraction`` it is replaced (*exploit*): the new segment starts from the
      checkpoint of a member drawn from the best ``quantile_fraction``, with that member's
      parameters perturbed (*explore*, :func:`perturb`). Otherwise it continues from its own
      checkpoint with its own parameters. A failed segment counts as the worst (when no
      member of its generation has a value to copy, a fresh member takes its place).
      Once every member has trained to ``max_steps`` the sampler raises
      :class:`~hypersweep.errors.SpaceExhausted` and the study ends; while members are
      still running and none is idle it raises the same, and the runner waits for a
      running trial to end before asking again. Enqueued trials carry no lineage and
      are not members.
    * :class:`~hypersweep.stopping.pbt.PBTPolicy` (``early_stopping: pbt``) ends a segment:
      it stops a trial at its first report at or past its budget. A function that trains
      exactly to ``trial.budget`` and returns needs no policy.
    * Executors give every trial a checkpoint directory and, for a segment that resumes,
      the checkpoint directory of the trial it resumes (see below). They know nothing about
      PBT: they read the trial's ``resume_from`` and ``budget`` fields.

    Every decision is a pure function of the history (trial states, values, reports and
    the lineage stored on each trial) and the ``rng``: nothing lives in the sampler between
    calls, so a study resumes after a crash, and several workers can share one study
    (each proposal carries a de-duplication key, ``pbt:m<member>:after<trial>``, so two
    workers never advance the same member twice).

What a segment's trial carries
    * ``system_attrs["pbt"]``: the lineage ``{"member": m, "generation": g, "parent": p, "step": s,
      "exploit": bool}``: member ``m``'s ``g``-th segment, which starts from trial ``p``'s
      checkpoint (``None``: a fresh member) saved at step ``s``; ``exploit`` tells whether
      ``p`` was another, better member (then the parameters are ``p``'s, perturbed).
    * ``resume_from``: the trial number whose checkpoint to start from (``None`` when fresh).
    * ``budget``: the step at which this segment ends, ``s + perturbation_interval`` (capped
      by ``max_steps``): ``trial.budget``, ``HYPERSWEEP_BUDGET``, ``hypersweep.budget()``.

    :func:`lineage` follows ``parent`` back to the first segment: the schedule of
    hyperparameters the best member was trained with.

Checkpoints (the in-trial side, :mod:`hypersweep.sdk`)
    Every trial has a checkpoint directory ``<runs_dir>/<study>/<trial number>/checkpoint``
    (``trial.checkpoint_dir``, ``hypersweep.checkpoint_dir()``, ``HYPERSWEEP_CHECKPOINT_DIR``),
    for function and command trials alike, and a segment that resumes is told the
    directory to restore from (``trial.restore_from``, ``hypersweep.restore_from()``,
    ``HYPERSWEEP_RESTORE_FROM``; ``None`` when fresh). The trial

    1. loads its state (weights, optimizer, *and the step*) from ``restore_from`` if set,
    2. trains from that step on, reporting steps that continue the parent's count,
    3. saves its state to its checkpoint directory *before* each report (a report may end
       the trial), up to its ``budget``.

    Steps count resource used (step ``s`` = ``s`` steps done), as for ASHA's rungs: a fresh
    member trains steps ``1 .. interval``; its successor ``interval + 1 .. 2 * interval``.

Example:
    >>> import hypersweep as hs
    >>> study = hs.Study("doc-pbt", space={"lr": hs.Float(1e-3, 1.0, log=True)},
    ...                  objective={"metric": "score", "goal": "maximize"}, storage="memory",
    ...                  sampler={"name": "pbt", "population_size": 4,
    ...                           "perturbation_interval": 2, "max_steps": 6},
    ...                  policy="pbt", seed=0)
    >>> first = study.ask(4)
    >>> [t.system_attrs["pbt"]["member"] for t in first], first[0].budget
    ([0, 1, 2, 3], 2)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hypersweep._validate import check_int, check_number
from hypersweep.errors import SpaceExhausted
from hypersweep.history import COMPLETED, FAILED, STOPPED, History
from hypersweep.samplers.base import Proposal, Sampler
from hypersweep.space import Float, Int, Space
from hypersweep.trial import Trial

__all__ = ["PBTSampler", "lineage", "perturb"]

#: The explore step's factors for numeric parameters (Jaderberg et al. 2017, §4).
FACTORS = (0.8, 1.2)
_PATH = "sampler"


def perturb(
    space: Space,
    params: Mapping[str, Any],
    rng: np.random.Generator,
    resample_probability: float = 0.25,
    factors: Sequence[float] = FACTORS,
) -> dict[str, Any]:
    """PBT's *explore* step: a perturbed copy of ``params``.

    * Numbers (:class:`~hypersweep.space.Float`, :class:`~hypersweep.space.Int`,
      :class:`~hypersweep.space.Normal`): multiplied in value space by a factor drawn
      uniformly from ``factors``, clipped to the bounds and rounded to the parameter's
      step. An integer or stepped value that rounding would leave unchanged moves one
      step in the factor's direction instead (so ``Int(1, 4)`` at 1 can still grow).
    * Choices (and booleans): resampled from the prior (uniform over the options) with
      probability ``resample_probability``, else kept. A group option that changes
      activates its sub-parameters, drawn from the prior.
    * Fixed values are kept.

    Args:
        space: the search space.
        params: a valid configuration of ``space``.
        rng: the random generator.
        resample_probability: the probability to resample each choice.
        factors: the multiplicative factors for numbers.

    Returns:
        A valid configuration (plain Python values).

    Example:
        >>> import numpy as np
        >>> from hypersweep.space import Float
        >>> sp = Space({"lr": Float(1e-4, 1.0, log=True)})
        >>> new = perturb(sp, {"lr": 0.01}, np.random.default_rng(0))
        >>> round(new["lr"] / 0.01, 6) in (0.8, 1.2)
        True
    """
    old = space.validate(params)
    u = space.encode(old)
    # 1. structure: resample choices, top down; newly active columns come from the prior
    active = space.active_mask(u)[0]
    for j, c in enumerate(space.columns):
        if not active[j]:
            u[j] = np.nan
            continue
        fresh = np.isnan(u[j])  # newly active: from the prior
        if fresh or (c.param.n_options and rng.random() < resample_probability):
            u[j] = rng.random()
            if c.param.n_options and space.is_conditional:
                active = space.active_mask(u)[0]
    new = space.decode(u)
    # 2. numbers that were already active: multiply by a factor; a stepped or integer
    #    value is rounded (and clipped) by a round trip through the encoding, a continuous
    #    one only clipped, so the factor stays exact
    moved: dict[str, tuple[float, float]] = {}
    # a name shared by branches: only the column active before and after
    both = (space.active_mask(space.encode(old)) & space.active_mask(space.encode(new)))[0]
    params = {}
    for j, c in enumerate(space.columns):
        if c.param.n_options or c.name not in old or c.name not in new or not both[j]:
            continue
        params[c.name] = c.param
        moved[c.name] = (float(old[c.name]), float(factors[int(rng.integers(len(factors)))]))
    stepped = {k: v for k, v in moved.items() if getattr(params[k], "step", None) is not None}
    if stepped:
        new = _snap(space, {**new, **{k: x * f for k, (x, f) in stepped.items()}})
        bumped = False
        for name, (x, f) in stepped.items():
            if new[name] != old[name] or f == 1.0:
                continue
            param = params[name]
            up = (x * f > x) if x != 0 else f > 1.0
            y = x + param.step if up else x - param.step
            if isinstance(param, (Float, Int)):
                y = min(max(y, param.low), param.high)
            if y == x or (getattr(param, "log", False) and y <= 0):
                continue
            new[name] = y
            bumped = True
        if bumped:
            new = _snap(space, new)
    for name, (x, f) in moved.items():
        if name in stepped:
            continue
        param = params[name]
        y = x * f
        if isinstance(param, Float):
            y = min(max(y, param.low), param.high)
        new[name] = y
    return space.validate(new)


def _snap(space: Space, params: dict[str, Any]) -> dict[str, Any]:
    """Clip to the bounds and round to the steps: decode the encoding of ``params``."""
    return space.decode(space.encode(params))


@dataclass(frozen=True)
class _Segment:
    """One PBT trial, as the sampler reads it from the history."""

    number: int
    member: int
    generation: int
    end: int  # its budget
    state: int
    y: float  # signed first objective (lower is better); NaN: none
    valid: bool
    trial: Trial

    @property
    def finished(self) -> bool:
        return self.state in (COMPLETED, STOPPED, FAILED)

    @property
    def usable(self) -> bool:
        """Ended with a value and parameters that fit the space: it can be ranked, copied."""
        return self.state in (COMPLETED, STOPPED) and self.valid and not math.isnan(self.y)

    @property
    def step(self) -> int:
        """The step its checkpoint holds: its last report, else its budget."""
        last = self.trial.last_step
        return int(last) if last is not None else self.end


class _Lineage:
    """Every trial's member, generation and budget as arrays (``-1``: not a PBT trial).

    A trial's lineage is written once, when the trial is created, so each row is parsed
    once; :meth:`refresh` reads only the rows added since the last call (and rows that
    were still empty then).
    """

    def __init__(self, history: History, interval: int) -> None:
        self.history = history
        self.interval = interval
        self.member = np.full(0, -1, dtype=np.int64)
        self.gen = np.full(0, -1, dtype=np.int64)
        self.end = np.full(0, -1, dtype=np.int64)
        self.gaps: set[int] = set()

    def refresh(self) -> None:
        trials = self.history.trials
        n, m = len(trials), self.member.size
        if n > m:
            pad = np.full(n - m, -1, dtype=np.int64)
            self.member = np.concatenate([self.member, pad])
            self.gen = np.concatenate([self.gen, pad])
            self.end = np.concatenate([self.end, pad])
        for i in [*sorted(self.gaps), *range(m, n)]:
            t = trials[i]
            self.gaps.discard(i)
            if t is None:
                self.gaps.add(i)
                continue
            lin = t.system_attrs.get("pbt")
            if not isinstance(lin, Mapping):
                continue
            member, gen = _int_attr(lin, "member"), _int_attr(lin, "generation")
            if member is None or gen is None:
                continue
            budget = _as_int(t.budget)
            self.member[i], self.gen[i] = member, gen
            self.end[i] = (
                budget if budget is not None else ((_int_attr(lin, "step") or 0) + self.interval)
            )

    def segment(self, i: int) -> _Segment:
        h = self.history
        y = float(h.Y[i, 0]) if h.Y.shape[1] else math.nan
        return _Segment(
            number=i,
            member=int(self.member[i]),
            generation=int(self.gen[i]),
            end=int(self.end[i]),
            state=int(h.state[i]),
            y=y,
            valid=bool(h.valid[i]),
            trial=h.trials[i],
        )

    def newest(self, rows: np.ndarray) -> np.ndarray:
        """The newest row of each member among ``rows`` (by member index)."""
        if rows.size == 0:
            return rows
        best = np.full(int(self.member[rows].max()) + 1, -1, dtype=np.int64)
        np.maximum.at(best, self.member[rows], rows)
        return best[best >= 0]

    def heads(self) -> list[_Segment]:
        """Each member's newest trial."""
        return [self.segment(int(i)) for i in self.newest(np.flatnonzero(self.member >= 0))]

    def peers(self, generation: int) -> list[_Segment]:
        """Each member's newest usable trial of ``generation``."""
        h = self.history
        n = self.member.size
        ok = np.isin(h.state[:n], (COMPLETED, STOPPED)) & h.valid[:n]
        ok &= ~np.isnan(h.Y[:n, 0]) if h.Y.shape[1] else False
        rows = np.flatnonzero(ok & (self.gen == generation) & (self.member >= 0))
        return [self.segment(int(i)) for i in self.newest(rows)]


def _int_attr(d: Mapping[str, Any], key: str) -> int | None:
    return _as_int(d.get(key))


def _as_int(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        return None
    return int(v)


class PBTSampler(Sampler):
    """Population based training (Jaderberg et al. 2017) as a sampler of segments.

    See the module documentation for the design, the lineage stored on each trial and the
    checkpoint protocol. Use it with the ``pbt`` stopping policy (or a function that stops
    at ``trial.budget``).

    Args:
        population_size: how many members train side by side. Asking for more trials at
            once than members are idle adds members (drawn from the prior), so the
            population is the larger of this and the number of trials run at once.
        perturbation_interval: the steps each segment trains between two exploit/explore
            decisions.
        quantile_fraction: the worst fraction of a generation is replaced by copies of
            the best fraction (``0 < q <= 0.5``).
        resample_probability: the probability that a choice is resampled when a copy is
            perturbed (see :func:`perturb`).
        max_steps: the step at which a member is done; once every member is done the
            sampler has nothing left to propose and the study ends. ``None``: no end (use
            ``max_trials`` or a timeout).
        seed: unused (every random draw comes from the study's generator); accepted like
            every sampler's.

    Raises:
        SpecError: an option out of range (naming the option).
    """

    name = "pbt"
    allows_repeats = True  # a segment may continue its member's parameters
    uses_reports = True

    def __init__(
        self,
        population_size: int = 8,
        perturbation_interval: int = 5,
        quantile_fraction: float = 0.25,
        resample_probability: float = 0.25,
        max_steps: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.population_size = check_int(f"{_PATH}.population_size", population_size, 2)
        self.perturbation_interval = check_int(
            f"{_PATH}.perturbation_interval", perturbation_interval, 1
        )
        self.quantile_fraction = check_number(
            f"{_PATH}.quantile_fraction", quantile_fraction, gt=0.0, le=0.5
        )
        self.resample_probability = check_number(
            f"{_PATH}.resample_probability", resample_probability, ge=0.0, le=1.0
        )
        self.max_steps = (
            None if max_steps is None else check_int(f"{_PATH}.max_steps", max_steps, 1)
        )
        self._cache: _Lineage | None = None

    def config(self) -> dict[str, Any]:
        out = super().config()
        out.update(
            population_size=self.population_size,
            perturbation_interval=self.perturbation_interval,
            quantile_fraction=self.quantile_fraction,
            resample_probability=self.resample_probability,
        )
        if self.max_steps is not None:
            out["max_steps"] = self.max_steps
        return out

    # ------------------------------------------------------------------------------------
    def _lineage(self, history: History) -> _Lineage:
        """The refreshed lineage cache of ``history`` (rebuilt for another history)."""
        c = self._cache
        if c is None or c.history is not history or c.interval != self.perturbation_interval:
            c = self._cache = _Lineage(history, self.perturbation_interval)
        c.refresh()
        return c

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}  # a cache is rebuilt, never shipped

    def _budget(self, start: int) -> int:
        end = start + self.perturbation_interval
        return end if self.max_steps is None else min(end, self.max_steps)

    def _done(self, head: _Segment) -> bool:
        return self.max_steps is not None and head.usable and head.step >= self.max_steps

    def _proposal(
        self,
        params: dict[str, Any],
        member: int,
        generation: int,
        parent: _Segment | None,
        exploit: bool,
        after: int | None,
    ) -> Proposal:
        start = 0 if parent is None else parent.step
        lin = {
            "member": member,
            "generation": generation,
            "parent": None if parent is None else parent.number,
            "step": start,
            "exploit": exploit,
        }
        key = f"pbt:m{member}:" + ("new" if after is None else f"after{after}")
        return Proposal(
            dict(params),
            key=key,
            system_attrs={"pbt": lin},
            budget=self._budget(start),
            resume_from=None if parent is None else parent.number,
        )

    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        lin = self._lineage(history)
        heads = {h.member: h for h in lin.heads()}
        busy = {m for m, h in heads.items() if not h.finished}
        done = {m for m, h in heads.items() if h.finished and self._done(h)}
        next_member = max(heads) + 1 if heads else 0
        out: list[Proposal] = []
        for _ in range(n):
            ready = [h for m, h in heads.items() if m not in busy and m not in done]
            if next_member < self.population_size or (not ready and not done):
                # fill the population (or grow it: every member is busy)
                params = space.sample(rng, 1)[0]
                out.append(self._proposal(params, next_member, 0, None, False, None))
                busy.add(next_member)
                next_member += 1
                continue
            if not ready:
                break
            head = min(ready, key=lambda h: (h.generation, h.member))
            out.append(self._advance(space, head, lin.peers(head.generation), rng))
            busy.add(head.member)
        if not out:
            running = len(busy)
            if running:
                raise SpaceExhausted(
                    f"PBT: waiting for {running} running member(s); "
                    f"{len(done)} of {len(heads)} members have reached max_steps="
                    f"{self.max_steps}"
                )
            raise SpaceExhausted(
                f"PBT: all {len(heads)} members have trained to max_steps={self.max_steps}"
            )
        return out

    def _advance(
        self,
        space: Space,
        head: _Segment,
        peers: list[_Segment],
        rng: np.random.Generator,
    ) -> Proposal:
        """The next segment of ``head``'s member: continue it, or exploit and explore."""
        ranked = sorted(peers, key=lambda s: (s.y, s.number))
        k = math.floor(len(ranked) * self.quantile_fraction)
        gen = head.generation + 1
        if head.usable:
            better = sum(s.y < head.y for s in ranked)
            if k < 1 or better < len(ranked) - k:  # not in the worst quantile: continue
                return self._proposal(
                    head.trial.params, head.member, gen, head, False, head.number
                )
        elif not ranked:  # failed, nobody to copy: a fresh member in its place
            params = space.sample(rng, 1)[0]
            return self._proposal(params, head.member, 0, None, False, head.number)
        top = ranked[: max(k, 1)]
        donor = top[int(rng.integers(len(top)))]
        params = perturb(space, donor.trial.params, rng, self.resample_probability)
        return self._proposal(params, head.member, donor.generation + 1, donor, True, head.number)


def lineage(trials: Sequence[Trial | None], number: int) -> list[Trial]:
    """The chain of PBT segments that led to trial ``number``, first segment first.

    Each trial's parameters are those it trained with from its ``pbt.step`` on, so the
    chain is the hyperparameter schedule of that trial's weights.

    Args:
        trials: the study's trials indexed by number (``study.trials()`` or
            ``study.history.trials``).
        number: the trial to trace back.

    Example:
        >>> from hypersweep.trial import TrialState
        >>> ts = [Trial(0, TrialState.STOPPED, {"lr": 0.1}, system_attrs={"pbt": {
        ...           "member": 0, "generation": 0, "parent": None}}),
        ...       Trial(1, TrialState.STOPPED, {"lr": 0.08}, system_attrs={"pbt": {
        ...           "member": 1, "generation": 1, "parent": 0}})]
        >>> [t.params["lr"] for t in lineage(ts, 1)]
        [0.1, 0.08]
    """
    by_number = {t.number: t for t in trials if t is not None}
    chain: list[Trial] = []
    seen: set[int] = set()
    cur: int | None = number
    while cur is not None and cur in by_number and cur not in seen:
        seen.add(cur)
        t = by_number[cur]
        chain.append(t)
        lin = t.system_attrs.get("pbt")
        cur = _int_attr(lin, "parent") if isinstance(lin, Mapping) else None
    return chain[::-1]
