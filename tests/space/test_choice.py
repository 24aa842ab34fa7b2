"""Choice: weights (random frequency, grid order), list- and dict-valued options."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from hypersweep.errors import SpaceError
from hypersweep.space import Choice, Float, Space, parse_param, parse_space


def test_random_draws_follow_the_weights() -> None:
    space = Space({"c": Choice(["a", "b", "c"], weights=[0.2, 0.3, 0.5]), "x": Float(0, 1)})
    counts = Counter(p["c"] for p in space.sample(np.random.default_rng(0), 20000))
    freq = {k: v / 20000 for k, v in counts.items()}
    assert freq == pytest.approx({"a": 0.2, "b": 0.3, "c": 0.5}, abs=0.015)


def test_weights_leave_the_encoding_one_equal_bin_per_option() -> None:
    c = Choice(["a", "b", "c"], weights=[1, 1, 8])
    space = Space({"c": c})
    assert space.encode({"c": "b"}).tolist() == [0.5]
    assert c.probs == (0.1, 0.1, 0.8)
    # a weighted group: its sub-parameters follow the chosen option
    g = Space({"g": Choice({"p": {"x": Float(0, 1)}, "q": {}}, weights=[9, 1])})
    draws = g.sample(np.random.default_rng(1), 2000)
    assert 0.85 < sum(d["g"] == "p" for d in draws) / 2000 < 0.95
    assert all(("x" in d) == (d["g"] == "p") for d in draws)


def test_grid_lists_the_most_probable_option_first() -> None:
    space = Space(
        {
            "opt": Choice(
                {"sgd": {}, "adam": {"b": Choice([1, 2], weights=[1, 3])}}, weights=[1, 4]
            ),
            "act": Choice(["relu", "tanh", "gelu"], weights=[0.2, 0.5, 0.3]),
        }
    )
    grid = list(space.grid())
    assert grid[0] == {"opt": "adam", "b": 2, "act": "tanh"}
    assert [g["act"] for g in grid[:3]] == ["tanh", "gelu", "relu"]
    assert grid[-1] == {"opt": "sgd", "act": "relu"}
    assert len(grid) == 9


def test_unweighted_grid_keeps_declaration_order() -> None:
    assert [g["c"] for g in Space({"c": Choice(["z", "a", "m"])}).grid()] == ["z", "a", "m"]


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([1, 2], r"one number per option: 3 options, got 2"),
        ([1, 0, 2], r"> 0"),
        ([1, float("nan"), 2], r"> 0"),
        ("abc", r"a list of numbers"),
    ],
)
def test_bad_weights(weights: object, match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        Choice(["a", "b", "c"], weights=weights)  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match=r"^space\.c\.weights: .*" + match):
        parse_param({"type": "choice", "values": ["a", "b", "c"], "weights": weights}, "space.c")


def test_weighted_sweep_file_forms_round_trip() -> None:
    p = parse_param({"type": "choice", "values": ["a", "b", "c"], "weights": [0.2, 0.3, 0.5]})
    assert p == Choice(["a", "b", "c"], weights=[0.2, 0.3, 0.5])
    assert p.to_spec() == {"choice": ["a", "b", "c"], "weights": [0.2, 0.3, 0.5]}
    assert parse_param(p.to_spec()) == p
    g = parse_param({"choice": {"x": {"y": "uniform(0, 1)"}, "z": None}, "weights": [3, 1]})
    assert isinstance(g, Choice) and g.probs == (0.75, 0.25)
    assert parse_param(g.to_spec()) == g


def test_list_and_dict_valued_options() -> None:
    space = parse_space(
        {
            "layers": {"type": "choice", "values": [[32, 32], [64], [16, 16, 16]]},
            "cfg": {"type": "choice", "values": [{"a": 1}, {"b": [2, 3]}]},
            "plain": [[1, 2], "x"],  # a YAML list: a choice, one option a list
        }
    )
    draws = space.sample(np.random.default_rng(0), 200)
    assert {json.dumps(d["layers"]) for d in draws} == {"[32, 32]", "[64]", "[16, 16, 16]"}
    assert {json.dumps(d["cfg"]) for d in draws} == {'{"a": 1}', '{"b": [2, 3]}'}
    for d in draws:
        assert space.validate(d) == d
        assert space.decode(space.encode(d)) == d
    # values are copies: a trial changing its params cannot change the space
    d = draws[0]
    d["layers"].append(999)
    assert [999] not in [o[-1:] for o in space.params["layers"].options]  # type: ignore[attr-defined]
    assert space.validate({**draws[1], "layers": [64.0]})["layers"] == [64]  # 64.0 is 64
    with pytest.raises(SpaceError, match=r"^params\.layers: \[65\] is not one of the options"):
        space.validate({**draws[1], "layers": [65]})
    assert parse_space(space.to_spec()) == space


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ([[1, 2], [1.0, 2.0]], "the option \\[1, 2\\] twice"),
        ([{"a": float("nan")}], "must be JSON data"),
        ([{1: "a"}], "mapping keys are strings"),
        ([[2**60]], "within \\+-2\\*\\*53"),
    ],
)
def test_bad_structured_options(options: list, match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        Choice(options)
