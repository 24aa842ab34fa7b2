"""Hostile command-line options and study names: one-line errors, exit status 2."""

from __future__ import annotations

import textwrap

import pytest

import hypersweep as hs
from hypersweep import cli
from hypersweep.errors import HypersweepError

SWEEP = textwrap.dedent("""\
    name: ok
    command: python t.py
    space: {x: uniform(0, 1)}
    objective: {metric: loss, goal: minimize}
    """)


@pytest.fixture
def sweep(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SWEEP, encoding="utf-8")
    return "s.yaml"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-trials", "1" + "0" * 400], "expected a positive integer below 2**63"),
        (["--max-trials", "9" * 5000], "expected a positive integer"),
        (["--max-concurrent", "-3"], "expected a positive integer"),
        (["--seed", "-1"], "expected an integer from 0 to 2**63-1"),
        (["--seed", "1" + "0" * 30], "expected an integer from 0 to 2**63-1"),
        (["--timeout", "1s " * 5000 + "x"], "as a duration"),
        (["--timeout", "1e999"], "expected a positive duration"),
        (["--timeout", "nan"], "expected a positive duration"),
        (["--name", "a\nb"], "is not a valid study name"),
        (["--name", "a\n"], "is not a valid study name"),
        (["--name", "n" * 300], "is not a valid study name"),
        (["--storage", "mysql://x"], "unsupported URL"),
    ],
)
@pytest.mark.timeout(60)
def test_hostile_run_options_are_one_line_errors(sweep, args, fragment, capsys):
    assert cli.main(["run", sweep, "--storage", "memory", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert fragment in err and len(err) < 400, err


@pytest.mark.parametrize("name", ["a\nb", "x" * 5000, "é", "", "a b", "\x1b[31mred"])
def test_odd_study_names_in_read_commands_are_one_line_errors(tmp_path, monkeypatch, name, capsys):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    hs.Study("real", {"x": hs.Float(0, 1)}, storage=url)
    for command in ("status", "best", "stop"):
        assert cli.main([command, name, "--storage", url]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: "), err
        assert "\x1b" not in err


@pytest.mark.parametrize("name", ["a\n", "a\nb", "", "é", "x" * 201, 3, None])
def test_study_names_are_checked_whole(name):
    with pytest.raises(HypersweepError, match="not a valid study name") as info:
        hs.Study(name, {"x": hs.Float(0, 1)}, storage="memory")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("seed", [-1, 2**63, 10**400, 1.5, True])
def test_study_seed_out_of_range_is_an_error(seed):
    with pytest.raises(HypersweepError, match="seed: must be an integer") as info:
        hs.Study("s", {"x": hs.Float(0, 1)}, storage="memory", seed=seed)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200
