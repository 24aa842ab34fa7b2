"""The shared option checks: what they accept, the one-line messages, the key path."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from hypersweep._validate import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    did_you_mean,
    fail,
    is_number,
    short,
    unwrap,
)
from hypersweep.errors import SpaceError, SpecError
from hypersweep.spec import SweepFileError, load_text


def test_check_int_accepts_integral_values_and_numpy() -> None:
    assert check_int("limits.x", 3, 0) == 3
    assert check_int("limits.x", 3.0, 0) == 3
    value = check_int("limits.x", np.int64(7), 1)
    assert value == 7 and type(value) is int


@pytest.mark.parametrize("bad", [True, 1.5, "3", None, -1])
def test_check_int_refuses_with_the_path_and_the_value(bad: Any) -> None:
    with pytest.raises(SpecError) as info:
        check_int("early_stopping.delay", bad, 0)
    assert str(info.value) == f"early_stopping.delay: must be an integer >= 0, got {bad!r}"
    assert info.value.path == "early_stopping.delay"
    assert info.value.detail == f"must be an integer >= 0, got {bad!r}"


def test_a_numpy_value_is_shown_as_the_number_it_holds() -> None:
    with pytest.raises(SpecError, match=r"^x: must be an integer >= 0, got 0\.5$"):
        check_int("x", np.float64(0.5), 0)


def test_check_number_names_every_bound() -> None:
    assert check_number("sampler.gamma", np.float32(0.25), gt=0, lt=1) == 0.25
    with pytest.raises(SpecError, match=r"^sampler\.gamma: must be a finite number > 0 and < 1, "):
        check_number("sampler.gamma", 1, gt=0, lt=1)
    with pytest.raises(SpecError, match=r">= 0 and <= 0\.5, got 0\.6$"):
        check_number("sampler.q", 0.6, ge=0, le=0.5)
    for bad in (float("nan"), float("inf"), True, "1", 10**400):
        with pytest.raises(SpecError, match=r"^x: must be a finite number, got "):
            check_number("x", bad)


def test_check_bool_and_choice() -> None:
    assert check_bool("sampler.shuffle", np.bool_(True)) is True
    with pytest.raises(SpecError, match=r"^sampler\.shuffle: must be true or false, got 1$"):
        check_bool("sampler.shuffle", 1)
    assert check_choice("early_stopping.resource", "steps", ["steps", "seconds"]) == "steps"
    with pytest.raises(SpecError) as info:
        check_choice("early_stopping.resource", "step", ["steps", "seconds"])
    assert str(info.value) == (
        "early_stopping.resource: must be one of steps, seconds, got 'step' "
        "(did you mean 'steps'?)"
    )
    with pytest.raises(SpecError):
        check_choice("flag", 1, [True, False])  # 1 == True, but it is not a bool


def test_did_you_mean_prefers_an_alias_over_spelling() -> None:
    assert did_you_mean("medain", ["median", "asha"]) == " (did you mean 'median'?)"
    assert did_you_mean("zzz", ["median", "asha"]) == ""
    aliases = {"eta": "reduction_factor"}
    known = ["reduction_factor", "eps"]
    assert did_you_mean("eta", known, aliases=aliases) == " (did you mean 'reduction_factor'?)"


def test_values_in_messages_are_bounded_and_unwrapped() -> None:
    assert short(10**400) == "an integer of about 401 digits"
    assert len(short("x" * 10_000)) < 90
    assert unwrap(np.int64(3)) == 3 and type(unwrap(np.int64(3))) is int
    assert unwrap([1]) == [1]
    assert is_number(np.float64(1)) and is_number(2) and not is_number(True)
    assert not is_number(np.bool_(True)) and not is_number("1")


def test_errors_keep_path_detail_and_fix_across_processes() -> None:
    e = fail("limits.timeout", "must be a positive duration, got -1", fix="e.g. timeout: 10m")
    assert str(e) == "limits.timeout: must be a positive duration, got -1; e.g. timeout: 10m"
    back = pickle.loads(pickle.dumps(e))
    assert (type(back), str(back), back.path, back.fix) == (
        SpecError,
        str(e),
        "limits.timeout",
        "e.g. timeout: 10m",
    )
    s = pickle.loads(pickle.dumps(SpaceError("space.lr", "bad")))
    assert (str(s), s.path, s.detail) == ("space.lr: bad", "space.lr", "bad")


def test_a_sweep_file_error_is_placed_at_the_line_of_the_path_it_carries(tmp_path) -> None:
    text = (
        "name: s\n"
        "command: python3 t.py {x}\n"
        "space: {x: uniform(0, 1)}\n"
        "objective: {metric: loss, goal: minimize}\n"
        "early_stopping:\n"
        "  policy: median\n"
        "  delay: -1\n"
    )
    with pytest.raises(SweepFileError) as info:
        load_text(text, "s.yaml", base_dir=tmp_path)
    err = info.value
    assert (err.line, err.path) == (7, "early_stopping.delay")
    assert str(err) == "s.yaml:7 early_stopping.delay: must be an integer >= 0, got -1"
