"""The sweep-file forms of a parameter: the only place text becomes a Param."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from hypersweep._validate import did_you_mean, is_number, short
from hypersweep.errors import SpaceError
from hypersweep.space._common import (
    MAX_GROUP_DEPTH,
    as_float,
    show_name,
)
from hypersweep.space.beta import Beta
from hypersweep.space.choice import Bool, Choice, Fixed
from hypersweep.space.nested import Group
from hypersweep.space.params import Float, Int, Normal, Param
from hypersweep.space.space import Space

# ======================================================================================
# Sweep-file forms
# ======================================================================================

FUNCS = (
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
    "beta",
    "choice",
    "bool",
    "fixed",
    "group",
)
TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<num>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf))(?![\w.])
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<word>[^\W\d][\w.\-/]*)
      | (?P<punct>[(),=\[\]])
    )""",
    re.VERBOSE,
)
_CALL_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*\(")

#: W&B / Azure ML names of parameter types and keys -> what to write here (hints only)
_FOREIGN_TYPES = {
    "int_uniform": "'int' (W&B's int_uniform: {type: int, low: 1, high: 8})",
    "log_uniform": "'loguniform' with the bounds themselves: W&B's log_uniform takes "
    "exponents (min: -9, max: -2 means e^-9 .. e^-2), so write low: 0.000123, high: 0.135",
    "log_uniform_values": "'loguniform' (W&B's log_uniform_values: the same bounds)",
    "q_uniform": "'quniform'",
    "q_log_uniform": "'qloguniform' with the bounds themselves (W&B's q_log_uniform takes "
    "exponents), or {type: int, log: true, step: q} for integers",
    "q_log_uniform_values": "'qloguniform', or {type: int, log: true, step: q} for integers",
    "inv_log_uniform": "'loguniform' from e^-max to e^-min (1/x log-uniform is x log-uniform)",
    "inv_log_uniform_values": "'loguniform' with the same bounds (1/x log-uniform is x "
    "log-uniform)",
    "categorical": "'choice'",
    "constant": "'fixed' (or write the value itself)",
    "log_normal": "'lognormal'",
    "q_normal": "'qnormal'",
    "q_log_normal": "'qlognormal'",
}
_FOREIGN_KEYS = {
    "min_value": "low",
    "max_value": "high",
    "upper": "high",
    "lower": "low",
    "distribution": "type",
    "probabilities": "weights",
}


def _type_hint(kind: str) -> str:
    """`` (did you mean ...?)`` for a parameter type, W&B / Azure ML names first."""
    if kind in _FOREIGN_TYPES:
        return f" (did you mean {_FOREIGN_TYPES[kind]}?)"
    return did_you_mean(kind, FUNCS)


def _tokenize(text: str, path: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise SpaceError(path, f"cannot parse {short(text)} near {text[pos : pos + 10]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _literal(kind: str, tok: str, path: str = "") -> Any:
    if kind == "num":
        if len(tok) > _MAX_NUMBER_CHARS:
            raise SpaceError(
                path, f"a number of {len(tok)} characters; at most {_MAX_NUMBER_CHARS}"
            )
        v = float(tok)
        return int(tok) if re.fullmatch(r"[-+]?\d+", tok) else v
    if kind == "str":
        return _unescape(tok[1:-1], path)
    low = tok.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("null", "none"):
        return None
    return tok


_MAX_NUMBER_CHARS = 1000
_SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_HEX = frozenset("0123456789abcdefABCDEF")


def _unescape(body: str, path: str) -> str:
    """Decode the backslash escapes of a quoted compact-form string (UTF-8 text kept).

    ``\\n``, ``\\t``, ``\\'``, ``\\xHH``, ``\\uHHHH``, ``\\UHHHHHHHH`` and the other Python
    escapes; an unknown escape such as ``\\d`` is kept as written (as Python does).
    """
    out: list[str] = []
    i = 0
    while True:
        j = body.find("\\", i)
        if j < 0 or j + 1 >= len(body):
            out.append(body[i:])
            return "".join(out)
        out.append(body[i:j])
        c = body[j + 1]
        if c in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[c])
            i = j + 2
        elif c in _HEX_ESCAPES:
            width = _HEX_ESCAPES[c]
            digits = body[j + 2 : j + 2 + width]
            if len(digits) < width or not _HEX.issuperset(digits):
                raise SpaceError(
                    path,
                    f"bad escape {body[j : j + 2 + width]!r}: \\{c} needs "
                    f"{width} hex digits (write \\\\ for a backslash)",
                )
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise SpaceError(
                    path, f"bad escape {body[j : j + 2 + width]!r}: not a Unicode character"
                )
            out.append(chr(code))
            i = j + 2 + width
        else:
            out.append(body[j : j + 2])
            i = j + 2


def _parse_call(text: str, path: str) -> tuple[str, list[Any], dict[str, Any]]:
    toks = _tokenize(text, path)
    if (
        len(toks) < 3
        or toks[0][0] != "word"
        or toks[1] != ("punct", "(")
        or toks[-1] != ("punct", ")")
    ):
        hint = ""
        if text.count("(") > text.count(")"):  # YAML split "{a: f(1, 2)}" at the comma
            hint = (
                "; inside a YAML {...} mapping quote the value, e.g. "
                "{beta1: 'uniform(0.8, 0.99)'}, or write one key per line"
            )
        raise SpaceError(path, f"cannot parse {short(text)}: expected name(arg, ...){hint}")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    body = toks[2:-1]
    i = 0
    while i < len(body):
        kind, tok = body[i]
        if kind == "word" and i + 1 < len(body) and body[i + 1] == ("punct", "="):
            if i + 2 >= len(body) or body[i + 2][0] == "punct":
                raise SpaceError(path, f"cannot parse {short(text)}: {tok}= needs a value")
            kwargs[tok] = _literal(*body[i + 2], path)
            i += 3
        elif kind == "punct":
            raise SpaceError(path, f"cannot parse {short(text)}: unexpected {short(tok)}")
        else:
            if kwargs:
                raise SpaceError(path, f"cannot parse {short(text)}: positional after keyword")
            args.append(_literal(kind, tok, path))
            i += 1
        if i < len(body):
            if body[i] != ("punct", ","):
                raise SpaceError(
                    path, f"cannot parse {short(text)}: expected ',' before {short(body[i][1])}"
                )
            i += 1
    return toks[0][1].lower(), args, kwargs


_ARGS = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
    "int": ("low", "high", "step"),
    "float": ("low", "high", "step"),
    "randint": ("low", "high"),
    "beta": ("alpha", "beta", "low", "high", "step"),
    "bool": (),
    "fixed": ("value",),
}
_FLAGS = {
    "int": ("log",),
    "float": ("log",),
    "uniform": ("log",),
    "normal": ("log", "q"),
    "beta": ("q",),
}


def _make(kind: str, a: dict[str, Any], path: str) -> Param:
    """Build a parameter from a distribution name and its named arguments."""
    try:
        if kind in ("uniform", "float"):
            return Float(a["low"], a["high"], log=bool(a.get("log", False)), step=a.get("step"))
        if kind == "loguniform":
            lo = a["low"]
            if is_number(lo) and lo <= 0:
                raise SpaceError(
                    path,
                    f"loguniform needs 0 < low < high, got low={lo!r} (hypersweep "
                    "takes the bounds themselves, e.g. loguniform(1e-5, 1e-1), not their "
                    "logarithms)",
                )
            return Float(lo, a["high"], log=True)
        if kind == "quniform":
            return Float(a["low"], a["high"], step=a["q"])
        if kind == "qloguniform":
            return Float(a["low"], a["high"], log=True, step=a["q"])
        if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
            log = kind.endswith("lognormal") or bool(a.get("log", False))
            return Normal(a["mu"], a["sigma"], log=log, step=a.get("q"))
        if kind == "int":
            return Int(a["low"], a["high"], log=bool(a.get("log", False)), step=a.get("step", 1))
        if kind == "randint":
            if "high" not in a:  # randint(upper): [0, upper)
                a = {"low": 0, "high": a["low"]}
            hi = a["high"]
            fhi = as_float(hi)
            if fhi is None or not fhi.is_integer():
                raise SpaceError(path, f"randint needs integer bounds, got high={short(hi)}")
            return Int(a["low"], int(hi) - 1)
        if kind == "beta":
            step = a.get("step", a.get("q"))
            return Beta(a["alpha"], a["beta"], a.get("low", 0.0), a.get("high", 1.0), step)
        if kind == "bool":
            return Bool()
        if kind == "fixed":
            return Fixed(a["value"])
    except SpaceError as e:
        if e.path:
            raise
        detail = e.detail.replace("Float", kind).replace("Int", kind).replace("Normal", kind)
        raise SpaceError(path, detail) from None
    except KeyError as e:
        raise SpaceError(path, f"{kind} needs {e.args[0]}") from None
    raise SpaceError(path, f"unknown parameter type {kind!r}{did_you_mean(kind, FUNCS)}")


def _parse_compact(text: str, path: str) -> Param:
    name, args, kwargs = _parse_call(text, path)
    if name not in FUNCS:
        raise SpaceError(
            path,
            f"unknown parameter type {name!r}{_type_hint(name)}; known: {', '.join(FUNCS)}",
        )
    if name == "choice":
        if kwargs:
            raise SpaceError(path, "choice takes options only, e.g. choice(16, 32, 64)")
        return _wrap(lambda: Choice(args), path)
    if name == "group":
        raise SpaceError(
            path,
            "a group has no compact form; write {type: group, params: {name: ..., ...}}",
        )
    names = _ARGS[name]
    if name == "randint" and len(args) == 1:
        names = ("low",)
    if len(args) > len(names):
        raise SpaceError(
            path,
            f"{name} takes at most {len(names)} arguments ({', '.join(names)}), got {len(args)}",
        )
    a = dict(zip(names, args))
    allowed = set(names) | set(_FLAGS.get(name, ()))
    for k, v in kwargs.items():
        if k not in allowed:
            raise SpaceError(
                path, f"{name} has no argument {k!r}{did_you_mean(k, sorted(allowed))}"
            )
        a[k] = v
    missing = [n for n in names if n not in a and n not in ("step", "q", "high")]
    if name == "beta":
        missing = [n for n in missing if n != "low"]
        if "high" not in a:
            names = names[:2]  # beta(alpha, beta): on [0, 1]
    if name in ("int", "float") and "step" not in a:
        missing = [n for n in missing if n != "step"]
    if name not in ("randint", "beta") and "high" in names and "high" not in a:
        missing.append("high")
    if missing:
        raise SpaceError(
            path, f"{name} needs {', '.join(missing)}, e.g. {name}({', '.join(names)})"
        )
    return _make(name, a, path)


_LONG_KEYS = {
    "type",
    "low",
    "high",
    "min",
    "max",
    "log",
    "step",
    "q",
    "mu",
    "sigma",
    "values",
    "options",
    "value",
    "choice",
    "weights",
    "alpha",
    "beta",
    "params",
}


def parse_param(value: Any, path: str = "space.param") -> Param:
    """Parse one sweep-file parameter form into a :class:`Param`.

    Example:
        >>> parse_param("loguniform(1e-5, 1e-1)")
        Float({'type': 'float', 'low': 1e-05, 'high': 0.1, 'log': True})
        >>> parse_param({"type": "int", "low": 32, "high": 512, "log": True}).log
        True
    """
    if isinstance(value, Param):
        return value
    if isinstance(value, str):
        if _CALL_RE.match(value) or value.strip().lower() in ("bool", "bool()"):
            if value.strip().lower() == "bool":
                return Bool()
            return _parse_compact(value, path)
        return Fixed(value)
    if isinstance(value, list):
        return _wrap(lambda: Choice(value), path)
    if isinstance(value, Mapping):
        return _parse_long(value, path)
    if value is None or isinstance(value, (int, float, bool)):
        try:
            return Fixed(value)
        except SpaceError as e:
            raise SpaceError(path, e.detail) from None
    raise SpaceError(path, f"cannot use a {type(value).__name__} as a parameter")


def _parse_long(d: Mapping[str, Any], path: str) -> Param:
    unknown = [k for k in d if k not in _LONG_KEYS]
    if unknown:
        k = unknown[0]
        hint = did_you_mean(str(k), sorted(_LONG_KEYS), aliases=_FOREIGN_KEYS)
        if str(k) == "parameters":
            hint = " (W&B's nested parameters: write {choice: {name: {sub-parameters}}})"
        raise SpaceError(f"{path}.{k}", f"unknown key{hint}")
    if "choice" in d:
        opts = d["choice"]
        extra = [k for k in d if k not in ("choice", "weights")]
        if extra:
            raise SpaceError(
                f"{path}.{extra[0]}", "a {choice: ...} group takes no other keys than weights"
            )
        weights = d.get("weights")
        if isinstance(opts, Mapping):
            subs: dict[str, Space] = {}
            for opt, sub in opts.items():
                sub = sub or {}
                if not isinstance(sub, Mapping):
                    raise SpaceError(
                        f"{path}.{opt}",
                        "a group option needs a mapping of sub-parameters (or nothing)",
                    )
                subs[str(opt)] = _sub_space(sub, f"{path}.{opt}")
            return _wrap(lambda: Choice(subs, weights=weights), path, "weights")
        if isinstance(opts, list):
            return _wrap(lambda: Choice(opts, weights=weights), path, "weights")
        raise SpaceError(path, "choice needs a list of options or a mapping of groups")
    kind = d.get("type")
    if kind is None and set(d) == {"values"}:  # W&B's {values: [...]}
        return _parse_long({"choice": d["values"]}, path)
    if kind is None and set(d) == {"value"}:  # W&B's {value: x}
        return _make("fixed", {"value": d["value"]}, path)
    if kind is None:
        hint = ""
        if "min" in d or "low" in d:
            hint = "; for a range say type: uniform (floats) or type: int (integers)"
        raise SpaceError(path, "needs a 'type' (one of: " + ", ".join(FUNCS) + ")" + hint)
    if not isinstance(kind, str):
        raise SpaceError(f"{path}.type", f"must be a string, got {kind!r}")
    kind = kind.lower()
    if kind == "choice":
        opts = d.get("values", d.get("options"))
        if opts is None:
            raise SpaceError(path, "type: choice needs values: [...]")
        extra = [k for k in d if k not in ("type", "values", "options", "weights")]
        if extra:
            raise SpaceError(
                f"{path}.{extra[0]}",
                f"type: choice has no key {extra[0]!r}; its keys: values, weights",
            )
        long = (
            {"choice": opts}
            if d.get("weights") is None
            else {"choice": opts, "weights": d["weights"]}
        )
        return _parse_long(long, path)
    if kind == "group":
        extra = [k for k in d if k not in ("type", "params")]
        if extra:
            raise SpaceError(
                f"{path}.{extra[0]}", f"type: group has no key {extra[0]!r}; its key: params"
            )
        sub = d.get("params")
        if not isinstance(sub, Mapping) or not sub:
            raise SpaceError(
                f"{path}.params",
                "type: group needs params: a mapping of name -> parameter, e.g. "
                "{type: group, params: {lr: 'loguniform(1e-4, 1e-1)'}}",
            )
        return _wrap(lambda: Group(_sub_space(sub, f"{path}.params")), path)
    if kind not in FUNCS:
        raise SpaceError(f"{path}.type", f"unknown parameter type {kind!r}{_type_hint(kind)}")
    a = {k: v for k, v in d.items() if k != "type"}
    if "min" in a:
        a["low"] = a.pop("min")
    if "max" in a:
        a["high"] = a.pop("max")
    if kind in ("int", "float", "uniform") and "q" in a:
        a["step"] = a.pop("q")
    if kind in ("normal", "qnormal", "lognormal", "qlognormal") and "step" in a:
        a["q"] = a.pop("step")  # the long form of Normal.to_spec() writes step
    allowed = set(_ARGS[kind]) | set(_FLAGS.get(kind, ()))
    if kind == "uniform":
        allowed.add("step")
    if kind.endswith("normal"):
        allowed |= {"q", "log"} if kind == "normal" else {"q"}
    for k in a:
        if k not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise SpaceError(
                f"{path}.{k}",
                f"{kind} has no key {k!r}"
                f"{did_you_mean(str(k), sorted(allowed), aliases=_FOREIGN_KEYS)}; "
                f"its keys: {known}",
            )
    return _make(kind, a, path)


def _wrap(make: Any, path: str, weights_key: str = "") -> Param:
    try:
        return make()
    except SpaceError as e:
        if e.path:
            raise
        if weights_key and e.detail.startswith("weights"):
            raise SpaceError(f"{path}.{weights_key}", e.detail) from None
        raise SpaceError(path, e.detail) from None


_nesting = threading.local()


def _sub_space(params: Mapping[str, Any], path: str) -> Space:
    depth = getattr(_nesting, "depth", 0)
    if depth >= MAX_GROUP_DEPTH:
        raise SpaceError(
            path,
            f"conditional groups nest more than {MAX_GROUP_DEPTH} levels deep; flatten the space",
        )
    _nesting.depth = depth + 1
    try:
        parsed = {k: parse_param(v, f"{path}.{show_name(k)}") for k, v in params.items()}
        try:
            return Space(parsed)
        except SpaceError as e:  # a check of the sub-space itself: its paths start here
            if not e.path.startswith("space."):
                raise
            detail = e.detail.replace("(also at space.", f"(also at {path}.")
            raise SpaceError(path + e.path[len("space") :], detail) from None
    finally:
        _nesting.depth = depth


def parse_space(spec: Mapping[str, Any]) -> Space:
    """Parse the ``space:`` mapping of a sweep file.

    Raises:
        SpaceError: with the key path of the offending entry (``space.lr: ...``).
    """
    if not isinstance(spec, Mapping) or not spec:
        raise SpaceError("space", "needs at least one parameter, e.g. lr: loguniform(1e-5, 1e-1)")
    return Space({k: parse_param(v, f"space.{k}") for k, v in spec.items()})
