"""Search spaces: parameter types, parsing, validation, encoding, sampling and grids."""

from __future__ import annotations

import builtins
import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hypersweep.errors import HypersweepError, SpaceError
from hypersweep.space import (
    Bool,
    Choice,
    Fixed,
    Float,
    Int,
    Normal,
    Param,
    Space,
    parse_param,
    parse_space,
)
from hypersweep.testing.samplers import every_type_space

# ----------------------------------------------------------------------------------------
# constructors
# ----------------------------------------------------------------------------------------
BAD_PARAMS: list[tuple[Callable[[], Any], str]] = [
    (lambda: Float(1, 0), r"Float needs low < high, got low=1, high=0"),
    (lambda: Float(1, 1), r"low < high"),
    (lambda: Float("a", 1), r"Float needs a number for low, got low='a'"),  # type: ignore[arg-type]
    (lambda: Float(True, 2), r"for low, got low=True"),
    (lambda: Float(0, math.inf), r"for high, got high=inf"),
    (lambda: Float(0, math.nan), r"for high, got high=nan"),
    (lambda: Float(0, 1, log=True), r"log=True needs 0 < low < high, got low=0"),
    (lambda: Float(0, 1, step=0), r"needs step to be a number > 0, got step=0"),
    (lambda: Float(0, 1, step=0.3), r"not a multiple of step=0.3; use high=0.9"),
    (lambda: Int(1.5, 3), r"Int needs an integer for low, got low=1.5"),  # type: ignore[arg-type]
    (lambda: Int(1, "9"), r"for high, got high='9'"),  # type: ignore[arg-type]
    (lambda: Int(1, 10, step=2), r"high - low = 9 is not a multiple of step=2; use high=9"),
    (lambda: Int(1, 5, step=0.5), r"step to be an integer > 0, got step=0.5"),  # type: ignore[arg-type]
    (lambda: Int(0, 100, log=True), r"log=True needs 0 < low"),
    (lambda: Int(16, 250, log=True, step=16), r"not a multiple of step=16"),
    (lambda: Normal(0, 0), r"Normal needs sigma > 0, got sigma=0"),
    (lambda: Normal(0, -1), r"sigma > 0, got sigma=-1"),
    (lambda: Normal(math.nan, 1), r"Normal needs a finite mu, got mu=nan"),
    (lambda: Normal("0", 1), r"finite mu"),  # type: ignore[arg-type]
    (lambda: Normal(0, 1, step=-1), r"Normal needs step > 0, got step=-1"),
    (lambda: Choice([]), r"Choice needs at least one option"),
    (lambda: Choice({}), r"Choice needs at least one option"),
    (lambda: Choice("abc"), r"Choice needs a list of options, got str"),
    (lambda: Choice([1, 1.0]), r"Choice has the option 1 twice"),
    (
        lambda: Choice([{1, 2}]),
        r"options must be strings, numbers, booleans, null, lists or mappings, got set",
    ),  # type: ignore[list-item]
    (lambda: Choice([math.inf]), r"options must be finite, got inf"),
    (lambda: Choice({1: {}}), r"group option names must be strings, got 1"),  # type: ignore[dict-item]
    (lambda: Fixed(math.nan), r"a fixed value must be finite, got nan"),
    (lambda: Space({"1x": Float(0, 1)}), r"space\.1x: parameter names must start with"),
    (lambda: Space({"a b": 1}), r"space\.a b: parameter names"),
    (lambda: Space([Float(0, 1)]), r"space: expected a mapping of name -> parameter, got list"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("make", "match"), BAD_PARAMS)
def test_constructor_errors_name_the_field(make: Callable[[], Any], match: str) -> None:
    with pytest.raises(SpaceError, match=match) as info:
        make()
    assert isinstance(info.value, HypersweepError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_valid_constructors_keep_their_settings() -> None:
    f = Float(1e-4, 1e-1, log=True)
    assert (f.low, f.high, f.log, f.step) == (1e-4, 1e-1, True, None)
    i = Int(1, 9, step=2)
    assert (i.low, i.high, i.step) == (1, 9, 2) and type(i.low) is int
    n = Normal(10, 3, step=1)
    assert (n.mu, n.sigma, n.step, n.log) == (10.0, 3.0, 1.0, False)
    assert Bool().options == [False, True]
    assert Choice({"a": {"x": Float(0, 1)}, "b": None}).options == ["a", "b"]
    assert Space({"General/lr": Float(0, 1)}).names == ["General/lr"]


# ----------------------------------------------------------------------------------------
# compact strings
# ----------------------------------------------------------------------------------------
COMPACT: list[tuple[str, Param]] = [
    ("uniform(0, 1)", Float(0, 1)),
    ("uniform(low=-1, high=1)", Float(-1, 1)),
    ("uniform(high=1, low=0.5)", Float(0.5, 1)),
    ("uniform(1e-3, 1e-1, log=true)", Float(1e-3, 1e-1, log=True)),
    ("loguniform(1e-5, 1e-1)", Float(1e-5, 1e-1, log=True)),
    ("loguniform(low=1e-5, high=0.1)", Float(1e-5, 1e-1, log=True)),
    ("quniform(0, 10, 2)", Float(0, 10, step=2)),
    ("quniform(low=0, high=10, q=2.5)", Float(0, 10, step=2.5)),
    ("qloguniform(1, 100, 1)", Float(1, 100, log=True, step=1)),
    ("qloguniform(low=1, high=100, q=1)", Float(1, 100, log=True, step=1)),
    ("normal(0, 1)", Normal(0, 1)),
    ("normal(mu=5, sigma=2)", Normal(5, 2)),
    ("qnormal(10, 3, 1)", Normal(10, 3, step=1)),
    ("qnormal(mu=10, sigma=3, q=0.5)", Normal(10, 3, step=0.5)),
    ("lognormal(0, 1)", Normal(0, 1, log=True)),
    ("lognormal(mu=-1, sigma=0.5)", Normal(-1, 0.5, log=True)),
    ("qlognormal(0, 1, 0.5)", Normal(0, 1, log=True, step=0.5)),
    ("qlognormal(mu=0, sigma=1, q=2)", Normal(0, 1, log=True, step=2)),
    ("choice(16, 32, 64)", Choice([16, 32, 64])),
    ("choice('a', \"b c\", relu)", Choice(["a", "b c", "relu"])),
    ("choice(true, false, null, 0.5)", Choice([True, False, None, 0.5])),
    ("randint(1, 5)", Int(1, 4)),
    ("randint(5)", Int(0, 4)),
    ("randint(low=2, high=4)", Int(2, 3)),
    ("int(32, 512, log=true)", Int(32, 512, log=True)),
    ("int(1, 9, 2)", Int(1, 9, step=2)),
    ("int(low=1, high=9, step=2)", Int(1, 9, step=2)),
    ("float(0, 1)", Float(0, 1)),
    ("float(0, 1, 0.25)", Float(0, 1, step=0.25)),
    ("float(0.1, 1, log=True)", Float(0.1, 1, log=True)),
    ("bool", Bool()),
    ("bool()", Bool()),
    ("fixed(3)", Fixed(3)),
    ("fixed('x')", Fixed("x")),
    ("  Uniform ( 0 , 1 )  ", Float(0, 1)),
    ("LOGUNIFORM(1e-5, 1e-1)", Float(1e-5, 1e-1, log=True)),
]


@pytest.mark.parametrize(("text", "expected"), COMPACT)
def test_compact_forms(text: str, expected: Param) -> None:
    got = parse_param(text, "space.p")
    assert type(got) is type(expected)
    assert got == expected


COMPACT_ERRORS = [
    ("unifrom(0, 1)", r"unknown parameter type 'unifrom' \(did you mean 'uniform'\?\)"),
    ("uniform(0)", r"uniform needs high"),
    ("uniform(0, 1, 2)", r"uniform takes at most 2 arguments \(low, high\), got 3"),
    ("uniform(0, 1, lgo=true)", r"uniform has no argument 'lgo'"),
    ("uniform(low=0, 1)", r"positional after keyword"),
    ("uniform(0, 1", r"cannot parse"),
    ("uniform(0, 1) + 1", r"cannot parse"),
    ("uniform(0, 1); import os", r"cannot parse"),
    ("uniform(1, 0)", r"uniform needs low < high, got low=1, high=0"),
    ("uniform(a, 1)", r"uniform needs a number for low, got low='a'"),
    ("loguniform(-5, -1)", r"loguniform needs 0 < low < high, got low=-5 .*not their logarithms"),
    ("loguniform(0, 1)", r"got low=0"),
    ("choice()", r"Choice needs at least one option"),
    ("choice(1, 1)", r"option 1 twice"),
    ("choice(values=1)", r"choice takes options only"),
    ("randint(1.5, 3)", r"randint needs an integer for low"),
    ("int(1, 10, 2)", r"use high=9"),
    ("qnormal(10, 3, 0)", r"qnormal needs step > 0, got step=0"),
    ("normal(0, -1)", r"normal needs sigma > 0"),
    ("normal(0)", r"normal needs sigma"),
    ("fixed()", r"fixed needs value"),
]


@pytest.mark.parametrize(("text", "match"), COMPACT_ERRORS)
def test_compact_form_errors_name_the_key(text: str, match: str) -> None:
    with pytest.raises(SpaceError, match=match) as info:
        parse_space({"p": text})
    assert str(info.value).startswith("space.p: ")
    assert info.value.path == "space.p"


def test_compact_strings_are_parsed_never_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the parser must never call eval/exec/compile")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, refuse)
    marker = tmp_path / "pwned"
    attacks = [
        f"__import__('os').system('touch {marker}')",
        f"choice(__import__('os').system('touch {marker}'))",
        f"uniform(0, __import__('os').system('touch {marker}'))",
        "eval('1 + 1')",
        f"exec(\"open('{marker}', 'w')\")",
    ]
    for text in attacks:
        with pytest.raises(SpaceError, match=r"^space\.p: "):
            parse_space({"p": text})
    # text that is not a call is a fixed string, kept as data
    p = parse_param("os.system('x') is not run", "space.p")
    assert p == Fixed("os.system('x') is not run")
    assert not marker.exists()


# ----------------------------------------------------------------------------------------
# long form, groups, plain values, YAML
# ----------------------------------------------------------------------------------------
LONG: list[tuple[dict[str, Any], Param]] = [
    ({"type": "int", "low": 32, "high": 512, "log": True}, Int(32, 512, log=True)),
    ({"type": "int", "min": 0, "max": 20, "step": 5}, Int(0, 20, step=5)),
    ({"type": "float", "min": 0, "max": 1}, Float(0, 1)),
    ({"type": "float", "low": 0, "high": 1, "q": 0.25}, Float(0, 1, step=0.25)),
    ({"type": "uniform", "low": 0, "high": 1, "q": 0.5}, Float(0, 1, step=0.5)),
    ({"type": "loguniform", "low": 1e-5, "high": 0.1}, Float(1e-5, 0.1, log=True)),
    ({"type": "quniform", "low": 0, "high": 10, "q": 2}, Float(0, 10, step=2)),
    ({"type": "qloguniform", "low": 1, "high": 64, "q": 1}, Float(1, 64, log=True, step=1)),
    ({"type": "normal", "mu": 0, "sigma": 1}, Normal(0, 1)),
    ({"type": "qnormal", "mu": 10, "sigma": 3, "q": 1}, Normal(10, 3, step=1)),
    ({"type": "lognormal", "mu": 0, "sigma": 1}, Normal(0, 1, log=True)),
    ({"type": "qlognormal", "mu": 0, "sigma": 1, "q": 0.5}, Normal(0, 1, log=True, step=0.5)),
    (
        {"type": "normal", "mu": 0, "sigma": 1, "log": True, "step": 0.5},
        Normal(0, 1, log=True, step=0.5),
    ),
    ({"type": "choice", "values": [1, 2, 3]}, Choice([1, 2, 3])),
    ({"type": "choice", "options": ["a", "b"]}, Choice(["a", "b"])),
    ({"choice": ["a", "b"]}, Choice(["a", "b"])),
    ({"type": "bool"}, Bool()),
    ({"type": "fixed", "value": [1, 2]}, Fixed([1, 2])),
    ({"type": "randint", "low": 1, "high": 5}, Int(1, 4)),
]


@pytest.mark.parametrize(("spec", "expected"), LONG)
def test_long_forms(spec: dict[str, Any], expected: Param) -> None:
    got = parse_param(spec, "space.p")
    assert type(got) is type(expected)
    assert got == expected


LONG_ERRORS = [
    ({"type": "int", "lo": 1, "high": 3}, r"^space\.p\.lo: unknown key \(did you mean 'low'\?\)"),
    ({"low": 1, "high": 3}, r"^space\.p: needs a 'type'"),
    ({"type": 3}, r"^space\.p\.type: must be a string"),
    ({"type": "unifrm", "low": 0, "high": 1}, r"^space\.p\.type: .*did you mean 'uniform'"),
    ({"type": "int", "low": 1}, r"^space\.p: int needs high"),
    ({"type": "normal", "mu": 0, "sigma": 1, "low": 3}, r"^space\.p\.low: normal has no key"),
    ({"type": "bool", "low": 1}, r"^space\.p\.low: bool has no key 'low'"),
    ({"type": "choice"}, r"^space\.p: type: choice needs values"),
    ({"choice": "x"}, r"^space\.p: choice needs a list of options or a mapping of groups"),
    ({"choice": {"a": 3}}, r"^space\.p\.a: a group option needs a mapping"),
    ({"choice": [1, 2], "type": "x"}, r"^space\.p\.type: a \{choice: \.\.\.\} group takes no"),
    ({"type": "float", "low": 0, "high": 1, "step": 0.3}, r"^space\.p: .*use high=0\.9"),
]


@pytest.mark.parametrize(("spec", "match"), LONG_ERRORS)
def test_long_form_errors_name_the_key(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        parse_space({"p": spec})


SWEEP_YAML = """
space:
  lr: loguniform(1e-5, 1e-1)
  hidden: {type: int, low: 32, high: 512, log: true}
  dropout: uniform(0, 0.5)
  batch_size: choice(16, 32, 64, 128)
  act: [relu, tanh]
  epochs: 20
  tag: baseline
  optimizer:
    choice:
      adam:
        beta1: uniform(0.8, 0.99)
        beta2: uniform(0.9, 0.9999)
        schedule:
          choice:
            cosine: {warmup: 'randint(0, 10)'}
            constant:
      sgd:
        momentum: uniform(0, 0.99)
"""


def _sweep_space() -> Space:
    return parse_space(yaml.safe_load(SWEEP_YAML)["space"])


def test_sweep_file_space_parses_every_form() -> None:
    space = _sweep_space()
    p = space.params
    assert p["lr"] == Float(1e-5, 1e-1, log=True)
    assert p["hidden"] == Int(32, 512, log=True)
    assert p["batch_size"] == Choice([16, 32, 64, 128])
    assert p["act"] == Choice(["relu", "tanh"])  # a YAML list is a choice
    assert p["epochs"] == Fixed(20) and p["tag"] == Fixed("baseline")  # plain values
    group = p["optimizer"]
    assert isinstance(group, Choice) and group.subspaces is not None
    assert group.options == ["adam", "sgd"]
    assert set(group.subspaces["adam"].params) == {"beta1", "beta2", "schedule"}
    assert space.names == [
        "lr",
        "hidden",
        "dropout",
        "batch_size",
        "act",
        "optimizer",
        "beta1",
        "beta2",
        "schedule",
        "warmup",
        "momentum",
    ]


def test_conditional_groups_activate_only_the_chosen_branch() -> None:
    space = _sweep_space()
    configs = space.sample(np.random.default_rng(0), 400)
    branches: Counter[tuple[str, str | None]] = Counter()
    for c in configs:
        assert space.validate(c) == c
        assert c["epochs"] == 20 and c["tag"] == "baseline"
        if c["optimizer"] == "adam":
            assert {"beta1", "beta2", "schedule"} <= set(c) and "momentum" not in c
            assert ("warmup" in c) == (c["schedule"] == "cosine")
            branches[("adam", c["schedule"])] += 1
        else:
            assert "momentum" in c
            assert not {"beta1", "beta2", "schedule", "warmup"} & set(c)
            branches[("sgd", None)] += 1
    assert set(branches) == {("adam", "cosine"), ("adam", "constant"), ("sgd", None)}


def test_unquoted_call_in_a_yaml_flow_mapping_gets_a_hint() -> None:
    # YAML splits {beta1: uniform(0.8, 0.99)} at the comma: say how to write it
    spec = yaml.safe_load("g: {choice: {adam: {beta1: uniform(0.8, 0.99)}}}")
    with pytest.raises(
        SpaceError,
        match=r"^space\.g\.adam\.beta1: cannot parse 'uniform\(0\.8'"
        r".*quote the value",
    ):
        parse_space(spec)


def test_plain_values_are_fixed_with_their_types() -> None:
    space = parse_space(
        {
            "x": "uniform(0, 1)",
            "n": 10,
            "r": 0.5,
            "flag": True,
            "none": None,
            "name": "run-1",
            "dims": {"type": "fixed", "value": [1, 2]},
        }
    )
    config = space.sample(np.random.default_rng(0), 1)[0]
    assert config == {
        "x": config["x"],
        "n": 10,
        "r": 0.5,
        "flag": True,
        "none": None,
        "name": "run-1",
        "dims": [1, 2],
    }
    assert type(config["n"]) is int and type(config["flag"]) is bool
    assert space.dim == 1  # fixed parameters have no column


DUPLICATES = [
    (
        {"a": "uniform(0, 1)", "g": {"choice": {"x": {"a": "int(1, 2)"}}}},
        r"space\.g\.x\.a: duplicate parameter name 'a' \(also at space\.a\)",
    ),
    (  # one branch and a group below it: both can be active at once
        {"g": {"choice": {"x": {"b": "bool", "h": {"choice": {"p": {"b": 3}}}}}}},
        r"space\.g\.x\.h\.p\.b: duplicate parameter name 'b' \(also at space\.g\.x\.b\)",
    ),
    (  # a group's flat name against a plain name
        {"opt": {"type": "group", "params": {"lr": "bool"}}, "opt.lr": 3},
        r"space\.opt\.lr: duplicate parameter name 'opt\.lr' \(also at space\.opt\.params\.lr\)",
    ),
    ({"g": {"choice": {"x": {"g": "bool"}}}}, r"duplicate parameter name 'g'"),
]


@pytest.mark.parametrize(("spec", "match"), DUPLICATES)
def test_duplicate_sub_parameter_names_are_an_error(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        parse_space(spec)


def test_empty_space_is_an_error() -> None:
    with pytest.raises(SpaceError, match=r"^space: needs at least one parameter"):
        parse_space({})


# ----------------------------------------------------------------------------------------
# encoding
# ----------------------------------------------------------------------------------------
def test_documented_encoding() -> None:
    space = Space(
        {
            "f": Float(0, 10),
            "lf": Float(1, 100, log=True),
            "i": Int(1, 4),
            "c": Choice(["a", "b", "c", "d"]),
            "b": Bool(),
            "n": Normal(5, 2),
            "k": Fixed(1),
            "g": Choice({"x": {"gx": Float(0, 1)}, "y": {}}),
        }
    )
    assert space.names == ["f", "lf", "i", "c", "b", "n", "g", "gx"]
    u = space.encode(
        {"f": 2.5, "lf": 10.0, "i": 2, "c": "c", "b": True, "n": 5.0, "k": 1, "g": "y"}
    )
    np.testing.assert_allclose(u[:7], [0.25, 0.5, 0.375, 0.625, 0.75, 0.5, 0.75])
    assert math.isnan(u[7])  # inactive
    assert space.n_options.tolist() == [0, 0, 0, 4, 2, 0, 2, 0]
    assert space.encode(
        {
            "f": 0,
            "lf": 1,
            "i": 1,
            "c": "a",
            "b": False,
            "n": 5 + 2 * 1.96,
            "k": 1,
            "g": "x",
            "gx": 1.0,
        }
    )[5] == pytest.approx(0.975, abs=1e-4)
    mask = space.active_mask(np.array([u, space.encode({**_minimal(), "g": "x", "gx": 0.5})]))
    assert mask[:, 7].tolist() == [False, True]


def _minimal() -> dict[str, Any]:
    return {"f": 0.0, "lf": 1.0, "i": 1, "c": "a", "b": False, "n": 5.0, "k": 1}


def test_round_trip_is_exact_for_sampled_configurations() -> None:
    space = every_type_space()
    for seed in range(3):
        configs = space.sample(np.random.default_rng(seed), 1500)
        u = space.encode_many(configs)
        active = ~np.isnan(u)
        assert ((u[active] >= 0) & (u[active] <= 1)).all()
        back = space.decode_many(u)
        for c, b in zip(configs, back):
            assert b == c
            assert [type(v) for v in b.values()] == [type(v) for v in c.values()]


def test_round_trip_is_exact_for_every_discrete_value() -> None:
    params: dict[str, Param] = {
        "i": Int(-7, 3),
        "il": Int(1, 1000, log=True),
        "istep": Int(0, 20, step=5),
        "fs": Float(0.1, 0.7, step=0.2),
        "fls": Float(0.01, 1.0, log=True, step=0.01),
        "c": Choice([1, 2.5, "x", None, True]),
        "b": Bool(),
        "qn": Normal(10, 3, step=0.1),
        "qln": Normal(0, 1, log=True, step=0.5),
    }
    for name, p in params.items():
        space = Space({name: p})
        if isinstance(p, Normal):
            values = sorted({v[name] for v in space.sample(np.random.default_rng(0), 3000)})
        else:
            values = p.grid_values(name, None)
        for v in values:
            assert space.decode(space.encode({name: v})) == {name: v}, (name, v)


def test_round_trip_of_hand_typed_continuous_values() -> None:
    rng = np.random.default_rng(1)
    cases: list[tuple[Param, np.ndarray]] = [
        (Float(-3.3, 7.1), rng.uniform(-3.3, 7.1, 500)),
        (Float(1e-4, 1.0, log=True), np.exp(rng.uniform(math.log(1e-4), 0.0, 500))),
        (Normal(0, 1), rng.uniform(-3, 3, 500)),
        (Normal(1, 0.5, log=True), np.exp(rng.uniform(-0.5, 2.5, 500))),
    ]
    for p, xs in cases:
        space = Space({"x": p})
        for x in xs.tolist():
            got = space.decode(space.encode({"x": x}))["x"]
            assert got == pytest.approx(x, rel=1e-12, abs=0), (p, x)


def test_every_point_of_the_unit_cube_decodes_to_a_valid_configuration() -> None:
    space = every_type_space()
    u = np.random.default_rng(3).random((1000, space.dim))
    u[0], u[1] = 0.0, 1.0  # the corners
    u[2, ::2] = 1.0
    for config in space.decode_many(u):
        assert space.validate(config) == config


def test_grouped_encode_decode_equal_each_params_own_path() -> None:
    """Space encodes/decodes linear floats and choices as whole-array operations; the
    result must be exactly what each parameter's own methods give, also at the edges
    (0, 1, outside the cube, NaN) and for values whose encoding needs an ulp nudge."""
    space = every_type_space()
    rng = np.random.default_rng(11)
    u = rng.random((500, space.dim))
    u[:20] = rng.choice([0.0, 1.0, -0.5, 1.5, np.nan, 0.5, 1 - 1e-17], size=(20, space.dim))
    got = space.decode_many(u)
    mask = space.active_mask(u)
    for j, c in enumerate(space.columns):
        rows = np.flatnonzero(mask[:, j])
        col = np.where(np.isnan(u[rows, j]), 0.5, u[rows, j])
        want = c.param._decode(col)
        assert [got[r][c.name] for r in rows] == want, c.name
    # encoding: awkward floats (near the bounds, many digits) and every decoded config
    wide = Space({"a": Float(-5.0, 5.0), "b": Float(0.1, 0.7), "c": Float(-1e-300, 1e300)})
    xs = np.concatenate([rng.uniform(-5, 5, 300), [-5.0, 5.0, 0.1, 0.3, 1 / 3, -4.999999]])
    configs = [
        {"a": float(x), "b": float(min(max(abs(x) / 5, 0.1), 0.7)), "c": abs(float(x)) * 1e299}
        for x in xs
    ]
    for sp, cfgs in ((wide, configs), (space, got)):
        enc = sp.encode_many(cfgs)
        for j, c in enumerate(sp.columns):
            rows = [i for i, p in enumerate(cfgs) if c.name in p]
            want = c.param._encode([cfgs[i][c.name] for i in rows])
            np.testing.assert_array_equal(enc[rows, j], want, err_msg=c.name)
    # decoded values are reachable, so they round-trip exactly
    assert space.decode_many(space.encode_many(got)) == got


def test_qlognormal_values_stay_positive() -> None:
    space = Space({"x": Normal(0, 1, log=True, step=0.5)})
    values = [c["x"] for c in space.sample(np.random.default_rng(0), 5000)]
    assert min(values) == 0.5
    for v in values:
        space.validate({"x": v})


# ----------------------------------------------------------------------------------------
# sampling
# ----------------------------------------------------------------------------------------
def test_sampling_distributions() -> None:
    space = Space(
        {
            "lf": Float(1e-4, 1.0, log=True),
            "f": Float(0, 1),
            "n": Normal(3, 2),
            "ln": Normal(0, 1, log=True),
            "il": Int(1, 1000, log=True),
            "i": Int(1, 6),
            "c": Choice(["a", "b", "c", "d"]),
            "b": Bool(),
            "g": Choice({"x": {"gx": Float(0, 1)}, "y": {}, "z": {}}),
        }
    )
    n = 20000
    configs = space.sample(np.random.default_rng(0), n)
    assert len(configs) == n

    def col(name: str) -> np.ndarray:
        return np.array([c[name] for c in configs if name in c])

    assert math.log10(np.median(col("lf"))) == pytest.approx(-2, abs=0.05)  # geometric mean
    assert col("f").mean() == pytest.approx(0.5, abs=0.01)
    assert col("n").mean() == pytest.approx(3, abs=0.05)
    assert col("n").std() == pytest.approx(2, abs=0.05)
    assert np.median(np.log(col("ln"))) == pytest.approx(0, abs=0.03)
    # log-uniform over [low - 0.5, high + 0.5], rounded: median ~ sqrt(0.5 * 1000.5)
    assert np.median(col("il")) == pytest.approx(math.sqrt(0.5 * 1000.5), rel=0.1)
    assert set(col("i").tolist()) == {1, 2, 3, 4, 5, 6}
    for counts, k in (
        (Counter(col("c").tolist()), 4),
        (Counter(col("b").tolist()), 2),
        (Counter(col("g").tolist()), 3),
        (Counter(col("i").tolist()), 6),
    ):
        assert len(counts) == k
        for c in counts.values():
            assert c == pytest.approx(n / k, rel=0.05)
    assert len(col("gx")) == Counter(col("g").tolist())["x"]


def test_sampling_is_seeded() -> None:
    space = every_type_space()
    a = space.sample(np.random.default_rng(42), 50)
    b = space.sample(np.random.default_rng(42), 50)
    c = space.sample(np.random.default_rng(43), 50)
    assert a == b and a != c


# ----------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------
def _vspace() -> Space:
    return Space(
        {
            "lr": Float(1e-4, 1e-1, log=True),
            "n": Int(1, 9, step=2),
            "s": Float(0, 1, step=0.25),
            "act": Choice(["relu", "tanh"]),
            "fx": Fixed(3),
            "opt": Choice(
                {
                    "adam": {
                        "beta1": Float(0.8, 0.99),
                        "inner": Choice({"x": {"xx": Int(1, 3)}, "y": {}}),
                    },
                    "sgd": {"momentum": Float(0, 1)},
                }
            ),
        }
    )


BASE = {"lr": 0.01, "n": 3, "s": 0.5, "act": "relu", "fx": 3, "opt": "sgd", "momentum": 0.5}
ADAM = {
    **{k: v for k, v in BASE.items() if k != "momentum"},
    "opt": "adam",
    "beta1": 0.9,
    "inner": "x",
    "xx": 2,
}

INVALID = [
    ({**BASE, "lr": 1.0}, r"^params\.lr: 1\.0 is outside \[0\.0001, 0\.1\]"),
    ({**BASE, "lr": math.nan}, r"^params\.lr: nan is outside"),
    ({**BASE, "lr": "0.01"}, r"^params\.lr: expected a number, got str '0\.01'"),
    ({**BASE, "n": 4}, r"^params\.n: 4 is not on the step grid .*step=2"),
    ({**BASE, "s": 0.3}, r"^params\.s: 0\.3 is not on the step grid"),
    ({**BASE, "n": 3.5}, r"^params\.n: expected an integer, got float 3\.5"),
    ({**BASE, "n": True}, r"^params\.n: expected an integer, got bool"),
    ({**BASE, "n": 11}, r"^params\.n: 11 is outside \[1, 9\]"),
    (
        {**BASE, "act": "gelu"},
        r"^params\.act: 'gelu' is not one of the options \['relu', 'tanh'\]",
    ),
    ({**BASE, "act": 1}, r"^params\.act: 1 is not one of the options"),
    ({**BASE, "fx": 4}, r"^params\.fx: is fixed to 3, got 4"),
    ({k: v for k, v in BASE.items() if k != "momentum"}, r"^params\.momentum: missing"),
    ({k: v for k, v in BASE.items() if k != "lr"}, r"^params\.lr: missing"),
    ({k: v for k, v in ADAM.items() if k != "xx"}, r"^params\.xx: missing"),
    ({**BASE, "beta1": 0.9}, r"^params\.beta1: is not active in this configuration"),
    ({**ADAM, "inner": "y"}, r"^params\.xx: is not active"),
    ({**BASE, "lrr": 0.1}, r"^params\.lrr: unknown parameter \(did you mean 'lr'\?\)"),
    ({**BASE, "zzz": 1}, r"^params\.zzz: unknown parameter$"),
    ({**BASE, "opt": "rmsprop"}, r"^params\.opt: 'rmsprop' is not one of the options"),
]


@pytest.mark.parametrize(("params", "match"), INVALID)
def test_validate_errors_name_the_parameter(params: dict[str, Any], match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        _vspace().validate(params)


def test_validate_normalizes_to_plain_python_values() -> None:
    space = _vspace()
    got = space.validate({**BASE, "lr": np.float64(0.01), "n": np.int64(5), "s": 1, "fx": 3.0})
    assert got == {**BASE, "n": 5, "s": 1.0}
    assert [type(v) for v in got.values()] == [float, int, float, str, int, str, float]
    assert list(got) == ["lr", "n", "s", "act", "fx", "opt", "momentum"]  # space order
    assert space.validate({k: v for k, v in BASE.items() if k != "fx"})["fx"] == 3
    assert space.validate(ADAM) == ADAM
    with pytest.raises(SpaceError, match=r"^enqueue\.lr: "):
        space.validate({**BASE, "lr": 5.0}, "enqueue")
    with pytest.raises(SpaceError, match="expected a dict of parameters, got list"):
        space.validate([1])  # type: ignore[arg-type]


def test_bool_and_number_are_not_confused() -> None:
    assert Choice([1, True]).validate(True) is True
    assert Choice([1, True]).validate(1) == 1 and Choice([1, True]).validate(1) is not True
    with pytest.raises(SpaceError):
        Fixed(True).validate(1)
    with pytest.raises(SpaceError):
        Fixed(1).validate(True)
    with pytest.raises(SpaceError):
        Bool().validate(0)


# ----------------------------------------------------------------------------------------
# grid
# ----------------------------------------------------------------------------------------
def test_grid_over_discrete_parameters_and_groups() -> None:
    space = Space(
        {
            "n": Int(1, 9, step=2),
            "s": Float(0, 1, step=0.25),
            "act": Choice(["relu", "tanh"]),
            "b": Bool(),
            "fx": Fixed("v"),
            "opt": Choice(
                {
                    "adam": {"inner": Choice({"x": {"xx": Int(1, 3)}, "y": {}})},
                    "sgd": {"nesterov": Bool()},
                }
            ),
        }
    )
    grid = space.grid()
    # 5 * 5 * 2 * 2 * (adam: (3 + 1) + sgd: 2)
    assert len(grid) == 100 * 6
    points = list(grid)
    assert len({json.dumps(p, sort_keys=True) for p in points}) == len(points)
    for p in points:
        assert space.validate(p) == p
    assert Counter(p["opt"] for p in points) == {"adam": 400, "sgd": 200}
    assert sum("xx" in p for p in points) == 300
    assert points[0] == grid[0] and points[-1] == grid[len(grid) - 1]
    with pytest.raises(IndexError):
        grid[len(grid)]
    assert sorted({p["s"] for p in points}) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert sorted({p["n"] for p in points}) == [1, 3, 5, 7, 9]


def test_grid_of_a_continuous_parameter_needs_a_step_or_grid_points() -> None:
    space = Space({"lr": Float(1e-4, 1e-1, log=True), "x": Float(0, 1)})
    with pytest.raises(SpaceError) as info:
        space.grid()
    msg = str(info.value)
    assert msg.startswith("space.lr: a continuous Float has no grid")
    assert "step=" in msg and "grid_points" in msg
    with pytest.raises(SpaceError, match=r"^space\.z: a Normal parameter has no grid.*points"):
        Space({"z": Normal(0, 1)}).grid()
    with pytest.raises(SpaceError, match="grid_points: must be a positive integer"):
        space.grid(0)


def test_grid_points_for_continuous_parameters() -> None:
    space = Space({"lr": Float(1e-4, 1e-0, log=True), "x": Float(0, 1), "z": Normal(0, 1)})
    points = list(space.grid(grid_points=5))
    assert len(points) == 125
    assert sorted({p["x"] for p in points}) == [0.0, 0.25, 0.5, 0.75, 1.0]
    lrs = sorted({p["lr"] for p in points})
    np.testing.assert_allclose(lrs, [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    zs = sorted({p["z"] for p in points})
    assert len(zs) == 5 and zs[2] == 0.0 and zs[0] == pytest.approx(-zs[4])


# ----------------------------------------------------------------------------------------
# to_spec / parse_space
# ----------------------------------------------------------------------------------------
def test_to_spec_round_trips_through_json_and_parse_space() -> None:
    for space in (every_type_space(), _sweep_space(), _vspace()):
        spec = json.loads(json.dumps(space.to_spec()))
        again = parse_space(spec)
        assert again == space
        assert again.to_spec() == space.to_spec()
        assert again.names == space.names
        configs = space.sample(np.random.default_rng(0), 200)
        assert again.sample(np.random.default_rng(0), 200) == configs
        np.testing.assert_array_equal(again.encode_many(configs), space.encode_many(configs))


def test_space_accepts_sweep_file_forms_directly() -> None:
    space = Space({"lr": "loguniform(1e-5, 1e-1)", "act": ["relu", "tanh"], "epochs": 3})
    assert space.params["lr"] == Float(1e-5, 1e-1, log=True)
    assert space.params["act"] == Choice(["relu", "tanh"])
    assert space.params["epochs"] == Fixed(3)
    assert Space(space) == space


# ----------------------------------------------------------------------------------------
# integer q-log-uniform (W&B's q_log_uniform_values)
# ----------------------------------------------------------------------------------------
def test_int_q_log_uniform_gives_ints_on_the_step_grid() -> None:
    p = parse_param({"type": "int", "low": 16, "high": 256, "log": True, "step": 16})
    assert p == Int(16, 256, log=True, step=16)
    space = Space({"batch": p})
    draws = [d["batch"] for d in space.sample(np.random.default_rng(0), 4000)]
    assert all(type(b) is int and b % 16 == 0 and 16 <= b <= 256 for b in draws)
    assert set(draws) == set(range(16, 257, 16))
    counts = np.bincount(np.array(draws) // 16)[1:]
    assert counts[0] > 3 * counts[-1]  # log scale: small batches are more likely
    for b in range(16, 257, 16):
        assert space.decode(space.encode({"batch": b})) == {"batch": b}
    with pytest.raises(SpaceError, match="not on the step grid"):
        p.validate(40, "space.batch")
    assert p.validate(48.0) == 48 and type(p.validate(48.0)) is int
    assert parse_param(p.to_spec()) == p
