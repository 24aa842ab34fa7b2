"""The reliability review's input reproducers (tests/data/repro, copied from issue 17):
each gives a one-line error naming the key, or a correct result.

The sweep files run through the real ``hypersweep run`` entry point (``cli.main``, in this
process) so the message a user sees is the one tested; the Python-API cases call the API.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import hypersweep as hs
from hypersweep import cli
from hypersweep.errors import HypersweepError, SpaceError
from hypersweep.spec import load

REPRO = Path(__file__).parents[1] / "data" / "repro"

# file -> the located message a user must see (after "error: <file>:<line> ")
ERRORS = {
    "R01_duration_backtracking.yaml": ":5 limits.timeout: cannot read '1s",
    "R02_recursive_alias.yaml": ":5 a recursive alias",
    "R03_deep_nesting.yaml": ":5 nesting deeper than 64 levels",
    "R04_control_char.yaml": ":5 the file holds the control character U+001B",
    "R05_4301_digit_int.yaml": ":5 an integer of 4301 characters",
    "R06_int_bound_10e400.yaml": ":5 space.x: int needs an integer for high, got high=an "
    "integer of about 401 digits",
    "R07_choice_huge_int.yaml": ":5 space.x: Choice options: integers in a space must lie "
    "within +-2**53",
    "R08_quniform_tiny_step.yaml": ":5 space.x: quniform: step=1e-300 is too fine",
    "R09_timeout_huge_int.yaml": ":5 limits.timeout: must be a positive duration, got an "
    "integer of about 401 digits",
    "R09b_max_trials_huge_int.yaml": ":5 limits.max_trials: must be a positive integer",
    "R10_bad_escape.yaml": ":5 space.x: bad escape '\\\\x': \\x needs 2 hex digits",
    "R12_yaml_escape_chr.yaml": ":5 YAML syntax error",
    "R13_lognormal_inf.yaml": ":5 space.x: lognormal with log=True needs -700 <= mu",
    "R13b_normal_huge_sigma.yaml": ":5 space.x: normal needs |mu| + 7.1*sigma <= 1e300",
    "R14_lognormal_zero.yaml": ":5 space.x: lognormal with log=True needs -700 <= mu",
    "R15_uniform_full_range.yaml": ":5 space.x: uniform needs high - low to be a finite float",
    "R16_int_near_2p63.yaml": ":5 space.x: int needs |low| <= 2**53",
    "R23_name_with_newline.yaml": ":4 space.'x\\ny': parameter names must start with a letter",
    "R24_tokenizer_quadratic.yaml": ":5 space.x: cannot parse 'uniform(1111",
}

# files whose space is valid: every value any sampler decodes must lie inside it
VALID = [
    "R11_mojibake.yaml",
    "R17_quniform_above_high.yaml",
    "R18_quniform_off_grid.yaml",
    "R19_quniform_nan.yaml",
    "R22_grid_big_int.yaml",
    "R22c_grid_huge_int.yaml",
    "R22b_grid_overflow.yaml",
]


def test_every_repro_file_is_covered():
    assert {p.name for p in REPRO.glob("R*.yaml")} == set(ERRORS) | set(VALID)


@pytest.mark.timeout(60)  # R01 took 13 s and R24 grew quadratically before the fix
@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_sweep_file_is_a_one_line_error(name, capsys):
    rc = cli.main(
        ["run", str(REPRO / name), "--storage", "memory", "--max-trials", "3", "--progress", "off"]
    )
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert f"{REPRO / name}{ERRORS[name]}" in err, err
    assert "unexpected" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    "name",
    [
        "R17_quniform_above_high.yaml",
        "R18_quniform_off_grid.yaml",
        "R19_quniform_nan.yaml",
        "R11_mojibake.yaml",
    ],
)
@pytest.mark.parametrize("sampler", ["random", "tpe", "gp"])
def test_sampled_values_of_a_valid_repro_space_lie_inside_it(name, sampler):
    spec = load(REPRO / name)
    study = hs.Study(
        "r", spec.space, list(spec.objectives), storage="memory", seed=0, sampler=sampler
    )
    for _ in range(12):
        t = study.ask()
        assert spec.space.validate(t.params) == t.params
        x = t.params.get("x")
        study.tell(t, 0.0 if x is None else float(abs(x - 100)))
    for p in spec.space.sample(np.random.default_rng(0), 3000):
        assert spec.space.validate(p) == p
    # the unit cube's edges too
    for u in (0.0, 1.0, np.nextafter(1.0, 0), 0.5):
        p = spec.space.decode(np.full(spec.space.dim, u))
        assert spec.space.validate(p) == p


def test_quniform_repros_give_values_on_the_grid_and_inside_the_bounds():
    lo, hi = -63, -11.200000000000003
    sp = load(REPRO / "R17_quniform_above_high.yaml").space
    values = sorted({p["x"] for p in sp.sample(np.random.default_rng(1), 5000)})
    assert lo <= values[0] and values[-1] <= hi
    assert len(values) == 75  # every grid point, none twice
    sp = load(REPRO / "R19_quniform_nan.yaml").space
    values = {p["x"] for p in sp.sample(np.random.default_rng(1), 5000)}
    assert all(np.isfinite(v) and 5e-324 <= v <= 211 for v in values)


@pytest.mark.parametrize(
    ("name", "high"), [("R22_grid_big_int.yaml", 10**8), ("R22c_grid_huge_int.yaml", 10**14)]
)
def test_grid_over_a_huge_int_range_is_lazy(name, high):
    spec = load(REPRO / name)
    tracemalloc.start()
    try:
        study = hs.Study(
            "g",
            spec.space,
            list(spec.objectives),
            storage="memory",
            sampler=dict(spec.sampler or {}),
        )
        seen = set()
        for _ in range(5):
            t = study.ask()
            assert 0 <= t.params["x"] <= high and isinstance(t.params["x"], int)
            seen.add(t.params["x"])
            study.tell(t, 1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(seen) == 5
    assert peak < 50 * 2**20  # the whole range of R22 was 800 MB as a list
    assert len(study.space.grid()) == high + 1


def test_grid_beyond_an_index_is_a_one_line_error():
    spec = load(REPRO / "R22b_grid_overflow.yaml")
    with pytest.raises(
        SpaceError,
        match=r"^space: the grid has about 1\.13e\+19 points, more "
        r"than 2\*\*62; .* another sampler",
    ):
        spec.space.grid()
    study = hs.Study("g", spec.space, list(spec.objectives), storage="memory", sampler="grid")
    with pytest.raises(SpaceError, match="another sampler"):
        study.ask()
    assert study.summary()["states"]["RUNNING"] == 0


def test_grid_run_over_r22b_through_the_cli_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = cli.main(
        ["run", str(REPRO / "R22b_grid_overflow.yaml"), "--storage", "memory", "--progress", "off"]
    )
    err = capsys.readouterr().err
    assert rc != 0
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "more than 2**62" in lines[0], err
    assert "unexpected" not in err


def test_c5_objective_returning_a_huge_int_fails_the_trial_with_a_reason(tmp_path):
    url = f"sqlite:///{tmp_path / 'c5.db'}"
    study = hs.Study("c5", space={"x": hs.Float(0, 1)}, storage=url)
    with pytest.raises(HypersweepError, match="first 3 trials of this run all failed"):
        study.optimize(lambda params: 10**400, max_trials=3)  # fails fast, with the reason
    trials = hs.Study.load("c5", storage=url).trials()
    assert [t.state.value for t in trials] == ["FAILED"] * 3
    assert all("too large for a float" in t.error for t in trials)


def test_c5_a_huge_int_among_reports_does_not_crash():
    study = hs.Study("c5r", space={"x": hs.Float(0, 1)}, storage="memory")
    t = study.ask()
    study.report(t, step=0, loss=10**400)
    done = study.tell(t, 1.0)
    assert done.state.value == "COMPLETED" and done.reports[0]["loss"] == float("inf")


@pytest.mark.parametrize(
    "params", [{"x": 0.5, 1: 2}, {1: 2}, {None: 1, "x": 0.5}, {("t",): 1, "x": 0.5}]
)
def test_c13_enqueue_with_a_non_string_key_is_a_one_line_error(params):
    st = hs.Study("c13", space={"x": hs.Float(0, 1)}, storage="memory")
    with pytest.raises(HypersweepError, match="parameter names must be strings") as info:
        st.enqueue(params)
    assert "\n" not in str(info.value)
    assert st.summary()["states"]["QUEUED"] == 0


# The Python-API cases of R_api.py
API_ERRORS = [
    (lambda: hs.Int(0, 10**400), "Int needs an integer for high"),
    (lambda: hs.Float(0, 10**400), "Float needs a number for high"),
    (lambda: hs.Normal(10**400, 1), "Normal needs a finite mu"),
    (lambda: hs.Choice([1, 10**400]), "integers in a space must lie within"),
    (lambda: hs.Float(0, 1e10, step=1e-300), "too fine for values near"),
    (lambda: hs.Int(2**63 - 7, 2**63 - 1), r"needs \|low\| <= 2\*\*53"),
    (lambda: hs.Normal(800, 1, log=True), "log=True needs -700"),
    (lambda: hs.Normal(0, 1e308), r"needs \|mu\| \+ 7.1\*sigma <= 1e300"),
    (lambda: hs.Normal(0, 1000, log=True), "log=True needs -700"),
    (lambda: hs.Float(-1e308, 1e308), "high - low to be a finite float"),
    (lambda: hs.Int(-7034, 9659994255008004 - 1), r"needs \|high\| <= 2\*\*53"),
    (
        lambda: hs.Space({"x": hs.Float(0, 1)}).validate({"x": 0.5, None: 1}),
        "params: parameter names must be strings",
    ),
]


@pytest.mark.parametrize(("make", "match"), API_ERRORS)
def test_api_repro_is_a_one_line_space_error(make, match):
    with pytest.raises(SpaceError, match=match) as info:
        make()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "param",
    [
        hs.Float(-63, -11.200000000000003, step=0.7),
        hs.Float(69, 69.000092, step=1e-6),
        hs.Float(5e-324, 211, step=0.5),
        hs.Float(1.4385489690470836e-67, 39.0, step=3),
        hs.Float(0.073, 0.08399999999999999, log=True, step=0.001),
        hs.Int(-7034, 2**50),
        hs.Int(2**53 - 7, 2**53),
        hs.Float(-8e307, 8e307),
    ],
)
def test_api_repro_spaces_sample_only_valid_values(param):
    space = hs.Space({"x": param})
    configs = space.sample(np.random.default_rng(0), 2000)
    assert all(space.validate(c) == c for c in configs)
    assert space.decode_many(space.encode_many(configs)) == configs
    if isinstance(param, hs.Float) and param.step is None:
        assert len({c["x"] for c in configs}) > 1000  # not one degenerate value (A4)


# Linear parsers: inputs that took exponential (R01) or quadratic (R24) time before. Each
# would take minutes to hours unfixed; the bounds are generous (pytest-timeout).
@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "text",
    [
        "uniform(" + "1" * 200_000 + "a, 2)",  # R24 at 25x its size
        "choice(" + ", ".join(["'é\\u00e9'"] * 20_000) + ")",
        "choice('" + "\\\\" * 100_000 + "x', b)",
        "choice(" + "a" * 200_000 + ", b)",
    ],
)
def test_compact_form_parsing_is_linear(text):
    from hypersweep.space import parse_param

    try:
        parse_param(text, "space.x")
    except SpaceError as e:
        assert "\n" not in str(e) and len(str(e)) < 300


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "value",
    ["1s " * 16 + "x", "1s" * 100 + "x", " 1s" * 66 + "!", "1" * 10_000 + "s", "1h" * 5000],
)
def test_duration_parsing_is_linear(value):
    from hypersweep.spec import parse_duration

    try:
        parse_duration(value, "limits.timeout")
    except ValueError as e:
        assert "cannot read" in str(e) and len(str(e)) < 300


@pytest.mark.timeout(60)
def test_a_flow_mapping_of_many_unclosed_calls_loads_in_linear_time():
    from hypersweep.spec import SweepFileError, load_text

    body = ", ".join(f"p{i}: f(" for i in range(5_000))  # 34 s unfixed, ~1 s now
    text = (
        f"name: a\ncommand: python t.py\nobjective: {{metric: l, goal: min}}\nspace: {{{body}}}\n"
    )
    with pytest.raises(SweepFileError) as info:
        load_text(text, "s.yaml")
    assert "\n" not in str(info.value)
