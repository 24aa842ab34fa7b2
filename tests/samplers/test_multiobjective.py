"""Hypervolume (exact, checked against inclusion-exclusion) and the NSGA-II sampler."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.analysis.hypervolume import hypervolume, hypervolume_history
from hypersweep.errors import HypersweepError, SpecError
from hypersweep.samplers.nsga2 import NSGA2Sampler, crowding_distance, rank_population


def union_volume(Y: np.ndarray, ref: np.ndarray) -> float:
    """Inclusion-exclusion over the boxes [y, ref): exact, exponential, for small sets."""
    Y = Y[np.all(ref > Y, axis=1)]
    total = 0.0
    for k in range(1, len(Y) + 1):
        for S in itertools.combinations(range(len(Y)), k):
            corner = Y[list(S)].max(axis=0)
            total += (-1) ** (k + 1) * float(np.prod(ref - corner))
    return total


@pytest.mark.parametrize("dim", [2, 3, 4])
def test_hypervolume_matches_inclusion_exclusion(dim: int) -> None:
    rng = np.random.default_rng(dim)
    for _ in range(20):
        Y = rng.random((int(rng.integers(1, 9)), dim))
        Y[0] = Y[-1]  # a duplicate
        ref = np.full(dim, 1.05)
        assert hypervolume(Y, ref) == pytest.approx(union_volume(Y, ref), rel=1e-12, abs=1e-12)


def test_hypervolume_simple_cases() -> None:
    assert hypervolume(np.array([[0.5, 0.5]]), [1, 1]) == pytest.approx(0.25)
    assert hypervolume(np.array([[2.0, 0.0]]), [1, 1]) == 0.0  # outside the reference
    assert hypervolume(np.array([[0.0, 0.0, 0.0]]), [1, 2, 3]) == pytest.approx(6.0)
    assert hypervolume(np.array([[0.25], [0.5]]), [1.0]) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        hypervolume(np.zeros((2, 3)), [1, 1])


def test_hypervolume_of_a_large_3d_front_is_fast_and_exact() -> None:
    # points on the unit sphere's positive octant: all non-dominated
    rng = np.random.default_rng(0)
    P = np.abs(rng.normal(size=(300, 3)))
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    hv = hypervolume(P, [1.0, 1.0, 1.0])
    exact_limit = 1 - np.pi / 6  # the volume outside the sphere within the cube
    assert 0.9 * exact_limit < hv < exact_limit


def test_hypervolume_history_grows_with_the_front() -> None:
    space = {"x": hs.Float(0, 1)}
    study = hs.Study(
        "hv",
        space=space,
        objective=[{"metric": "a"}, {"metric": "b", "goal": "maximize"}],
        sampler="random",
        storage="memory",
        seed=0,
    )
    for _ in range(30):
        t = study.ask()
        x = t.params["x"]
        study.tell(t, [x, -((1 - x) ** 2)])
    hist = hypervolume_history(study, ref=[1.0, -1.0])
    assert hist.shape == (30,) and np.all(np.diff(hist) >= 0)
    Y = np.array([[t.values[0], -t.values[1]] for t in study.trials()])
    assert hist[-1] == pytest.approx(hypervolume(Y, [1.0, 1.0]))
    assert hypervolume_history(study)[-1] > 0  # default reference
    with pytest.raises(HypersweepError, match="ref needs 2 values"):
        hypervolume_history(study, ref=[1.0])


def test_crowding_and_ranking() -> None:
    Y = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [1.0, 1.0], [0.6, 0.6]])
    d = crowding_distance(Y[:3])
    assert np.isinf(d[[0, 2]]).all() and d[1] == pytest.approx(2.0)
    viol = np.zeros(5)
    chosen, rank, _ = rank_population(Y, viol, 4)
    assert sorted(chosen[:3].tolist()) == [0, 1, 2] and chosen[3] == 4
    assert rank.tolist() == [0, 0, 0, 1]
    viol = np.array([0, 0, 0, 0, 2.0])  # infeasible rows come after every feasible one
    chosen, rank, _ = rank_population(Y, viol, 5)
    assert chosen[-1] == 4 and chosen[-2] == 3


def zdt1(params: dict[str, float], d: int) -> list[float]:
    x = np.array([params[f"x{i}"] for i in range(d)])
    g = 1 + 9 * x[1:].mean()
    return [float(x[0]), float(g * (1 - np.sqrt(x[0] / g)))]


def zdt_hv(sampler: object, seed: int, n: int = 300, d: int = 5) -> float:
    space = {f"x{i}": hs.Float(0, 1) for i in range(d)}
    study = hs.Study(
        f"zdt-{seed}",
        space=space,
        objective=["f1", "f2"],
        sampler=sampler,
        storage="memory",
        seed=seed,
    )
    for _ in range(n):
        t = study.ask()
        study.tell(t, zdt1(t.params, d))
    return float(hypervolume_history(study, ref=[1.1, 11.0])[-1])


def test_nsga2_beats_random_search_on_zdt1() -> None:
    for seed in (0, 1):
        nsga = zdt_hv(NSGA2Sampler(population=30), seed)
        rand = zdt_hv("random", seed)
        assert nsga > rand, (seed, nsga, rand)


def test_nsga2_constraint_handling_moves_into_the_feasible_region() -> None:
    space = {"x": hs.Float(0, 1), "y": hs.Float(0, 1)}
    study = hs.Study(
        "c",
        space=space,
        objective=["a", "b"],
        sampler=NSGA2Sampler(population=20),
        storage="memory",
        seed=0,
        constraints=[{"metric": "c", "max": 0.0}],
    )
    for _ in range(120):
        t = study.ask()
        x, y = t.params["x"], t.params["y"]
        study.tell(t, {"a": x, "b": 1 - x + y, "c": 0.8 - x - y})  # feasible: x + y >= 0.8
    # the constrained front lies on the boundary x + y = 0.8, so children of its trials
    # land on either side; uniform draws are feasible 32 % of the time
    last = study.trials()[-40:]
    assert sum(t.metrics["c"] <= 0 for t in last) / len(last) >= 0.5
    assert all(study.feasible(t) for t in study.best_trials)


def test_nsga2_generations_and_options() -> None:
    space = {"x": hs.Float(0, 1)}
    study = hs.Study(
        "g", space=space, objective=["a", "b"], sampler="nsga2", storage="memory", seed=0
    )
    for _ in range(55):
        t = study.ask()
        study.tell(t, [t.params["x"], 1 - t.params["x"]])
    gens = [t.system_attrs["generation"] for t in study.trials()]
    assert gens[:50] == [0] * 50 and gens[50:] == [1] * 5
    s = hs.samplers.make_sampler({"name": "nsga2", "population": 10, "eta_mutation": 5})
    assert s.config() == {"name": "nsga2", "population": 10, "eta_mutation": 5.0}
    with pytest.raises(SpecError, match="population"):
        NSGA2Sampler(population=1)
    with pytest.raises(SpecError, match="crossover_prob"):
        NSGA2Sampler(crossover_prob=2)


def test_nsga2_children_stay_in_the_cube_and_are_never_a_silent_default() -> None:
    # parents on the bounds: SBX children land outside [0, 1]; mutated there, they were NaN
    # (a RuntimeWarning) and decoded to the middle of the range
    import warnings

    space = {f"x{i}": hs.Float(0, 1) for i in range(6)}
    study = hs.Study(
        "edge",
        space=space,
        objective=["a", "b"],
        sampler=NSGA2Sampler(population=20),
        storage="memory",
        seed=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for _ in range(200):
            t = study.ask()
            x = np.array([t.params[f"x{i}"] for i in range(6)])
            study.tell(t, [float(x[0]), float(1 + x[1:].sum() - x[0])])
    X = np.array([[t.params[f"x{i}"] for i in range(6)] for t in study.trials()[20:]])
    assert ((X >= 0) & (X <= 1)).all()
    # the encoded children of parents on the bounds (a NaN would decode silently to 0.5)
    edge = hs.Study("edge2", space=space, objective=["a", "b"], storage="memory", seed=0)
    for i in range(20):
        edge.enqueue({f"x{j}": float((i >> j) & 1) for j in range(6)})
    for _ in range(20):
        edge.tell(edge.ask(), [0.0, 0.0])
    # (a non-integer exponent: a negative base is NaN, not a tiny negative number)
    sampler = NSGA2Sampler(population=20, eta_mutation=20.5, mutation_prob=1.0)
    history = edge.history
    rows = np.arange(20)
    par = (rows, np.zeros(20, dtype=int), np.ones(20))
    rng = np.random.default_rng(0)
    kids = np.array([sampler._child(edge.space, history, par, rng) for _ in range(500)])
    assert np.isfinite(kids).all()
