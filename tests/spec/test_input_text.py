"""Text survives: parameter names and values in any UTF-8 reach a real command trial byte for
byte (argv, environment, params file), and come back the same from the storage (R11: a
quoted ``'café'`` in ``choice(...)`` used to arrive as ``cafÃ©``)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import hypersweep as hs
from hypersweep import cli
from hypersweep.space import parse_param

# what the sweep file writes (inside a quoted compact form) -> what the trial must receive
VALUES = {
    "'café'": "café",
    "'naïve'": "naïve",
    "'日本語'": "日本語",
    "'🎉 fête'": "🎉 fête",
    "'tab\\there'": "tab\there",  # a compact-form escape
    "'\\u00e9t\\u00e9'": "été",  # \\u escapes decode to the character, not to its bytes
    "'Ωmega \"q\" \\'s\\''": "Ωmega \"q\" 's'",
}

RECORD = """\
import json, os, sys
out = {
    "argv": [os.fsencode(a).hex() for a in sys.argv[1:]],
    "env": {k: os.environb[os.fsencode(k)].hex() for k in os.environ
            if k.startswith("HYPERSWEEP_PARAM")},
}
path = os.environ.get("HYPERSWEEP_PARAMS_FILE")
if path:
    with open(path, "rb") as f:
        out["file"] = f.read().hex()
n = len(os.listdir(os.environ["OUT"]))
with open(os.path.join(os.environ["OUT"], f"{os.getpid()}-{n}.json"), "w") as f:
    json.dump(out, f)
print("loss=1")
"""


def _sweep(tmp_path: Path, params_as: str, name: str, command: str) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "record.py").write_text(RECORD, encoding="utf-8")
    options = ", ".join(VALUES)
    text = textwrap.dedent(f"""\
        name: utf8
        command: {command}
        params_as: {params_as}
        env: {{OUT: "{out}"}}
        space:
          {name}: choice({options})
          ünïcode_fixed: "Zürich — 東京"
        objective: {{metric: loss, goal: minimize}}
        sampler: grid
        limits: {{max_trials: {len(VALUES)}}}
        """)
    path = tmp_path / "sweep.yaml"
    path.write_bytes(text.encode("utf-8"))
    return path


def _received(tmp_path: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("*.json"))]


@pytest.mark.parametrize(
    ("params_as", "name"), [("args", "größe"), ("json", "名前"), ("env", "word")]
)
def test_utf8_names_and_values_reach_a_command_trial_byte_for_byte(
    tmp_path, params_as, name, capsys
):
    sweep = _sweep(tmp_path, params_as, name, "python record.py")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert cli.main(["run", str(sweep), "--storage", url, "--progress", "off"]) == 0
    got = _received(tmp_path)
    assert len(got) == len(VALUES)
    expected = set(VALUES.values())
    fixed = "Zürich — 東京"
    if params_as == "args":
        seen = {bytes.fromhex(r["argv"][0]) for r in got}
        assert seen == {f"--{name}={v}".encode() for v in expected}
        assert all(bytes.fromhex(r["argv"][1]) == f"--ünïcode_fixed={fixed}".encode() for r in got)
    elif params_as == "env":
        seen = {bytes.fromhex(r["env"]["HYPERSWEEP_PARAM_WORD"]) for r in got}
        assert seen == {v.encode() for v in expected}
        assert all(r["env"]["HYPERSWEEP_PARAMS"] for r in got)
    else:
        files = [json.loads(bytes.fromhex(r["file"]).decode("utf-8")) for r in got]
        assert {f[name] for f in files} == expected
        assert all(f["ünïcode_fixed"] == fixed for f in files)
    # and the storage gives the same text back
    study = hs.Study.load("utf8", storage=url)
    assert {t.params[name] for t in study.trials()} == expected
    assert all(t.params["ünïcode_fixed"] == fixed for t in study.trials())
    best = capsys.readouterr().out
    assert "Ã" not in best


def test_utf8_value_in_a_placeholder(tmp_path):
    sweep = _sweep(tmp_path, "args", "größe", "python record.py {größe}")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert cli.main(["run", str(sweep), "--storage", url, "--progress", "off"]) == 0
    seen = {bytes.fromhex(r["argv"][0]) for r in _received(tmp_path)}
    assert seen == {v.encode() for v in VALUES.values()}


@pytest.mark.parametrize(("text", "value"), list(VALUES.items()))
def test_compact_form_strings_decode_to_the_written_text(text, value):
    assert parse_param(f"choice({text}, other)").options == [value, "other"]
    assert parse_param(f"fixed({text})").value == value


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("choice('\\x', b)", "bad escape"),
        ("choice('\\x4', b)", "bad escape"),
        ("choice('\\u12', b)", "bad escape"),
        ("choice('\\U0011ffff', b)", "not a Unicode character"),
        ("choice('\\ud800', b)", "not a Unicode character"),
        ("choice('a\\0b', b)", "NUL"),
    ],
)
def test_bad_compact_escapes_are_one_line_errors(text, fragment):
    with pytest.raises(hs.SpaceError, match=fragment) as info:
        parse_param(text, "space.x")
    assert str(info.value).startswith("space.x: ") and "\n" not in str(info.value)


def test_unknown_escapes_stay_as_written():
    assert parse_param(r"choice('C:\data', b)").options == ["C:\\data", "b"]
