"""Beta: the beta CDF as encoding (uniform draws sample the prior), rescaling, steps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hypersweep.errors import SpaceError
from hypersweep.space import Beta, Space, parse_param


def test_uniform_draws_follow_the_beta_distribution() -> None:
    space = Space({"x": Beta(2, 5)})
    x = np.array([p["x"] for p in space.sample(np.random.default_rng(0), 4000)])
    assert stats.kstest(x, stats.beta(2, 5).cdf).pvalue > 0.01
    assert abs(np.median(x) - stats.beta(2, 5).median()) < 0.02


def test_rescaled_and_stepped_values_stay_on_the_grid() -> None:
    p = Beta(0.5, 0.5, low=0.0, high=0.5, step=0.05)
    space = Space({"x": p})
    xs = {q["x"] for q in space.sample(np.random.default_rng(1), 2000)}
    grid = set(p.grid_values("x", None))
    assert xs <= grid and len(grid) == 11
    assert {0.0, 0.5} <= xs  # U-shaped: the ends are the likeliest
    for v in grid:  # every grid value survives the round trip exactly
        assert space.decode(space.encode({"x": v})) == {"x": v}
    with pytest.raises(SpaceError, match="not on the step grid"):
        p.validate(0.07, "space.x")
    with pytest.raises(SpaceError, match=r"outside \[0.0, 0.5\]"):
        p.validate(0.6, "space.x")


def test_continuous_round_trip_is_exact() -> None:
    space = Space({"x": Beta(2, 3, low=-1.0, high=3.0)})
    for params in space.sample(np.random.default_rng(2), 200):
        assert space.decode(space.encode(params)) == params
        assert -1.0 <= params["x"] <= 3.0 and type(params["x"]) is float


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"type": "beta", "alpha": 2, "beta": 5}, Beta(2, 5)),
        ("beta(2, 5)", Beta(2, 5)),
        (
            {"type": "beta", "alpha": 2, "beta": 5, "low": 0, "high": 10, "step": 1},
            Beta(2, 5, 0, 10, 1),
        ),
        ({"type": "beta", "alpha": 2, "beta": 5, "q": 0.1}, Beta(2, 5, step=0.1)),
        ("beta(1, 1, low=0, high=4)", Beta(1, 1, 0, 4)),
    ],
)
def test_sweep_file_forms(form: object, expected: Beta) -> None:
    p = parse_param(form, "space.x")
    assert p == expected
    assert parse_param(p.to_spec()) == p


@pytest.mark.parametrize(
    ("form", "match"),
    [
        ({"type": "beta", "beta": 5}, r"^space\.x: beta needs alpha"),
        ({"type": "beta", "alpha": 0, "beta": 5}, r"^space\.x: .*0 < alpha"),
        ({"type": "beta", "alpha": 2, "beta": 5, "low": 1, "high": 1}, r"low < high"),
        ({"type": "beta", "alpha": 2, "beta": 5, "mu": 1}, r"^space\.x\.mu: beta has no key 'mu'"),
    ],
)
def test_bad_forms_are_one_line_errors(form: object, match: str) -> None:
    with pytest.raises(SpaceError, match=match) as info:
        parse_param(form, "space.x")
    assert "\n" not in str(info.value)
