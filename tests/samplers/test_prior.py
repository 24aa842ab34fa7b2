"""Transfer through the history's prior block (hypersweep.samplers.prior; tpe, gp)."""

from __future__ import annotations

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.history import Prior
from hypersweep.samplers.prior import ROLE, effective_weight, merged, relatedness
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


def roles(study):
    return [t.system_attrs.get(ROLE, "-")[0] for t in study.trials()]


def test_the_duel_keeps_a_related_prior_and_drops_an_unrelated_one():
    store = open_storage("memory")
    source(store)
    related = hs.Study("rel", space=SPACE, storage=store, seed=3, sampler="tpe")
    related.transfer_from("src")
    assert relatedness(related.history) == 1.0  # no own evidence yet: trusted
    run(related, bowl(1.3, -2.2, scale=3.0, offset=50.0), 12)
    assert roles(related) == list("geegeegee---")
    assert relatedness(related.history) == 1.0
    assert 0 < effective_weight(related.history) <= 0.5
    anti = hs.Study("anti", space=SPACE, storage=store, seed=3, sampler="tpe")
    anti.transfer_from("src")
    run(anti, lambda p: -bowl(1.0, -2.0)(p), 12)  # the opposite landscape
    assert relatedness(anti.history) == 0.0 and effective_weight(anti.history) == 0.0
    r = roles(anti)
    assert r[:3] == list("gee") and r[-1] == "-" and len(r) == 12  # ended early


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


@pytest.mark.parametrize(("sampler", "n", "factor"), [("tpe", 8, 0.5), ("gp", 3, 1.0)])
def test_a_related_prior_finds_the_shifted_optimum_sooner(sampler, n, factor):
    store = open_storage("memory")
    src = source(store, fn=bowl(2.0, -3.0), n=200)
    target = bowl(2.3, -3.2, scale=2.0, offset=10.0)
    cold = run(hs.Study("cold", space=SPACE, storage=store, seed=5, sampler=sampler), target, n)
    warm = hs.Study("warm", space=SPACE, storage=store, seed=5, sampler=sampler)
    warm.transfer_from("src", weight=0.5)
    run(warm, target, n)
    assert warm.best_value - 10.0 < factor * (cold.best_value - 10.0)
    first = warm.trials()[0]
    assert first.system_attrs["transfer"] == "guided"
    if sampler == "gp":  # a warm-started initial design: the prior's best first
        assert first.params == src.best_params


def test_an_unrelated_prior_stops_steering_tpe():
    """Once relatedness is 0, proposals are exactly those of a cold start with the same
    trials."""
    store = open_storage("memory")
    source(store)
    anti = lambda p: -bowl(1.0, -2.0)(p)  # noqa: E731
    warm = hs.Study("w", space=SPACE, storage=store, seed=2, sampler="tpe")
    warm.transfer_from("src")
    run(warm, anti, 14)
    assert effective_weight(warm.history) == 0.0
    cold = hs.Study("c", space=SPACE, storage=store, seed=2, sampler="tpe")
    cold.add_trials(warm.trials())
    assert cold.ask().params == warm.ask().params


def test_prior_shape_is_checked():
    h = hs.Study("s", space=SPACE, storage="memory", seed=0).history
    with pytest.raises(ValueError, match="columns"):
        h.set_prior(Prior(np.zeros((2, 3)), np.zeros((2, 1)), 0.5))
    with pytest.raises(ValueError, match="weight"):
        Prior(np.zeros((2, 2)), np.zeros((2, 1)), 0.0)
    with pytest.raises(ValueError, match="finite"):
        Prior(np.zeros((1, 2)), np.array([[np.nan]]), 0.5)
