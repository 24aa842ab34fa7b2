"""Fuzzing the input surface: sweep files and Python space specs.

Two generators build hostile but plausible input from any source of choices (a
:class:`random.Random` for long runs in ``benchmarks/fuzz.py``, or Hypothesis's ``data``
for the test suite, so failures shrink), and two checkers run it through hypersweep:

* :func:`sweep_text` + :func:`check_sweep_text`: a sweep file (valid and broken compact
  forms, long forms, groups, aliases, odd numbers and strings, text mutations) through
  :func:`hypersweep.spec.load_text`; an accepted file's space is then sampled.
* :func:`python_case` + :func:`check_python_case`: parameter constructors, ``Space``,
  ``Space.validate``, ``Study(...)``, ``enqueue``, ``ask``/``tell``.

A checker returns ``"ok"`` (accepted, every value inside its space) or ``"error"`` (a
:class:`~hypersweep.errors.HypersweepError` with a one-line message), and raises
:class:`FuzzFailure` for anything else: a bare exception, a message on several lines, a
sampled value outside its space.
"""

from __future__ import annotations

import json
import math
import random
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = [
    "FuzzFailure",
    "RandomSource",
    "Source",
    "check_python_case",
    "check_sweep_text",
    "python_case",
    "sweep_text",
    "value_problem",
]


class FuzzFailure(AssertionError):
    """The input surface misbehaved: ``kind`` is ``bare``, ``multiline`` or ``outside``."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


class Source(Protocol):
    """Where a generator's choices come from."""

    def pick(self, options: Sequence[Any]) -> Any: ...
    def integer(self, lo: int, hi: int) -> int: ...


class RandomSource:
    """A :class:`Source` over :class:`random.Random` (fast; for long runs)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self._rng.randrange(len(options))]

    def integer(self, lo: int, hi: int) -> int:
        return self._rng.randint(lo, hi)


# --------------------------------------------------------------------------------------
# Sweep files
# --------------------------------------------------------------------------------------
_FUNCS = (
    "uniform",
    "loguniform",
    "quniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
    "randint",
    "int",
    "float",
    "choice",
    "bool",
    "fixed",
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
_KINDS = (
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


def _compact(src: Source) -> str:
    name = src.pick(_FUNCS)
    n = src.integer(0, 5)
    args = ", ".join(_arg(src) for _ in range(n))
    if src.integer(0, 9) == 0:  # a long one (the tokenizer must stay linear)
        args = "1" * src.integer(100, 5000) + src.pick(("a", ")", ", 2", "", "."))
    close = ")" if src.integer(0, 12) else ""
    return f"{name}({args}{close}"


def _long(src: Source) -> str:
    parts = [f"type: {src.pick(_KINDS)}"] if src.integer(0, 5) else []
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
                f"[{_mild(src)}, {src.pick(_WORDS)}, {json.dumps(src.pick(_PY_STRINGS))}]",
                "bool",
                _mild(src),
                src.pick(_WORDS),
            )
        )
    mode = src.integer(0, 12)
    if mode <= 4:
        c = _compact(src)
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


# --------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------
def value_problem(param: Any, value: Any) -> str | None:
    """Why ``value`` is not in ``param``'s declared set (checked independently of
    :meth:`Param.validate`), or ``None``."""
    from hypersweep.space import Bool, Choice, Fixed, Float, Int, Normal

    if isinstance(param, Fixed):
        return None if value == param.value else f"{value!r} != fixed {param.value!r}"
    if isinstance(param, (Choice, Bool)):
        same = any(type(o) is type(value) and o == value for o in param.options)
        return None if same else f"{value!r} is not an option"
    if isinstance(param, Int):
        if type(value) is not int:
            return f"{value!r} is not an int"
        if not param.low <= value <= param.high:
            return f"{value} outside [{param.low}, {param.high}]"
        if (value - param.low) % (param.step or 1):
            return f"{value} off the step grid"
        return None
    if type(value) is not float or not math.isfinite(value):
        return f"{value!r} is not a finite float"
    if isinstance(param, Float):
        if not param.low <= value <= param.high:
            return f"{value!r} outside [{param.low!r}, {param.high!r}]"
        if param.step is not None:
            k = (value - param.low) / param.step
            if abs(k - round(k)) > 1e-6 * max(1.0, abs(k)):
                return f"{value!r} off the step grid (k={k!r})"
        return None
    if isinstance(param, Normal):
        if param.log and not value > 0:
            return f"log-normal value {value!r} <= 0"
        if param.step is not None:
            k = value / param.step
            if abs(k - round(k)) > 1e-6 * max(1.0, abs(k)):
                return f"{value!r} not a multiple of {param.step!r}"
    return None


def _check_values(space: Any, configs: Sequence[Mapping[str, Any]], where: str) -> None:
    params = {c.name: c.param for c in space.columns}
    for config in configs:
        for name, value in config.items():
            p = params.get(name)
            problem = value_problem(p, value) if p is not None else None
            if problem:
                raise FuzzFailure("outside", f"{where}: {name}: {problem}")
        space.validate(config)  # the library agrees (raises SpaceError otherwise)


_EDGES = (0.0, 1.0, float(np.nextafter(1.0, 0.0)), 5e-324, 0.5, 1e-12, 1 - 1e-12, math.nan)


def check_space(space: Any, rng: np.random.Generator, n: int = 64) -> None:
    """Sample ``space`` (random rows, the unit cube's edges) and check every value."""
    _check_values(space, space.sample(rng, n), "sample")
    edges = np.array([[e] * space.dim for e in _EDGES]) if space.dim else np.zeros((1, 0))
    _check_values(space, space.decode_many(edges), "decode(edges)")
    grid = None
    try:
        grid = space.grid(3)
    except Exception as e:
        _expect_error(e)
    if grid is not None and len(grid):
        _check_values(space, [grid[0], grid[len(grid) - 1], grid[len(grid) // 2]], "grid")


def _expect_error(e: BaseException) -> str:
    from hypersweep.errors import HypersweepError

    if not isinstance(e, HypersweepError):
        raise FuzzFailure("bare", f"{type(e).__name__}: {str(e)[:300]}") from e
    text = str(e)
    if "\n" in text or "\r" in text or not text.strip():
        raise FuzzFailure("multiline", repr(text[:300])) from e
    return "error"


def _ask_some(spec: Any, n: int = 3) -> None:
    """Run ``n`` ask/tell rounds of the file's study (memory storage, its sampler)."""
    import hypersweep as hs
    from hypersweep.errors import HypersweepError

    try:
        study = hs.Study(
            spec.name or "fuzz",
            spec.space,
            list(spec.objectives),
            sampler=dict(spec.sampler) if spec.sampler is not None else None,
            storage="memory",
            seed=0,
        )
        for i in range(n):
            t = study.ask()
            _check_values(spec.space, [t.params], "ask")
            values = [float(i)] * len(spec.objectives)
            study.tell(t, values if len(values) > 1 else values[0])
    except HypersweepError as e:  # e.g. a grid too large for an index: one line, still
        _expect_error(e)


def check_sweep_text(text: str, sample: int = 64) -> str:
    """Load ``text`` as a sweep file; ``"ok"`` or ``"error"``, else :class:`FuzzFailure`."""
    from hypersweep.spec import load_text

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # overflow in numpy = a bad value
        try:
            spec = load_text(text, "fuzz.yaml", base_dir="/")
        except Exception as e:
            return _expect_error(e)
        try:
            check_space(spec.space, np.random.default_rng(0), sample)
            _ask_some(spec)
        except FuzzFailure:
            raise
        except Exception as e:
            raise FuzzFailure(
                "bare", f"sampling an accepted space: {type(e).__name__}: {str(e)[:300]}"
            ) from e
    return "ok"


# --------------------------------------------------------------------------------------
# Python specs
# --------------------------------------------------------------------------------------
_PY_NUMBERS: tuple[Any, ...] = (
    0,
    1,
    -1,
    2,
    10,
    0.5,
    1e-5,
    1e308,
    -1e308,
    5e-324,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    10**400,
    -(10**400),
    math.inf,
    -math.inf,
    math.nan,
    -0.0,
    True,
    False,
    None,
    np.int64(3),
    np.float32(0.25),
    np.float64(1e-300),
    np.uint64(2**64 - 1),
    "1",
    "x",
    1e-300,
    700.0,
    -63,
    -11.200000000000003,
    0.7,
    69,
    69.000092,
    1e-6,
    1.5,
)
_PY_STRINGS = (
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


def _py_value(src: Source, depth: int = 0) -> Any:
    mode = src.integer(0, 9)
    if mode <= 4:
        return src.pick(_PY_NUMBERS)
    if mode <= 6:
        return src.pick(_PY_STRINGS)
    if mode == 7 and depth < 3:
        return [_py_value(src, depth + 1) for _ in range(src.integer(0, 4))]
    if mode == 8 and depth < 3:
        return {
            src.pick(("a", "b", "x", 1, None)): _py_value(src, depth + 1)
            for _ in range(src.integer(0, 3))
        }
    return src.integer(-(10**6), 10**6) / src.pick((1, 7, 1e-9, 1e9))


_PY_MILD: tuple[Any, ...] = (0, 1, 2, 3, 10, 100, -1, -5, 0.5, 0.1, 1e-5, 1e-3, 2.5, 7, 1e3)


def _py_param(src: Source, depth: int = 0, calm: bool = False) -> Any:
    import hypersweep as hs

    mode = src.integer(0, 11)
    if calm:
        mode = src.pick((0, 0, 1, 1, 2, 3, 4, 5, 6, 7))
        v = lambda: src.pick(_PY_MILD) if src.integer(0, 3) else src.pick(_PY_NUMBERS)  # noqa: E731
    else:
        v = lambda: _py_value(src, 2)  # noqa: E731
    opt = lambda: src.pick((None, None, v(), 0.1, 1, 2, 1e-3))  # noqa: E731

    def pair(integer: bool = False) -> tuple[Any, Any]:
        a, b = v(), v()
        if calm and integer and src.integer(0, 3):
            a, b = src.integer(-50, 50), src.pick((src.integer(-50, 100), 2**53, 10**6, 2**40))
        try:  # (the generator's own comparison: numpy may warn on a huge int)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return (a, b) if not calm or a < b else (b, a)
        except (TypeError, OverflowError, ValueError):
            return a, b

    if calm and mode in (0, 1):
        lo_hi = pair(mode == 1)
        if mode == 0:
            return lambda: hs.Float(*lo_hi, log=src.pick((False, False, True)), step=opt())
        return lambda: hs.Int(
            *lo_hi, log=src.pick((False, False, True)), step=src.pick((1, 1, 2, 3))
        )
    if mode == 0:
        return lambda: hs.Float(v(), v(), log=src.pick((False, True)), step=opt())
    if mode == 1:
        return lambda: hs.Int(v(), v(), log=src.pick((False, True)), step=src.pick((1, 2, v())))
    if mode == 2:
        return lambda: hs.Normal(v(), v(), log=src.pick((False, True)), step=opt())
    if mode == 3:
        return lambda: hs.Choice(
            list(
                {
                    repr(x): x
                    for x in (
                        _py_value(src, 2) for _ in range(src.integer(0 if not calm else 1, 5))
                    )
                }.values()
            )
        )
    if mode == 4 and depth < 3:

        def group() -> Any:
            return hs.Choice(
                {
                    src.pick(("a", "b", "é", "", 1)) if src.integer(0, 5) else f"o{i}": {
                        f"g{depth}{i}{j}": _build(_py_param(src, depth + 1, calm))
                        for j in range(src.integer(0, 2))
                    }
                    for i in range(src.integer(1 if calm else 0, 3))
                }
            )

        return group
    if mode == 5:
        return lambda: hs.Bool()
    if mode == 6:
        return lambda: hs.Fixed(_py_value(src))
    if mode == 7:  # a sweep-file form given to the Python API
        return lambda: _compact(src)
    if mode == 8:
        return lambda: {"type": src.pick(_KINDS), "low": v(), "high": v(), "step": opt()}
    if mode == 9:
        return lambda: [_py_value(src, 2) for _ in range(src.integer(0, 4))]
    if mode == 10:
        return lambda: {"choice": {"a": {"inner": {"choice": {"b": {}}}}}}
    return lambda: _py_value(src)


def _build(make: Callable[[], Any]) -> Any:
    return make()


def python_case(src: Source) -> Callable[[], str]:
    """A Python-API case: a closure that builds params / a space / a study and uses them.

    Returns the closure; :func:`check_python_case` runs it.
    """
    import hypersweep as hs

    calm = src.integer(0, 9) < 6  # most cases are plausible: the checks past the space run
    n_params = src.integer(1 if calm else 0, 4)
    names = (
        ("x", "lr", "y", "größe")
        if calm
        else ("x", "lr", "y", 1, None, "a b", "x\n", "größe", "", "_", "z" * 201)
    )
    makers = [
        (names[i] if calm else src.pick(names), _py_param(src, 0, calm)) for i in range(n_params)
    ]
    name = "fuzz" if calm else src.pick(("fuzz", "a.b-c_1", "x\n", "", "é", "n" * 201, 1, None))
    seed = (
        src.pick((None, 0, 1))
        if calm
        else src.pick((None, 0, 1, -1, 2**63, 2**64, 10**400, 1.5, True))
    )
    enq = [
        src.pick(({}, {"x": 0.5}, {1: 2}, {"x": _py_value(src)}, None, [("x", 1)], "x"))
        for _ in range(src.integer(0, 2))
    ]
    results = [
        src.pick(
            (
                0.5,
                10**400,
                -(10**400),
                math.nan,
                math.inf,
                "x",
                None,
                [1],
                {"loss": 1},
                np.float64(2.0),
                True,
                2**63,
            )
        )
        for _ in range(2)
    ]
    use_validate = src.integer(0, 1)
    extra = _py_value(src)
    objective = (
        None
        if calm
        else src.pick(
            (
                None,
                "loss",
                {"metric": "acc", "goal": "maximize"},
                "a\nb",
                "",
                3,
                [],
                [{"metric": "a"}, {"metric": "a"}],
                {"metric": "l", "goal": "up"},
                {"metric": "l", 1: 2},
            )
        )
    )
    sampler = (
        src.pick((None, "random", "tpe", "sobol"))
        if calm
        else src.pick(
            (
                None,
                "random",
                "grid",
                "bogus",
                3,
                {"name": "random", "seed": -1},
                {"name": "tpe", "seed": 10**400},
                {"name": "tpe", "n_startup": -1},
                {"name": "grid", "grid_points": 2},
                {"seed": 1},
                {"name": "anneal", "bogus": 1},
            )
        )
    )
    user_attrs = src.pick((None, None, {"a": 1}, {"a": math.nan}, {"a": object()}, {1: 2}))

    def case() -> str:
        spec = {k: _build(m) for k, m in makers}
        space = hs.Space(spec)  # type: ignore[arg-type]  # keys may be anything here
        check_space(space, np.random.default_rng(0), 32)
        if use_validate:
            try:
                space.validate({"x": extra} if isinstance(extra, (int, float, str)) else extra)
            except hs.SpaceError:
                pass
        study = hs.Study(
            name,
            space,
            objective,
            storage="memory",
            seed=seed,
            sampler=sampler,
        )
        for e in enq:
            try:
                study.enqueue(e, user_attrs)
            except hs.HypersweepError as err:
                _expect_error(err)
        for r in results:
            t = study.ask()
            _check_values(space, [t.params], "ask")
            done = study.tell(t, r if len(study.objectives) == 1 else [r] * len(study.objectives))
            if done.state.value == "RUNNING":
                raise FuzzFailure("bare", "tell left the trial RUNNING")
        return "ok"

    return case


def check_python_case(case: Callable[[], str]) -> str:
    """Run a :func:`python_case`; ``"ok"`` or ``"error"``, else :class:`FuzzFailure`."""
    import logging

    logging.getLogger("hypersweep").disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                return case()
            except FuzzFailure:
                raise
            except Exception as e:
                return _expect_error(e)
    finally:
        logging.getLogger("hypersweep").disabled = False
