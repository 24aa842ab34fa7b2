"""Hostile but plausible sweep files (compact and long forms, mutations)."""

from __future__ import annotations

import json

from hypersweep.space.parse import FUNCS
from hypersweep.testing.fuzz._source import Source

# --------------------------------------------------------------------------------------
# Sweep files
# --------------------------------------------------------------------------------------
_FUNCS = (
    *FUNCS,  # every form the parser knows, and near-misses
    "unifrom",
    "Choice",
    "range",
)
_NUMBERS = (
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "0.5",
    "0.1",
    "0.7",
    "-63",
    "1e-5",
    "1e-1",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e-300",
    "5e-324",
    "2.5e-324",
    "9007199254740992",
    "9007199254740993",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1" * 40,
    "1e999",
    "-1e999",
    "-0",
    ".5",
    "5.",
    "inf",
    "-inf",
    "nan",
    ".nan",
    ".inf",
    "1_000",
    "0x1F",
    "0o17",
    "1:30",
    "1e",
    "1e+",
    "--1",
    "+3",
    "1.5e-7",
    "69.000092",
    "1e-06",
    "700",
    "1000",
    "-11.200000000000003",
    "1e10",
    "4.9e-324",
    "0.0001",
    "1" * 1001,
)
_WORDS = (
    "relu",
    "tanh",
    "true",
    "false",
    "null",
    "yes",
    "no",
    "None",
    "log",
    "step",
    "q",
    "a",
    "x_1",
    "General/lr",
    "café",
    "日本",
    "α",
    "_",
    "a.b-c",
)
_STRINGS = (
    "'café'",
    '"naïve"',
    "'\\x'",
    "'\\x4'",
    "'\\u00e9'",
    "'\\U0011ffff'",
    "'\\ud800'",
    "'\\0'",
    "'\\n'",
    "'a b'",
    "''",
    "'\\\\'",
    "'\\'",
    '"\'"',
    "'\U0001f389'",
    "'tab\\there'",
    "'C:\\data'",
    "'unterminated",
    '"\\"',
    "'" + "é" * 50 + "'",
)
_KEYWORDS = ("log", "step", "q", "low", "high", "mu", "sigma", "base", "value")
_NAMES = (
    "x",
    "lr",
    "y",
    "z",
    "act",
    "General/lr",
    "größe",
    "名前",
    "_",
    "a.b",
    "x y",
    "1x",
    "x\ny",
    "x\ty",
    "x\x00",
    "",
    "choice",
    "type",
    "<<",
    "n" * 210,
    "é",
    "x\u2028",
)
KINDS = (
    "int",
    "float",
    "uniform",
    "loguniform",
    "normal",
    "lognormal",
    "choice",
    "bool",
    "fixed",
    "quniform",
    "randint",
    "qnormal",
    "integer",
    1,
    None,
)
_SAMPLERS = (
    "random",
    "tpe",
    "grid",
    "sobol",
    "gp",
    "anneal",
    "cmaes",
    "auto",
    "bohb",
    "bogus",
    "{name: grid, grid_points: 3}",
    "{name: random, seed: 0}",
    "{name: random, seed: -1}",
    "{name: tpe, seed: 99999999999999999999999}",
    "{name: grid, shuffle: false}",
    "{name: grid, grid_points: 0}",
    "{seed: 1}",
)
_DURATIONS = (
    "10",
    "1.5",
    "90s",
    "10m",
    "2h",
    "1h30m",
    "500ms",
    "1d",
    "0",
    "-5",
    "1s 1s 1s x",
    "'" + "1s " * 60 + "x'",
    "1e999",
    "9" * 500,
    "true",
    "[1]",
    "'1h 30m'",
    "nan",
    "'1 h'",
    "'1hh'",
    "1e-300",
)
_CONTROL = (
    "\x00",
    "\x01",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\ufeff",
    "\t",
    "\r",
    "\n",
    "\ud7ff",
    "\U0010ffff",
)
_INSERTS = (
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "'",
    '"',
    "&a ",
    "*a",
    "!!python/name:os.system ",
    "!!binary ",
    "? ",
    "- ",
    "#",
    "\\",
    "%",
    "@",
    "`",
    "|",
    ">",
    "<<: *a",
    "é",
    "\u0301",
    "\U0001f389",
    "  ",
    "\n  ",
    *_CONTROL,
)


def _number(src: Source) -> str:
    mode = src.integer(0, 3)
    if mode == 0:
        return str(src.pick(_NUMBERS))
    if mode == 1:
        return str(src.integer(-1000, 1000))
    if mode == 2:
        mant = src.integer(1, 99999)
        return f"{'-' if src.integer(0, 3) == 0 else ''}{mant}e{src.integer(-330, 330)}"
    return repr(src.integer(-(10**6), 10**6) / src.pick((1, 3, 7, 10, 1000, 1e6, 1e-3)))


def _arg(src: Source) -> str:
    mode = src.integer(0, 9)
    if mode <= 5:
        return _number(src)
    if mode <= 7:
        return str(src.pick(_STRINGS))
    if mode == 8:
        return str(src.pick(_WORDS))
    return f"{src.pick(_KEYWORDS)}={src.pick((_number(src), 'true', 'false', src.pick(_STRINGS)))}"


def compact(src: Source) -> str:
    name = src.pick(_FUNCS)
    n = src.integer(0, 5)
    args = ", ".join(_arg(src) for _ in range(n))
    if src.integer(0, 9) == 0:  # a long one (the tokenizer must stay linear)
        args = "1" * src.integer(100, 5000) + src.pick(("a", ")", ", 2", "", "."))
    close = ")" if src.integer(0, 12) else ""
    return f"{name}({args}{close}"


def _long(src: Source) -> str:
    parts = [f"type: {src.pick(KINDS)}"] if src.integer(0, 5) else []
    for key in (
        "low",
        "high",
        "min",
        "max",
        "mu",
        "sigma",
        "step",
        "q",
        "log",
        "value",
        "values",
        "base",
    ):
        if src.integer(0, 3) == 0:
            if key == "log":
                val = src.pick(("true", "false", "1", "maybe"))
            elif key == "values":
                val = (
                    "["
                    + ", ".join(
                        _number(src) if src.integer(0, 1) else src.pick(_WORDS)
                        for _ in range(src.integer(0, 4))
                    )
                    + "]"
                )
            else:
                val = _number(src)
            parts.append(f"{key}: {val}")
    return "{" + ", ".join(parts) + "}"


def _key(name: str) -> str:
    """A YAML mapping key for ``name`` (double-quoted JSON where a plain key would not do)."""
    import re

    return name if re.fullmatch(r"[A-Za-z_\u00c0-\u9fff][\w./-]*", name) else json.dumps(name)


def _mild(src: Source) -> str:
    """A number, hostile one time in three."""
    if src.integer(0, 3) == 0:
        return _number(src)
    return src.pick(
        (
            "0",
            "1",
            "2",
            "10",
            "100",
            "0.5",
            "1e-5",
            "1e-3",
            "0.1",
            "-1",
            "-5",
            "3",
            "1e3",
            "0.25",
            "2.5",
            "7",
        )
    )


def _param(src: Source, depth: int, calm: bool = False) -> str:
    if calm:  # a plausible parameter with hostile numbers at most
        return src.pick(
            (
                f"uniform({_mild(src)}, {_mild(src)})",
                f"loguniform({_mild(src)}, {_mild(src)})",
                f"quniform({_mild(src)}, {_mild(src)}, {_mild(src)})",
                f"int({src.integer(-50, 50)}, {_mild(src)})",
                f"randint({_mild(src)})",
                f"normal({_mild(src)}, {_mild(src)})",
                f"lognormal({_mild(src)}, {_mild(src)})",
                f"qnormal({_mild(src)}, {_mild(src)}, {_mild(src)})",
                f"choice({', '.join(_arg(src) for _ in range(src.integer(1, 4)))})",
                f"{{type: int, low: {src.integer(-9, 9)}, high: {_mild(src)}, "
                f"step: {src.integer(1, 3)}}}",
                f"{{type: float, low: {_mild(src)}, high: {_mild(src)}, log: true}}",
                f"[{_mild(src)}, {src.pick(_WORDS)}, {json.dumps(src.pick(PY_STRINGS))}]",
                "bool",
                _mild(src),
                src.pick(_WORDS),
            )
        )
    mode = src.integer(0, 12)
    if mode <= 4:
        c = compact(src)
        return f"'{c}'" if "'" not in c and src.integer(0, 2) == 0 else c
    if mode <= 6:
        return _long(src)
    if mode == 7:
        return (
            "["
            + ", ".join(
                src.pick((_number(src), src.pick(_WORDS), src.pick(_STRINGS)))
                for _ in range(src.integer(0, 5))
            )
            + "]"
        )
    if mode == 8 and depth < 4:
        opts = []
        for i in range(src.integer(0, 3)):
            subs = ", ".join(
                f"{_key(src.pick(_NAMES) + f'{depth}{i}{j}')}: {_param(src, depth + 1)}"
                for j in range(src.integer(0, 2))
            )
            opts.append(f"{src.pick(('adam', 'sgd', 'o', '1', 'é'))}{i}: {{{subs}}}")
        return "{choice: {" + ", ".join(opts) + "}}"
    if mode == 9:
        return "[" * src.integer(1, 200) + "1" + "]" * src.integer(0, 200)
    if mode == 10:
        return src.pick(("*a", "&a {choice: {o: {y: *a}}}", "&a [1, 2]", "{<<: *a}", "*zz"))
    if mode == 11:
        return str(src.pick(_STRINGS)).replace("'", '"')
    return _number(src) if src.integer(0, 1) else str(src.pick(_WORDS))


def sweep_text(src: Source) -> str:
    """A sweep file: mostly well-formed YAML, with hostile values and random mutations."""
    calm = src.integer(0, 9) < 6  # most files are plausible: the checks past YAML run
    lines = []
    if calm or src.integer(0, 9):
        lines.append(
            "name: "
            + (
                "demo"
                if calm
                else src.pick(
                    ("demo", "r", "a-b.c_1", "1", '"x\\ny"', "é", "n" * 201, "[a]", "-x")
                )
            )
        )
    cmd = (
        "python train.py"
        if calm
        else src.pick(
            (
                "python train.py",
                "python train.py --x {x}",
                "python t.py {nope}",
                "python t.py {",
                "'unclosed",
                "[python, t.py, '{lr}']",
                "[]",
                "''",
            )
        )
    )
    if not calm and src.integer(0, 5) == 0:
        lines.append(f"function: {src.pick(('math:hypot', 'bad', 'mod:1x', 'file.py:f'))}")
    if calm or src.integer(0, 9):
        lines.append(f"command: {cmd}")
    lines.append("space:")
    for i in range(src.integer(1 if calm else 0, 4)):
        name = ("x", "lr", "y", "größe")[i] if calm else src.pick(_NAMES) + str(i)
        lines.append(f"  {_key(name)}: {_param(src, 0, calm)}")
    if calm:
        lines.append("objective: {metric: loss, goal: minimize}")
    elif src.integer(0, 9):
        lines.append(
            src.pick(
                (
                    "objective: {metric: loss, goal: minimize}",
                    "objective: {metric: acc, goal: maximize}",
                    "objective: [{metric: a, goal: min}, {metric: b, goal: max}]",
                    "objective: {metric: step, goal: minimize}",
                    "objective: {metric: loss, goal: minimise}",
                    "objective: loss",
                    "objective: []",
                )
            )
        )
    if src.integer(0, 2) == 0:
        lines.append(f"sampler: {src.pick(_SAMPLERS)}")
    if calm and src.integer(0, 1):
        timeout = src.pick(("10m", "1h30m", "90", "2.5s", "1d"))
        lines.append(f"limits: {{max_trials: {src.integer(1, 100)}, timeout: {timeout}}}")
    elif src.integer(0, 1):
        keys = (
            "max_trials",
            "max_concurrent",
            "timeout",
            "trial_timeout",
            "max_steps",
            "target",
            "patience",
            "max_trial_seconds",
            "max_trails",
        )
        items = []
        for k in {src.pick(keys): None for _ in range(src.integer(1, 3))}:
            v = src.pick(_DURATIONS) if "time" in k or "seconds" in k else _number(src)
            items.append(f"{k}: {v}")
        lines.append("limits: {" + ", ".join(items) + "}")
    if not calm and src.integer(0, 5) == 0:
        lines.append(
            src.pick(
                (
                    "early_stopping: {policy: median, delay: 5}",
                    "early_stopping: {policy: asha}",
                    "early_stopping: nope",
                    "storage: memory",
                    "storage: ftp://x",
                    "params_as: env",
                    "metrics: {reduce: max}",
                    "grace: 5s",
                    "env: {A: 1, 2B: x}",
                    "grace: " + src.pick(_DURATIONS),
                    "max_trials: 3",
                    "workdir: /nonexistent",
                    "%YAML 1.1",
                    "---",
                    "...",
                )
            )
        )
    text = "\n".join(lines) + "\n"
    for _ in range(0 if calm else src.pick((0, 1, 1, 2, 3, 6))):  # mutations
        if not text:
            break
        pos = src.integer(0, len(text) - 1)
        op = src.integer(0, 3)
        if op <= 1:
            text = text[:pos] + src.pick(_INSERTS) + text[pos:]
        elif op == 2:
            text = text[:pos] + text[pos + src.integer(1, 8) :]
        else:
            end = min(len(text), pos + src.integer(1, 30))
            text = text[:end] + text[pos:end] * src.integer(1, 3) + text[end:]
    return text


PY_STRINGS = (
    "relu",
    "café",
    "日本語",
    "a\nb",
    "a\x00b",
    "\ud800",
    "",
    " ",
    "x" * 300,
    "\U0001f389",
    "tab\t",
    "General/lr",
    "_",
)
