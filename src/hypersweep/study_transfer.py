"""Learning from other studies: importing finished trials, warm starts and transfer, and
trial seeds (the :class:`~hypersweep.study.Study` verbs ``add_trials``, ``warm_start``,
``transfer_from``, ``trial_seed``; see ``docs/transfer.md``).

* :meth:`StudyTransfer.add_trials` imports finished trials (another study's, or dicts of
  params and values) as trials of this study, each validated against the space.
* :meth:`StudyTransfer.warm_start` with ``mode="enqueue"`` queues the ``top`` best
  configurations of a source study (run first, as this study's own trials); with
  ``mode="prior"`` it calls :meth:`StudyTransfer.transfer_from`: the source's finished
  trials become the history's :class:`~hypersweep.history.Prior` block, which ``tpe`` and
  ``gp`` read as down-weighted observations (:mod:`hypersweep.samplers.prior`). The prior
  is not stored: the sweep file's ``warm_start`` sets it again at every run.
* :meth:`StudyTransfer.trial_seed`: every trial's seed, derived from the study seed and
  the trial number (:func:`~hypersweep._sequence.trial_seed`), or the seed a
  re-evaluation was given (``system_attrs["seed"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hypersweep._sequence import config_key, trial_seed
from hypersweep.errors import HypersweepError, SpaceError
from hypersweep.history import Prior
from hypersweep.space import Space
from hypersweep.storage import Storage, open_storage
from hypersweep.study_cache import TrialCache
from hypersweep.trial import Objective, Trial, TrialState, coerce_values

__all__ = ["MODES", "StudyTransfer", "ranked_trials"]

log = logging.getLogger("hypersweep")

#: ``warm_start.mode`` values
MODES = ("enqueue", "prior")


def ranked_trials(trials: Iterable[Trial], objectives: Sequence[Objective]) -> list[Trial]:
    """The finished trials with values (COMPLETED or STOPPED), best first: by the first
    objective, or for several objectives by non-domination rank then mean rank."""
    done = [
        t
        for t in trials
        if t.state in (TrialState.COMPLETED, TrialState.STOPPED)
        and t.values is not None
        and len(t.values) == len(objectives)
    ]
    if not done:
        return []
    Y = np.array([t.values for t in done], dtype=float) * np.array([o.sign for o in objectives])
    if Y.shape[1] == 1:
        order = np.argsort(Y[:, 0], kind="stable")
    else:
        from hypersweep._best import pareto_mask

        rank = np.zeros(len(done), dtype=int)
        left = np.arange(len(done))
        level = 0
        while left.size:
            front = left[pareto_mask(Y[left])]
            rank[front] = level
            left = np.setdiff1d(left, front, assume_unique=True)
            level += 1
        mean_rank = np.argsort(np.argsort(Y, axis=0), axis=0).mean(axis=1)
        order = np.lexsort((mean_rank, rank))
    return [done[int(i)] for i in order]


class StudyTransfer:
    """The transfer verbs of :class:`~hypersweep.study.Study` (a mixin: it reads the
    study's storage, space, objectives and cache)."""

    name: str
    storage: Storage
    space: Space
    objectives: tuple[Objective, ...]
    seed: int
    worker_id: str
    _id: int
    _cache: TrialCache
    #: the prior block given to the history (kept when the cache is rebuilt)
    _prior: Prior | None = None

    def sync(self) -> None:  # provided by StudyView
        raise NotImplementedError

    def enqueue(
        self, params: Mapping[str, Any], user_attrs: Mapping[str, Any] | None = None
    ) -> Trial:  # provided by Study
        raise NotImplementedError

    # ------------------------------------------------------------------------------------
    def trial_seed(self, trial: Trial | int) -> int:
        """The seed of a trial: ``system_attrs["seed"]`` when it has one (a
        re-evaluation), else derived from the study seed and its number."""
        if isinstance(trial, Trial):
            given = trial.system_attrs.get("seed")
            if isinstance(given, int) and not isinstance(given, bool):
                return given
            return trial_seed(self.seed, trial.number)
        return trial_seed(self.seed, int(trial))

    def _seeded(self, trial: Trial) -> Trial:
        return trial.with_(seed=self.trial_seed(trial))

    def reevaluate(self, top: int = 3, seeds: int = 3) -> list[Trial]:
        """Queue ``seeds`` new-seed runs of each of the ``top`` best trials (see
        :mod:`hypersweep.reevaluate`); they run first at the next ``optimize`` / ``run``.
        Returns the queued trials."""
        from hypersweep.reevaluate import enqueue_reevaluations

        return enqueue_reevaluations(self, top, seeds)

    def robust_ranking(self) -> list[Any]:
        """The re-evaluated configurations by mean value, best first
        (:class:`hypersweep.reevaluate.Robust` rows)."""
        from hypersweep.reevaluate import robust_ranking

        return robust_ranking(self)

    # ------------------------------------------------------------------------------------
    def add_trials(
        self, trials: Iterable[Trial | Mapping[str, Any]], *, source: str | None = None
    ) -> list[Trial]:
        """Import finished trials as trials of this study.

        Each item is a :class:`~hypersweep.trial.Trial` (of another study) or a mapping
        ``{"params": {...}, "value": v}`` / ``"values": [...]`` / ``"metrics": {...}``,
        optionally ``"state"`` (``COMPLETED``, default, or ``STOPPED``) and
        ``"user_attrs"``. Every item is checked first (params against the space, values
        against the objectives); nothing is written unless all pass. Imported trials are
        this study's trials from then on (counted by ``max_trials``, eligible as best);
        ``system_attrs["imported_from"]`` names ``source`` (or ``"add_trials"``).

        Raises:
            HypersweepError: one line naming the item (``add_trials[3]``) and the
                parameter or value that does not fit.
        """
        rows = []
        params: Any
        for i, item in enumerate(trials):
            where = f"add_trials[{i}]"
            if isinstance(item, Trial):
                params, state, attrs = item.params, item.state, dict(item.user_attrs)
                result: Any = dict(item.metrics) if item.metrics else item.values
                if isinstance(result, dict) and any(
                    o.metric not in result for o in self.objectives
                ):
                    result = item.values
                where += f" (trial {item.number})"
            elif isinstance(item, Mapping):
                unknown = set(item) - {
                    "params",
                    "value",
                    "values",
                    "metrics",
                    "state",
                    "user_attrs",
                }
                if unknown:
                    raise HypersweepError(
                        f"{where}: unknown key {sorted(unknown)[0]!r}; expected params, "
                        "value, values or metrics, state, user_attrs"
                    )
                params = item.get("params")
                state = TrialState(str(item.get("state", "COMPLETED")).upper())
                attrs = dict(item.get("user_attrs") or {})
                result = next(
                    (item[k] for k in ("metrics", "values", "value") if item.get(k) is not None),
                    None,
                )
            else:
                raise HypersweepError(
                    f"{where}: expected a Trial or a mapping, got {type(item).__name__}"
                )
            if state not in (TrialState.COMPLETED, TrialState.STOPPED):
                raise HypersweepError(
                    f"{where}: only COMPLETED or STOPPED trials can be imported, got {state}"
                )
            if not isinstance(params, Mapping):
                raise HypersweepError(f"{where}: params: expected a mapping of parameters")
            try:
                clean = self.space.validate(params, f"{where}.params")
            except SpaceError as e:
                raise HypersweepError(f"{where}: {e}") from None
            if result is None:
                raise HypersweepError(f"{where}: no value; give value, values or metrics")
            try:
                vals, metrics = coerce_values(result, self.objectives)
            except ValueError as e:
                raise HypersweepError(f"{where}: {e}") from None
            rows.append((clean, state, vals, metrics, attrs))
        out = []
        origin = source or "add_trials"
        for clean, state, vals, metrics, attrs in rows:
            t = self.storage.create_trial(
                self._id,
                clean,
                state=TrialState.RUNNING,
                worker_id=self.worker_id,
                user_attrs=attrs or None,
                system_attrs={"imported_from": origin},
            )
            done = self.storage.finish_trial(
                self._id, t.id, state, values=vals, metrics=metrics, attempt=t.attempt
            )
            out.append(self._cache.absorb(done))
        return out

    # ------------------------------------------------------------------------------------
    def _source_trials(
        self, source: str, storage: Storage | str | None, top: int | None
    ) -> list[Trial]:
        """The ranked finished trials of study ``source`` (best first; ``top`` is only
        checked here: it applies to the trials that fit, :meth:`_check_compatible`)."""
        if not isinstance(source, str) or not source:
            raise HypersweepError(f"warm_start.from: expected a study name, got {source!r}")
        if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
            raise HypersweepError(f"warm_start.top: must be an integer >= 1, got {top!r}")
        store = self.storage if storage is None else open_storage(storage)
        try:
            rec = store.get_study(source)
        except KeyError:
            raise HypersweepError(
                f"warm_start.from: no study {source!r} in {store.url}; "
                "see `hypersweep ls` for the studies there"
            ) from None
        objectives = tuple(rec.objectives)
        if [o.to_dict() for o in objectives] != [o.to_dict() for o in self.objectives]:
            mine = ", ".join(f"{o.goal} {o.metric}" for o in self.objectives)
            theirs = ", ".join(f"{o.goal} {o.metric}" for o in objectives)
            raise HypersweepError(
                f"warm_start.from: study {source!r} optimizes {theirs}, this study {mine}; "
                "transfer needs the same objectives"
            )
        return ranked_trials(store.get_trials(rec.id), objectives)

    def _check_compatible(self, source: str, trials: Sequence[Trial]) -> list[Trial]:
        """The trials whose params fit this space; an error when the parameter names
        differ or none fits (the compatible-space check)."""
        mine = set(self.space.names)
        theirs: set[str] = set()
        for t in trials:
            theirs.update(t.params)
        missing, extra = sorted(mine - theirs), sorted(theirs - mine)
        if trials and (missing or extra):
            detail = "; ".join(
                f"{what}: {', '.join(names[:5])}"
                for what, names in (("only here", missing), ("only there", extra))
                if names
            )
            raise HypersweepError(
                f"warm_start.from: study {source!r} has other parameters than this study "
                f"({detail}); transfer needs the same parameter names"
            )
        fit = []
        for t in trials:
            try:
                self.space.validate(t.params)
            except (SpaceError, TypeError, ValueError):
                continue
            fit.append(t)
        if trials and not fit:
            raise HypersweepError(
                f"warm_start.from: none of the {len(trials)} finished trials of {source!r} "
                "fits this study's space (ranges or choices differ)"
            )
        if len(fit) < len(trials):
            log.warning(
                "warm start from %r: %d of %d trials do not fit this space; left out",
                source,
                len(trials) - len(fit),
                len(trials),
            )
        return fit

    def transfer_from(
        self,
        source: str,
        *,
        storage: Storage | str | None = None,
        top: int | None = None,
        weight: float = 0.5,
    ) -> int:
        """Use study ``source``'s finished trials (the ``top`` best; default all) as prior
        observations for ``tpe`` and ``gp`` (and ``auto``): each weighs ``weight`` times an
        own trial, scaled down further as the prior proves unrelated to this study's own
        results (:func:`hypersweep.samplers.prior.effective_weight`). Held by this Study
        object only (not stored). Returns the number of prior rows."""
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not (0 < weight <= 1)
        ):
            raise HypersweepError(f"warm_start.weight: must be in (0, 1], got {weight!r}")
        trials = self._check_compatible(source, self._source_trials(source, storage, top))[:top]
        if not trials:
            self._prior = None
        else:
            X = self.space.encode_many([self.space.validate(t.params) for t in trials])
            signs = np.array([o.sign for o in self.objectives])
            Y = np.array([t.values for t in trials], dtype=float) * signs
            self._prior = Prior(X, Y, float(weight), source=source)
        self._cache.history.set_prior(self._prior)
        return 0 if self._prior is None else len(self._prior)

    def warm_start(
        self,
        source: str,
        *,
        storage: Storage | str | None = None,
        top: int | None = None,
        mode: str = "enqueue",
        weight: float = 0.5,
    ) -> int:
        """Start from what study ``source`` learned.

        ``mode="enqueue"``: queue its ``top`` best configurations (default 10) that this
        study does not hold yet; they run before any proposal. ``mode="prior"``:
        :meth:`transfer_from`. Returns how many configurations were queued (enqueue) or
        prior rows set (prior).
        """
        if mode not in MODES:
            raise HypersweepError(f"warm_start.mode: must be enqueue or prior, got {mode!r}")
        if mode == "prior":
            return self.transfer_from(source, storage=storage, top=top, weight=weight)
        trials = self._check_compatible(source, self._source_trials(source, storage, top))
        trials = trials[: 10 if top is None else top]
        self.sync()
        held = {config_key(t.params) for t in self._cache.history.trials if t is not None}
        queued = 0
        for t in trials:
            clean = self.space.validate(t.params)
            if config_key(clean) in held:
                continue
            held.add(config_key(clean))
            self.enqueue(clean, user_attrs={"warm_start": {"from": source, "trial": t.number}})
            queued += 1
        return queued
