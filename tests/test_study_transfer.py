"""Study.add_trials, warm_start (enqueue / prior), transfer_from and trial seeds."""

from __future__ import annotations

import pytest

import hypersweep as hs
from hypersweep._sequence import trial_seed
from hypersweep.errors import HypersweepError
from hypersweep.storage import open_storage
from hypersweep.trial import TrialState

SPACE = {"lr": hs.Float(1e-4, 1e-1, log=True), "depth": hs.Int(1, 8)}


def finished_source(storage, name="src", n=12, objective=None):
    s = hs.Study(name, space=SPACE, objective=objective, storage=storage, seed=0, sampler="random")
    for _ in range(n):
        t = s.ask()
        s.tell(t, t.params["depth"] + t.params["lr"])
    return s


def test_add_trials_imports_finished_trials_as_own():
    store = open_storage("memory")
    src = finished_source(store)
    dst = hs.Study("dst", space=SPACE, storage=store, seed=1)
    got = dst.add_trials(src.trials(), source="src")
    assert [t.state for t in got] == [TrialState.COMPLETED] * 12
    assert dst.best_value == src.best_value and dst.best_params == src.best_params
    assert got[0].system_attrs["imported_from"] == "src"
    dicts = dst.add_trials([{"params": {"lr": 0.01, "depth": 2}, "value": 0.5}])
    assert dicts[0].value == 0.5 and dst.best_value == 0.5


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"params": {"lr": 0.5, "depth": 2}, "value": 1.0}, r"add_trials\[1\].*lr"),
        ({"params": {"lr": 0.01}, "value": 1.0}, r"add_trials\[1\].*depth"),
        ({"params": {"lr": 0.01, "depth": 2}}, r"add_trials\[1\]: no value"),
        ({"params": {"lr": 0.01, "depth": 2}, "value": float("nan")}, r"add_trials\[1\].*nan"),
        ({"params": {"lr": 0.01, "depth": 2}, "value": 1, "state": "FAILED"}, r"\[1\].*FAILED"),
        ({"params": {"lr": 0.01, "depth": 2}, "valeu": 1}, r"\[1\]: unknown key 'valeu'"),
    ],
)
def test_add_trials_refuses_a_bad_item_with_one_line_and_writes_nothing(item, message):
    s = hs.Study("s", space=SPACE, storage="memory", seed=0)
    good = {"params": {"lr": 0.01, "depth": 2}, "value": 1.0}
    with pytest.raises(HypersweepError, match=message) as e:
        s.add_trials([good, item])
    assert "\n" not in str(e.value)
    assert s.trials() == []


def test_warm_start_enqueue_queues_the_best_once():
    store = open_storage("memory")
    src = finished_source(store)
    dst = hs.Study("dst", space=SPACE, storage=store, seed=1)
    assert dst.warm_start("src", top=3) == 3
    assert dst.warm_start("src", top=3) == 0  # already held
    queued = dst.trials([TrialState.QUEUED])
    best3 = sorted(src.trials(), key=lambda t: t.value)[:3]
    assert [t.params for t in queued] == [t.params for t in best3]
    assert queued[0].user_attrs["warm_start"] == {"from": "src", "trial": best3[0].number}
    assert dst.ask().params == best3[0].params  # queued configurations run first


def test_warm_start_checks_the_source():
    store = open_storage("memory")
    finished_source(store)
    other = hs.Study("other", space={"lr": hs.Float(1e-4, 1e-1)}, storage=store, seed=0)
    t = other.ask()
    other.tell(t, 1.0)
    dst = hs.Study("dst", space=SPACE, storage=store, seed=1)
    with pytest.raises(HypersweepError, match="no study 'nope'"):
        dst.warm_start("nope")
    with pytest.raises(HypersweepError, match=r"other parameters.*only here: depth"):
        dst.warm_start("other", mode="prior")
    maxi = hs.Study("maxi", space=SPACE, objective={"metric": "acc", "goal": "max"}, storage=store)
    with pytest.raises(HypersweepError, match="same objectives"):
        maxi.warm_start("src")
    with pytest.raises(HypersweepError, match="mode"):
        dst.warm_start("src", mode="both")
    with pytest.raises(HypersweepError, match="weight"):
        dst.warm_start("src", mode="prior", weight=2)
    narrow = hs.Study(
        "narrow", space={"lr": hs.Float(0.5, 0.6), "depth": hs.Int(1, 8)}, storage=store
    )
    with pytest.raises(HypersweepError, match="none of the 12"):
        narrow.warm_start("src")


def test_transfer_from_sets_a_prior_block_that_survives_a_cache_rebuild():
    store = open_storage("memory")
    finished_source(store)
    dst = hs.Study("dst", space=SPACE, storage=store, seed=1, sampler="tpe")
    assert dst.warm_start("src", mode="prior", top=5, weight=0.3) == 5
    prior = dst.history.prior
    assert prior is not None and len(prior) == 5 and prior.weight == 0.3
    assert dst.trials() == []  # not trials of this study
    dst.set_constraints([{"metric": "mem", "max": 100}])  # rebuilds the cache
    assert dst.history.prior is prior


def test_every_trial_gets_a_deterministic_seed():
    s = hs.Study("s", space=SPACE, storage="memory", seed=7)
    trials = s.ask(3)
    assert [t.seed for t in trials] == [trial_seed(7, n) for n in range(3)]
    assert len({t.seed for t in trials}) == 3
    stored = s.trials()[1]
    assert stored.seed is None and s.trial_seed(stored) == trials[1].seed == s.trial_seed(1)
    s.enqueue({"lr": 0.01, "depth": 3})
    assert s.ask().seed == trial_seed(7, 3)


def test_the_objective_function_sees_the_seed():
    seen = {}

    def fn(params, trial):
        seen[trial.number] = (trial.seed, hs.seed())
        return 1.0

    s = hs.Study("s", space=SPACE, storage="memory", seed=11)
    s.optimize(fn, max_trials=2)
    assert seen == {n: (trial_seed(11, n), trial_seed(11, n)) for n in range(2)}
    assert hs.seed(default=5) == 5  # outside a trial
