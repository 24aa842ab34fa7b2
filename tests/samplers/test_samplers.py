"""Every registered sampler passes the shared contract; plus grid- and Sobol-specific tests."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing as mp
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.errors import SpaceError, SpaceExhausted, SpecError
from hypersweep.history import History
from hypersweep.samplers import REGISTRY, make_sampler
from hypersweep.samplers.grid import GridSampler
from hypersweep.samplers.sobol import SobolSampler
from hypersweep.space import Bool, Choice, Float, Int, Space
from hypersweep.storage.memory import InMemoryStorage
from hypersweep.testing.samplers import SamplerContract, SamplerFactory, check_proposal
from hypersweep.trial import Objective, TrialState

#: Options a sampler needs to run the contract (a grid needs points for continuous params).
CONTRACT_OPTIONS: dict[str, dict[str, Any]] = {"grid": {"grid_points": 3}}


@pytest.fixture(params=sorted(REGISTRY))
def sampler_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestEveryRegisteredSampler(SamplerContract):
    @pytest.fixture
    def sampler_factory(self, sampler_name: str) -> SamplerFactory:
        options = CONTRACT_OPTIONS.get(sampler_name, {})

        def make(seed: int) -> hs.Sampler:
            return make_sampler({"name": sampler_name, "seed": seed, **options})

        return make


# ----------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------
def test_unknown_sampler_name_suggests_the_closest() -> None:
    with pytest.raises(SpecError, match=r"unknown sampler 'sobl' \(did you mean 'sobol'\?\)"):
        make_sampler("sobl")
    with pytest.raises(SpecError, match="did you mean 'grid'"):
        hs.Study("s", space={"x": Float(0, 1)}, storage="memory", sampler={"name": "gird"})
    with pytest.raises(SpecError, match=r"known: .*random"):
        make_sampler("zzzzzz")


def test_unknown_sampler_option_suggests_the_closest() -> None:
    with pytest.raises(SpecError, match=r"sampler\.grid_point: .*did you mean 'grid_points'"):
        make_sampler({"name": "grid", "grid_point": 3})


def test_registry_builds_each_sampler_by_name(sampler_name: str) -> None:
    s = make_sampler({"name": sampler_name, "seed": 3})
    assert s.seed == 3
    assert s.config()["name"] == sampler_name


# ----------------------------------------------------------------------------------------
# grid
# ----------------------------------------------------------------------------------------
def _grid_space() -> Space:
    return Space(
        {
            "a": Int(1, 3),
            "b": Choice(["x", "y"]),
            "g": Choice({"p": {"q": Bool()}, "r": {}}),
        }
    )  # 3 * 2 * (2 + 1) = 18 points


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def test_grid_is_exhaustive_without_duplicates_then_exhausted() -> None:
    space = _grid_space()
    study = hs.Study("g", space=space, sampler="grid", storage="memory", seed=1)
    seen = []
    with pytest.raises(SpaceExhausted, match="all 18 grid points"):
        for _ in range(100):
            t = study.ask()
            seen.append(t.params)
            study.tell(t, 1.0)
    assert len(seen) == 18
    assert sorted(map(_key, seen)) == sorted(map(_key, space.grid()))
    for params in seen:
        check_proposal(space, params)


def test_grid_ask_n_near_the_end_returns_what_is_left() -> None:
    study = hs.Study("g", space=_grid_space(), sampler="grid", storage="memory", seed=1)
    assert len(study.ask(15)) == 15
    last = study.ask(5)  # three points left: no trial may be created and then dropped
    assert len(last) == 3
    assert len(study.trials(states=[TrialState.RUNNING])) == 18
    with pytest.raises(SpaceExhausted):
        study.ask()


def test_grid_shuffles_by_seed_and_keeps_grid_order_without_shuffle() -> None:
    space = _grid_space()
    h = History(space, [Objective("loss")])
    rng = np.random.default_rng(0)
    ordered = [p.params for p in GridSampler(shuffle=False).propose(space, h, rng, 18)]
    assert ordered == list(space.grid())
    a = [p.params for p in GridSampler(seed=1).propose(space, h, rng, 18)]
    b = [p.params for p in GridSampler(seed=1).propose(space, h, rng, 18)]
    c = [p.params for p in GridSampler(seed=2).propose(space, h, rng, 18)]
    assert a == b and a != c and a != ordered
    assert sorted(map(_key, a)) == sorted(map(_key, ordered))


def test_grid_ends_the_optimization_with_a_stop_reason() -> None:
    study = hs.Study("g", space=_grid_space(), sampler="grid", storage="memory", seed=1)
    study.optimize(lambda p: float(p["a"]), max_trials=100)
    assert len(study.trials()) == 18
    assert "exhausted" in study.attrs["stop_reason"]
    assert study.best_value == 1.0


def test_grid_visits_a_huge_grid_lazily() -> None:
    space = Space({f"p{i}": Int(1, 10) for i in range(12)})  # 10^12 points
    sampler = GridSampler(seed=3)
    assert sampler.size(space) == 10**12
    h = History(space, [Objective("loss")])
    proposals = sampler.propose(space, h, np.random.default_rng(0), 200)
    keys = {_key(p.params) for p in proposals}
    assert len(keys) == 200
    assert len({p.params["p0"] for p in proposals}) == 10  # shuffled, not grid order
    again = GridSampler(seed=3).propose(space, h, np.random.default_rng(1), 200)
    assert [p.params for p in again] == [p.params for p in proposals]


def test_grid_points_for_continuous_params() -> None:
    space = Space({"x": Float(0, 1), "y": Float(1, 100, log=True), "k": Int(1, 2)})
    study = hs.Study(
        "g", space=space, sampler={"name": "grid", "grid_points": 3}, storage="memory"
    )
    study.optimize(lambda p: p["x"], max_trials=100)
    got = [t.params for t in study.trials()]
    assert len(got) == 18
    assert sorted({p["x"] for p in got}) == [0.0, 0.5, 1.0]
    assert sorted({p["y"] for p in got}) == pytest.approx([1.0, 10.0, 100.0])


def test_grid_without_points_for_a_continuous_param_says_how_to_fix() -> None:
    study = hs.Study(
        "g", space={"lr": Float(1e-4, 1e-1, log=True)}, sampler="grid", storage="memory"
    )
    with pytest.raises(SpaceError, match=r"space\.lr: .*step=.*grid_points"):
        study.ask()
    with pytest.raises(SpecError, match=r"^sampler\.grid_points: must be a positive integer"):
        make_sampler({"name": "grid", "grid_points": 0})


def test_grid_skips_points_that_were_enqueued() -> None:
    study = hs.Study("g", space=_grid_space(), sampler="grid", storage="memory", seed=1)
    study.enqueue({"a": 2, "b": "y", "g": "r"})
    seen = []
    with pytest.raises(SpaceExhausted):
        for _ in range(100):
            t = study.ask()
            seen.append(t.params)
            study.tell(t, 0.0)
    assert len(seen) == 18
    assert len(set(map(_key, seen))) == 18


def test_grid_covers_the_new_grid_after_the_space_is_edited() -> None:
    storage = InMemoryStorage()
    small = Space({"a": Int(1, 3)})
    study = hs.Study("g", space=small, sampler="grid", storage=storage, seed=1)
    study.optimize(lambda p: 0.0, max_trials=100)
    assert len(study.trials()) == 3
    bigger = Space({"a": Int(1, 3), "b": Bool()})  # old trials no longer fit
    resumed = hs.Study(
        "g", space=bigger, sampler="grid", storage=storage, seed=1, extend_space=True
    )
    resumed.optimize(lambda p: 0.0, max_trials=100)
    new = [_key(t.params) for t in resumed.trials()[3:]]
    assert sorted(new) == sorted(map(_key, bigger.grid()))


def _sql_missing() -> bool:
    return importlib.util.find_spec("hypersweep.storage.sql") is None


def _shared_grid_space() -> Space:
    return Space(
        {"a": Int(1, 10), "b": Choice(["x", "y"]), "g": Choice({"p": {"q": Bool()}, "r": {}})}
    )  # 60


def _grid_worker(url: str, seed: int, barrier: Any, results: Any) -> None:
    """Ask and tell on a shared grid study until it is exhausted; report trial numbers."""
    study = hs.Study(
        "shared-grid", space=_shared_grid_space(), sampler="grid", storage=url, seed=seed
    )
    numbers = []
    barrier.wait(60)  # all three start asking together: they propose the same points
    try:
        while True:
            try:
                t = study.ask()
            except SpaceExhausted:
                break
            numbers.append(t.number)
            time.sleep(0.01)  # "work", so that the processes interleave
            study.tell(t, float(t.params["a"]))
    finally:
        results.put(numbers)


@pytest.mark.slow
@pytest.mark.skipif(_sql_missing(), reason="hypersweep.storage.sql (SQLite storage) not there yet")
def test_grid_shared_by_three_processes_on_sqlite_has_no_duplicate(sqlite_url: str) -> None:
    hs.Study("shared-grid", space=_shared_grid_space(), sampler="grid", storage=sqlite_url, seed=5)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_grid_worker, args=(sqlite_url, 5, barrier, results)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    per_process = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    numbers = [n for r in per_process for n in r]
    assert len(numbers) == len(set(numbers)) == 60
    study = hs.Study("shared-grid", storage=sqlite_url)
    trials = study.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 60
    assert sorted(_key(t.params) for t in trials) == sorted(map(_key, _shared_grid_space().grid()))


# ----------------------------------------------------------------------------------------
# sobol
# ----------------------------------------------------------------------------------------
def _sobol_space() -> Space:
    return Space(
        {
            "x": Float(0, 1),
            "lr": Float(1e-4, 1, log=True),
            "act": Choice(["relu", "tanh", "gelu"]),
            "flag": Bool(),
            "opt": Choice({"adam": {"beta": Float(0.8, 0.99)}, "sgd": {"m": Float(0, 1)}}),
        }
    )


def _sobol_run(study: hs.Study, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        t = study.ask()
        out.append(t.params)
        study.tell(t, t.params["x"])
    return out


def test_sobol_is_seeded_and_deterministic() -> None:
    space = _sobol_space()
    h = History(space, [Objective("loss")])
    rng = np.random.default_rng(0)
    a = SobolSampler(seed=3).points(space.dim, 0, 16)
    b = SobolSampler(seed=3).points(space.dim, 0, 16)
    c = SobolSampler(seed=4).points(space.dim, 0, 16)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # a later slice equals the same slice of one long run (fast-forward, not restart)
    np.testing.assert_array_equal(SobolSampler(seed=3).points(space.dim, 8, 8), a[8:])
    p = [x.params for x in SobolSampler(seed=3).propose(space, h, rng, 4)]
    q = [x.params for x in SobolSampler(seed=3).propose(space, h, rng, 4)]
    assert p == q


def test_sobol_continues_its_sequence_when_a_study_resumes() -> None:
    one = hs.Study("s", space=_sobol_space(), sampler="sobol", storage="memory", seed=9)
    straight = _sobol_run(one, 16)
    storage = InMemoryStorage()
    first = hs.Study("s", space=_sobol_space(), sampler="sobol", storage=storage, seed=9)
    part1 = _sobol_run(first, 8)
    again = hs.Study("s", space=_sobol_space(), sampler="sobol", storage=storage, seed=9)
    part2 = _sobol_run(again, 8)
    assert part1 + part2 == straight
    assert len({_key(p) for p in straight}) == 16


def test_sobol_balances_categorical_options() -> None:
    study = hs.Study("s", space=_sobol_space(), sampler="sobol", storage="memory", seed=2)
    params = [t.params for t in study.ask(96)]
    act = Counter(p["act"] for p in params)
    assert sorted(act.values()) == [32, 32, 32]
    assert Counter(p["flag"] for p in params) == {False: 48, True: 48}
    opt = Counter(p["opt"] for p in params)
    assert opt == {"adam": 48, "sgd": 48}
    assert sum("beta" in p for p in params) == 48 and sum("m" in p for p in params) == 48
    # and the continuous coordinates are stratified: one point per 1/32 of [0, 1]
    xs = np.array([p["x"] for p in params[:32]])
    assert sorted(np.floor(xs * 32).astype(int).tolist()) == list(range(32))
