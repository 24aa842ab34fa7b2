"""Tests of the tree-structured Parzen estimator (``samplers/tpe.py``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.errors import SpecError
from hypersweep.history import History
from hypersweep.samplers import make_sampler
from hypersweep.samplers.tpe import TPESampler
from hypersweep.samplers.tpe._order import mo_best
from hypersweep.space import Space
from hypersweep.trial import Objective, Trial, TrialState

# --------------------------------------------------------------------------------------
# test functions
# --------------------------------------------------------------------------------------

_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _sphere(p: dict[str, Any]) -> float:
    return float(sum((p[f"x{i}"] - 1.0) ** 2 for i in range(5)))


def _branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def _hartmann6(p: dict[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-(_H6_ALPHA * np.exp(-(_H6_A * (x - _H6_P) ** 2).sum(axis=1))).sum())


PROBLEMS = {
    "sphere": ({f"x{i}": hs.Float(-5, 5) for i in range(5)}, _sphere, 0.0),
    "branin": ({"x1": hs.Float(-5, 10), "x2": hs.Float(0, 15)}, _branin, 0.397887),
    "hartmann6": ({f"x{i}": hs.Float(0, 1) for i in range(6)}, _hartmann6, -3.32237),
}


def _best_regret(sampler: str, problem: str, seed: int, n: int = 60) -> float:
    space, f, f_min = PROBLEMS[problem]
    study = hs.Study("t", space=space, storage="memory", seed=seed, sampler=sampler)
    best = math.inf
    for _ in range(n):
        t = study.ask()
        v = f(t.params)
        best = min(best, v)
        study.tell(t, v)
    return best - f_min


def _trial(
    number: int,
    params: dict[str, Any],
    value: Any = None,
    state: TrialState = TrialState.COMPLETED,
) -> Trial:
    if value is None:
        values = None
    else:
        values = tuple(value) if isinstance(value, (list, tuple)) else (float(value),)
    return Trial(number=number, state=state, params=params, values=values)


def _history(
    space: Space, configs: list[dict[str, Any]], values: list[Any], objectives: int = 1
) -> History:
    h = History(space, [Objective(f"m{i}") for i in range(objectives)])
    h.update(_trial(i, c, v) for i, (c, v) in enumerate(zip(configs, values)))
    return h


# --------------------------------------------------------------------------------------
# search quality
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_beats_random_search_in_60_trials(problem: str) -> None:
    seeds = range(3)
    tpe = np.mean([_best_regret("tpe", problem, s) for s in seeds])
    rnd = np.mean([_best_regret("random", problem, s) for s in seeds])
    # a clear margin: less than half of random search's regret, on average over seeds
    assert tpe < 0.5 * rnd, (problem, tpe, rnd)


def test_univariate_option_beats_random_search() -> None:
    sampler = {"name": "tpe", "multivariate": False}
    tpe = np.mean([_best_regret(sampler, "sphere", s) for s in range(3)])  # type: ignore[arg-type]
    rnd = np.mean([_best_regret("random", "sphere", s) for s in range(3)])
    assert tpe < 0.5 * rnd


# --------------------------------------------------------------------------------------
# parallel proposals, determinism
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("told", [0, 20])
def test_five_asks_without_tells_are_distinct(told: int) -> None:
    space = {"x": hs.Float(0, 1), "n": hs.Int(1, 50), "c": hs.Choice(["a", "b", "c"])}
    study = hs.Study("t", space=space, storage="memory", seed=3, sampler="tpe")
    for _ in range(told):
        t = study.ask()
        study.tell(t, (t.params["x"] - 0.5) ** 2 + t.params["n"] / 50)
    running = [study.ask() for _ in range(5)]
    keys = {tuple(sorted(t.params.items())) for t in running}
    assert len(keys) == 5


def test_batch_proposals_spread_out() -> None:
    sp = Space({"x": hs.Float(0, 1)})
    h = _history(
        sp,
        [{"x": float(x)} for x in np.linspace(0, 1, 30)],
        [abs(x - 0.5) for x in np.linspace(0, 1, 30)],
    )
    props = TPESampler(seed=0).propose(sp, h, np.random.default_rng(0), n=8)
    xs = sorted(p.params["x"] for p in props)
    assert len(set(xs)) == 8
    assert min(np.diff(xs)) > 1e-4


def test_running_trials_act_as_bad_observations() -> None:
    """A liar at the best point moves the next proposal away from it."""
    sp = Space({"x": hs.Float(0, 1)})
    grid = np.linspace(0, 1, 40)
    configs = [{"x": float(x)} for x in grid]
    h = _history(sp, configs, [abs(x - 0.5) for x in grid])
    s = TPESampler(seed=0)
    free = [s.propose(sp, h, np.random.default_rng(i))[0].params["x"] for i in range(20)]
    h.update(_trial(40 + i, {"x": 0.5}, state=TrialState.RUNNING) for i in range(30))
    lied = [s.propose(sp, h, np.random.default_rng(i))[0].params["x"] for i in range(20)]
    assert np.mean(np.abs(np.array(lied) - 0.5)) > np.mean(np.abs(np.array(free) - 0.5))


def test_deterministic_with_a_seed() -> None:
    space, f, _ = PROBLEMS["hartmann6"]

    def run() -> list[dict[str, Any]]:
        study = hs.Study("t", space=space, storage="memory", seed=11, sampler="tpe")
        out = []
        for _ in range(25):
            t = study.ask()
            study.tell(t, f(t.params))
            out.append(t.params)
        return out

    assert run() == run()


@pytest.mark.parametrize("multivariate", [True, False])
def test_incremental_cache_matches_a_fresh_sampler(multivariate: bool) -> None:
    """Proposals are a function of the history: a sampler that has seen it grow (and
    rows arrive out of order) proposes what a fresh one does."""
    space = _conditional_space()
    rng = np.random.default_rng(0)
    configs = space.sample(rng, 320)
    values = [_conditional_objective(c) for c in configs]
    h = History(space, [Objective("v")])
    kept = TPESampler(seed=0, multivariate=multivariate)
    late = {15, 200}  # these trials reach the history after later ones
    for stop, arrive in ((40, False), (120, False), (300, False), (300, True), (320, True)):
        h.update(_trial(i, configs[i], values[i]) for i in range(h.n, stop) if i not in late)
        if arrive and h.trials[15] is None:  # no refit here: 298 and 300 share a grid point
            h.update(_trial(i, configs[i], values[i]) for i in late)
        fresh = TPESampler(seed=0, multivariate=multivariate)
        a = kept.propose(space, h, np.random.default_rng(stop), n=2)
        b = fresh.propose(space, h, np.random.default_rng(stop), n=2)
        assert [p.params for p in a] == [p.params for p in b]
        for mine, theirs in zip(kept._cache.b, fresh._cache.b):  # the kernel rows
            np.testing.assert_allclose(mine[: h.n], theirs[: h.n], rtol=1e-12)


def test_pickles_without_its_caches() -> None:
    import pickle

    space, f, _ = PROBLEMS["branin"]
    study = hs.Study("t", space=space, storage="memory", seed=2, sampler="tpe")
    for _ in range(15):
        t = study.ask()
        study.tell(t, f(t.params))
    s = study.sampler
    clone = pickle.loads(pickle.dumps(s))
    h = study.history
    a = s.propose(study.space, h, np.random.default_rng(0))[0].params
    assert clone.propose(study.space, h, np.random.default_rng(0))[0].params == a


def test_startup_uses_the_sobol_sequence() -> None:
    from hypersweep.samplers.sobol import SobolSampler

    sp = Space({"x": hs.Float(0, 1), "y": hs.Float(0, 1)})
    h = History(sp, [Objective("v")])
    got = TPESampler(seed=5).propose(sp, h, np.random.default_rng(0), n=4)
    want = SobolSampler(seed=5).propose(sp, h, np.random.default_rng(0), n=4)
    assert [p.params for p in got] == [p.params for p in want]


# --------------------------------------------------------------------------------------
# parameter types and conditional groups
# --------------------------------------------------------------------------------------


def _conditional_space() -> Space:
    return Space(
        {
            "optimizer": hs.Choice(
                {
                    "adam": {"lr": hs.Float(1e-5, 1e-1, log=True), "beta1": hs.Float(0.8, 0.99)},
                    "sgd": {
                        "sgd_lr": hs.Float(1e-4, 1.0, log=True),
                        "momentum": hs.Float(0, 0.99),
                        "nesterov": hs.Bool(),
                    },
                    "none": {},
                }
            ),
            "layers": hs.Int(1, 256, log=True),
            "act": hs.Choice(["relu", "tanh", "gelu"]),
            "dropout": hs.Float(0, 0.5, step=0.1),
            "init": hs.Normal(0.0, 1.0),
        }
    )


def _conditional_objective(p: dict[str, Any]) -> float:
    v = abs(math.log2(p["layers"]) - 5) + (p["act"] != "gelu") + abs(p["dropout"] - 0.2)
    v += abs(p["init"])
    if p["optimizer"] == "adam":
        v += abs(math.log10(p["lr"]) + 3) + abs(p["beta1"] - 0.9)
    elif p["optimizer"] == "sgd":
        v += 1 + abs(p["momentum"] - 0.9)
    else:
        v += 3
    return v


@pytest.mark.parametrize("multivariate", [True, False])
def test_conditional_space(monkeypatch: pytest.MonkeyPatch, multivariate: bool) -> None:
    space = _conditional_space()
    fits: list[tuple[tuple[int, ...], int]] = []
    original = TPESampler._fit

    def spy(self: TPESampler, x: np.ndarray, w: np.ndarray, group: Any) -> Any:
        sub = x[:, group.cols]
        assert not np.isnan(sub).any(), "a group's density saw a trial where it is inactive"
        fits.append((tuple(group.cols.tolist()), sub.shape[0]))
        return original(self, x, w, group)

    monkeypatch.setattr(TPESampler, "_fit", spy)
    study = hs.Study(
        "t",
        space=space,
        storage="memory",
        seed=0,
        sampler={"name": "tpe", "multivariate": multivariate},
    )
    for _ in range(40):
        t = study.ask()
        assert space.validate(t.params) == t.params
        study.tell(t, _conditional_objective(t.params))
    # every group was modelled, and the sub-groups only on the trials where they are active
    adam = (space.column("lr"), space.column("beta1"))
    sgd = (space.column("sgd_lr"), space.column("momentum"), space.column("nesterov"))
    by_group: dict[tuple[int, ...], list[int]] = {}
    for cols, n in fits:
        by_group.setdefault(cols, []).append(n)
    assert adam in by_group and sgd in by_group
    n_adam = sum(t.params["optimizer"] == "adam" for t in study.history.trials)
    assert max(by_group[adam]) < n_adam + 5 < 40
    best = min(study.history.trials, key=lambda t: t.value)
    assert best.value < 4.0


def test_conditional_groups_only_fit_where_active() -> None:
    """Option "a" is good near x = 0.5; option "b" is always bad, whatever y is."""
    space = Space({"g": hs.Choice({"a": {"x": hs.Float(0, 1)}, "b": {"y": hs.Float(0, 1)}})})
    rng = np.random.default_rng(0)
    configs, values = [], []
    for i in range(60):
        if i % 2:
            x = float(rng.random())
            configs.append({"g": "a", "x": x})
            values.append(abs(x - 0.5))
        else:
            configs.append({"g": "b", "y": float(rng.random())})
            values.append(1.0)
    h = _history(space, configs, values)
    s = TPESampler(seed=0)
    props = [s.propose(space, h, np.random.default_rng(i))[0].params for i in range(20)]
    xs = [p["x"] for p in props if p["g"] == "a"]
    assert len(xs) >= 16
    assert np.median(np.abs(np.array(xs) - 0.5)) < 0.1


def test_every_parameter_type_round_trips() -> None:
    space = Space(
        {
            "f": hs.Float(-1, 1),
            "lf": hs.Float(1e-4, 1, log=True),
            "qf": hs.Float(0, 1, step=0.25),
            "qlf": hs.Float(1, 64, log=True, step=1),
            "i": hs.Int(0, 9),
            "li": hs.Int(1, 1000, log=True),
            "si": hs.Int(0, 100, step=10),
            "n": hs.Normal(0, 1),
            "qn": hs.Normal(10, 3, step=1),
            "ln": hs.Normal(0, 1, log=True),
            "c": hs.Choice([1, "two", 3.5, None]),
            "b": hs.Bool(),
            "fixed": hs.Fixed(7),
        }
    )
    study = hs.Study("t", space=space, storage="memory", seed=1, sampler="tpe")
    for _ in range(30):
        t = study.ask()
        assert space.validate(t.params) == t.params
        study.tell(t, abs(t.params["f"]) + t.params["i"] + (t.params["c"] != "two"))
    assert all(isinstance(t.params["i"], int) for t in study.history.trials)


def test_discrete_columns_snap_to_values() -> None:
    space = Space({"i": hs.Int(0, 3), "c": hs.Choice(["a", "b"])})
    s = TPESampler(seed=0, n_startup=4)
    study = hs.Study("t", space=space, storage="memory", seed=0, sampler=s)
    for _ in range(30):
        t = study.ask()
        study.tell(t, abs(t.params["i"] - 2) + (t.params["c"] == "a"))
    last = study.history.trials[20:]
    # the model concentrates on the best of the 8 cells (1 in 8 at random)
    assert sum(t.params == {"i": 2, "c": "b"} for t in last) >= 4


# --------------------------------------------------------------------------------------
# multi-objective, edge cases, options
# --------------------------------------------------------------------------------------


def test_multi_objective_split_goes_front_by_front() -> None:
    y = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [6, 6], [1, 6]], dtype=float)
    best = mo_best(y, 4)  # the first front is rows 0, 1, 2, 4; then 3 and 6
    assert sorted(best.tolist()) == [0, 1, 2, 4]
    best = mo_best(y, 5)
    assert sorted(best[:4].tolist()) == [0, 1, 2, 4] and best[4] in (3, 6)


def test_multi_objective() -> None:
    space = {"x": hs.Float(0, 1), "y": hs.Float(0, 1)}
    study = hs.Study(
        "t",
        space=space,
        storage="memory",
        seed=0,
        sampler="tpe",
        objective=["a", {"metric": "b", "goal": "maximize"}],
    )
    for _ in range(30):
        t = study.ask()
        study.tell(t, [t.params["x"] ** 2 + t.params["y"], 1 - (1 - t.params["x"]) ** 2])
    assert study.history.n_observed == 30


def test_failed_trials_and_fixed_only_space() -> None:
    study = hs.Study("t", space={"x": hs.Float(0, 1)}, storage="memory", seed=0, sampler="tpe")
    for i in range(15):
        t = study.ask()
        if i % 3 == 0:
            study.tell(t, error="boom")
        else:
            study.tell(t, t.params["x"])
    assert 0 <= study.ask().params["x"] <= 1
    fixed = hs.Study("f", space={"k": hs.Fixed(3)}, storage="memory", seed=0, sampler="tpe")
    assert fixed.ask().params == {"k": 3}


def test_a_thousand_trials() -> None:
    """Functional check at 1,000 trials with running ones (timings are in the report)."""
    space = Space(
        {f"x{i}": hs.Float(0, 1) for i in range(5)}
        | {f"c{i}": hs.Choice(list("abcd")) for i in range(5)}
    )
    rng = np.random.default_rng(0)
    configs = space.sample(rng, 1000)
    values = [sum(v for v in c.values() if isinstance(v, float)) for c in configs]
    h = _history(space, configs, values)
    h.update(
        _trial(1000 + i, c, state=TrialState.RUNNING) for i, c in enumerate(space.sample(rng, 20))
    )
    props = TPESampler(seed=0).propose(space, h, np.random.default_rng(0), n=3)
    assert len(props) == 3
    for p in props:
        assert space.validate(p.params) == p.params


def test_options_are_validated_and_configurable() -> None:
    with pytest.raises(SpecError, match="gamma"):
        TPESampler(gamma=1.5)
    with pytest.raises(SpecError, match="n_candidates"):
        TPESampler(n_candidates=0)
    with pytest.raises(SpecError, match="has no option"):
        make_sampler({"name": "tpe", "gama": 0.2})
    s = make_sampler({"name": "tpe", "seed": 4, "multivariate": False, "forget": 50})
    assert isinstance(s, TPESampler)
    assert s.config() == {"name": "tpe", "seed": 4, "multivariate": False, "forget": 50}
    assert make_sampler(s.config()).config() == s.config()


def test_forget_weights_old_bad_trials_less() -> None:
    s = TPESampler(forget=10)
    w = s._bad_weights(40)
    assert w[-10:].tolist() == [1.0] * 10
    assert np.all(np.diff(w) >= 0) and w[0] == pytest.approx(1 / 40)


@pytest.mark.parametrize("multivariate", [True, False])
def test_densities_are_normalized(multivariate: bool) -> None:
    """l and g are proper densities on the unit cube (truncated kernels, smoothed options)."""
    from hypersweep.samplers.tpe._layout import Layout
    from hypersweep.samplers.tpe._parzen import Kernel, Parzen, mixture_weights

    space = Space({"x": hs.Float(0, 1), "c": hs.Choice(["a", "b", "c"])})
    group = Layout(space).groups[0]
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.random(7) ** 3, (rng.integers(0, 3, 7) + 0.5) / 3])
    kernel = Kernel.fit(group, pts, d_eff=2 if multivariate else 1, beta=1.0, min_bw=0.005)
    dens = Parzen(kernel, pts, mixture_weights(rng.random(7) + 0.5, 1.0), multivariate)
    xs = (np.arange(4000) + 0.5) / 4000
    total = 0.0
    for code in range(3):
        grid = np.column_stack([xs, np.full_like(xs, (code + 0.5) / 3)])
        total += np.exp(dens.logpdf(grid)).mean()
    assert total == pytest.approx(1.0, abs=1e-3)


# ----------------------------------------------------------------------------------------
# a weighted choice is TPE's prior
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("multivariate", [True, False])
def test_choice_weights_are_the_prior(multivariate: bool) -> None:
    """Only options a and b were tried (the value depends on x only): TPE explores the
    untried options, spread evenly without weights, towards the heavy one with them."""
    from hypersweep.space import Choice, Float

    def counts(weights: list[float] | None) -> dict[str, int]:
        space = Space({"c": Choice(list("abcdefgh"), weights=weights), "x": Float(0, 1)})
        history = History(space, [Objective("loss")])
        rng = np.random.default_rng(0)
        trials = []
        for i in range(20):
            x = float(rng.random())
            params = {"c": "ab"[i % 2], "x": x}
            trials.append(Trial(i, TrialState.COMPLETED, params, values=((x - 0.3) ** 2,)))
        history.update(trials)
        sampler = TPESampler(seed=0, multivariate=multivariate)
        got = [
            p.params["c"]
            for k in range(150)
            for p in sampler.propose(space, history, np.random.default_rng(k), 1)
        ]
        return {o: got.count(o) for o in "abcdefgh"}

    even, heavy = counts(None), counts([1, 1, 30, 1, 1, 1, 1, 1])
    assert max(even.values()) < 0.3 * 150  # no untried option stands out
    assert heavy["c"] > 0.6 * 150 and heavy["c"] > 2.5 * even["c"]


def _same_to_a_few_ulp(got: np.ndarray, want: np.ndarray, ulps: int = 8) -> None:
    """Equal where either is 0, infinite or NaN; else within ``ulps`` units in the last
    place."""
    exact = ~np.isfinite(want) | (want == 0) | ~np.isfinite(got) | (got == 0)
    assert np.array_equal(got[exact], want[exact], equal_nan=True)
    np.testing.assert_array_max_ulp(got[~exact], want[~exact], maxulp=ulps)


def test_the_numpy_normal_cdf_and_its_inverse_match_scipys() -> None:
    """The same algorithms as scipy.special's ``ndtr`` and ``ndtri``. They agree bit for bit
    where numpy's ``exp``/``log`` take their baseline path. On a CPU with AVX-512, numpy's
    SIMD ``exp``/``log`` differ from libm's by a few ulp, so the results do too (at most
    3-4 ulp measured; ``NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL"`` makes them equal
    again)."""
    special = pytest.importorskip("scipy.special")
    from hypersweep.samplers.tpe._normal import numpy_ndtr as ndtr
    from hypersweep.samplers.tpe._normal import numpy_ndtri as ndtri

    rng = np.random.default_rng(0)
    mu, h = rng.random(20000), 10 ** rng.uniform(-4, 0, 20000)
    edges = [0.0, -0.0, 1e-300, 1.4142135623730951, -11.3, 37.5, -37.66, -38.5, np.inf, -np.inf]
    x = np.concatenate([rng.normal(0, 3, 20000), rng.uniform(-40, 40, 20000), -mu / h, edges])
    _same_to_a_few_ulp(ndtr(x), special.ndtr(x))
    assert np.isnan(ndtr(np.array([np.nan]))).all()
    u = np.concatenate(
        [rng.random(20000), 10 ** -rng.uniform(0, 300, 5000), [0, 1, 0.5, np.exp(-2), 5e-324]]
    )
    _same_to_a_few_ulp(ndtri(u), special.ndtri(u))
    assert np.isnan(ndtri(np.array([-0.1, 1.1, np.nan]))).all()
