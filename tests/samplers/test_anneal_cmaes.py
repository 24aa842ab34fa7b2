"""The annealing and CMA-ES samplers: search quality, conditional spaces, parallel asks,
the CMA-ES state rebuilt from the history alone."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.history import History
from hypersweep.samplers.anneal import AnnealSampler
from hypersweep.samplers.cmaes import CMAESSampler

SEEDS = range(10)
N_TRIALS = 60


def sphere(p: dict[str, Any]) -> float:
    return float(sum(v**2 for v in p.values()))


def branin(p: dict[str, Any]) -> float:
    """Branin-Hoo; global minimum 0.397887 (three minimizers)."""
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


SPHERE_SPACE = {f"x{i}": hs.Float(-5, 5) for i in range(4)}
BRANIN_SPACE = {"x1": hs.Float(-5, 10), "x2": hs.Float(0, 15)}
BRANIN_MIN = 0.397887


def best_value(sampler: str, space: dict[str, Any], fn: Any, seed: int) -> float:
    study = hs.Study("q", space=space, storage="memory", seed=seed, sampler=sampler)
    for _ in range(N_TRIALS):
        t = study.ask()
        study.tell(t, fn(t.params))
    assert study.best_value is not None
    return study.best_value


def mean_log_gap(
    sampler: str, space: dict[str, Any], fn: Any, optimum: float, seeds: Any = SEEDS
) -> float:
    """Mean over seeds of log10(best - optimum): lower is better."""
    return float(
        np.mean(
            [math.log10(max(best_value(sampler, space, fn, s) - optimum, 1e-12)) for s in seeds]
        )
    )


#: Branin's spread between seeds is larger: 20 seeds
BRANIN_SEEDS = range(20)


@pytest.fixture(scope="module")
def random_sphere() -> float:
    return mean_log_gap("random", SPHERE_SPACE, sphere, 0.0)


@pytest.fixture(scope="module")
def random_branin() -> float:
    return mean_log_gap("random", BRANIN_SPACE, branin, BRANIN_MIN, BRANIN_SEEDS)


@pytest.mark.parametrize("name", ["anneal", "cmaes"])
def test_beats_random_search_on_sphere(name: str, random_sphere: float) -> None:
    # ten times closer to the optimum than random search, on average over seeds
    # (measured: anneal -0.68, cmaes -0.85, random 0.73)
    assert mean_log_gap(name, SPHERE_SPACE, sphere, 0.0) < random_sphere - 1.0


@pytest.mark.parametrize(("name", "margin"), [("anneal", 0.5), ("cmaes", 0.3)])
def test_beats_random_search_on_branin(name: str, margin: float, random_branin: float) -> None:
    # Branin is harder for CMA-ES in 60 trials (three basins; 10 generations of 6): the
    # margin is two times closer for CMA-ES, three for annealing (measured over seeds
    # 0-39 with randomness derived from (seed, trial number): anneal -1.16, cmaes -0.81,
    # random -0.37; seeds 0-19: cmaes -0.70, random -0.36)
    gap = mean_log_gap(name, BRANIN_SPACE, branin, BRANIN_MIN, BRANIN_SEEDS)
    assert gap < random_branin - margin


CONDITIONAL = {
    "optimizer": hs.Choice(
        {
            "adam": {"lr": hs.Float(1e-5, 1e-1, log=True), "beta1": hs.Float(0.8, 0.999)},
            "sgd": {
                "lr_sgd": hs.Float(1e-4, 1.0, log=True),
                "momentum": hs.Float(0.0, 0.99),
                "nesterov": hs.Bool(),
            },
        }
    ),
    "layers": hs.Int(1, 6),
    "width": hs.Float(16, 512, log=True),
    "act": hs.Choice(["relu", "tanh", "gelu"]),
}


def conditional_loss(p: dict[str, Any]) -> float:
    if p["optimizer"] == "adam":
        loss = (math.log10(p["lr"]) + 3) ** 2 + (p["beta1"] - 0.9) ** 2
    else:
        loss = 0.5 + (math.log10(p["lr_sgd"]) + 1) ** 2 + (p["momentum"] - 0.9) ** 2
    return loss + 0.1 * abs(p["layers"] - 3) + (0 if p["act"] == "gelu" else 0.2)


@pytest.mark.parametrize("name", ["anneal", "cmaes"])
def test_conditional_space(name: str) -> None:
    space = hs.Space(CONDITIONAL)
    study = hs.Study("cond", space=space, storage="memory", seed=3, sampler=name)
    seen = set()
    for _ in range(50):
        t = study.ask()
        assert space.validate(t.params) == t.params  # exactly the active parameters
        seen.add(t.params["optimizer"])
        study.tell(t, conditional_loss(t.params))
    assert seen == {"adam", "sgd"}
    assert study.best_value is not None and study.best_value < 1.0


@pytest.mark.parametrize("name", ["anneal", "cmaes"])
@pytest.mark.parametrize("told", [0, 20])
def test_five_asks_without_tells_are_distinct(name: str, told: int) -> None:
    study = hs.Study("par", space=SPHERE_SPACE, storage="memory", seed=0, sampler=name)
    for _ in range(told):
        t = study.ask()
        study.tell(t, sphere(t.params))
    pending = [study.ask() for _ in range(5)]
    assert len({tuple(sorted(t.params.items())) for t in pending}) == 5


@pytest.mark.parametrize("name", ["anneal", "cmaes"])
def test_seeded_runs_repeat(name: str) -> None:
    def run() -> list[dict[str, Any]]:
        study = hs.Study("rep", space=BRANIN_SPACE, storage="memory", seed=11, sampler=name)
        out = []
        for _ in range(25):
            t = study.ask()
            study.tell(t, branin(t.params))
            out.append(t.params)
        return out

    assert run() == run()


def _history_after(n: int, seed: int = 0) -> tuple[hs.Study, History]:
    study = hs.Study("h", space=SPHERE_SPACE, storage="memory", seed=seed, sampler="random")
    for _ in range(n):
        t = study.ask()
        study.tell(t, sphere(t.params))
    study.ask(3)  # three RUNNING trials at the end
    study.sync()
    return study, study.history


def test_cmaes_state_is_rebuilt_from_the_history_alone() -> None:
    study, history = _history_after(40)
    warm = CMAESSampler(seed=5)
    grown = History(study.space, study.objectives)  # one history, updated incrementally,
    for k in range(0, history.n, 7):  # so the warm sampler extends its cached state ...
        grown.update(history.trials[k : k + 7])
        warm.propose(study.space, grown, np.random.default_rng(0))
    cold = CMAESSampler(seed=5)  # ... while this one folds the whole history at once
    a = warm.propose(study.space, grown, np.random.default_rng(1), 4)
    b = cold.propose(study.space, history, np.random.default_rng(1), 4)
    assert [p.params for p in a] == [p.params for p in b]
    assert warm._state is not None and cold._state is not None
    # 40 finished trials -> 40 // popsize generations told; the 3 RUNNING ones are not
    lam = cold._state.cma.population_size
    assert cold._state.cma.generation == warm._state.cma.generation == 40 // lam


def test_cmaes_tells_a_generation_only_when_all_earlier_trials_finished() -> None:
    space = hs.Space(SPHERE_SPACE)
    sampler = CMAESSampler(population_size=6)
    study = hs.Study("g", space=space, storage="memory", seed=0, sampler=sampler)
    sampler = study.sampler  # the study proposes with its own copy
    first = study.ask(6)
    for t in first[1:]:
        study.tell(t, sphere(t.params))
    study.ask()
    assert sampler._state is not None and sampler._state.cma.generation == 0
    study.tell(first[0], sphere(first[0].params))
    study.ask()
    assert sampler._state.cma.generation == 1


def test_anneal_window_shrinks_with_observations() -> None:
    space = hs.Space({"x": hs.Float(0, 1)})
    study = hs.Study("w", space=space, storage="memory", seed=0, sampler="random")
    for _ in range(200):
        t = study.ask()
        study.tell(t, abs(t.params["x"] - 0.5))
    sampler = AnnealSampler(avg_best_rank=0.0)
    xs = [
        p.params["x"] for p in sampler.propose(space, study.history, np.random.default_rng(0), 200)
    ]
    width = 1 / (1 + 0.1 * 200)
    assert max(xs) - min(xs) <= width + 1e-9
    assert max(xs) - min(xs) > 0.5 * width


def test_cmaes_without_the_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cmaes", None)
    space = hs.Space(SPHERE_SPACE)
    with pytest.raises(ImportError, match="pip install cmaes"):
        CMAESSampler(seed=0).propose(space, History(space, []), np.random.default_rng(0))


@pytest.mark.parametrize(
    "kwargs",
    [{"sigma0": 0.0}, {"population_size": 1}, {"n_startup": -1}, {"restart": "bipop"}],
)
def test_cmaes_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CMAESSampler(**kwargs)


@pytest.mark.parametrize("kwargs", [{"shrink": -1.0}, {"n_startup": 1.5}, {"avg_best_rank": "x"}])
def test_anneal_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AnnealSampler(**kwargs)
