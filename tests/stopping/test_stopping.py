"""Early-stopping policies: decisions on hand-built curves, the registry, budgets and
study-level stopping (patience, target, max_trial_seconds).

Most tests build a :class:`History` directly from hand-written curves and ask a policy for
its decision, so every expected answer can be checked against the policy's definition by
hand. A few drive a real ``Study.optimize`` end to end (function trials, in-process).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.errors import HypersweepError, SpecError
from hypersweep.history import History
from hypersweep.limits import Limits
from hypersweep.space import Float, Space
from hypersweep.stopping import REGISTRY, Decision, Policy, make_policy
from hypersweep.stopping._common import Curves
from hypersweep.stopping.asha import ASHAPolicy
from hypersweep.stopping.bandit import BanditPolicy
from hypersweep.stopping.hyperband import HyperbandPolicy
from hypersweep.stopping.median import MedianPolicy
from hypersweep.stopping.threshold import ThresholdPolicy
from hypersweep.stopping.truncation import TruncationPolicy
from hypersweep.testing.policies import PolicyContract, random_history
from hypersweep.trial import Objective, Trial, TrialState

CONT, STOP = Decision.CONTINUE, Decision.STOP
RUN, DONE, FAIL = TrialState.RUNNING, TrialState.COMPLETED, TrialState.FAILED
SPACE = Space({"x": Float(0, 1)})

Curve = Sequence[float] | Mapping[int, float]


# ------------------------------------------------------------------------------------------
# helpers: histories built by hand
# ------------------------------------------------------------------------------------------
def _reports(curve: Curve, metric: str) -> dict[int, dict[str, float]]:
    items = curve.items() if isinstance(curve, Mapping) else enumerate(curve)
    return {int(s): {metric: float(v)} for s, v in items}


def trial(number: int, curve: Curve, state: TrialState = RUN, metric: str = "acc") -> Trial:
    return Trial(number=number, state=state, params={"x": 0.5}, reports=_reports(curve, metric))


def history(
    curves: Sequence[Curve | tuple[Curve, TrialState]],
    goal: str = "maximize",
    metric: str = "acc",
) -> History:
    """A history whose trial ``i`` has ``curves[i]`` (optionally with a state)."""
    h = History(SPACE, [Objective(metric, goal)])
    ts = []
    for i, c in enumerate(curves):
        curve, state = c if isinstance(c, tuple) else (c, RUN)
        ts.append(trial(i, curve, state, metric))
    h.update(ts)
    return h


def judge(policy: Policy, curves: Sequence[Any], goal: str = "maximize") -> Decision:
    """The decision for the LAST trial of ``curves`` after its newest report."""
    h = history(curves, goal)
    return policy.decide(h.trials[-1], h)


def set_curve(h: History, number: int, curve: Curve, state: TrialState = RUN) -> Trial:
    """Replace trial ``number``'s reports (a new snapshot, as the study does)."""
    t = trial(number, curve, state, h.objectives[0].metric)
    h.update([t])
    return h.trials[number]


# ------------------------------------------------------------------------------------------
# median
# ------------------------------------------------------------------------------------------
# Others at step 2: running averages A = 0.6, B = 0.4, C = 0.7 -> median 0.6. (The median
# of their values *at* step 2 would be 0.7: the tests below tell the two apart.)
OTHERS = [[0.5, 0.6, 0.7], [0.3, 0.4, 0.5], [0.6, 0.7, 0.8]]


def test_median_stops_a_trial_whose_best_is_below_the_median_of_running_averages() -> None:
    p = MedianPolicy()
    assert judge(p, [*OTHERS, [0.2, 0.55, 0.5]]) == STOP  # best 0.55 < 0.6
    assert judge(p, [*OTHERS, [0.2, 0.3, 0.61]]) == CONT  # best 0.61 > 0.6 (< 0.7)
    assert judge(p, [*OTHERS, [0.2, 0.3, 0.6]]) == CONT  # equal is not worse
    assert judge(p, [*OTHERS, [0.65, 0.3, 0.3]]) == CONT  # its best so far counts


def test_median_minimize_is_mirrored() -> None:
    others = [[-v for v in c] for c in OTHERS]  # running averages -0.6, -0.4, -0.7
    p = MedianPolicy()
    assert judge(p, [*others, [0.0, -0.55, -0.5]], goal="minimize") == STOP
    assert judge(p, [*others, [0.0, -0.3, -0.61]], goal="minimize") == CONT


def test_median_compares_only_with_trials_that_reached_the_step_and_not_failed() -> None:
    p = MedianPolicy()
    # Trials that stopped before step 2, or failed, do not count: only A (0.6) remains.
    curves = [OTHERS[0], ([0.9, 0.9], DONE), ([0.9, 0.9, 0.9], FAIL), [0.1, 0.2, 0.59]]
    assert judge(p, curves) == STOP
    assert judge(p, [*curves[:3], [0.1, 0.2, 0.61]]) == CONT
    # A finished trial that reached the step does count.
    assert judge(p, [([0.9, 0.9, 0.9], DONE), [0.1, 0.2, 0.8]]) == STOP


def test_median_waits_for_min_trials_and_never_stops_the_first_trial() -> None:
    assert judge(MedianPolicy(), [[0.0, 0.0, 0.0]]) == CONT
    assert judge(MedianPolicy(min_trials=4), [*OTHERS, [0.1, 0.1, 0.1]]) == CONT
    assert judge(MedianPolicy(min_trials=3), [*OTHERS, [0.1, 0.1, 0.1]]) == STOP


def test_median_compare_value_is_optunas_rule_over_completed_trials() -> None:
    # Optuna's MedianPruner: the completed trials' values at step 2 (0.7, 0.5, 0.8 ->
    # median 0.7), not their running means (median 0.6); running trials do not count.
    p = MedianPolicy(compare="value")
    done = [(c, DONE) for c in OTHERS]
    assert judge(p, [*done, [0.2, 0.3, 0.65]]) == STOP  # 0.65 < 0.7
    assert judge(MedianPolicy(), [*done, [0.2, 0.3, 0.65]]) == CONT  # 0.65 > 0.6
    assert judge(p, [*done, [0.2, 0.3, 0.71]]) == CONT
    assert judge(p, [*OTHERS, [0.2, 0.3, 0.1]]) == CONT  # the others still run
    assert judge(MedianPolicy(compare="value", min_trials=4), [*done, [0.1, 0.1, 0.1]]) == CONT
    with pytest.raises(HypersweepError, match=r"early_stopping.compare: .*did you mean 'value'"):
        MedianPolicy(compare="values")


def test_median_with_sparse_reports_uses_values_up_to_the_step() -> None:
    # Another trial reported at steps 0 and 4 only: at step 2 its running average is
    # its step-0 value (0.8); it has reached step 2 because it reported later.
    p = MedianPolicy()
    assert judge(p, [{0: 0.8, 4: 0.1}, [0.5, 0.6, 0.7]]) == STOP
    assert judge(p, [{0: 0.1, 4: 0.9}, [0.5, 0.6, 0.7]]) == CONT


# ------------------------------------------------------------------------------------------
# bandit
# ------------------------------------------------------------------------------------------
def test_bandit_azure_documented_example() -> None:
    """Maximize, best 0.8, slack_factor 0.2 -> stop below 0.8 / 1.2 ≈ 0.667."""
    p = BanditPolicy(slack_factor=0.2)
    best = {10: 0.8}
    assert judge(p, [best, {10: 0.66}]) == STOP
    assert judge(p, [best, {10: 0.67}]) == CONT
    assert judge(p, [best, {10: 0.8 / 1.2 + 1e-9}]) == CONT


def test_bandit_minimize_and_slack_amount() -> None:
    f = BanditPolicy(slack_factor=0.2)  # minimize: stop above best * 1.2 = 0.6
    assert judge(f, [{3: 0.5}, {3: 0.61}], goal="minimize") == STOP
    assert judge(f, [{3: 0.5}, {3: 0.59}], goal="minimize") == CONT
    a = BanditPolicy(slack_amount=0.1)
    assert judge(a, [{3: 0.8}, {3: 0.69}]) == STOP  # maximize: below 0.7
    assert judge(a, [{3: 0.8}, {3: 0.71}]) == CONT
    assert judge(a, [{3: 0.5}, {3: 0.61}], goal="minimize") == STOP  # above 0.6
    assert judge(a, [{3: 0.5}, {3: 0.59}], goal="minimize") == CONT


def test_bandit_uses_the_best_trial_at_that_step() -> None:
    p = BanditPolicy(slack_factor=0.2)
    # The other trial's value at step 10 is its latest at or before 10 (0.8, not the 0.99
    # it reached later); a trial that never reached step 10 does not count.
    assert judge(p, [{8: 0.8, 12: 0.99}, {10: 0.7}]) == CONT
    assert judge(p, [{8: 0.99}, {10: 0.5}]) == CONT
    # the trial itself may be the best
    assert judge(p, [{10: 0.3}, {10: 0.5}]) == CONT
    # a negative best keeps the margin on the worse side (never stops the best itself)
    assert judge(p, [{10: -0.5}, {10: -0.55}]) == CONT
    assert judge(p, [{10: -0.5}, {10: -0.7}]) == STOP


# ------------------------------------------------------------------------------------------
# truncation
# ------------------------------------------------------------------------------------------
def test_truncation_stops_the_worst_percentage_at_that_step() -> None:
    p = TruncationPolicy(percentage=20)  # a pool of 5 -> the worst 1 stops
    others = [[0.9, 0.9], [0.8, 0.8], [0.7, 0.7], [0.6, 0.6]]
    assert judge(p, [*others, [0.9, 0.5]]) == STOP
    assert judge(p, [*others, [0.1, 0.65]]) == CONT
    assert judge(p, [*others, [0.1, 0.6]]) == CONT  # a tie is not "worse"
    # a pool of 4 -> floor(0.8) = 0 stop
    assert judge(p, [*others[:3], [0.0, 0.0]]) == CONT


def test_truncation_compares_young_trials_with_older_trials_at_the_same_step() -> None:
    p = TruncationPolicy(percentage=50)
    # Older trials are much better later, but at step 1 this trial is the best.
    others = [[0.1, 0.2, 0.9, 0.95], [0.1, 0.3, 0.9, 0.95], [0.1, 0.4, 0.9, 0.9]]
    assert judge(p, [*others, [0.5, 0.5]]) == CONT
    assert judge(p, [*others, [0.5, 0.25]]) == STOP


def test_truncation_exclude_finished() -> None:
    curves = [([0.9], DONE), ([0.8], DONE), ([0.75], DONE), [0.5], [0.7]]
    # all: pool 5, the worst 2 stop; 3 trials are better -> stop
    assert judge(TruncationPolicy(percentage=50), curves) == STOP
    # running only: pool 2, the worst 1 stops; this trial is the better one
    assert judge(TruncationPolicy(percentage=50, exclude_finished=True), curves) == CONT


# ------------------------------------------------------------------------------------------
# threshold
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "goal,value,expected",
    [
        ("maximize", 0.4, STOP),
        ("maximize", 0.5, CONT),
        ("maximize", 0.6, CONT),
        ("minimize", 0.6, STOP),
        ("minimize", 0.5, CONT),
        ("minimize", 0.4, CONT),
    ],
)
def test_threshold_bound(goal: str, value: float, expected: Decision) -> None:
    assert judge(ThresholdPolicy(threshold=0.5), [[value]], goal=goal) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("threshold", [None, 0.5])
def test_threshold_stops_nan_and_inf(value: float, threshold: float | None) -> None:
    for goal in ("maximize", "minimize"):
        assert judge(ThresholdPolicy(threshold=threshold), [[0.5, value]], goal=goal) == STOP
    assert judge(ThresholdPolicy(), [[1e300]]) == CONT  # no bound: only non-finite stops


def test_nan_counts_as_the_worst_value_for_comparative_policies() -> None:
    assert judge(BanditPolicy(slack_amount=0.1), [{2: 0.5}, {2: math.nan}]) == STOP
    assert judge(TruncationPolicy(percentage=50), [[0.1], [math.nan]]) == STOP
    # another trial's NaN never makes it "better"
    assert judge(BanditPolicy(slack_amount=0.1), [{2: math.nan}, {2: 0.1}]) == CONT


# ------------------------------------------------------------------------------------------
# interval and delay (common to every policy)
# ------------------------------------------------------------------------------------------
def _prefix_decisions(policy: Policy, curve: list[float], others: Sequence[Any] = ()) -> list:
    """The decision after each report of a trial, in order."""
    return [judge(policy, [*others, curve[: k + 1]]) for k in range(len(curve))]


def test_delay_means_no_decision_before_that_step() -> None:
    bad = [0.1] * 6
    assert _prefix_decisions(ThresholdPolicy(threshold=0.5, delay=3), bad) == [
        CONT,
        CONT,
        CONT,
        STOP,
        STOP,
        STOP,
    ]
    others = [[0.9] * 6]
    assert _prefix_decisions(MedianPolicy(delay=2), bad, others) == [
        CONT,
        CONT,
        STOP,
        STOP,
        STOP,
        STOP,
    ]


def test_interval_judges_every_kth_report() -> None:
    bad = [0.1] * 6
    assert _prefix_decisions(ThresholdPolicy(threshold=0.5, interval=2), bad) == [
        CONT,
        STOP,
        CONT,
        STOP,
        CONT,
        STOP,
    ]
    assert _prefix_decisions(ThresholdPolicy(threshold=0.5, interval=3, delay=3), bad) == [
        CONT,
        CONT,
        CONT,
        CONT,
        CONT,
        STOP,
    ]


def test_a_report_without_the_metric_is_not_judged() -> None:
    h = History(SPACE, [Objective("acc", "maximize")])
    t = Trial(0, RUN, {"x": 0.5}, reports={0: {"acc": 0.1}, 1: {"loss": 3.0}})
    h.update([t])
    assert ThresholdPolicy(threshold=0.5).decide(h.trials[0], h) == CONT


def test_policy_metric_and_goal_resolution() -> None:
    objs = [Objective("acc", "maximize"), Objective("latency", "minimize")]
    assert MedianPolicy().target(objs) == ("acc", -1.0)
    assert MedianPolicy(metric="latency").target(objs) == ("latency", 1.0)
    assert MedianPolicy(metric="val_loss", goal="min").target(objs) == ("val_loss", 1.0)
    with pytest.raises(SpecError, match=r"early_stopping\.goal: metric 'val_loss' is not an "):
        MedianPolicy(metric="val_loss").bind(objs)
    # a policy on a non-objective metric judges that metric
    h = History(SPACE, [Objective("acc", "maximize")])
    h.update([Trial(0, RUN, {"x": 0.5}, reports={0: {"acc": 0.9, "loss": 7.0}})])
    assert (
        ThresholdPolicy(threshold=1.0, metric="loss", goal="minimize").decide(h.trials[0], h)
        == STOP
    )
    assert ThresholdPolicy(threshold=0.5).decide(h.trials[0], h) == CONT


# ------------------------------------------------------------------------------------------
# ASHA
# ------------------------------------------------------------------------------------------
def test_asha_rungs_and_budget() -> None:
    p = ASHAPolicy(min_resource=1, max_resource=27, reduction_factor=3)
    assert p.rungs == (1, 3, 9)
    assert p.budget(0) == 27 and p.budget(123) == 27
    assert ASHAPolicy(min_resource=2, max_resource=20, reduction_factor=2).rungs == (2, 4, 8, 16)


def test_asha_promotions_under_asynchrony() -> None:
    """Trials reach rungs out of order; each decision sees only what is recorded."""
    p = ASHAPolicy(min_resource=1, max_resource=27, reduction_factor=3)
    h = History(SPACE, [Objective("acc", "maximize")])

    def report(number: int, curve: Curve) -> Decision:
        return p.decide(set_curve(h, number, curve), h)

    # trial 2 starts first and stays below rung 1 for a while
    assert report(2, [0.1]) == CONT
    # trial 0 is the first at rung 1: it continues whatever its value
    assert report(0, [0.3, 0.5]) == CONT
    # trial 1 arrives at rung 1 worse than trial 0: 1 of 2 better, 1 * 3 >= 2 -> stop
    assert report(1, [0.3, 0.4]) == STOP
    # trial 0 runs on past rung 1 (no rung at step 2: no decision), first at rung 3
    assert report(0, [0.3, 0.5, 0.2]) == CONT
    assert report(0, [0.3, 0.5, 0.2, 0.6]) == CONT
    # the straggler (trial 2) reaches rung 1 late, beating everyone recorded: continues
    assert report(2, [0.1, 0.9]) == CONT
    # a late, weak trial: 2 of 4 values better, 2 * 3 >= 4 -> stop
    assert report(3, [0.0, 0.45]) == STOP
    # a late, strong trial (top third of 5): continues
    assert report(4, [0.0, 0.95]) == CONT
    # a sparse reporter crosses rungs 1 and 3 in one report and is judged at both
    assert report(5, {0: 0.0, 4: 0.42}) == STOP
    # trial 2 reaches rung 3 second, worse than trial 0's 0.6 there: 1 * 3 >= 2 -> stop
    assert report(2, [0.1, 0.9, 0.9, 0.55]) == STOP
    # past max_resource every trial stops
    curve = {s: 0.99 for s in (0, 1, 3, 9, 27, 28)}
    assert report(6, curve) == STOP


def test_asha_minimize_and_rung_values_are_first_reports_past_the_rung() -> None:
    p = ASHAPolicy(min_resource=2, max_resource=20, reduction_factor=2)
    h = History(
        SPACE,
        [Objective("loss", "minimize")],
    )

    def report(number: int, curve: Curve) -> Decision:
        t = Trial(number, RUN, {"x": 0.5}, reports=_reports(curve, "loss"))
        h.update([t])
        return p.decide(h.trials[number], h)

    assert report(0, {0: 1.0, 3: 0.5}) == CONT  # first at rung 2 (value at step 3)
    assert report(0, {0: 1.0, 3: 0.5, 5: 9.0}) == CONT  # first at rung 4
    # trial 1: rung-2 value 0.6 vs trial 0's 0.5: 1 better of 2, 1 * 2 >= 2 -> stop
    assert report(1, {2: 0.6}) == STOP
    assert report(2, {2: 0.4}) == CONT  # better than all: continues
    # at rung 4 trial 0 recorded 9.0 (its first report past 4), so 1.0 is better
    assert report(2, {2: 0.4, 4: 1.0}) == CONT


def test_asha_delay_skips_early_rungs_and_interval_does_not_lose_a_rung() -> None:
    p = ASHAPolicy(min_resource=1, max_resource=27, reduction_factor=3, delay=2)
    h = history([[0.9, 0.9, 0.9], [0.1, 0.1]])
    assert p.decide(h.trials[1], h) == CONT  # rung 1 is below the delay
    # interval 2: the rung-1 report (step 1, the 2nd report) is judged
    p2 = ASHAPolicy(min_resource=1, max_resource=27, reduction_factor=3, interval=2)
    assert p2.decide(h.trials[1], h) == STOP
    # interval 3: step 1 is not judged; the rung is judged at the next judged report
    p3 = ASHAPolicy(min_resource=1, max_resource=27, reduction_factor=3, interval=3)
    assert p3.decide(h.trials[1], h) == CONT
    h.update([trial(1, [0.1, 0.1, 0.1])])
    assert p3.decide(h.trials[1], h) == STOP


# ------------------------------------------------------------------------------------------
# Hyperband
# ------------------------------------------------------------------------------------------
def test_hyperband_brackets_follow_hyperband_allocation() -> None:
    hb = HyperbandPolicy(min_resource=1, max_resource=81, reduction_factor=3)
    assert [b.min_resource for b in hb.brackets] == [1, 3, 9, 27, 81]
    assert [b.rungs for b in hb.brackets] == [(1, 3, 9, 27), (3, 9, 27), (9, 27), (27,), ()]
    # Hyperband's n_i = ceil((s_max + 1) / (s + 1) * eta**s), s = s_max - b
    assert [b.weight for b in hb.brackets] == [81, 34, 15, 8, 5]
    assert hb.budget(7) == 81


def test_hyperband_assignment_is_deterministic_and_covers_every_bracket() -> None:
    a = HyperbandPolicy(min_resource=1, max_resource=27, reduction_factor=3)
    b = make_policy({"policy": "hyperband", "max_resource": 27})
    assert isinstance(b, HyperbandPolicy)
    cycle = sum(br.weight for br in a.brackets)
    seq = [a.bracket_of(i) for i in range(3 * cycle)]
    assert seq == [b.bracket_of(i) for i in range(3 * cycle)]
    assert seq[:cycle] == seq[cycle : 2 * cycle]  # periodic
    counts = np.bincount(seq[:cycle], minlength=len(a.brackets))
    assert counts.tolist() == [br.weight for br in a.brackets]
    # every bracket is served within the first few trials, not after a whole block
    assert set(seq[:8]) == set(range(len(a.brackets)))
    assert a.brackets_of(np.arange(3 * cycle)).tolist() == seq
    with pytest.raises(SpecError, match="bracket_of"):
        a.bracket_of(-1)


def test_hyperband_compares_only_within_a_bracket() -> None:
    hb = HyperbandPolicy(min_resource=1, max_resource=9, reduction_factor=3)
    # brackets of trials 0..3: 0, 1, 0, 2 (rungs (1, 3), (3,), ())
    assert [hb.bracket_of(i) for i in range(4)] == [0, 1, 0, 2]
    h = History(SPACE, [Objective("acc", "maximize")])

    def report(number: int, curve: Curve) -> Decision:
        return hb.decide(set_curve(h, number, curve), h)

    assert report(0, [0.9, 0.9]) == CONT  # bracket 0, first at rung 1
    assert report(2, [0.1, 0.1]) == STOP  # bracket 0, worse at rung 1
    assert report(1, [0.1, 0.1]) == CONT  # bracket 1 has no rung 1
    assert report(0, [0.9, 0.9, 0.9, 0.9]) == CONT  # bracket 0, first at rung 3
    # bracket 1's first trial at rung 3 continues, though bracket 0 recorded 0.9 there
    assert report(1, [0.1, 0.1, 0.1, 0.1]) == CONT
    assert report(3, [0.0] * 9) == CONT  # bracket 2: no rungs below 9
    assert report(3, [0.0] * 11) == STOP  # past max_resource


# ------------------------------------------------------------------------------------------
# the curve cache: incremental refresh == rebuilt from scratch
# ------------------------------------------------------------------------------------------
#: Every registered policy, with options that make it judge often on short random curves.
CONTRACT_SPECS: dict[str, dict[str, Any]] = {
    "median": {"min_trials": 2},
    "bandit": {"slack_factor": 0.1},
    "truncation": {"percentage": 30},
    "threshold": {"threshold": 0.3, "delay": 2},
    "asha": {"max_resource": 20, "reduction_factor": 2},
    "hyperband": {"max_resource": 20, "reduction_factor": 2},
    "pbt": {},
}


@pytest.fixture(params=sorted(REGISTRY))
def policy_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestEveryRegisteredPolicy(PolicyContract):
    @pytest.fixture
    def policy_factory(self, policy_name: str) -> Callable[[], Policy]:
        assert set(CONTRACT_SPECS) == set(REGISTRY), "give every policy contract options"

        def make() -> Policy:
            p = make_policy({"policy": policy_name, **CONTRACT_SPECS[policy_name]})
            assert p is not None
            return p

        return make


def test_the_contract_histories_make_every_policy_stop_some_trials() -> None:
    """The contract's random histories exercise the STOP path, not only CONTINUE."""
    for name, opts in CONTRACT_SPECS.items():
        p = make_policy({"policy": name, **opts})
        assert p is not None
        p.bind([Objective("acc", "maximize")])
        decisions = {p.decide(t, h) for h, t in random_history(seed=0)}
        assert STOP in decisions, name


def test_curve_queries_match_a_naive_reading() -> None:
    rng = np.random.default_rng(2)
    curves = [
        {int(s): float(rng.random()) for s in rng.choice(30, rng.integers(0, 8), replace=False)}
        for _ in range(40)
    ]
    h = history(curves)
    c = Curves("acc", -1.0)
    c.refresh(h)
    for _ in range(3):  # then again after some trials changed (incremental path)
        rows = rng.random(len(curves)) < 0.7
        for step in (-1, 0, 3, 7.5, 15, 29, 40):
            mean = c.running_mean(rows, step)
            latest = c.latest(rows, step)
            first = c.first_from(rows, step)
            for j, i in enumerate(np.flatnonzero(rows)):
                before = [-v for s, v in sorted(curves[i].items()) if s <= step]
                after = [-v for s, v in sorted(curves[i].items()) if s >= step]
                assert np.allclose(mean[j], np.mean(before) if before else np.nan, equal_nan=True)
                assert np.allclose(latest[j], before[-1] if before else np.nan, equal_nan=True)
                assert np.allclose(first[j], after[0] if after else np.nan, equal_nan=True)
        for i in rng.choice(len(curves), 5, replace=False):
            curves[i] = {**curves[i], int(rng.integers(0, 35)): float(rng.random())}
            set_curve(h, int(i), curves[i])
        c.refresh(h)


def test_curves_kept_report_by_report_equal_curves_built_at_once() -> None:
    """The one-report fast path of ``Curves.refresh`` (a trial's next step) and its
    fallbacks (an earlier step, a retried attempt, a report of another metric, NaN, a step
    no trial reported before) leave every matrix as a fresh read of the same trials."""
    rng = np.random.default_rng(7)
    h = History(SPACE, [Objective("acc", "maximize")])
    h.update([Trial(i, RUN, {"x": 0.5}) for i in range(6)])
    kept = Curves("acc", -1.0)
    for k in range(400):
        i = int(rng.integers(0, 6))
        t = h.trials[i]
        u = rng.random()
        reps = dict(t.reports)
        attempt = t.attempt
        last = max(reps, default=-1)
        if u < 0.05:  # retried: a fresh attempt starts with no reports
            attempt, reps = attempt + 1, {}
        elif u < 0.12 and last > 0:  # a step before the newest one
            reps[int(rng.integers(0, last))] = {"acc": float(rng.random())}
        elif u < 0.17:
            reps[last + 1] = {"loss": 1.0}
        elif u < 0.2:
            reps[last + 1] = {"acc": math.nan}
        else:  # the next step, sometimes far ahead (a column no trial had)
            reps[last + int(rng.integers(1, 4 if u < 0.9 else 40))] = {"acc": float(rng.random())}
        h.trials[i] = t.with_(reports=reps, attempt=attempt)
        h.version += 1
        if k % 3 == 0:  # the derived matrices exist, as after a policy's first query
            rows = np.ones(h.n, dtype=bool)
            kept.refresh(h)
            kept.running_mean(rows, 5), kept.latest(rows, 5), kept.first_from(rows, 5)
        kept.refresh(h)
        fresh = Curves("acc", -1.0)
        fresh.refresh(h)
        assert set(fresh.steps) <= set(kept.steps)  # columns stay once seen
        assert np.array_equal(kept.last, fresh.last)
        for j in range(h.n):
            for a, b in zip(kept.row(j), fresh.row(j)):
                assert np.array_equal(a, b, equal_nan=True)
        rows = rng.random(h.n) < 0.8
        for step in (0, 3, 10, 60):
            for q in ("running_mean", "latest", "first_from"):
                got, want = getattr(kept, q)(rows, step), getattr(fresh, q)(rows, step)
                assert np.allclose(got, want, equal_nan=True), (k, q, step)


def test_decisions_stay_fast_on_a_large_history() -> None:
    rng = np.random.default_rng(1)
    n, steps = 2000, 50
    h = history([rng.random(steps).tolist() for _ in range(n)])
    policies = [
        make_policy(s)
        for s in (
            "median",
            {"policy": "truncation", "percentage": 20},
            {"policy": "bandit", "slack_amount": 0.1},
            {"policy": "asha", "max_resource": 100},
        )
    ]
    for p in policies:
        assert p is not None
        p.decide(h.trials[0], h)  # builds the cache once
    t0 = time.perf_counter()
    for k in range(50):
        t = set_curve(h, k, rng.random(steps).tolist())
        for p in policies:
            assert p is not None
            p.decide(t, h)
    assert time.perf_counter() - t0 < 5.0  # ~ms per decision; generous for shared CI


# ------------------------------------------------------------------------------------------
# make_policy and option validation
# ------------------------------------------------------------------------------------------
def test_registry_builds_every_policy_and_config_round_trips() -> None:
    specs = {
        "median": {"delay": 5, "interval": 2, "min_trials": 3},
        "bandit": {"slack_factor": 0.2},
        "truncation": {"percentage": 20, "exclude_finished": True},
        "threshold": {"threshold": 0.5, "metric": "loss", "goal": "minimize"},
        "asha": {"min_resource": 1, "max_resource": 27},
        "hyperband": {"max_resource": 27, "reduction_factor": 3},
        "pbt": {},
    }
    assert set(specs) == set(REGISTRY)
    for name, opts in specs.items():
        p = make_policy({"policy": name, **opts})
        assert p is not None and p.name == name
        cfg = p.config()
        assert cfg["policy"] == name
        for k, v in opts.items():
            assert cfg[k] == v
        again = make_policy(cfg)
        assert again is not None and again.config() == cfg
        assert repr(p).startswith(type(p).__name__ + "(")
    assert isinstance(make_policy("median"), MedianPolicy)
    assert make_policy(None) is None
    p = MedianPolicy()
    assert make_policy(p) is p


@pytest.mark.parametrize(
    "spec,match",
    [
        (
            {"policy": "medain"},
            r"early_stopping\.policy: unknown policy 'medain' \(did you mean "
            r"'median'\?\)",
        ),
        ("hyperbnd", r"did you mean 'hyperband'"),
        ({"delay": 5}, r"early_stopping\.policy: missing"),
        (
            {"policy": "bandit", "slack_facter": 0.2},
            r"early_stopping\.slack_facter: bandit has no "
            r"option .* \(did you mean 'slack_factor'\?\)",
        ),
        ({"policy": "median", "evaluation_interval": 2}, r"did you mean 'interval'"),
        ({"policy": "bandit"}, r"exactly one of slack_factor or slack_amount"),
        ({"policy": "bandit", "slack_factor": 0.1, "slack_amount": 0.1}, r"exactly one"),
        (
            {"policy": "bandit", "slack_factor": -0.1},
            r"early_stopping\.slack_factor: .*> 0.*-0\.1",
        ),
        ({"policy": "bandit", "slack_amount": "x"}, r"early_stopping\.slack_amount"),
        (
            {"policy": "median", "interval": 0},
            r"early_stopping\.interval: must be an integer >= 1",
        ),
        ({"policy": "median", "delay": -1}, r"early_stopping\.delay: must be an integer >= 0"),
        ({"policy": "median", "delay": 1.5}, r"early_stopping\.delay"),
        ({"policy": "median", "min_trials": 0}, r"early_stopping\.min_trials"),
        ({"policy": "median", "metric": ""}, r"early_stopping\.metric"),
        ({"policy": "median", "goal": "up"}, r"goal: must be 'minimize' or 'maximize'"),
        ({"policy": "truncation", "percentage": 100}, r"early_stopping\.percentage: .*< 100"),
        ({"policy": "truncation"}, r"early_stopping\.percentage: missing"),
        (
            {"policy": "truncation", "percentage": 10, "exclude_finished": "yes"},
            r"early_stopping\.exclude_finished",
        ),
        ({"policy": "threshold", "threshold": math.nan}, r"early_stopping\.threshold"),
        ({"policy": "asha"}, r"early_stopping\.max_resource: missing"),
        (
            {"policy": "asha", "max_resource": 10, "min_resource": 10},
            r"early_stopping\.min_resource: must be < max_resource",
        ),
        (
            {"policy": "asha", "max_resource": 10, "reduction_factor": 1},
            r"early_stopping\.reduction_factor: .*> 1",
        ),
        (
            {"policy": "hyperband", "max_resource": 10, "resource": "time"},
            r"early_stopping\.resource: must be one of step",
        ),
        (
            {"policy": "hyperband", "max_resource": 1e12, "reduction_factor": 1.01},
            r"brackets with a cycle of",
        ),
        (["median"], r"early_stopping: expected a policy name or a mapping"),
    ],
)
def test_make_policy_errors_name_the_option(spec: Any, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        make_policy(spec)


# ------------------------------------------------------------------------------------------
# end to end: Study(policy=...) and Study.optimize with function trials
# ------------------------------------------------------------------------------------------
def test_study_binds_the_policy_to_its_objectives() -> None:
    space = {"x": Float(0, 1)}
    with pytest.raises(SpecError, match=r"early_stopping\.goal"):
        hs.Study(
            "bind-1", space, "loss", storage="memory", policy={"policy": "median", "metric": "acc"}
        )
    s = hs.Study(
        "bind-2", space, hs.Objective("acc", "maximize"), storage="memory", policy="median"
    )
    assert isinstance(s.policy, MedianPolicy)


def test_ask_report_tell_with_a_policy() -> None:
    s = hs.Study(
        "art",
        {"x": Float(0, 1)},
        hs.Objective("acc", "maximize"),
        storage="memory",
        policy=BanditPolicy(slack_factor=0.2),
        seed=0,
    )
    a, b = s.ask(), s.ask()
    assert s.report(a, step=10, acc=0.8) == CONT
    assert s.report(b, step=10, acc=0.66) == STOP
    done = s.tell(b, state="STOPPED")
    assert done.state == TrialState.STOPPED and done.value == 0.66


def curve_trial(params: dict[str, Any], trial: Any) -> dict[str, Any]:
    """Accuracy rising to ``x`` over up to ``trial.budget`` (default 10) steps."""
    steps = int(trial.budget) if trial.budget is not None else 10
    budget = -1.0 if trial.budget is None else float(trial.budget)
    acc = 0.0
    for step in range(steps):
        acc = params["x"] * (1 - 0.5 ** (step + 1))
        trial.report(step=step, acc=acc, budget=budget)
    return acc


@pytest.mark.parametrize(
    "spec",
    [
        {"policy": "median"},
        {"policy": "bandit", "slack_factor": 0.1},
        {"policy": "truncation", "percentage": 50},
        {"policy": "threshold", "threshold": 0.3},
        {"policy": "asha", "max_resource": 9},
        {"policy": "hyperband", "max_resource": 9},
    ],
)
def test_optimize_stops_bad_function_trials_as_stopped_never_failed(spec: dict) -> None:
    s = hs.Study(
        "e2e",
        {"x": Float(0, 1)},
        hs.Objective("acc", "maximize"),
        storage="memory",
        policy=spec,
        seed=3,
    )
    s.optimize(curve_trial, max_trials=16)
    trials = s.trials()
    states = [t.state for t in trials]
    assert TrialState.FAILED not in states
    stopped = [t for t in trials if t.state == TrialState.STOPPED]
    assert stopped, "the policy stopped no trial"
    for t in stopped:
        last = t.reports[t.last_step]["acc"]
        assert t.value == pytest.approx(last)  # keeps its last reported value
        assert t.last_step is not None and t.last_step < 8  # really ended early
    assert s.best_trial is not None and s.best_trial.state in (DONE, TrialState.STOPPED)


def test_trial_learns_the_policy_budget_capped_by_max_steps() -> None:
    def budgets(policy: Any, **limits: Any) -> list[tuple[float, ...]]:
        s = hs.Study(
            "budget",
            {"x": Float(0.99, 1)},
            hs.Objective("acc", "maximize"),
            storage="memory",
            policy=policy,
            seed=0,
        )
        s.optimize(curve_trial, max_trials=1, **limits)
        return [tuple(r["budget"] for r in t.reports.values()) for t in s.trials()]

    asha = {"policy": "asha", "max_resource": 5}
    assert budgets(asha) == [(5.0,) * 5]  # max_resource, trained to it
    assert budgets(asha, max_steps=3) == [(3.0,) * 3]  # capped by max_steps
    assert budgets(None) == [(-1.0,) * 10]  # no policy, no cap: none
    assert budgets(None, max_steps=4) == [(4.0,) * 4]


def test_optimize_in_worker_processes_stops_trials_as_stopped() -> None:
    s = hs.Study(
        "e2e-proc",
        {"x": Float(0, 1)},
        hs.Objective("acc", "maximize"),
        storage="memory",
        policy={"policy": "threshold", "threshold": 0.4},
        seed=1,
    )
    s.optimize(curve_trial, max_trials=6, max_concurrent=2)
    states = [t.state for t in s.trials()]
    assert TrialState.FAILED not in states
    for t in s.trials():
        low = t.params["x"] * 0.5 < 0.4  # its first report is already below the bound
        assert (t.state == TrialState.STOPPED) == low
        if low:
            assert t.last_step == 0


# ------------------------------------------------------------------------------------------
# study-level stopping
# ------------------------------------------------------------------------------------------
def slow_trial(params: dict[str, Any]) -> float:
    time.sleep(0.03)
    return float(params["x"])


def test_max_trial_seconds_through_optimize_stops_the_study_with_the_reason() -> None:
    """The limit itself, at exact times: tests/execution/test_runner.py (fake clock)."""
    s = hs.Study("cost2", {"x": Float(0, 1)}, storage="memory", seed=0)
    s.optimize(slow_trial, max_trials=500, max_trial_seconds=0.15)
    reason = s.attrs["stop_reason"]
    assert reason.startswith("max_trial_seconds (0.15 s) reached")
    assert s.summary()["stop_reason"] == reason
    assert not s.trials([TrialState.RUNNING])


def test_limits_refuse_a_bad_max_trial_seconds() -> None:
    with pytest.raises(SpecError, match=r"limits\.max_trial_seconds"):
        Limits(max_trial_seconds=-1)
    with pytest.raises(HypersweepError, match=r"limits\.max_trial_seconds"):
        Limits(max_trial_seconds=math.inf)


def test_target_and_patience_stop_the_study_with_a_stored_reason() -> None:
    s = hs.Study("target", {"x": Float(0, 1)}, storage="memory", seed=0)
    s.optimize(lambda p: p["x"], max_trials=200, target=0.2)
    assert s.attrs["stop_reason"].startswith("target 0.2 reached by trial")
    assert s.best_value is not None and s.best_value <= 0.2
    s2 = hs.Study("patience", {"x": Float(0, 1)}, storage="memory", seed=0)
    for x in (0.5, 0.1, 0.7, 0.8, 0.9):
        s2.enqueue({"x": x})
    s2.optimize(lambda p: p["x"], max_trials=200, patience=3)
    assert s2.attrs["stop_reason"] == "no improvement in 3 completed trials"
    assert len(s2.trials()) == 5


def test_asha_explicit_rungs_without_a_cap() -> None:
    """W&B's hyperband bands: explicit rungs, no max_resource, no stop for length."""
    p = ASHAPolicy(rungs=[1, 3], reduction_factor=3)
    assert p.rungs == (1, 3) and p.budget(0) is None and p.min_resource == 1
    assert p.config()["rungs"] == [1, 3] and "min_resource" not in p.config()
    h = History(SPACE, [Objective("acc", "maximize")])

    def report(number: int, curve: Curve) -> Decision:
        return p.decide(set_curve(h, number, curve), h)

    assert report(0, [0.3, 0.5]) == CONT  # first at rung 1
    assert report(1, [0.3, 0.4]) == STOP  # worse than trial 0 at rung 1
    # far past the last rung and any max: a run is never stopped for its length
    assert report(0, [0.3, 0.5, 0.5, 0.6] + [0.6] * 100) == CONT
    with pytest.raises(SpecError, match=r"early_stopping\.rungs: must increase"):
        ASHAPolicy(rungs=[3, 1])
    with pytest.raises(SpecError, match="min_resource or rungs"):
        ASHAPolicy(rungs=[1, 3], min_resource=1)
    with pytest.raises(SpecError, match=r"max_resource: missing"):
        ASHAPolicy(min_resource=1)
