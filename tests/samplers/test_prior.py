"""Transfer through the history's prior block (hypersweep.samplers.prior; tpe, gp)."""

from __future__ import annotations

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.history import Prior
from hypersweep.samplers.prior import MIN_OWN, effective_weight, merged, relatedness
from hypersweep.storage import open_storage

SPACE = {"x": hs.Float(-5, 5), "y": hs.Float(-5, 5)}


def bowl(cx: float, cy: float, scale: float = 1.0, offset: float = 0.0):
    return lambda p: scale * ((p["x"] - cx) ** 2 + (p["y"] - cy) ** 2) + offset


def run(study, fn, n):
    for _ in range(n):
        t = study.ask()
        study.tell(t, fn(t.params))
    return study


def source(storage, name="src", fn=None, n=40):
    s = hs.Study(name, space=SPACE, storage=storage, seed=0, sampler="random")
    return run(s, fn or bowl(1.0, -2.0), n)


def test_relatedness_tells_a_related_prior_from_an_unrelated_one():
    store = open_storage("memory")
    source(store)
    related = hs.Study("rel", space=SPACE, storage=store, seed=3, sampler="random")
    related.transfer_from("src")
    assert relatedness(related.history) == 1.0  # no own evidence yet: trusted
    run(related, bowl(1.3, -2.2, scale=3.0, offset=50.0), 12)
    anti = hs.Study("anti", space=SPACE, storage=store, seed=3, sampler="random")
    anti.transfer_from("src")
    run(anti, lambda p: -bowl(1.0, -2.0)(p), 12)  # the opposite landscape
    assert relatedness(related.history) > 0.6
    assert relatedness(anti.history) == 0.0
    assert effective_weight(anti.history) == 0.0
    assert 0 < effective_weight(related.history) < 0.5


def test_merged_history_puts_the_prior_first_on_the_study_scale():
    store = open_storage("memory")
    source(store, n=10)
    s = hs.Study("t", space=SPACE, storage=store, seed=1, sampler="random")
    s.transfer_from("src", top=5)
    run(s, bowl(0, 0, offset=100.0), 3)
    h, p = merged(s.history)
    assert p == 5 and h.n == 8 and h.trials[:5] == [None] * 5
    own = s.history.Y[:, 0]
    assert own.min() <= h.Y[:5, 0].min() and h.Y[:5, 0].max() <= own.max()
    assert np.argsort(h.Y[:5, 0]).tolist() == np.argsort(s.history.prior.Y[:, 0]).tolist()


@pytest.mark.parametrize(("sampler", "n"), [("tpe", 8), ("gp", 4)])
def test_a_related_prior_finds_the_shifted_optimum_sooner(sampler, n):
    store = open_storage("memory")
    source(store, fn=bowl(2.0, -3.0), n=60)
    target = bowl(2.3, -3.2, scale=2.0, offset=10.0)
    cold = run(hs.Study("cold", space=SPACE, storage=store, seed=5, sampler=sampler), target, n)
    warm = hs.Study("warm", space=SPACE, storage=store, seed=5, sampler=sampler)
    warm.transfer_from("src", weight=0.5)
    run(warm, target, n)
    assert warm.best_value - 10.0 < 0.5 * (cold.best_value - 10.0)


def test_an_unrelated_prior_stops_steering_tpe():
    """Once relatedness is 0, proposals are exactly those of a cold start."""
    store = open_storage("memory")
    source(store)
    anti = lambda p: -bowl(1.0, -2.0)(p)  # noqa: E731
    cold = run(hs.Study("c", space=SPACE, storage=store, seed=2, sampler="tpe"), anti, 15)
    warm = hs.Study("w", space=SPACE, storage=store, seed=2, sampler="tpe")
    warm.transfer_from("src")
    for t in cold.trials():  # the same own history as the cold study
        warm.add_trials([{"params": t.params, "value": t.value}])
    assert len(cold.trials()) >= MIN_OWN and effective_weight(warm.history) == 0.0
    assert cold.ask().params == warm.ask().params


def test_prior_shape_is_checked():
    h = hs.Study("s", space=SPACE, storage="memory", seed=0).history
    with pytest.raises(ValueError, match="columns"):
        h.set_prior(Prior(np.zeros((2, 3)), np.zeros((2, 1)), 0.5))
    with pytest.raises(ValueError, match="weight"):
        Prior(np.zeros((2, 2)), np.zeros((2, 1)), 0.0)
    with pytest.raises(ValueError, match="finite"):
        Prior(np.zeros((1, 2)), np.array([[np.nan]]), 0.5)
