"""Command trials and the space's forms: inactive conditional placeholders are dropped,
groups arrive nested in HYPERSWEEP_PARAMS, list/dict values as JSON text."""

from __future__ import annotations

import json
import shlex

import pytest

from hypersweep.errors import HypersweepError
from hypersweep.execution.command import command_line, render_command
from hypersweep.space import parse_space

SPACE = parse_space(
    {
        "model": {
            "choice": {
                "lgbm": {"lr": "loguniform(1e-3, 1e-1)", "leaves": "int(8, 64)"},
                "xgb": {"lr": "uniform(0.1, 0.3)", "depth": "int(1, 10)"},
            }
        },
        "opt": {"type": "group", "params": {"momentum": "uniform(0, 1)", "nesterov": "bool"}},
        "shape": {"type": "choice", "values": [[32, 32], [64]]},
    }
)
COMMAND = "python train.py --model {model} --lr={lr} --leaves {leaves} -d {depth} {shape}"


def test_inactive_placeholders_drop_their_argument() -> None:
    d = SPACE.delivery()
    lgbm = {
        "model": "lgbm",
        "lr": 0.01,
        "leaves": 9,
        "opt.momentum": 0.5,
        "opt.nesterov": True,
        "shape": [32, 32],
    }
    argv, _ = render_command(COMMAND, lgbm, delivery=d)
    assert argv == [
        "python",
        "train.py",
        "--model",
        "lgbm",
        "--lr=0.01",
        "--leaves",
        "9",
        "[32,32]",  # "-d {depth}": depth is inactive, the option goes too
        "--opt.momentum=0.5",
        "--opt.nesterov=true",
    ]
    xgb = {
        "model": "xgb",
        "lr": 0.2,
        "depth": 3,
        "opt.momentum": 0.1,
        "opt.nesterov": False,
        "shape": [64],
    }
    argv, _ = render_command(COMMAND, xgb, "env", delivery=d)
    assert argv == ["python", "train.py", "--model", "xgb", "--lr=0.2", "-d", "3", "[64]"]


def test_an_inactive_placeholder_inside_a_word_drops_only_that_word() -> None:
    d = SPACE.delivery()
    params = {
        "model": "xgb",
        "lr": 0.2,
        "depth": 3,
        "opt.momentum": 0.1,
        "opt.nesterov": False,
        "shape": [64],
    }
    argv, _ = render_command(
        "prog --verbose leaves={leaves}x --d={depth}", params, "env", delivery=d
    )
    assert argv == ["prog", "--verbose", "--d=3"]


def test_a_placeholder_of_no_parameter_still_fails() -> None:
    with pytest.raises(HypersweepError, match=r"placeholder \{nope\} names no parameter"):
        render_command("prog {nope}", {"model": "xgb"}, delivery=SPACE.delivery())
    with pytest.raises(HypersweepError, match=r"placeholder \{depth\} names no parameter"):
        render_command("prog {depth}", {"model": "lgbm"})  # no delivery: nothing is optional


def test_groups_arrive_nested_in_the_json() -> None:
    params = {
        "model": "xgb",
        "lr": 0.2,
        "depth": 3,
        "opt.momentum": 0.1,
        "opt.nesterov": False,
        "shape": [64],
    }
    _, env = render_command(
        "prog", params, "json", params_file="/tmp/p.json", delivery=SPACE.delivery()
    )
    assert json.loads(env["HYPERSWEEP_PARAMS"]) == {
        "model": "xgb",
        "lr": 0.2,
        "depth": 3,
        "opt": {"momentum": 0.1, "nesterov": False},
        "shape": [64],
    }
    _, env = render_command("prog", params, "env", delivery=SPACE.delivery())
    assert env["HYPERSWEEP_PARAM_OPT_MOMENTUM"] == "0.1"
    assert env["HYPERSWEEP_PARAM_SHAPE"] == "[64]"


def test_rerun_line_of_a_conditional_trial() -> None:
    line = command_line(COMMAND, {"model": "xgb", "lr": 0.2, "depth": 3, "shape": [64]})
    assert shlex.split(line) == [
        "python",
        "train.py",
        "--model",
        "xgb",
        "--lr=0.2",
        "-d",
        "3",
        "[64]",
    ]
