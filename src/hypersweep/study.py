"""The study: ask / tell / report over a storage, a sampler and a stopping policy.

The study is orchestration only. It keeps no state the storage does not have, except a
:class:`~hypersweep.history.History` cache that it refreshes incrementally (only
trials changed since its last watermark) before every decision.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from hypersweep._sequence import Repeats, proposal_rng
from hypersweep.constraints import Constraint, parse_constraints
from hypersweep.cost import with_cost
from hypersweep.errors import (
    DuplicateTrialError,
    HypersweepError,
    MaxTrialsReached,
    SpaceExhausted,
)
from hypersweep.history import History
from hypersweep.samplers import make_sampler
from hypersweep.samplers.base import Sampler
from hypersweep.sdk import check_step, clean_metrics
from hypersweep.space import Space
from hypersweep.stopping import make_policy
from hypersweep.stopping.base import Decision, Policy
from hypersweep.storage import Storage, open_storage
from hypersweep.study_cache import TrialCache
from hypersweep.study_dbr import DefineByRun
from hypersweep.study_optimize import StudyOptimize
from hypersweep.study_setup import (
    ObjectiveLike,
    check_study_args,
    make_worker_id,
    must_exist,
    open_record,
    recover_lost,
    study_seed,
)
from hypersweep.study_transfer import StudyTransfer
from hypersweep.study_view import StudyView
from hypersweep.trial import Objective, Trial, TrialState, coerce_values

__all__ = ["Study"]

log = logging.getLogger("hypersweep")


class Study(DefineByRun, StudyView, StudyTransfer, StudyOptimize):
    """A named optimization: a space, one or more objectives, and every trial so far.

    Creating a study with the name of an existing one resumes it (same objectives
    required). ``Study("name")`` with no space: as stored, or a new define-by-run study.

    Args:
        name: the study name (letters, digits, ``_ . -``).
        space: a :class:`~hypersweep.space.Space`, or a dict of parameters in any form.
        objective: a metric name, an :class:`~hypersweep.trial.Objective`, a
            ``{metric, goal}`` mapping, or a list of these (multi-objective). Default: minimize
            ``"value"``.
        sampler: a :class:`~hypersweep.samplers.Sampler`, a registry name, or
            ``{name: ..., option: ...}``. Default: ``auto`` where available, else random.
        policy: an early-stopping :class:`~hypersweep.stopping.Policy`, a registry name, or
            ``{policy: median, delay: 5, ...}``; ``None``: no early stopping. The study
            binds it to its objectives (:meth:`~hypersweep.stopping.Policy.bind`).
        storage: a storage URL or instance; default ``sqlite:///.hypersweep/studies.db``.
        seed: the study seed: every proposal's randomness is derived from it and the
            number of trials the study holds (:mod:`hypersweep._sequence`), so a resumed
            study or an extra process continues the sequence. ``None``: the sampler's
            seed if it has one, else the seed stored with the study (drawn at random
            once, when the study is created). A sampler passed in is never changed: the
            study proposes with a copy, seeded with this seed where the sampler has none
            (:meth:`~hypersweep.samplers.Sampler.with_seed`).
        extend_space: resuming a study whose stored space differs from ``space`` is
            refused (one line naming what changed) unless this is True: then ``space``
            becomes the study's space. Every earlier trial stays in the study: counted by
            ``max_trials``, listed by ``trials``/``status``/``export``, and eligible as
            ``best_trial`` (an earlier, better trial is never hidden). Trials whose
            parameters do not fit the new space (a parameter added, removed or narrowed)
            are left out of the sampler's model (``history.valid`` is False for them; no
            value is made up for a missing parameter); :meth:`outside_space` lists them.
        constraints: metrics with bounds, ``[{"metric": "gpu_mem_gb", "max": 16}, ...]``
            (see :mod:`hypersweep.constraints`); stored with the study, so ``None`` keeps
            the stored ones. A trial that violates one is infeasible: kept, never best.

    Example:
        >>> import hypersweep as hs
        >>> study = hs.Study("doc-quad", space={"x": hs.Float(-2, 2)}, storage="memory",
        ...                  seed=0)
        >>> for _ in range(20):
        ...     t = study.ask()
        ...     _ = study.tell(t, (t.params["x"] - 1) ** 2)
        >>> abs(study.best_params["x"] - 1) < 0.25
        True
    """

    def __init__(
        self,
        name: str,
        space: Space | Mapping[str, Any] | None = None,
        objective: ObjectiveLike | Sequence[ObjectiveLike] | None = None,
        *,
        sampler: Sampler | str | Mapping[str, Any] | None = None,
        policy: Policy | str | Mapping[str, Any] | None = None,
        storage: Storage | str | None = None,
        seed: int | None = None,
        extend_space: bool = False,
        constraints: Sequence[Any] | None = None,
    ) -> None:
        check_study_args(name, seed)
        self.name = name
        self.storage = open_storage(storage)
        self.worker_id = make_worker_id()
        new_space = (
            None if space is None else (space if isinstance(space, Space) else Space(space))
        )
        rec = open_record(self.storage, name, new_space, objective, seed, extend_space)
        self._record = rec
        self._id = rec.id
        self.objectives: tuple[Objective, ...] = rec.objectives
        self.space = self._open_space(new_space, rec)
        given = make_sampler(sampler)
        self.policy = make_policy(policy)
        if self.policy is not None:
            self.policy.bind(self.objectives)
        #: the effective study seed: the one given, else the sampler's, else the stored one
        self.seed: int = study_seed(seed, given.seed, rec)
        #: the study's own copy of the sampler, seeded with the study seed where it has none
        #: (a sampler passed in is never changed)
        self.sampler = given.with_seed(self.seed)
        self._repeats = Repeats(self.space)
        self._attrs: dict[str, Any] = dict(rec.attrs)
        self.constraints: tuple[Constraint, ...] = parse_constraints(
            self._attrs.get("constraints") if constraints is None else constraints,
            objectives=self.objectives,
        )
        if constraints is not None and self._stored_constraints() != [
            c.to_dict() for c in self.constraints
        ]:
            self.set_attrs(constraints=[c.to_dict() for c in self.constraints])
        self._cache = self._new_cache()

    def _stored_constraints(self) -> list[dict[str, Any]]:
        return list(self._attrs.get("constraints") or [])

    def set_constraints(self, constraints: Sequence[Any] | None) -> None:
        """Replace the study's constraints (stored; every trial's feasibility is re-read)."""
        new = parse_constraints(constraints, objectives=self.objectives)
        if [c.to_dict() for c in new] != self._stored_constraints():
            self.set_attrs(constraints=[c.to_dict() for c in new])
        if new != self.constraints:
            self.constraints = new
            self._cache = self._new_cache()
            self.sync()

    @classmethod
    def load(cls, name: str, storage: Storage | str | None = None) -> Study:
        """Open an existing study as stored (for reading results)."""
        must_exist(store := open_storage(storage), name)
        return cls(name, storage=store)

    def _new_cache(self) -> TrialCache:
        history = History(
            self.space, self.objectives, seed=self.seed, constraints=self.constraints
        )
        history.set_prior(self._prior)  # transfer (study_transfer): kept across rebuilds
        return TrialCache(
            self.storage,
            self._id,
            history,
            constraint_metrics=[c.metric for c in self.constraints],
            bulk_reports=self.policy is not None or self.sampler.uses_reports,
        )

    # ------------------------------------------------------------------------------------
    # ask / tell / report
    # ------------------------------------------------------------------------------------
    def ask(self, n: int | None = None, *, max_trials: int | None = None) -> Any:
        """Start new trials: enqueued configurations first, then the sampler's proposals.

        Args:
            n: how many; ``None`` returns one :class:`Trial`, an integer a list of them
                (fewer than ``n`` when the sampler runs out part-way, as a grid does).
            max_trials: the study's trial budget, enforced by the storage atomically
                with numbering: no trial numbered ``max_trials`` or higher is created or
                claimed, however many processes share the study.

        Raises:
            SpaceExhausted: the sampler has nothing left (a finished grid).
            MaxTrialsReached: the study already holds ``max_trials`` trials.
        """
        k = 1 if n is None else n
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise HypersweepError(f"ask: n must be a positive integer, got {n!r}")
        look = partial(self._cache.look, self._head_only(), self.sampler.uses_reports)
        self._attrs, position, queued = look()
        out: list[Trial] = []
        budget: dict[str, Any] = {} if max_trials is None else {"max_trials": max_trials}
        if queued:
            while len(out) < k:
                t = self.storage.claim_trial(self._id, self.worker_id, **budget)
                if t is None:
                    break
                out.append(self._seeded(self._cache.absorb(t)))
        conflicts = 0
        while len(out) < k:
            at = self._history.n if position is None else position
            rng = proposal_rng(self.seed, at, conflicts)
            try:
                proposals = self._propose(rng, k - len(out))
            except SpaceExhausted:
                if out:  # hand out what was created; never leave a trial nobody holds
                    break
                raise
            if position is not None:
                proposals = self._repeats.keyed(proposals)
            elif not self.sampler.allows_repeats and not self.define_by_run:
                proposals = self._repeats.screen(proposals, self._history, rng)
            for p in proposals:
                try:
                    t = self.storage.create_trial(
                        self._id,
                        p.params,
                        state=TrialState.RUNNING,
                        worker_id=self.worker_id,
                        key=p.key,
                        system_attrs=p.system_attrs,
                        budget=p.budget,
                        resume_from=p.resume_from,
                        **budget,
                    )
                except MaxTrialsReached:
                    if out:  # hand out what was created
                        return self._asked(out, n)
                    raise
                except DuplicateTrialError:
                    conflicts += 1
                    if conflicts > 1000:
                        raise
                    self._attrs, position, _ = look()  # another process took it: look again
                    break
                out.append(self._seeded(self._cache.absorb(t)))
        return self._asked(out, n)

    def _head_only(self) -> bool:
        """Whether an ask reads only the study's head (:meth:`Storage.head
        <hypersweep.storage.base.Storage.head>`): the sampler reads no history, nothing
        screens repeats against it (an infinite space; the storage's unique key still
        refuses a repeat) and no policy decides on other trials' reports. The history
        then catches up at the next :meth:`sync` (a run syncs every second)."""
        return (
            not self.sampler.reads_history
            and self._repeats.size is None
            and self.policy is None
            and not self.define_by_run
        )

    def _resolve(self, trial: Trial | int) -> Trial:
        number = trial if isinstance(trial, int) else trial.number
        if isinstance(trial, bool) or not isinstance(number, int):
            raise HypersweepError(f"expected a Trial or a trial number, got {trial!r}")
        cached = self._history.trials
        if number >= len(cached) or cached[number] is None:
            self.sync()
            cached = self._history.trials
            if number >= len(cached) or cached[number] is None:
                raise HypersweepError(f"study {self.name!r} has no trial {number}")
        t = cached[number]  # a Trial passed in names the attempt its caller runs (fencing)
        attempt = t.attempt if isinstance(trial, int) else trial.attempt
        return t if attempt == t.attempt else t.with_(attempt=attempt)

    def tell(
        self,
        trial: Trial | int,
        values: Any = None,
        *,
        state: TrialState | str | None = None,
        error: str | None = None,
        started_at: float | None = None,
        finished_at: float | None = None,
    ) -> Trial:
        """Finish a trial.

        Args:
            trial: the trial (or its number).
            values: a number, one number per objective, or a dict of metrics holding
                every objective metric.
            state: ``COMPLETED`` (default), ``STOPPED`` (keeps the last reported value
                when ``values`` is omitted) or ``FAILED``.
            error: why it failed (implies ``FAILED``).
            started_at: when the trial's own code started (UNIX time), if later than
                when it was handed out: ``duration`` is then the trial's own time.
            finished_at: when it ended (UNIX time); default: now.

        The write names the attempt this process knows, so a late tell for an attempt
        that was retried meanwhile raises ``TrialNotRunning``.

        A value that is missing, not a number, NaN or infinite fails the trial with that
        reason (and logs a warning) instead of raising.

        Returns:
            The finished trial.

        Raises:
            TrialNotRunning: the trial has already finished.
        """
        t = self._resolve(self._learn_asked(trial))
        for key, at in (("started_at", started_at), ("finished_at", finished_at)):
            if at is not None and (
                isinstance(at, bool) or not isinstance(at, (int, float)) or not np.isfinite(at)
            ):
                raise HypersweepError(f"tell: {key} must be a UNIX time in seconds, got {at!r}")
        if state is None:
            st = TrialState.FAILED if error is not None else TrialState.COMPLETED
        else:
            try:
                st = TrialState(str(state).upper())
            except ValueError:
                raise HypersweepError(
                    f"tell: state must be COMPLETED, STOPPED or FAILED, got {state!r}"
                ) from None
            if not st.is_finished:
                raise HypersweepError(f"tell: state must be an end state, got {st}")
        vals: tuple[float, ...] | None = None
        metrics: dict[str, Any] = {}
        if st != TrialState.FAILED:
            if values is None and st == TrialState.STOPPED:
                vals = self._last_values(self._cache.complete(t))
            else:
                cost = with_cost(values, t, (started_at, finished_at), self)
                try:
                    vals, metrics = coerce_values(cost, self.objectives)
                except ValueError as e:
                    st, error = TrialState.FAILED, str(e)
                    log.warning("trial %d failed: %s", t.number, e)
        done = self.storage.finish_trial(
            self._id,
            t.id,
            st,
            values=vals,
            metrics=metrics,
            error=error,
            started_at=started_at,
            attempt=t.attempt,
            now=finished_at,
        )
        return self._cache.absorb(done)

    def requeue(self, trial: Trial | int, reason: str) -> Trial:
        """Put a RUNNING trial back in the queue for another attempt (a retry): the same
        number and parameters, ``attempt`` + 1, ``reason`` recorded in
        ``system_attrs["attempts"]``. The next :meth:`ask` of any process hands it out.

        Raises:
            TrialNotRunning: it is not RUNNING (or was retried meanwhile).
        """
        if not isinstance(reason, str) or not reason.strip():
            raise HypersweepError(f"requeue: reason must be a non-empty string, got {reason!r}")
        t = self._resolve(trial)
        return self._cache.absorb(
            self.storage.requeue_trial(self._id, t.id, reason, attempt=t.attempt)
        )

    def _last_values(self, t: Trial) -> tuple[float, ...] | None:
        out = []
        for o in self.objectives:
            v = next(
                (
                    r[o.metric]
                    for _, r in sorted(t.reports.items(), reverse=True)
                    if o.metric in r and np.isfinite(r[o.metric])
                ),
                None,
            )
            if v is None:
                return None
            out.append(float(v))
        return tuple(out)

    def report(self, trial: Trial | int, step: int | None = None, **metrics: Any) -> Decision:
        """Store intermediate metrics of a RUNNING trial and ask the stopping policy.

        Args:
            step: the step (epoch); default: the trial's last step + 1.

        Returns:
            The policy's decision (``CONTINUE`` when there is no policy).
        """
        t = self._resolve(trial)
        clean = clean_metrics(metrics)
        if step is None:
            t = self._cache.complete(t)
        step = check_step(step, max(t.reports, default=-1))
        return self.record(t.number, step, clean)

    def record(self, number: Trial | int, step: int, metrics: Mapping[str, float]) -> Decision:
        """Store a report that was checked where it entered (an executor's report event:
        ``step`` an integer >= 0, ``metrics`` floats) and ask the stopping policy.

        The policy sees the other trials' reports as of now: this reads only the reports
        stored since the last read (:meth:`Storage.reports_since`), not a full
        :meth:`sync`; trial states are as of the last sync.

        Raises:
            TrialNotRunning: the trial has finished (or was retried meanwhile).
        """
        t = self._resolve(number)
        self.storage.report(self._id, t.id, step, metrics, attempt=t.attempt)
        t = self._cache.add_report(t, step, dict(metrics))
        if self.policy is None:
            return Decision.CONTINUE
        self._cache.read_reports()
        self._cache.load_reports()
        return self.policy.decide(self._history.trials[t.number], self._history)

    def enqueue(
        self, params: Mapping[str, Any], user_attrs: Mapping[str, Any] | None = None
    ) -> Trial:
        """Queue a configuration to be run before any proposal (validated first)."""
        clean = self.space.validate(params, "enqueue")
        if user_attrs is not None:
            try:
                json.dumps(dict(user_attrs), allow_nan=False)
            except (TypeError, ValueError, RecursionError):
                raise HypersweepError(
                    "enqueue: user_attrs must be a JSON-serializable mapping"
                ) from None
        return self._cache.absorb(
            self.storage.create_trial(
                self._id, clean, state=TrialState.QUEUED, user_attrs=user_attrs
            )
        )

    def set_user_attr(self, trial: Trial | int, key: str, value: Any) -> Trial:
        """Attach a JSON-serializable attribute to a trial."""
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise HypersweepError(f"user attribute {key!r} is not JSON-serializable") from None
        t = self._resolve(trial)
        return self._cache.absorb(self.storage.set_trial_attrs(self._id, t.id, user={key: value}))

    # ------------------------------------------------------------------------------------
    # liveness
    # ------------------------------------------------------------------------------------
    def heartbeat(self, trials: Iterable[Trial | int]) -> None:
        """Refresh the heartbeat of running trials this process owns."""
        ids = [self._resolve(t).id for t in trials]
        if ids:
            self.storage.heartbeat(self._id, ids)

    def recover(self, stale_after: float = 60.0, retries: int = 0) -> list[int]:
        """Re-queue or fail ("worker lost") RUNNING trials whose worker is gone.

        A worker on this machine is gone when its process no longer exists; any other
        is gone when its trials' heartbeats are older than ``stale_after`` seconds. A lost
        trial at attempt ``<= retries`` is re-queued (same number and params), the others
        FAILED.

        Returns:
            The numbers of the trials re-queued or failed.
        """
        self.sync()
        lost = recover_lost(
            self.storage, self._id, self.name, self._history, self.worker_id, stale_after, retries
        )
        if lost:
            self.sync()
        return lost

    def stop(self, reason: str = "stop requested") -> None:
        """Ask every process running this study to stop (seen at their next sync)."""
        self.set_attrs(stop_requested=reason)

    def check(self) -> None:
        """Raise :class:`~hypersweep.errors.StorageError` when the storage is gone (an
        SQLite file deleted or replaced under the run; see :meth:`Storage.check`)."""
        self.storage.check()

    def clear_stop(self) -> None:
        """Forget an earlier stop request and stop reason (a run of the study begins)."""
        if self._attrs.get("stop_requested"):
            self.set_attrs(stop_requested=None)
        self.set_attrs(stop_reason=None)

    def set_stop_reason(self, reason: str | None) -> None:
        """Store why the last run of the study stopped (``summary()["stop_reason"]``)."""
        self.set_attrs(stop_reason=reason)

    def set_system_attrs(self, trial: Trial | int, attrs: Mapping[str, Any]) -> Trial:
        """Keep facts about a trial's run (``system_attrs``; e.g. the metric intake of a
        trial that flooded its output)."""
        t = self._resolve(trial)
        return self._cache.absorb(self.storage.set_trial_attrs(self._id, t.id, system=dict(attrs)))

    def set_attrs(self, **attrs: Any) -> None:
        """Store study attributes (JSON values, merged into :attr:`attrs`; e.g. the sweep
        file's run configuration)."""
        self._attrs = dict(self.storage.update_study(self._id, attrs=attrs).attrs)

    def __repr__(self) -> str:
        return f"Study({self.name!r}, storage={self.storage.url!r})"
