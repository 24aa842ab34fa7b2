"""Define-by-run: objectives that declare their parameters while they run (Optuna style).

A study created without a space is *define-by-run*: its space is learned from the
objective's ``trial.suggest_*`` calls and stored with the study::

    def objective(trial):
        n_layers = trial.suggest_int("n_layers", 1, 3)
        units = [trial.suggest_int(f"n_units_l{i}", 4, 128) for i in range(n_layers)]
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        for epoch in range(10):
            acc = ...
            trial.report(acc, epoch)          # Optuna's order: value, step
            if trial.should_prune():
                raise hypersweep.TrialPruned()
        return acc

    study = hypersweep.Study("mlp", objective={"metric": "acc", "goal": "maximize"})
    study.optimize(objective, max_trials=50)

The rules:

* Each ``suggest_*`` name is a parameter of the study; its range is fixed by the first
  trial that suggests it (stored with the study, so every process and every resumed run
  sees it). Suggesting the same name again with another range or type is an error that
  names both (use a new name for a different range); Optuna instead keeps going and
  leaves such a parameter out of its relative model.
* A parameter is *active* only in the trials that suggested it (``n_units_l2`` exists only
  where ``n_layers == 3``): a trial's ``params`` hold exactly what it suggested, and the
  samplers see the others as inactive (``NaN``), as they see an unchosen branch of a
  conditional group. A parameter first suggested in trial ``k`` is inactive in the earlier
  trials.
* Every sampler proposes over the parameters known when the trial starts; a parameter
  the study does not know yet is drawn from its prior with the trial's own seed
  (``(study seed, trial number, name)``), so a re-run of a trial draws the same value.
* ``trial.report(value, step)`` reports the (first) objective metric;
  ``trial.report(step=..., metric=...)`` is hypersweep's form. The Optuna form never
  raises: ``trial.should_prune()`` says whether the policy stopped the trial, and raising
  :class:`~hypersweep.errors.TrialStopped` (alias ``hypersweep.TrialPruned``) ends it as
  STOPPED with its last reported value.
* ``trial.set_user_attr(key, value)`` is stored with the trial when it ends.

The same handle works inline, in worker processes (its suggestions travel back with the
trial's outcome) and through ask/tell (``t = study.ask(); x = t.suggest_float(...);
study.tell(t, value)``).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from hypersweep._validate import did_you_mean
from hypersweep.errors import HypersweepError, SpaceError
from hypersweep.sdk import RunningTrial
from hypersweep.space import Choice, Float, Int, Param, Space
from hypersweep.trial import Trial

if TYPE_CHECKING:
    from hypersweep.stopping.base import Decision

__all__ = [
    "DBR_ATTR",
    "AskedTrial",
    "DefineByRun",
    "DefineByRunContext",
    "DefineByRunTrial",
    "LearnedSpace",
]

log = logging.getLogger("hypersweep")

#: the study attribute that marks a define-by-run study
DBR_ATTR = "define_by_run"


class LearnedSpace(Space):
    """The space of a define-by-run study: every parameter suggested so far, each one
    optional (active only in the trials that suggested it)."""

    def __init__(self, params: Mapping[str, Any] | Space) -> None:
        super().__init__(params)
        self.is_conditional = self.dim > 0  # a column may be inactive in any row

    def validate(self, params: Mapping[str, Any], path: str = "params") -> dict[str, Any]:
        """Check the parameters a trial suggested: each known, each within its range;
        any of them may be missing."""
        if not isinstance(params, Mapping):
            raise SpaceError(path, f"expected a dict of parameters, got {type(params).__name__}")
        out: dict[str, Any] = {}
        for k, v in params.items():
            p = self.params.get(k) if isinstance(k, str) else None
            if p is None:
                raise SpaceError(
                    f"{path}.{k}", f"unknown parameter{did_you_mean(str(k), list(self.params))}"
                )
            out[k] = p.validate(v, f"{path}.{k}")
        return {k: out[k] for k in self.params if k in out}


@dataclass
class DefineByRunContext:
    """What a trial of a define-by-run study needs to answer ``suggest_*`` calls: the
    study's learned space (as stored), its seed and the objective metric that
    ``report(value, step)`` names. The study replaces ``spec`` when it learns."""

    spec: dict[str, Any]
    seed: int
    metric: str
    n_objectives: int = 1

    def payload(self) -> tuple[dict[str, Any], int, str, int]:
        return (self.spec, self.seed, self.metric, self.n_objectives)


def _spec_of(p: Param) -> Any:
    return json.loads(json.dumps(p.to_spec()))


class Suggestions:
    """The suggest_* bookkeeping of one trial: the proposal, what was suggested, and the
    parameters the study did not know yet."""

    def __init__(
        self,
        number: int,
        proposal: Mapping[str, Any],
        payload: tuple[dict[str, Any], int, str, int],
    ) -> None:
        self.number = number
        self.proposal = proposal
        self.known, self.seed, self.metric, self.n_objectives = payload
        self.params: dict[str, Any] = {}
        self.specs: dict[str, Any] = {}
        self.new: dict[str, Any] = {}
        self.user_attrs: dict[str, Any] = {}

    def suggest(self, call: str, name: str, make: Callable[[], Param]) -> Any:
        if not isinstance(name, str):
            raise HypersweepError(f"{call}: the name must be a string, got {name!r}")
        try:
            p = make()
        except SpaceError as e:
            raise HypersweepError(f"{call}({name!r}): {e.args[0] if e.args else e}") from None
        spec = _spec_of(p)
        if name in self.params:
            if self.specs[name] != spec:
                raise self._conflict(call, name, self.specs[name], spec, "this trial")
            return self.params[name]
        known = self.known.get(name)
        if known is not None and known != spec:
            raise self._conflict(call, name, known, spec, "this study")
        if known is not None and name in self.proposal:
            value = self.proposal[name]
        else:
            import numpy as np

            key = zlib.crc32(name.encode("utf-8"))
            rng = np.random.default_rng([self.seed, self.number, key])
            value = Space({name: p}).sample(rng, 1)[0][name]
            if known is None:
                self.new[name] = spec
        self.params[name] = value
        self.specs[name] = spec
        return value

    @staticmethod
    def _conflict(call: str, name: str, old: Any, new: Any, where: str) -> HypersweepError:
        return HypersweepError(
            f"{call}({name!r}): {where} already has {name!r} as {old}, not {new}; a "
            "parameter keeps one range and type for the whole study: give the other "
            f"range its own name (e.g. {name + '_2'!r})"
        )

    def record(self) -> dict[str, Any]:
        """What the study learns from this trial (see :meth:`DefineByRun.learn`)."""
        return {"params": dict(self.params), "new": dict(self.new), "user_attrs": self.user_attrs}

    def metric_for_report(self) -> str:
        if self.n_objectives != 1:
            raise HypersweepError(
                "report(value, step): a multi-objective study takes named metrics: "
                "report(step=..., metric=value)"
            )
        return self.metric


class _SuggestApi:
    """suggest_* in Optuna's signatures, over a :class:`Suggestions`."""

    _s: Suggestions

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """A float in ``[low, high]`` (``log``: log-uniform; ``step``: on a grid)."""
        return float(
            self._s.suggest("suggest_float", name, lambda: Float(low, high, log=log, step=step))
        )

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        """An integer in ``[low, high]`` (both included)."""
        return int(
            self._s.suggest("suggest_int", name, lambda: Int(low, high, log=log, step=step))
        )

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """One of ``choices`` (``None``, bools, numbers, strings)."""
        return self._s.suggest("suggest_categorical", name, lambda: Choice(list(choices)))

    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        """Optuna's older name for ``suggest_float(name, low, high)``."""
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        """Optuna's older name for ``suggest_float(name, low, high, log=True)``."""
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        """Optuna's older name for ``suggest_float(name, low, high, step=q)``."""
        return self.suggest_float(name, low, high, step=q)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Keep a JSON-serializable attribute with the trial (stored when it ends)."""
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise HypersweepError(f"user attribute {key!r} is not JSON-serializable") from None
        self._s.user_attrs[str(key)] = value

    @property
    def distributions(self) -> dict[str, Any]:
        """Each suggested parameter's range, in the sweep-file long form."""
        return dict(self._s.specs)


class DefineByRunTrial(_SuggestApi, RunningTrial):
    """The ``trial`` an objective of a define-by-run study receives (inline or in a
    worker process). ``params`` holds what it suggested so far."""

    def __init__(
        self,
        number: int,
        proposal: Mapping[str, Any],
        send: Callable[[int, dict[str, float]], bool],
        budget: float | None,
        checkpoint_dir: str | None,
        restore_from: str | None,
        seed: int | None,
        payload: tuple[dict[str, Any], int, str, int],
    ) -> None:
        super().__init__(number, {}, send, budget, checkpoint_dir, restore_from, seed)
        self._s = Suggestions(number, proposal, payload)
        self.params = self._s.params  # what was suggested so far (live)

    def report(self, value: Any = None, step: int | None = None, **metrics: Any) -> None:  # type: ignore[override]
        """``report(value, step)`` (Optuna's form: the objective metric; never raises,
        see :meth:`should_prune`) or ``report(step=..., metric=...)`` (hypersweep's form:
        raises :class:`~hypersweep.errors.TrialStopped` when stopped)."""
        if metrics:
            if value is not None and step is not None:
                raise HypersweepError(
                    "report: give report(value, step) or report(step, **metrics)"
                )
            super().report(step if value is None else value, **metrics)
            return
        if value is None:
            raise HypersweepError("report: give a value, report(value, step)")
        try:
            super().report(step, **{self._s.metric_for_report(): value})
        except Exception as e:
            from hypersweep.errors import TrialStopped

            if not isinstance(e, TrialStopped):
                raise

    def should_prune(self) -> bool:
        """True once the stopping policy (or a step limit) has stopped this trial: end it,
        e.g. ``raise hypersweep.TrialPruned()``."""
        return self.should_stop()

    @property
    def user_attrs(self) -> dict[str, Any]:
        """The attributes set so far."""
        return dict(self._s.user_attrs)

    def suggestions(self) -> dict[str, Any]:
        return self._s.record()


@dataclass(frozen=True)
class AskedTrial(_SuggestApi, Trial):
    """What :meth:`Study.ask` hands out in a define-by-run study: the trial (its
    ``params`` are the proposal; what it suggests is stored when it is told) with
    ``suggest_*``, ``report(value, step)``, ``should_prune`` and ``set_user_attr``."""

    @classmethod
    def of(cls, trial: Trial, study: Any, payload: tuple[dict[str, Any], int, str, int]) -> Any:
        t = cls(**{f.name: getattr(trial, f.name) for f in fields(trial)})
        object.__setattr__(t, "_s", Suggestions(trial.number, trial.params, payload))
        object.__setattr__(t, "_study", study)
        object.__setattr__(t, "_pruned", False)
        return t

    def report(self, value: Any = None, step: int | None = None, **metrics: Any) -> Decision:
        """Report to the study now (as :meth:`Study.report`); ``report(value, step)``
        names the objective metric. Returns the policy's decision."""
        from hypersweep.stopping.base import Decision

        if not metrics:
            if value is None:
                raise HypersweepError("report: give a value, report(value, step)")
            metrics = {self._s.metric_for_report(): value}
        elif value is not None:
            step = value if step is None else step
        d = self._study.report(self.number, step, **metrics)  # type: ignore[attr-defined]
        if d == Decision.STOP:
            object.__setattr__(self, "_pruned", True)
        return d

    def should_prune(self) -> bool:
        """True once the policy has answered STOP to a report of this trial."""
        return bool(self._pruned)  # type: ignore[attr-defined]

    def suggestions(self) -> dict[str, Any]:
        return self._s.record()


class DefineByRun:
    """The define-by-run side of :class:`~hypersweep.study.Study` (a base class: the
    study's ask/tell call these hooks)."""

    #: True for a study created without a space (its space is learned)
    define_by_run: bool = False

    def _open_space(self, new_space: Space | None, rec: Any) -> Space:
        """The study's space: the one given, else the stored one (learned, for a
        define-by-run study)."""
        self.define_by_run = new_space is None and bool(rec.attrs.get(DBR_ATTR))
        self._dbr_invalid = 0
        if new_space is not None:
            return new_space
        if self.define_by_run:
            return LearnedSpace(rec.space or {})
        return Space(rec.space or {})

    def _dbr_context(self) -> DefineByRunContext | None:
        """The context a define-by-run study's trials need (``None`` otherwise)."""
        if not self.define_by_run:
            return None
        s: Any = self
        ctx: DefineByRunContext | None = getattr(self, "_dbr_ctx", None)
        if ctx is None:
            ctx = DefineByRunContext(
                s.space.to_spec(), s.seed, s.objectives[0].metric, len(s.objectives)
            )
            self._dbr_ctx = ctx
        return ctx

    def _propose(self, rng: Any, n: int) -> list[Any]:
        """The sampler's proposals; a define-by-run study that knows no parameter yet
        proposes empty configurations (each trial then draws what it suggests)."""
        s: Any = self
        if not self.define_by_run:
            return s.sampler.propose(s.space, s._history, rng, n)
        self._dbr_refresh()
        if not s.space.dim:
            from hypersweep.samplers.base import Proposal

            return [Proposal({}) for _ in range(n)]
        # a proposal's key (a grid cell, a Sobol index) names the full configuration; the
        # trial keeps only what it suggests, so keys would collide: none are kept
        return [replace(p, key=None) for p in s.sampler.propose(s.space, s._history, rng, n)]

    def _asked(self, out: list[Trial], n: int | None) -> Any:
        if self.define_by_run:
            ctx = self._dbr_context()
            assert ctx is not None
            out = [AskedTrial.of(t, self, ctx.payload()) for t in out]
        return out[0] if n is None else out

    def _dbr_refresh(self) -> None:
        """Take in parameters another process learned: trials that suggested them do not
        fit this process's copy of the space."""
        s: Any = self
        bad = int((~s._history.valid).sum())
        if bad > self._dbr_invalid:
            self._dbr_invalid = bad
            stored = s.storage.get_study(s.name).space or {}
            if stored != s.space.to_spec():
                self._adopt_space(stored)

    def _adopt_space(self, spec: Mapping[str, Any]) -> None:
        s: Any = self
        from hypersweep._sequence import Repeats

        s.space = LearnedSpace(dict(spec))
        s._repeats = Repeats(s.space)
        s._cache = s._new_cache()
        s.sync()
        self._dbr_invalid = int((~s._history.valid).sum())
        ctx = self._dbr_context()
        if ctx is not None:
            ctx.spec = s.space.to_spec()

    def learn(self, trial: Trial | int, suggested: Mapping[str, Any]) -> Trial:
        """Store what a define-by-run trial suggested: its parameters (exactly those it
        suggested), the parameters new to the study (added to the stored space) and its
        user attributes.

        Args:
            suggested: ``{"params": {...}, "new": {name: spec}, "user_attrs": {...}}``
                (what the trial handle recorded).
        """
        s: Any = self
        t: Trial = s._resolve(trial)
        attempt = t.attempt
        new = dict(suggested.get("new") or {})
        if new:
            stored = dict(s.storage.get_study(s.name).space or {})
            merged = dict(stored)
            for name, spec in new.items():
                if name not in merged:
                    merged[name] = spec
                elif merged[name] != spec:
                    log.warning(
                        "study %r: trial %d suggested %r as %s, but the study has %s",
                        s.name,
                        t.number,
                        name,
                        spec,
                        merged[name],
                    )
            if merged != stored:
                s.storage.update_study(s._id, space=merged)
            if merged != s.space.to_spec():
                self._adopt_space(merged)
        params = dict(suggested.get("params") or {})
        if params != t.params:
            t = s._cache.absorb(s.storage.set_trial_params(s._id, t.id, params))
        attrs = suggested.get("user_attrs")
        if attrs:
            t = s._cache.absorb(s.storage.set_trial_attrs(s._id, t.id, user=dict(attrs)))
        return t.with_(attempt=attempt)  # the attempt its caller runs (fencing)

    def _learn_asked(self, trial: Any) -> Any:
        if isinstance(trial, AskedTrial):
            self.learn(trial, trial.suggestions())
        return trial
