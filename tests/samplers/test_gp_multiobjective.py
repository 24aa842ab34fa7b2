"""The GP's multi-objective search: the box decomposition, the exact expected hypervolume
improvement and its gradient, and the sampler on ZDT1 and under constraints."""

from __future__ import annotations

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.analysis.hypervolume import hypervolume
from hypersweep.history import History
from hypersweep.samplers.auto import AutoSampler
from hypersweep.samplers.gp import GPSampler
from hypersweep.samplers.gp._ehvi import boxes, log_ehvi
from hypersweep.space import Float, Space
from tests.samplers.test_multiobjective import zdt_hv


def _front(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    return rng.random((n, m))


@pytest.mark.parametrize("m", [2, 3])
def test_boxes_tile_exactly_the_region_no_front_point_dominates(m: int) -> None:
    rng = np.random.default_rng(m)
    for _ in range(10):
        P = _front(rng, int(rng.integers(1, 15)), m)
        ref = np.full(m, 1.1)
        lo, hi = boxes(P, ref)
        floor = -0.5  # clip the open lower ends
        L = np.maximum(lo, floor)
        vol = float(np.prod(np.clip(hi - L, 0, None), axis=1).sum())
        assert vol == pytest.approx((1.1 - floor) ** m - hypervolume(P, ref), rel=1e-10)
        # disjoint: random points fall in at most one box, and in one iff not dominated
        Z = rng.uniform(floor, 1.1, (4000, m))
        inside = ((Z[:, None, :] > L[None]) & (Z[:, None, :] < hi[None])).all(axis=2)
        dominated = (P[None, :, :] <= Z[:, None, :]).all(axis=2).any(axis=1)
        assert (inside.sum(axis=1) <= 1).all()
        assert (inside.any(axis=1) == ~dominated).all()


@pytest.mark.parametrize("m", [2, 3])
def test_expected_hypervolume_improvement_matches_monte_carlo_and_its_gradient(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    P = _front(rng, 8, m)
    ref = np.full(m, 1.2)
    lo, hi = boxes(P, ref)
    mu = rng.normal(0.4, 0.3, (3, m))
    var = rng.uniform(0.01, 0.1, (3, m))
    value, g_mu, g_var = log_ehvi(lo, hi, mu, var, grad=True)
    assert g_mu is not None and g_var is not None
    hv0 = hypervolume(P, ref)
    for i in range(3):
        S = mu[i] + np.sqrt(var[i]) * rng.standard_normal((3000, m))
        imp = np.array([hypervolume(np.vstack([P, s]), ref) - hv0 for s in S])
        se = imp.std() / np.sqrt(imp.size)  # the Monte Carlo estimate's standard error
        assert abs(np.exp(value[i]) - imp.mean()) < 4 * se + 1e-9, (np.exp(value[i]), imp.mean())
    eps = 1e-6
    for j in range(m):
        d = np.zeros((3, m))
        d[:, j] = eps
        num_mu = (log_ehvi(lo, hi, mu + d, var)[0] - value) / eps
        num_var = (log_ehvi(lo, hi, mu, var + d)[0] - value) / eps
        np.testing.assert_allclose(g_mu[:, j], num_mu, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(g_var[:, j], num_var, rtol=1e-3, atol=1e-5)
    # far from any improvement the log stays finite and still ranks the points
    far = log_ehvi(lo, hi, np.array([[20.0] * m, [30.0] * m]), np.full((2, m), 0.01))[0]
    assert np.isfinite(far).all() and far[0] > far[1]


def test_gp_expected_hypervolume_improvement_beats_tpe_and_random_on_zdt1() -> None:
    # the ideal front's hypervolume with this reference: 1.1 * 11 - 2/3 = 11.433
    for seed in (0, 1):
        gp = zdt_hv("gp", seed, 40, d=4)
        assert gp > zdt_hv("tpe", seed, 40, d=4) and gp > zdt_hv("random", seed, 40, d=4)
        assert gp > 11.2, (seed, gp)


def test_auto_uses_the_gp_for_two_and_three_objectives_and_tpe_beyond() -> None:
    sp = Space({"x": Float(0, 1)})
    for k, expect in ((2, "gp"), (3, "gp"), (4, "tpe")):
        objectives = [hs.Objective(f"m{i}") for i in range(k)]
        assert AutoSampler(seed=0).choose(sp, History(sp, objectives)) == expect


def _moo_study(name: str, sampler: object, **kw: object) -> hs.Study:
    return hs.Study(
        name,
        space={"x": hs.Float(0, 1), "y": hs.Float(0, 1)},
        objective=["a", "b"],
        sampler=sampler,
        storage="memory",
        seed=0,
        **kw,  # type: ignore[arg-type]
    )


def test_parallel_proposals_differ_and_a_resumed_history_proposes_the_same() -> None:
    study = _moo_study("batch", GPSampler(seed=0))
    for _ in range(12):
        t = study.ask()
        study.tell(t, {"a": t.params["x"], "b": 1 - t.params["x"] + t.params["y"]})
    batch = [study.ask() for _ in range(4)]  # each asked while the others run
    points = {(t.params["x"], t.params["y"]) for t in batch}
    assert len(points) == 4
    hist = study.history
    sp = study.space
    one = GPSampler(seed=0).propose(sp, hist, np.random.default_rng(7), 3)
    two = GPSampler(seed=0).propose(sp, hist, np.random.default_rng(7), 3)
    assert [p.params for p in one] == [p.params for p in two]


def test_gp_multiobjective_constraints_move_into_the_feasible_region() -> None:
    study = _moo_study("c", "gp", constraints=[{"metric": "c", "max": 0.0}])
    for _ in range(40):
        t = study.ask()
        x, y = t.params["x"], t.params["y"]
        study.tell(t, {"a": x, "b": 1 - x + y, "c": 0.8 - x - y})  # feasible: x + y >= 0.8
    last = study.trials()[-20:]
    # uniform draws are feasible 32 % of the time
    assert sum(t.metrics["c"] <= 0 for t in last) / len(last) >= 0.7
    assert all(study.feasible(t) for t in study.best_trials)
