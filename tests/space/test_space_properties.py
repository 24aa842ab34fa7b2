"""Property tests (Hypothesis): every accepted space yields only values inside its declared
set (bounds, step grid, finite, representable), whatever point of the unit cube a sampler
decodes; every refused one is a one-line SpaceError. Discrete values round-trip exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hypersweep as hs
from hypersweep.errors import SpaceError
from hypersweep.testing.fuzz import value_problem

PROPS = settings(
    max_examples=200,
    deadline=1000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

special = st.sampled_from(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        5e-324,
        -5e-324,
        1e-300,
        1e300,
        1e308,
        -1e308,
        1.7976931348623157e308,
        2.0**53,
        2.0**53 + 2,
        2.0**63,
        0.1,
        0.7,
        -63.0,
        -11.200000000000003,
        69.0,
        69.000092,
        700.0,
        math.inf,
        -math.inf,
        math.nan,
    ]
)
number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    special,
    st.integers(-(2**64), 2**64),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False),
)
step = st.one_of(
    st.none(),
    st.floats(min_value=1e-320, max_value=1e308),
    st.integers(1, 10),
    st.sampled_from([1e-6, 0.5, 0.7, 3.0, 1e-300, 0.001]),
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)


@st.composite
def params(draw):
    kind = draw(st.sampled_from(["float", "int", "normal", "choice"]))
    log = draw(st.booleans())
    if kind == "float":
        return lambda: hs.Float(draw(number), draw(number), log=log, step=draw(step))
    if kind == "int":
        lo = draw(st.one_of(st.integers(-(2**54), 2**54), st.integers(-100, 100), number))
        hi = draw(st.one_of(st.integers(-(2**54), 2**54), st.integers(-100, 1000), number))
        return lambda: hs.Int(lo, hi, log=log, step=draw(st.one_of(st.just(1), st.integers(1, 7))))
    if kind == "normal":
        return lambda: hs.Normal(draw(number), draw(number), log=log, step=draw(step))
    return lambda: hs.Choice(draw(st.lists(scalar, min_size=0, max_size=6)))


unit = st.one_of(
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 1.0, float(np.nextafter(1.0, 0)), 5e-324, 0.5, 1e-12, 1 - 1e-12]),
)


@PROPS
@given(params(), st.lists(unit, min_size=1, max_size=40))
def test_decoded_values_lie_inside_the_space(make, us):
    try:
        p = make()
    except SpaceError as e:
        assert "\n" not in str(e) and str(e)
        return
    space = hs.Space({"x": p})
    u = np.array(us)[:, None]
    configs = space.decode_many(u)
    for config in configs:
        assert value_problem(p, config["x"]) is None, (p, config)
        assert space.validate(config) == config
    # the round trip is exact for discrete values (ints: up to 2**50 of them)
    if isinstance(p, hs.Choice) or (
        isinstance(p, (hs.Int, hs.Float)) and p.step is not None and p._n_points() <= 2**50
    ):
        assert space.decode_many(space.encode_many(configs)) == configs
    else:
        again = space.decode_many(space.encode_many(configs))
        assert all(value_problem(p, c["x"]) is None for c in again)


@PROPS
@given(params(), st.integers(0, 2**32 - 1))
def test_samples_of_every_sampler_family_stay_inside(make, seed):
    try:
        p = make()
    except SpaceError:
        return
    space = hs.Space({"x": p, "c": hs.Choice(["a", "b"])})
    for config in space.sample(np.random.default_rng(seed), 50):
        assert value_problem(p, config["x"]) is None, (p, config)


@PROPS
@given(params())
def test_the_grid_of_a_discrete_space_is_inside_and_lazy(make):
    try:
        p = make()
    except SpaceError:
        return
    if isinstance(p, hs.Normal) or (isinstance(p, hs.Float) and p.step is None):
        return
    grid = hs.Space({"x": p}).grid()
    n = len(grid)
    assert n >= 1
    for i in {0, n - 1, n // 2, n // 3}:
        assert value_problem(p, grid[i]["x"]) is None
    if n <= 500:
        values = [grid[i]["x"] for i in range(n)]
        assert len(set(map(repr, values))) == n  # no point twice


@pytest.mark.parametrize("seed", [0])
def test_model_based_samplers_propose_inside_a_hostile_space(seed):
    space = {
        "a": hs.Float(-63, -11.200000000000003, step=0.7),
        "b": hs.Float(5e-324, 211, step=0.5),
        "c": hs.Int(-(2**53), 2**53),
        "d": hs.Normal(0, 2, log=True, step=1e-3),
        "e": hs.Float(1e-300, 1e300, log=True),
        "f": hs.Float(-8e307, 8e307),
    }
    built = hs.Space(space)
    for sampler in ("tpe", "gp", "cmaes", "anneal"):
        study = hs.Study(f"h{seed}{sampler}", space, storage="memory", sampler=sampler, seed=seed)
        for i in range(14):
            t = study.ask()
            for name, value in t.params.items():
                assert value_problem(built.params[name], value) is None, (sampler, name, value)
            study.tell(t, float(i % 5))
