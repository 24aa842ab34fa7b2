"""The early-stopping policy contract suite: every registered :class:`~hypersweep.stopping.Policy`
passes it.

Run it over a policy by subclassing :class:`PolicyContract` and providing a
``policy_factory`` fixture that returns a function ``() -> fresh policy`` (judging the
metric ``"acc"``, maximized, the objective of the histories built here)::

    import pytest
    from hypersweep.testing.policies import PolicyContract

    class TestMyPolicy(PolicyContract):
        @pytest.fixture
        def policy_factory(self):
            return lambda: MyPolicy(min_trials=3)

What the suite checks, on seeded random histories (sparse and irregular steps, RUNNING,
COMPLETED, FAILED and STOPPED trials, NaN values, reports without the metric):

* ``decide`` answers a :class:`~hypersweep.stopping.Decision` for every trial and changes
  neither the trial nor the history;
* a policy that has decided many times (and keeps caches) answers exactly what a fresh
  policy answers on the same history, so every process of a study -- each with its own
  policy object -- makes the same decision;
* ``budget(number)`` is ``None`` or a positive number, the same from a fresh policy;
* ``config()`` names the policy and, when the policy is registered, rebuilds an
  equivalent policy through :func:`~hypersweep.stopping.make_policy`;
* ``bind`` accepts the study's objectives.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import pytest

from hypersweep.history import History
from hypersweep.space import Float, Space
from hypersweep.stopping import REGISTRY, Decision, Policy, make_policy
from hypersweep.trial import Objective, Trial, TrialState

__all__ = ["PolicyContract", "PolicyFactory", "random_history"]

#: ``factory() -> a fresh policy`` judging ``acc`` (maximized)
PolicyFactory = Callable[[], Policy]

_SPACE = Space({"x": Float(0.0, 1.0)})
_OBJECTIVES = [Objective("acc", "maximize")]
_STATES = (
    TrialState.RUNNING,
    TrialState.RUNNING,
    TrialState.RUNNING,
    TrialState.COMPLETED,
    TrialState.FAILED,
    TrialState.STOPPED,
)


def _random_curve(
    rng: np.random.Generator, start: dict[int, dict[str, float]] | None = None
) -> dict[int, dict[str, float]]:
    """Extend ``start`` by one report: a later step, usually with ``acc``."""
    curve = dict(start or {})
    step = max(curve, default=-1) + int(rng.integers(1, 4))
    u = rng.random()
    if u < 0.03:
        metrics = {"acc": math.nan}
    elif u < 0.06:
        metrics = {"loss": float(rng.random())}  # a report without the judged metric
    else:
        metrics = {"acc": float(rng.random())}
    curve[step] = metrics
    return curve


def random_history(
    seed: int, n_trials: int = 25, n_reports: int = 300
) -> list[tuple[History, Trial]]:
    """Snapshots ``(history, trial that just reported)`` of a random study, in report order.

    The same history object is updated in place between snapshots (as a study does), so
    consume each snapshot before taking the next.
    """
    rng = np.random.default_rng(seed)
    h = History(_SPACE, _OBJECTIVES)
    curves: dict[int, dict[int, dict[str, float]]] = {}
    out = []
    for _ in range(n_reports):
        number = int(rng.integers(0, min(n_trials, len(curves) + 1)))
        curves[number] = _random_curve(rng, curves.get(number))
        state = _STATES[int(rng.integers(0, len(_STATES)))]
        budget = int(rng.integers(1, 30))
        h.update(
            [
                Trial(
                    number,
                    state,
                    {"x": float(rng.random())},
                    reports=curves[number],
                    budget=budget,
                )
            ]
        )
        out.append((h, h.trials[number]))
    return out


def _snapshot(h: History) -> list[tuple[int, TrialState, dict[int, dict[str, float]]]]:
    return [(t.number, t.state, copy.deepcopy(dict(t.reports))) for t in h.trials]


class PolicyContract:
    """Behaviour every early-stopping policy guarantees (see :mod:`hypersweep.stopping.base`).

    Subclasses provide the ``policy_factory`` fixture.
    """

    @pytest.fixture
    def policy_factory(self) -> PolicyFactory:  # pragma: no cover - the subclass gives it
        raise NotImplementedError("subclass PolicyContract with a policy_factory fixture")

    def fresh(self, factory: PolicyFactory) -> Policy:
        p = factory()
        p.bind(_OBJECTIVES)
        return p

    def test_decides_every_trial_without_changing_it(self, policy_factory: PolicyFactory) -> None:
        policy = self.fresh(policy_factory)
        for h, trial in random_history(seed=0):
            before = _snapshot(h)
            d = policy.decide(trial, h)
            assert isinstance(d, Decision), f"decide() returned {d!r}, not a Decision"
            assert _snapshot(h) == before, "decide() changed the history"
        # every trial of a finished history, judged after the fact, also gets an answer
        for t in h.trials:
            assert isinstance(policy.decide(t, h), Decision)

    def test_a_long_lived_policy_decides_like_a_fresh_one(
        self, policy_factory: PolicyFactory
    ) -> None:
        kept = self.fresh(policy_factory)
        for seed in (1, 2):
            for h, trial in random_history(seed=seed, n_reports=200):
                got = kept.decide(trial, h)
                want = self.fresh(policy_factory).decide(trial, h)
                assert got == want, (
                    f"trial {trial.number} at step {trial.last_step}: a policy with state "
                    f"said {got}, a fresh one {want}"
                )
            kept = self.fresh(policy_factory)  # a new study: a new policy

    def test_budget_is_none_or_positive_and_deterministic(
        self, policy_factory: PolicyFactory
    ) -> None:
        a, b = self.fresh(policy_factory), self.fresh(policy_factory)
        for number in range(50):
            x = a.budget(number)
            assert x is None or (
                isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0
            ), f"budget({number}) = {x!r}"
            assert b.budget(number) == x

    def test_config_names_the_policy_and_rebuilds_it(self, policy_factory: PolicyFactory) -> None:
        p = policy_factory()
        cfg = p.config()
        assert cfg.get("policy") == p.name and p.name, f"config() is {cfg!r}"
        if p.name in REGISTRY:
            again = make_policy(cfg)
            assert again is not None and type(again) is type(p)
            assert again.config() == cfg
            assert repr(again) == repr(p)
