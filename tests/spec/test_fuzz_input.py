"""Fuzzing the input surface (Hypothesis, bounded: a few seconds per property).

Sweep files go through the loader (src/hypersweep/spec/), Python specs through
``Space`` / ``validate`` / ``Study`` / ``enqueue`` / ``ask`` / ``tell``. A property fails on
a bare exception, on an error message of more than one line, on a sampled value outside its
space, and on any example slower than 1 s (Hypothesis's deadline). ``derandomize`` makes CI
runs repeat; ``benchmarks/fuzz.py`` runs the same generators 20,000+ times each.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypersweep.testing.fuzz import (
    FuzzFailure,
    RandomSource,
    check_python_case,
    check_sweep_text,
    python_case,
    sweep_text,
)

_COMMON = {
    "deadline": 1000,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
#: Drawing every choice from Hypothesis (shrinkable failures, ~80 ms an example) ...
FUZZ = settings(max_examples=60, **_COMMON)
#: ... and many more cases from seeds (a failure names its seed: RandomSource(seed)).
FUZZ_SEEDS = settings(max_examples=300, **_COMMON)


class _DataSource:
    """A fuzz ``Source`` over Hypothesis's ``data`` (so failures shrink)."""

    def __init__(self, data: Any) -> None:
        self._data = data

    def pick(self, options: Any) -> Any:
        return self._data.draw(st.sampled_from(list(options)))

    def integer(self, lo: int, hi: int) -> int:
        return self._data.draw(st.integers(lo, hi))


@pytest.fixture(scope="module", autouse=True)
def _warm_imports():
    """Import every sampler once, so the 1 s deadline measures work, not imports."""
    import importlib

    for lazy in ("scipy.special", "scipy.stats", "scipy.optimize", "scipy.linalg"):
        importlib.import_module(lazy)  # what samplers import on first use
    for name in ("random", "tpe", "grid", "sobol", "gp", "anneal", "cmaes", "auto", "bohb"):
        text = (
            f"name: w\ncommand: python t.py\nspace: {{x: uniform(0, 1)}}\n"
            f"objective: {{metric: loss, goal: minimize}}\nsampler: {name}\n"
        )
        assert check_sweep_text(text) == "ok"


@FUZZ
@given(st.data())
def test_fuzzed_sweep_files_give_a_spec_or_a_one_line_error(data):
    text = sweep_text(_DataSource(data))
    assert check_sweep_text(text) in ("ok", "error")


@FUZZ
@given(st.data())
def test_fuzzed_python_specs_give_valid_values_or_a_one_line_error(data):
    case = python_case(_DataSource(data))
    assert check_python_case(case) in ("ok", "error")


@FUZZ_SEEDS
@given(st.integers(0, 2**32 - 1))
def test_many_fuzzed_sweep_files(seed):
    assert check_sweep_text(sweep_text(RandomSource(seed))) in ("ok", "error")


@FUZZ_SEEDS
@given(st.integers(0, 2**32 - 1))
def test_many_fuzzed_python_specs(seed):
    assert check_python_case(python_case(RandomSource(seed))) in ("ok", "error")


@pytest.mark.parametrize(
    "text",
    [
        "name: a\ncommand: p\nspace: {x: uniform(0, 1)}\nobjective: {metric: l, goal: min}\n",
        "name: a\ncommand: p\nspace: {x: 'choice(\\'\\x\\', b)'}\n"
        "objective: {metric: l, goal: min}\n",
        "space: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]",
        "a: &a [*a]\n",
    ],
)
def test_the_checker_accepts_good_outcomes(text):
    assert check_sweep_text(text) in ("ok", "error")


def test_the_checker_catches_what_it_must():
    """The fuzz checks can fail: a bare exception and a value outside the space."""

    def bare() -> str:
        raise KeyError("x")

    with pytest.raises(FuzzFailure, match="bare"):
        check_python_case(bare)

    def outside() -> str:
        import hypersweep as hs
        from hypersweep.testing.fuzz._check import check_values

        space = hs.Space({"x": hs.Float(0, 1)})
        check_values(space, [{"x": 1.5}], "test")
        return "ok"

    with pytest.raises(FuzzFailure, match="outside"):
        check_python_case(outside)

    def multiline() -> str:
        from hypersweep.errors import HypersweepError

        raise HypersweepError("two\nlines")

    with pytest.raises(FuzzFailure, match="multiline"):
        check_python_case(multiline)
