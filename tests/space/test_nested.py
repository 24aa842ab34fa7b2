"""Nested groups: flat names inside the space, nested delivery (Delivery.nest)."""

from __future__ import annotations

import numpy as np
import pytest

from hypersweep.errors import SpaceError
from hypersweep.space import Choice, Float, Group, Int, Space, parse_space

SPEC = {
    "optimizer": {
        "type": "group",
        "params": {
            "lr": "loguniform(1e-4, 1e-1)",
            "momentum": 0.9,
            "sched": {"type": "group", "params": {"warmup": "int(0, 5)"}},
            "kind": {"choice": {"adam": {"beta1": "uniform(0.8, 0.99)"}, "sgd": {}}},
        },
    },
    "layers": "int(1, 4)",
}


def test_group_parameters_have_flat_names() -> None:
    space = parse_space(SPEC)
    assert space.param_names == [
        "optimizer.lr",
        "optimizer.momentum",
        "optimizer.sched.warmup",
        "optimizer.kind",
        "optimizer.beta1",
        "layers",
    ]
    for p in space.sample(np.random.default_rng(0), 50):
        assert space.validate(p) == p
        assert space.decode(space.encode(p)) == p
        assert p["optimizer.momentum"] == 0.9
        assert ("optimizer.beta1" in p) == (p["optimizer.kind"] == "adam")
    assert parse_space(space.to_spec()) == space
    assert len(space.grid(2)) == 2 * 6 * (2 + 1) * 4


def test_delivery_nests_group_parameters() -> None:
    space = parse_space(SPEC)
    params = {
        "optimizer.lr": 0.01,
        "optimizer.momentum": 0.9,
        "optimizer.sched.warmup": 2,
        "optimizer.kind": "adam",
        "optimizer.beta1": 0.9,
        "layers": 3,
    }
    assert space.delivery().nest(params) == {
        "optimizer": {
            "lr": 0.01,
            "momentum": 0.9,
            "sched": {"warmup": 2},
            "kind": "adam",
            "beta1": 0.9,
        },
        "layers": 3,
    }
    assert space.delivery().conditional == {"optimizer.beta1"}
    # a name with a dot that is not in a group is delivered as it is
    plain = Space({"a.b": Float(0, 1)})
    assert plain.delivery().nest({"a.b": 0.5}) == {"a.b": 0.5}


def test_python_api_group() -> None:
    space = Space({"opt": Group({"lr": Float(0, 1), "steps": Int(1, 3)}), "x": Choice([1, 2])})
    assert space.names == ["opt.lr", "opt.steps", "x"]
    assert space.to_spec()["opt"]["type"] == "group"


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"g": {"type": "group"}}, r"^space\.g\.params: type: group needs params"),
        ({"g": {"type": "group", "params": {}}}, r"^space\.g\.params: type: group needs params"),
        ({"g": {"type": "group", "params": {"a": 1}, "x": 2}}, r"^space\.g\.x: unknown key"),
        (
            {"g": {"type": "group", "params": {"a": "uniform(0, 1)"}}, "g.a": 1},
            r"^space\.g\.a: duplicate parameter name 'g\.a'",
        ),
        ({"g": {"type": "group", "params": {"a": "uniform(0, 2, 1)"}}}, r"^space\.g\.params\.a: "),
    ],
)
def test_group_errors_name_the_key(spec: dict, match: str) -> None:
    with pytest.raises(SpaceError, match=match) as info:
        parse_space(spec)
    assert "\n" not in str(info.value)


def test_group_has_no_compact_form() -> None:
    with pytest.raises(SpaceError, match=r"^space\.g: a group has no compact form; write"):
        parse_space({"g": "group(a=1)"})


def test_validate_takes_a_group_as_one_mapping_too() -> None:
    space = parse_space(SPEC)
    flat = {
        "optimizer.lr": 0.01,
        "optimizer.momentum": 0.9,
        "optimizer.sched.warmup": 2,
        "optimizer.kind": "sgd",
        "layers": 3,
    }
    nested = space.delivery().nest(flat)
    assert space.validate(nested) == flat  # e.g. study.enqueue of what a trial received
    with pytest.raises(SpaceError, match=r"^params\.optimizer\.lr: 5\.0 is outside"):
        space.validate({**nested, "optimizer": {**nested["optimizer"], "lr": 5.0}})
