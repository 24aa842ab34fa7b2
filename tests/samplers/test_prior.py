"""Transfer through the history's prior block (hypersweep.samplers.prior; tpe, gp)."""

from __future__ import annotations

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.history import Prior
from hypersweep.samplers.prior import ROLE, effective_weight, merged, relatedness
from hypersweep.storage import open_storage
from tests.samplers.gp_helpers import assert_posterior_gradients

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


@pytest.mark.parametrize("sampler", ["tpe", "gp"])
def test_an_unrelated_prior_and_its_guesses_stop_steering_the_model(sampler):
    """Once relatedness is 0 the prior weighs nothing and its guided trials leave the
    model: where they were tried no longer changes a proposal."""
    from dataclasses import replace

    from hypersweep.history import History
    from hypersweep.samplers.prior import forgotten

    store = open_storage("memory")
    source(store)
    anti = lambda p: -bowl(1.0, -2.0)(p)  # noqa: E731
    warm = hs.Study("w", space=SPACE, storage=store, seed=2, sampler=sampler)
    warm.transfer_from("src")
    run(warm, anti, 14)
    h = warm.history
    assert effective_weight(h) == 0.0
    guided = [t.number for t in warm.trials() if t.system_attrs.get(ROLE) == "guided"]
    assert guided and forgotten(h).tolist() == [i in guided for i in range(14)]
    moved = History(h.space, h.objectives, h.seed)  # the guesses tried elsewhere
    moved.update(
        replace(t, params={"x": -4.5 + i, "y": 4.0}) if t.number in guided else t
        for i, t in enumerate(warm.trials())
    )
    moved.set_prior(h.prior)
    assert relatedness(moved) == 0.0
    s = warm.sampler
    a = s.propose(h.space, h, np.random.default_rng(7))[0].params
    b = s.propose(h.space, moved, np.random.default_rng(7))[0].params
    assert a == b
    if sampler == "gp":  # ... whereas without the prior they are ordinary trials (the
        h.set_prior(None)  # GP's model, a function of its data, then moves with them)
        moved.set_prior(None)
        a = s.propose(h.space, h, np.random.default_rng(7))[0].params
        assert a != s.propose(h.space, moved, np.random.default_rng(7))[0].params


def test_prior_shape_is_checked():
    h = hs.Study("s", space=SPACE, storage="memory", seed=0).history
    with pytest.raises(ValueError, match="columns"):
        h.set_prior(Prior(np.zeros((2, 3)), np.zeros((2, 1)), 0.5))
    with pytest.raises(ValueError, match="weight"):
        Prior(np.zeros((2, 2)), np.zeros((2, 1)), 0.0)
    with pytest.raises(ValueError, match="finite"):
        Prior(np.zeros((1, 2)), np.array([[np.nan]]), 0.5)


# ----------------------------------------------------------------------------------------
# gp: the prior's model as the prior mean
# ----------------------------------------------------------------------------------------
def _posterior_with_mean(rng):
    from hypersweep.samplers.gp._model import Posterior, Warp
    from hypersweep.samplers.gp._transfer import calibrated

    Zs = rng.random((30, 2))
    v = 50.0 * (Zs**2).sum(1) + np.exp(4 * Zs[:, 0])  # a heavy upper tail: warped
    warp = Warp.fit(v)
    src = Posterior.build(Zs, warp(v), np.array([2.0, 3.0]), 1.0, 1e-6)
    Z = rng.random((8, 2))
    probe = calibrated((src, warp), Z, np.arange(8.0))
    y_raw = 2.0 * probe.raw(Z) + 1.0 + 0.1 * Z[:, 0]  # related, plus a small difference
    mean = calibrated((src, warp), Z, y_raw)
    y = Warp.fit(y_raw)(y_raw)
    return mean, Z, y_raw, y, Posterior.build(Z, y, np.array([1.5, 1.5]), 1.0, 1e-6, mean)


def test_the_prior_mean_is_calibrated_on_raw_values_and_never_inverted():
    from hypersweep.samplers.gp._model import transform
    from hypersweep.samplers.gp._transfer import calibrated

    mean, Z, _, _, _ = _posterior_with_mean(np.random.default_rng(0))
    m = mean.raw(Z)  # the source's mean in its raw values
    exact = calibrated((mean.source, mean.source_warp), Z, 3.0 * m - 2.0)
    assert exact.a == pytest.approx(3.0) and exact.b == pytest.approx(-2.0)
    np.testing.assert_allclose(exact(Z), transform(3.0 * m - 2.0), atol=1e-9)  # one scale
    inverted = calibrated((mean.source, mean.source_warp), Z, -m)  # ranks them backwards
    assert inverted.a == 0.0 and np.ptp(inverted(Z)) == 0.0  # a constant
    assert mean.a == pytest.approx(2.0, rel=0.05)


def test_a_posterior_with_a_prior_mean_interpolates_and_has_exact_gradients():
    rng = np.random.default_rng(1)
    mean, Z, _, y, post = _posterior_with_mean(rng)
    np.testing.assert_allclose(post.predict(Z)[0], y, atol=1e-4)  # near-exact interpolation
    far = np.full((1, 2), 50.0)  # far from the study's points: the prior mean
    assert post.predict(far)[0][0] == pytest.approx(mean(far)[0], abs=1e-6)
    assert_posterior_gradients(post, rng.random((5, 2)))


SPACE3 = {"x": hs.Float(-5, 5), "y": hs.Float(-5, 5), "z": hs.Float(-5, 5)}


def bowl3(c, scale=1.0, offset=0.0):
    return lambda p: scale * sum((p[k] - v) ** 2 for k, v in zip("xyz", c)) + offset


def test_gp_transfer_converges_finely_on_a_shifted_optimum_sooner():
    """The related study's model is the prior mean: the GP then only has to learn the
    (smooth) difference between the two landscapes, not the bowl itself."""
    store = open_storage("memory")
    src = hs.Study("src", space=SPACE3, storage=store, seed=0, sampler="random")
    run(src, bowl3((2.0, -3.0, 1.0)), 60)
    target = bowl3((2.3, -3.3, 1.2), scale=2.0, offset=10.0)
    gaps = {}
    for name in ("cold", "warm"):
        study = hs.Study(name, space=SPACE3, storage=store, seed=0, sampler="gp")
        if name == "warm":
            study.transfer_from("src", weight=0.5)
        run(study, target, 20)
        gaps[name] = study.best_value - 10.0
    assert roles(study)[:10] == list("geegeegee-")
    assert study.trials()[0].params == src.best_params  # the first guess: the prior's best
    assert gaps["warm"] < 0.01 * gaps["cold"], gaps  # (seed 0: 5e-6 against 2e-3)


@pytest.mark.parametrize("sampler", ["tpe", "gp"])
def test_exploring_trials_are_the_cold_starts_own_points(sampler):
    """The duel's exploring trials, and the start-up after a prior is dropped, are the
    space-filling points a cold start tries, in its order: a dropped prior costs the
    guided trials, not a different start (the model then ignores the guesses, see
    above)."""
    store = open_storage("memory")
    src = hs.Study("src", space=SPACE3, storage=store, seed=0, sampler="random")
    run(src, bowl3((2.0, -3.0, 1.0)), 40)
    anti = lambda p: -bowl3((2.0, -3.0, 1.0))(p)  # noqa: E731
    n_startup = {"tpe": 10, "gp": 5}[sampler]
    cold = run(hs.Study("c", space=SPACE3, storage=store, seed=1, sampler=sampler), anti, 12)
    warm = hs.Study("w", space=SPACE3, storage=store, seed=1, sampler=sampler)
    warm.transfer_from("src")
    run(warm, anti, 12)
    assert roles(warm)[:3] == list("gee") and roles(warm)[-1] == "-"
    own = [t.params for t in warm.trials() if t.system_attrs.get(ROLE) != "guided"]
    assert own[:n_startup] == [t.params for t in cold.trials()[:n_startup]]


def test_the_output_warp_inverts_exactly_with_its_derivative():
    from hypersweep.samplers.gp._model import Warp, transform

    rng = np.random.default_rng(3)
    v = np.concatenate([rng.normal(size=20), np.exp(rng.uniform(0, 8, 10))])  # a heavy tail
    w = Warp.fit(v)
    np.testing.assert_array_equal(w(v), transform(v))  # the GP's own transform, bit for bit
    back, d = w.inverse(w(v))
    np.testing.assert_allclose(back, v, rtol=1e-10)
    eps = 1e-6
    num = (w.inverse(w(v) + eps)[0] - w.inverse(w(v) - eps)[0]) / (2 * eps)
    np.testing.assert_allclose(d, num, rtol=1e-5)
    np.testing.assert_allclose(w.slope(v) * d, 1.0, rtol=1e-10)  # slope of the forward warp
