"""The sweep file: load, validate, and build the Study and Runner it describes.

A sweep file (``sweep.yaml``) is the YAML form of :class:`~hypersweep.study.Study` plus a
run configuration (DESIGN.md §2)::

    name: digits-mlp
    command: python train.py --lr {lr}       # or  function: train_fn:train
    space:
      lr: loguniform(1e-5, 1e-1)
      hidden: {type: int, low: 32, high: 512, log: true}
    objective: {metric: val_accuracy, goal: maximize}
    limits: {max_trials: 24, max_concurrent: 2, timeout: 10m}

:func:`load` parses and validates the whole file up front into a frozen
:class:`SweepSpec`; every problem is a :class:`SweepFileError` whose message is one line
carrying the file, the line and the key path::

    sweep.yaml:12 space.lr: loguniform needs 0 < low < high, got low=0 ...

:func:`build` turns a spec into the same objects the Python API uses: ``Study(...)``,
:class:`~hypersweep.execution.runner.Limits`, a
:class:`~hypersweep.execution.function.FunctionExecutor` or a command executor, and a
:class:`~hypersweep.execution.runner.Runner`.

Keys (all optional unless marked):

* ``name`` (required unless given on the command line): the study name; re-running
  resumes the study.
* ``command`` or ``function`` (exactly one). ``command`` is an argv template, a string
  split with shell rules (never run by a shell) or a list; ``{name}`` placeholders must
  name parameters of the space. ``function`` is ``"module:attr"`` (imported with the
  sweep file's directory first on ``sys.path``) or ``"path/to/file.py:attr"`` (relative
  to the sweep file).
* ``workdir`` (command sweeps): the trial's working directory, relative to the sweep
  file; default: the sweep file's directory.
* ``env`` (command sweeps): extra environment variables, ``NAME: value``.
* ``space`` (required): see :func:`hypersweep.space.parse_space`.
* ``objective`` (required): ``{metric, goal}`` or a list of them (multi-objective);
  ``goal`` is ``minimize`` or ``maximize``.
* ``sampler``: a name or ``{name: ..., seed: ..., option: ...}``.
* ``early_stopping``: ``{policy: median|bandit|truncation|threshold|asha|hyperband, ...}``,
  validated and built by :func:`hypersweep.stopping.make_policy` (the same registry as
  ``Study(policy=...)``).
* ``limits``: every field of :class:`~hypersweep.execution.runner.Limits`:
  ``max_trials``, ``max_concurrent``, ``timeout``, ``trial_timeout``, ``max_steps``,
  ``target``, ``patience``, ... Durations are seconds or strings such as ``90s``, ``10m``,
  ``2h``, ``1h30m``, ``500ms``, ``1d``.
* ``storage``: a storage URL (``sqlite:///.hypersweep/studies.db`` when omitted).
* ``params_as`` (command sweeps): ``args``, ``env`` or ``json``.
* ``metrics`` (command sweeps): ``{reduce: last|min|max}``.
* ``grace``: a duration a stopped trial has to end by itself before it is killed.

Unknown keys anywhere are errors, with a "did you mean" suggestion.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
import math
import os
import re
import shlex
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from hypersweep._bounded_yaml import BoundedLoader, YamlLimitError, check_graph
from hypersweep.constraints import Constraint, parse_constraints
from hypersweep.errors import HypersweepError, SpaceError, SpecError
from hypersweep.execution.runner import Limits
from hypersweep.space import Space, parse_space
from hypersweep.trial import Objective

if TYPE_CHECKING:
    from hypersweep.execution.base import Executor
    from hypersweep.execution.runner import Progress, Runner
    from hypersweep.study import Study
    from hypersweep.trial import Trial

__all__ = [
    "DEFAULT_GRACE",
    "EarlyStopping",
    "Overrides",
    "SweepFileError",
    "SweepSpec",
    "build",
    "effective",
    "load",
    "load_text",
    "parse_duration",
    "resolve_function",
    "storage_url_problem",
]

log = logging.getLogger("hypersweep")
T = TypeVar("T")

#: Seconds a stopped trial has to end by itself (SIGINT) before SIGTERM, then SIGKILL.
DEFAULT_GRACE = 10.0

_TOP_KEYS = (
    "name",
    "command",
    "function",
    "workdir",
    "env",
    "space",
    "objective",
    "sampler",
    "early_stopping",
    "limits",
    "storage",
    "params_as",
    "metrics",
    "grace",
    "constraints",
)
#: Every field of :class:`~hypersweep.execution.runner.Limits` is a ``limits:`` key.
_LIMIT_KEYS = tuple(f.name for f in dataclasses.fields(Limits))
_OBJECTIVE_KEYS = ("metric", "goal")
_METRICS_KEYS = ("reduce",)
_REDUCE = ("last", "min", "max")
_PARAMS_AS = ("args", "env", "json")
_GOALS = ("minimize", "maximize", "min", "max")
_COMMAND_ONLY = ("workdir", "env", "params_as", "metrics")
_STORAGE_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")

# Keys that belong one level down: "max_trials" at the top level means limits.max_trials.
_NESTED_HOME = {
    **{k: "limits" for k in _LIMIT_KEYS},
    "seed": "sampler",
    "metric": "objective",
    "goal": "objective",
    "reduce": "metrics",
    "policy": "early_stopping",
}
#: One ``<number><unit>`` of a duration; matched repeatedly, so parsing is linear.
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.IGNORECASE)
_MAX_DURATION_CHARS = 200
#: The largest sweep file :func:`load_text` reads (characters; PyYAML reads ~50 KB/s here).
MAX_FILE_CHARS = 200_000
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FUNCTION_RE = re.compile(r"^(?P<target>[^:]+):(?P<attr>[A-Za-z_][\w.]*)$")


# ======================================================================================
# Errors
# ======================================================================================
class SweepFileError(SpecError):
    """A problem in a sweep file, located by file, line and key path.

    ``str(error)`` is one line: ``sweep.yaml:12 space.lr: <what is wrong and the fix>``.

    Attributes:
        file: the sweep file as the user named it.
        line: the 1-based line number.
        path: the key path (``space.lr``, ``limits.timeout``, ``objective[1].goal``), or
            ``""`` for the file as a whole.
        detail: the message without the location.
    """

    def __init__(self, file: str, line: int, path: str, detail: str) -> None:
        self.file = file
        self.line = line
        self.path = path if path.isprintable() else repr(path)
        path = self.path
        self.detail = _one_line(detail)
        where = f"{file}:{line}"
        super().__init__(f"{where} {path}: {self.detail}" if path else f"{where} {self.detail}")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


_LEADING_PATH = re.compile(r"^(?P<path>[A-Za-z_][\w./\-\[\]]*): (?P<rest>.*)$", re.DOTALL)


class _Locator:
    """Maps key paths to line numbers and makes located errors."""

    def __init__(self, file: str, lines: Mapping[str, int]) -> None:
        self.file = file
        self.lines = lines

    def line(self, path: str) -> int:
        """The line of ``path``, else of its nearest ancestor present in the file, else 1."""
        p = path
        while p:
            if p in self.lines:
                return self.lines[p]
            cut = max(p.rfind("."), p.rfind("["))
            p = p[:cut] if cut > 0 else ""
        return 1

    def error(self, path: str, detail: str) -> SweepFileError:
        return SweepFileError(self.file, self.line(path), path, detail)

    def wrap(self, exc: Exception, default_path: str) -> SweepFileError:
        """Locate an error raised by library code (its message starts with a key path)."""
        if isinstance(exc, SweepFileError):
            return exc
        if isinstance(exc, SpaceError):
            return self.error(exc.path or default_path, exc.detail)
        text = _one_line(str(exc))
        m = _LEADING_PATH.match(text)
        if m and (m.group("path").split(".")[0].split("[")[0] in (*_TOP_KEYS, "seed")):
            return self.error(m.group("path"), m.group("rest"))
        return self.error(default_path, text)


# ======================================================================================
# YAML with line numbers
# ======================================================================================
class _Loader(BoundedLoader):
    """The safe loader (with bounded depth and integers), plus YAML 1.2 floats without a
    dot (``1e-5``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)(?:\.[\d_]*)?[eE][-+]?\d+$"),
    list("-+0123456789"),
)


def _compose(text: str, file: str) -> tuple[Any, dict[str, int]]:
    """Parse YAML text into Python data and a map of key path -> 1-based line."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            raise SweepFileError(
                file,
                1,
                "",
                "the file is empty; a sweep file needs at least name, command "
                "(or function), space and objective",
            )
        check_graph(node)
        _rejoin_calls(node, text, set())
        lines: dict[str, int] = {}
        _walk(node, "", "", lines, file, set())
        data = loader.construct_document(node)
    except YamlLimitError as e:
        mark = e.problem_mark
        raise SweepFileError(
            file, mark.line + 1 if mark is not None else 1, "", str(e.problem)
        ) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, max(0, e.position)) + 1
        raise SweepFileError(
            file,
            line,
            "",
            f"the file holds the control character U+{e.character:04X}; "
            "remove it (in a double-quoted string write it as an escape, e.g. \\x1b)",
        ) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        col = f" (column {mark.column + 1})" if mark is not None else ""
        what = e.problem or e.context or "invalid YAML"
        raise SweepFileError(file, line, "", f"YAML syntax error: {what}{col}") from None
    except yaml.YAMLError as e:
        raise SweepFileError(file, 1, "", f"YAML syntax error: {_one_line(str(e))}") from None
    except SweepFileError:
        raise
    except (ValueError, OverflowError) as e:  # e.g. chr() of a "\U0011ffff" escape
        mark = loader.get_mark() if loader is not None else None
        line = mark.line + 1 if mark is not None else 1
        raise SweepFileError(
            file,
            line,
            "",
            f"YAML syntax error: {_one_line(str(e))} (an escape that is not a character?)",
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def _balanced_end(text: str, start: int, limit: int) -> int | None:
    """The index just past the ``)`` closing the first ``(`` at or after ``start``."""
    depth, quote = 0, ""
    i = start
    while i < limit:
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c in "\n#" and depth == 0:
            return None
        i += 1
    return None


def _rejoin_calls(node: yaml.Node, text: str, seen: set[int]) -> None:
    """Undo YAML's split of compact forms at commas inside flow collections.

    In ``{beta1: uniform(0.8, 0.99)}`` YAML ends the plain scalar at the comma, giving
    ``beta1: "uniform(0.8"`` plus a stray key ``"0.99)"``. A plain value with an unclosed
    ``(`` is re-read from the source up to its closing ``)``, and the stray fragments
    (plain keys without a value) inside that span are dropped.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    failed: list[bool] = []  # a scan of this collection found no ")": do not scan again
    if isinstance(node, yaml.MappingNode):
        pairs = list(node.value)
        out: list[tuple[yaml.Node, yaml.Node]] = []
        i = 0
        while i < len(pairs):
            key, value = pairs[i]
            i += 1
            fixed = _rejoined(value, text, node, failed) if node.flow_style else None
            if fixed is not None:
                new, end = fixed
                j = i
                while j < len(pairs) and pairs[j][0].start_mark.index < end:
                    k, v = pairs[j]
                    if not (
                        isinstance(k, yaml.ScalarNode)
                        and k.style is None
                        and isinstance(v, yaml.ScalarNode)
                        and v.value == ""
                    ):
                        break
                    j += 1
                if j > i and (j == len(pairs) or pairs[j][0].start_mark.index >= end):
                    value, i = new, j
            out.append((key, value))
            _rejoin_calls(value, text, seen)
        node.value[:] = out
    elif isinstance(node, yaml.SequenceNode):
        items = list(node.value)
        kept: list[yaml.Node] = []
        i = 0
        while i < len(items):
            item = items[i]
            i += 1
            fixed = _rejoined(item, text, node, failed) if node.flow_style else None
            if fixed is not None:
                new, end = fixed
                j = i
                while (
                    j < len(items)
                    and items[j].start_mark.index < end
                    and isinstance(items[j], yaml.ScalarNode)
                    and items[j].style is None
                ):
                    j += 1
                if j > i and (j == len(items) or items[j].start_mark.index >= end):
                    item, i = new, j
            kept.append(item)
            _rejoin_calls(item, text, seen)
        node.value[:] = kept


_MAX_CALL_CHARS = 10_000


def _rejoined(
    value: yaml.Node, text: str, parent: yaml.Node, failed: list[bool]
) -> tuple[yaml.Node, int] | None:
    if not (isinstance(value, yaml.ScalarNode) and value.style is None):
        return None
    if failed or value.value.count("(") <= value.value.count(")"):
        return None
    start = value.start_mark.index
    # bounded: a compact form is short, and a scan never runs to the end of a long file
    end = _balanced_end(text, start, min(parent.end_mark.index, start + _MAX_CALL_CHARS))
    if end is None:  # unbalanced: its error says to quote it; later scans would fail too
        failed.append(True)
        return None
    joined = yaml.ScalarNode(
        "tag:yaml.org,2002:str", text[start:end], value.start_mark, value.end_mark, style=None
    )
    return joined, end


def _walk(
    node: yaml.Node,
    path: str,
    alias: str,
    lines: dict[str, int],
    file: str,
    seen: set[int],
) -> None:
    """Record the line of every key path (and its space alias without ``choice``)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        in_space = path == "space" or path.startswith("space.")
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise SweepFileError(file, line, path, "keys must be plain names")
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            if key == "<<":
                _walk(value_node, path, alias, lines, file, seen)
                continue
            if key in first:
                raise SweepFileError(
                    file,
                    line,
                    child,
                    f"key {key!r} is given twice (first on line {first[key]}); keep one",
                )
            first[key] = line
            lines[child] = line
            # a group's sub-parameters are named space.<group>.<option>.<param> in errors
            child_alias = (
                alias if (in_space and key == "choice") else (f"{alias}.{key}" if alias else key)
            )
            lines.setdefault(child_alias, line)
            _walk(value_node, child, child_alias, lines, file, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = f"{path}[{i}]"
            lines[child] = item.start_mark.line + 1
            lines.setdefault(f"{alias}[{i}]", item.start_mark.line + 1)
            _walk(item, child, f"{alias}[{i}]", lines, file, seen)


# ======================================================================================
# The typed configuration
# ======================================================================================
@dataclass(frozen=True)
class EarlyStopping:
    """An early-stopping configuration, as the sweep file gives it.

    Attributes:
        policy: the registry name (``median``, ``bandit``, ``asha``, ...).
        options: the policy's options (``delay``, ``interval``, ...).
    """

    policy: str
    options: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, **self.options}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file.

    Attributes:
        file: the sweep file as named by the user (for messages).
        name: the study name (``None`` when the file has none: give it on the command
            line).
        space: the search space.
        objectives: one or more objectives.
        command: the argv template (a string split with shell rules, or a tuple), or
            ``None`` for a function sweep.
        function: ``"module:attr"`` or ``"file.py:attr"``, or ``None``.
        base_dir: the sweep file's directory (absolute).
        workdir: the trial working directory (absolute).
        env: extra environment variables of command trials.
        sampler: the sampler configuration (``{name: ..., ...}``), or ``None`` for the
            default.
        early_stopping: the early-stopping configuration, or ``None``.
        limits: the run limits.
        storage: the storage URL, or ``None`` for the default.
        params_as: how command trials receive parameters not in the template.
        reduce: how a command trial's value is taken from its reports.
        grace: seconds a stopped trial has to end by itself.
        constraints: metrics with bounds (:mod:`hypersweep.constraints`).
    """

    file: str
    name: str | None
    space: Space
    objectives: tuple[Objective, ...]
    command: str | tuple[str, ...] | None
    function: str | None
    base_dir: Path
    workdir: Path
    env: Mapping[str, str]
    sampler: Mapping[str, Any] | None
    early_stopping: EarlyStopping | None
    limits: Limits
    storage: str | None
    params_as: str = "args"
    reduce: str = "last"
    grace: float = DEFAULT_GRACE
    constraints: tuple[Constraint, ...] = ()
    lines: Mapping[str, int] = field(
        default_factory=lambda: types.MappingProxyType({}), repr=False, compare=False
    )

    def error(self, path: str, detail: str) -> SweepFileError:
        """A :class:`SweepFileError` located at ``path`` of this file."""
        return _Locator(self.file, self.lines).error(path, detail)

    def sweep_attrs(self) -> dict[str, Any]:
        """What ``hypersweep best`` needs to rebuild a trial's command line (JSON-ready).

        Environment variable *values* are left out (they may hold secrets); only their
        names are kept.
        """
        cmd: Any = (
            self.command
            if isinstance(self.command, str) or self.command is None
            else list(self.command)
        )
        return {
            "file": str(self.base_dir / Path(self.file).name),
            "command": cmd,
            "function": self.function,
            "params_as": self.params_as,
            "workdir": str(self.workdir),
            "env_names": sorted(self.env),
        }


def load(path: str | os.PathLike[str]) -> SweepSpec:
    """Load and validate a sweep file.

    Raises:
        SweepFileError: the file is missing, unreadable, not YAML, or invalid; the message
            is one line with file, line and key path.
    """
    file = os.fspath(path)
    p = Path(file)
    if not p.exists():
        raise SweepFileError(file, 1, "", "no such file")
    if p.is_dir():
        raise SweepFileError(file, 1, "", "is a directory, not a sweep file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SweepFileError(file, 1, "", f"not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise SweepFileError(file, 1, "", f"cannot read it: {e.strerror}") from None
    return load_text(text, file, base_dir=p.resolve().parent)


def load_text(
    text: str, file: str = "<sweep>", base_dir: str | os.PathLike[str] | None = None
) -> SweepSpec:
    r"""Validate sweep-file text; ``base_dir`` (default: the current directory) is where
    relative paths (``workdir``, ``function: file.py:attr``) start.

    Example:
        >>> spec = load_text(
        ...     "name: demo\n"
        ...     "function: math:hypot\n"
        ...     "space: {x: uniform(0, 1), act: choice(relu, tanh)}\n"
        ...     "objective: {metric: loss, goal: minimize}\n"
        ...     "limits: {max_trials: 20, timeout: 1h30m}\n", "demo.yaml")
        >>> spec.limits.max_trials, spec.limits.timeout
        (20, 5400.0)
        >>> try:
        ...     load_text("name: demo\nfunction: math:hypot\nspace: {x: uniform(0, 1)}\n"
        ...               "objective: {metric: loss, goal: minimise}\n", "demo.yaml")
        ... except SweepFileError as e:
        ...     print(e)  # doctest: +ELLIPSIS
        demo.yaml:4 objective.goal: must be one of ... (did you mean 'minimize'?)
    """
    return _load_text(text, file, base_dir, collect=False)


def _load_text(
    text: str,
    file: str,
    base_dir: str | os.PathLike[str] | None,
    collect: bool,
    errors: list[SweepFileError] | None = None,
) -> SweepSpec:
    if len(text) > MAX_FILE_CHARS:
        raise SweepFileError(
            file,
            1,
            "",
            f"the file has {len(text)} characters, more than "
            f"{MAX_FILE_CHARS}; a sweep file describes a sweep, keep data "
            "elsewhere",
        )
    data, lines = _compose(text, file)
    loc = _Locator(file, lines)
    base = Path(base_dir if base_dir is not None else os.getcwd()).resolve()
    if not isinstance(data, Mapping):
        raise loc.error(
            "",
            f"expected a mapping of keys (name:, command:, space:, "
            f"objective:, ...), got {_kind(data)}",
        )
    parser = _Parser(loc, base, collect=collect)
    try:
        return parser.parse(data)
    finally:
        if errors is not None and parser.errors:
            errors.extend(parser.errors)


def check(path: str | os.PathLike[str]) -> tuple[SweepSpec | None, list[SweepFileError]]:
    r"""Check a sweep file completely: ``(spec, [])`` when it is valid, else ``(None,
    every error of the file)`` (each one line, in file order), not only the first.

    Example:
        >>> import tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "s.yaml")
        >>> _ = open(f, "w").write("name: demo\nfunction: math:hypot\n"
        ...     "space: {x: uniform(1, 0)}\nobjective: {metric: loss, goal: up}\n"
        ...     "limits: {retries: -1}\n")
        >>> spec, errors = check(f)
        >>> [e.path for e in errors]
        ['space.x', 'objective.goal', 'limits.retries']
    """
    errors: list[SweepFileError] = []
    try:
        file = os.fspath(path)
        p = Path(file)
        if not p.is_file():
            load(file)  # raises the located "no such file" / "is a directory"
        text = p.read_text(encoding="utf-8")
        spec = _load_text(text, file, p.resolve().parent, collect=True, errors=errors)
    except SweepFileError as e:
        if e not in errors:
            errors.append(e)
        return None, sorted(errors, key=lambda e: e.line)
    except (UnicodeDecodeError, OSError):
        load(path)  # raises the located error
        raise
    return spec, []


_MAX_INT = 2**63 - 1


def _shown(v: Any) -> str:
    """A bounded one-line repr of a user value."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 100:
        return f"an integer of about {int(v.bit_length() * 0.30103) + 1} digits"
    text = repr(v)
    return text if len(text) <= 80 else text[:60] + "..." + text[-12:]


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return f"a boolean ({v!r})"
    if isinstance(v, (int, float)):
        return f"a number ({_shown(v)})"
    if isinstance(v, str):
        return f"a string ({_shown(v)})"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, Mapping):
        return "a mapping"
    return type(v).__name__


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_duration(value: Any, what: str = "duration") -> float:
    """Seconds from a number or a string such as ``90s``, ``10m``, ``2h``, ``1h30m``.

    Raises:
        ValueError: not a duration (the message says what is accepted).

    Example:
        >>> parse_duration("1h30m"), parse_duration(90), parse_duration("2.5s")
        (5400.0, 90.0, 2.5)
    """
    if isinstance(value, bool):
        raise ValueError(
            f"{what}: expected seconds or a duration like 90s, 10m, 2h, 1h30m, got {value!r}"
        )
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.inf  # callers refuse it as not a positive finite duration
    if isinstance(value, str) and len(value) <= _MAX_DURATION_CHARS:
        s = value.strip()
        try:
            return float(s)
        except ValueError:
            pass
        total, pos, parts = 0.0, 0, 0
        while pos < len(s):
            m = _DURATION_PART.match(s, pos)
            if m is None:
                break
            total += float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
            pos, parts = m.end(), parts + 1
        if parts and s[pos:].strip() == "":
            return total
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:60] + "..."
    raise ValueError(
        f"{what}: cannot read {shown} as a duration; use seconds or e.g. 90s, 10m, 2h, 1h30m"
    )


class _Parser:
    """Validates the data of one sweep file."""

    def __init__(self, loc: _Locator, base: Path, collect: bool = False) -> None:
        self.loc = loc
        self.base = base
        #: with ``collect``, every error of the file (else the first one is raised)
        self.errors: list[SweepFileError] | None = [] if collect else None

    def err(self, path: str, detail: str) -> SweepFileError:
        return self.loc.error(path, detail)

    def attempt(self, fn: Callable[[], T], default: T) -> T:
        """``fn()``; when collecting errors, an error is recorded and ``default`` returned
        so that the rest of the file is still checked."""
        if self.errors is None:
            return fn()
        try:
            return fn()
        except SweepFileError as e:
            self.errors.append(e)
            return default

    # --- helpers ----------------------------------------------------------------------
    def keys(self, d: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
        for k in d:
            if k in allowed:
                continue
            if self.errors is not None:  # every unknown key, not just the first
                self.attempt(lambda k=k: self._unknown_key(k, allowed, path), None)
                continue
            self._unknown_key(k, allowed, path)

    def _unknown_key(self, k: Any, allowed: Sequence[str], path: str) -> None:
        key = str(k)
        full = f"{path}.{key}" if path else key
        hint = _did_you_mean(key, allowed)
        if not path and (not hint or key in _NESTED_HOME):
            # a key of a section written at the top level: max_trials -> limits.max_trials
            close = difflib.get_close_matches(key, list(_NESTED_HOME), n=1, cutoff=0.75)
            if close:
                hint = f" (did you mean {_NESTED_HOME[close[0]]}.{close[0]}?)"
        where = f"{path} takes" if path else "known keys:"
        raise self.err(full, f"unknown key {key!r}{hint}; {where} {', '.join(allowed)}")

    def mapping(self, v: Any, path: str, example: str) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            raise self.err(path, f"expected a mapping such as {example}, got {_kind(v)}")
        return v

    def string(self, v: Any, path: str) -> str:
        if not isinstance(v, str) or not v.strip():
            raise self.err(path, f"expected a non-empty string, got {_kind(v)}")
        return v

    def choice(self, v: Any, options: Sequence[str], path: str) -> str:
        if not isinstance(v, str) or v.lower() not in options:
            hint = _did_you_mean(str(v).lower(), options) if isinstance(v, str) else ""
            raise self.err(path, f"must be one of {', '.join(options)}, got {v!r}{hint}")
        return v.lower()

    def integer(self, v: Any, path: str, minimum: int = 1) -> int:
        ok = (isinstance(v, int) and not isinstance(v, bool)) or (
            isinstance(v, float) and v.is_integer()
        )
        if not ok or not minimum <= int(v) <= _MAX_INT:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            if ok and int(v) > _MAX_INT:
                kind += " of at most 2**63-1"
            raise self.err(path, f"must be {kind}, got {_shown(v)}")
        return int(v)

    def number(self, v: Any, path: str) -> float:
        ok = not isinstance(v, bool) and isinstance(v, (int, float))
        try:
            ok = ok and math.isfinite(float(v))
        except OverflowError:
            ok = False
        if not ok:
            raise self.err(path, f"must be a finite number, got {_shown(v)}")
        return float(v)

    def duration(self, v: Any, path: str, allow_zero: bool = False) -> float:
        try:
            s = parse_duration(v, path)
        except ValueError as e:
            raise self.err(path, str(e).split(": ", 1)[1]) from None
        if not math.isfinite(s) or s < 0 or (s == 0 and not allow_zero):
            raise self.err(path, f"must be a positive duration, got {_shown(v)}")
        return s

    # --- the file ---------------------------------------------------------------------
    def parse(self, d: Mapping[str, Any]) -> SweepSpec:
        for k in d:
            if not isinstance(k, str):
                raise self.err(str(k), f"keys must be names, got {_kind(k)}")
        self.keys(d, _TOP_KEYS, "")
        name = self.attempt(lambda: self.name(d), None)
        command, function = self.attempt(lambda: self.target(d), (None, None))
        if function is not None:
            for k in _COMMAND_ONLY:
                if k in d:
                    self.attempt(
                        lambda k=k: self._raise(
                            self.err(
                                k,
                                "only for command sweeps; a function sweep runs the function in "
                                "hypersweep's own processes",
                            )
                        ),
                        None,
                    )
        space = self.attempt(lambda: self.space(d), None)
        if command is not None and space is not None:
            self.attempt(lambda: self.check_placeholders(command, space), None)
        objectives = self.attempt(lambda: self.objectives(d), (Objective("value"),))
        sampler = self.attempt(lambda: self.sampler(d.get("sampler")), None)
        early = self.attempt(
            lambda: self.early_stopping(d.get("early_stopping"), objectives), None
        )
        limits = self.attempt(lambda: self.limits(d.get("limits")), Limits())
        if len(objectives) > 1 and (limits.target is not None or limits.patience is not None):
            key = "target" if limits.target is not None else "patience"
            self.attempt(
                lambda: self._raise(self.err(f"limits.{key}", "only for single-objective sweeps")),
                None,
            )
        workdir = self.attempt(lambda: self.workdir(d), self.base)
        env = self.attempt(lambda: self.env(d.get("env")), {})
        storage = self.attempt(lambda: self.storage(d.get("storage")), None)
        params_as = self.attempt(
            lambda: (
                self.choice(d["params_as"], _PARAMS_AS, "params_as")
                if "params_as" in d
                else "args"
            ),
            "args",
        )
        reduce = self.attempt(lambda: self.reduce(d), "last")
        grace = self.attempt(
            lambda: (
                self.duration(d["grace"], "grace", allow_zero=True)
                if "grace" in d
                else DEFAULT_GRACE
            ),
            DEFAULT_GRACE,
        )
        constraints = self.attempt(lambda: self.constraints(d, objectives), ())
        if self.errors:
            raise self.errors[0]
        assert space is not None  # an error was recorded otherwise
        return SweepSpec(
            file=self.loc.file,
            name=name,
            space=space,
            objectives=objectives,
            command=command,
            function=function,
            base_dir=self.base,
            workdir=workdir,
            env=types.MappingProxyType(env),
            sampler=sampler,
            early_stopping=early,
            limits=limits,
            storage=storage,
            params_as=params_as,
            reduce=reduce,
            grace=grace,
            constraints=constraints,
            lines=types.MappingProxyType(dict(self.loc.lines)),
        )

    @staticmethod
    def _raise(e: Exception) -> None:
        raise e

    def constraints(
        self, d: Mapping[str, Any], objectives: Sequence[Objective]
    ) -> tuple[Constraint, ...]:
        try:
            return parse_constraints(d.get("constraints"), objectives=objectives)
        except SpecError as e:
            raise self.loc.wrap(e, "constraints") from None

    def space(self, d: Mapping[str, Any]) -> Space:
        if "space" not in d:
            raise self.err("space", "missing; e.g. space: {lr: loguniform(1e-5, 1e-1)}")
        params = self.mapping(d["space"], "space", "{lr: loguniform(1e-5, 1e-1)}")
        try:
            return parse_space(params)
        except SpaceError as e:
            first = self.loc.wrap(e, "space")
        if self.errors is not None and len(params) > 1:  # every bad parameter, not one
            for name, value in params.items():
                try:
                    parse_space({name: value})
                except SpaceError as e:
                    err = self.loc.wrap(e, "space")
                    if err.path != first.path:
                        self.errors.append(err)
                except Exception:  # a clash between parameters: the first error says it
                    pass
        raise first

    def workdir(self, d: Mapping[str, Any]) -> Path:
        if "workdir" not in d:
            return self.base
        wd = Path(self.string(d["workdir"], "workdir")).expanduser()
        workdir = (self.base / wd).resolve()
        if not workdir.is_dir():
            raise self.err("workdir", f"directory {str(workdir)!r} does not exist")
        return workdir

    def reduce(self, d: Mapping[str, Any]) -> str:
        if d.get("metrics") is None:
            return "last"
        m = self.mapping(d["metrics"], "metrics", "{reduce: last}")
        self.keys(m, _METRICS_KEYS, "metrics")
        return self.choice(m["reduce"], _REDUCE, "metrics.reduce") if "reduce" in m else "last"

    def name(self, d: Mapping[str, Any]) -> str | None:
        if "name" not in d:
            return None
        from hypersweep.study import _NAME_RE

        v = d["name"]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not _NAME_RE.fullmatch(v):
            raise self.err(
                "name",
                f"{_shown(v)} is not a valid study name; use letters, digits, "
                "'_', '.', '-' (starting with a letter or digit)",
            )
        return v

    def target(self, d: Mapping[str, Any]) -> tuple[str | tuple[str, ...] | None, str | None]:
        has_cmd, has_fn = d.get("command") is not None, d.get("function") is not None
        if has_cmd and has_fn:
            raise self.err("function", "give either command or function, not both")
        if not has_cmd and not has_fn:
            raise self.err(
                "command",
                "missing; give command: python train.py --lr {lr} (or function: module:attr)",
            )
        if has_fn:
            ref = self.string(d["function"], "function").strip()
            m = _FUNCTION_RE.match(ref)
            if not m:
                raise self.err(
                    "function", f"expected 'module:attr' or 'path/file.py:attr', got {ref!r}"
                )
            return None, ref
        cmd = d["command"]
        if isinstance(cmd, str):
            try:
                argv = shlex.split(cmd)
            except ValueError as e:
                raise self.err("command", f"cannot split {cmd!r} into arguments: {e}") from None
            if not argv:
                raise self.err("command", "is empty")
            return cmd, None
        if isinstance(cmd, list):
            if not cmd:
                raise self.err("command", "is an empty list")
            out = []
            for i, a in enumerate(cmd):
                if isinstance(a, bool) or not isinstance(a, (str, int, float)):
                    raise self.err(
                        f"command[{i}]", f"each argument must be a string, got {_kind(a)}"
                    )
                out.append(str(a))
            return tuple(out), None
        raise self.err("command", f"expected a string or a list of arguments, got {_kind(cmd)}")

    def check_placeholders(self, command: str | tuple[str, ...], space: Space) -> None:
        from hypersweep.execution.command import command_placeholders

        names: list[str] = list(space._order)
        parts = [command] if isinstance(command, str) else list(command)
        for i, part in enumerate(parts):
            path = "command" if isinstance(command, str) else f"command[{i}]"
            try:
                refs = command_placeholders(part if isinstance(command, str) else [part])
            except HypersweepError as e:
                raise self.loc.wrap(e, path) from None
            for ref in sorted(refs):
                if ref not in names:
                    raise self.err(
                        path,
                        f"placeholder {{{ref}}} is not a parameter of the "
                        f"space{_did_you_mean(ref, names)}; parameters: "
                        f"{', '.join(names)}",
                    )

    def objectives(self, d: Mapping[str, Any]) -> tuple[Objective, ...]:
        if d.get("objective") is None:
            raise self.err(
                "objective", "missing; e.g. objective: {metric: val_accuracy, goal: maximize}"
            )
        raw = d["objective"]
        items = list(enumerate(raw)) if isinstance(raw, list) else [(None, raw)]
        if not items:
            raise self.err("objective", "is an empty list; give at least one {metric, goal}")
        out: list[Objective] = []
        for i, o in items:
            path = "objective" if i is None else f"objective[{i}]"
            o = self.mapping(o, path, "{metric: val_accuracy, goal: maximize}")
            self.keys(o, _OBJECTIVE_KEYS, path)
            if "metric" not in o:
                raise self.err(
                    path, "metric: missing; e.g. {metric: val_accuracy, goal: maximize}"
                )
            metric = o["metric"]
            if not isinstance(metric, str) or not metric.strip():
                raise self.err(f"{path}.metric", f"expected a metric name, got {_kind(metric)}")
            if metric == "step":
                raise self.err(
                    f"{path}.metric",
                    "'step' is reserved for the report step; name the metric differently",
                )
            if "goal" not in o:
                raise self.err(path, "goal: missing; say goal: maximize or goal: minimize")
            goal = self.choice(o["goal"], _GOALS, f"{path}.goal")
            if any(prev.metric == metric for prev in out):
                raise self.err(f"{path}.metric", f"metric {metric!r} is listed twice")
            out.append(Objective(metric, goal))
        return tuple(out)

    def sampler(self, v: Any) -> Mapping[str, Any] | None:
        from hypersweep.samplers import make_sampler

        if v is None:
            return None
        if isinstance(v, str):
            v = {"name": v}
        cfg = dict(self.mapping(v, "sampler", "{name: random, seed: 0}"))
        seed = cfg.get("seed")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_INT
        ):
            raise self.err(
                "sampler.seed", f"must be an integer from 0 to 2**63-1, got {_shown(seed)}"
            )
        try:
            make_sampler(cfg)
        except HypersweepError as e:
            raise self.loc.wrap(e, "sampler") from None
        return types.MappingProxyType(cfg)

    def early_stopping(self, v: Any, objectives: Sequence[Objective]) -> EarlyStopping | None:
        if v is None:
            return None
        path = "early_stopping"
        if isinstance(v, str):
            v = {"policy": v}
        from hypersweep.stopping import REGISTRY, make_policy

        d = dict(self.mapping(v, path, "{policy: median, delay: 5, interval: 1}"))
        if "policy" not in d:
            raise self.err(path, f"policy: missing; one of {', '.join(REGISTRY)}")

        try:
            built = make_policy(d)
            bind = getattr(built, "bind", None)
            if built is not None and callable(bind):
                bind(objectives)
        except HypersweepError as e:
            raise self.loc.wrap(e, path) from None
        name = str(d.pop("policy"))
        return EarlyStopping(name, types.MappingProxyType(d))

    def limits(self, v: Any) -> Limits:
        if v is None:
            return Limits()
        d = self.mapping(v, "limits", "{max_trials: 50, max_concurrent: 2, timeout: 1h}")
        self.keys(d, _LIMIT_KEYS, "limits")
        vals: dict[str, Any] = {}

        def one(k: str, val: Any) -> None:
            p = f"limits.{k}"
            if k in ("timeout", "trial_timeout") or k.endswith("_seconds"):
                vals[k] = self.duration(val, p)
            elif k in ("retries", "max_failures"):
                vals[k] = self.integer(val, p, minimum=0)
            elif k.startswith("max_") or k == "patience":
                vals[k] = self.integer(val, p)
            elif k == "target":
                vals[k] = self.number(val, p)
            else:  # a newer limit: Limits checks it
                try:
                    Limits(**{k: val})
                except SpecError as e:
                    raise self.loc.wrap(e, "limits") from None
                vals[k] = val

        for k, val in d.items():
            if val is not None and k in _LIMIT_KEYS:
                self.attempt(lambda k=k, val=val: one(k, val), None)
        try:
            return Limits(**vals)
        except SpecError as e:
            raise self.loc.wrap(e, "limits") from None

    def env(self, v: Any) -> dict[str, str]:
        if v is None:
            return {}
        d = self.mapping(v, "env", "{OMP_NUM_THREADS: 1}")
        out: dict[str, str] = {}
        for k, val in d.items():
            p = f"env.{k}"
            if not _ENV_NAME.match(str(k)):
                raise self.err(p, f"{k!r} is not a valid environment variable name")
            if isinstance(val, bool) or val is None or not isinstance(val, (str, int, float)):
                raise self.err(
                    p, f'expected a string or a number, got {_kind(val)}; quote it, e.g. "true"'
                )
            out[str(k)] = str(val)
        return out

    def storage(self, v: Any) -> str | None:
        if v is None:
            return None
        url = self.string(v, "storage").strip()
        problem = storage_url_problem(url)
        if problem:
            raise self.err("storage", problem)
        return url


def storage_url_problem(url: str) -> str | None:
    """Why ``url`` is not a storage URL hypersweep supports, or ``None`` when it is."""
    if url in ("memory", ":memory:", "memory://") or url.startswith(_STORAGE_SCHEMES):
        return None
    return f"unsupported URL {url!r}; use sqlite:///path.db, postgresql://user@host/db or memory"


# ======================================================================================
# Building the Study and Runner
# ======================================================================================
@dataclass(frozen=True)
class Overrides:
    """Command-line values that replace the sweep file's (``None``: keep the file's).

    Attributes:
        name: the study name.
        storage: the storage URL.
        seed: the sampler seed (and the study's random generator seed).
        max_trials, max_concurrent, timeout: replace the same limits.
        extend_space: resume a study whose stored space differs (``--extend-space``; see
            :class:`~hypersweep.study.Study`).
    """

    name: str | None = None
    storage: str | None = None
    seed: int | None = None
    max_trials: int | None = None
    max_concurrent: int | None = None
    timeout: float | None = None
    extend_space: bool = False


def resolve_function(ref: str, base_dir: Path) -> Callable[..., Any]:
    """Import the callable named by ``"module:attr"`` or ``"path/file.py:attr"``.

    The module's directory (the sweep file's directory for ``module:attr``) is put first
    on ``sys.path``, so worker processes (which inherit ``sys.path``) import it too.

    Raises:
        HypersweepError: it cannot be imported or is not callable.
    """
    m = _FUNCTION_RE.match(ref)
    if not m:
        raise HypersweepError(
            f"function: expected 'module:attr' or 'path/file.py:attr', got {ref!r}"
        )
    target, attr = m.group("target"), m.group("attr")
    if target.endswith(".py") or "/" in target or os.sep in target:
        file = (base_dir / target).resolve()
        if not file.is_file():
            raise HypersweepError(f"function: file {str(file)!r} does not exist")
        directory, module_name = str(file.parent), file.stem
    else:
        directory, module_name = str(base_dir), target
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise HypersweepError(f"function: cannot import {module_name!r}: {e}") from None
    except Exception as e:
        raise HypersweepError(
            f"function: importing {module_name!r} failed: {type(e).__name__}: {e}"
        ) from None
    if target.endswith(".py"):
        loaded = Path(getattr(module, "__file__", "") or "").resolve()
        if loaded != (base_dir / target).resolve():
            raise HypersweepError(
                f"function: the module name {module_name!r} is taken by {str(loaded)!r}; "
                "rename the file"
            )
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(module) if not n.startswith("_")]
            raise HypersweepError(
                f"function: {module_name!r} has no attribute {part!r}{_did_you_mean(part, names)}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise HypersweepError(f"function: {ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


def effective(spec: SweepSpec, overrides: Overrides | None = None) -> SweepSpec:
    """The spec with command-line overrides applied (validated like the file)."""
    o = overrides or Overrides()
    lim = spec.limits
    changes: dict[str, Any] = {}
    for k in ("max_trials", "max_concurrent", "timeout"):
        v = getattr(o, k)
        if v is not None:
            changes[k] = v
    if changes:
        lim = replace(lim, **changes)  # Limits validates: "limits.timeout: must be ..."
    sampler = spec.sampler
    if o.seed is not None:
        cfg = dict(sampler or {"name": "auto"})
        from hypersweep.samplers import REGISTRY

        if cfg["name"] not in REGISTRY:  # "auto" before it is registered
            cfg["name"] = "random"
        cfg["seed"] = o.seed
        sampler = types.MappingProxyType(cfg)
    return replace(
        spec,
        name=o.name or spec.name,
        storage=o.storage or spec.storage,
        limits=lim,
        sampler=sampler,
    )


def build(
    spec: SweepSpec,
    overrides: Overrides | None = None,
    *,
    progress: Progress | None = None,
    callbacks: Sequence[Callable[[Study, Trial], Any]] = (),
) -> tuple[Study, Runner]:
    """Create (or resume) the study and the runner a sweep file describes.

    This is the Python API's own path: ``Study(...)``, ``Limits(...)``, an executor and
    ``Runner(...)``. The sweep's command, ``params_as`` and ``workdir`` are stored in the
    study's attributes (``sweep``) so ``hypersweep best`` can print a trial's command line.

    Raises:
        SweepFileError: a value the file holds is refused (located in the file).
        SpecError: an override is invalid.
        StorageError: the storage cannot be opened.
    """
    from hypersweep.execution.runner import Runner
    from hypersweep.study import Study

    spec = effective(spec, overrides)
    if spec.name is None:
        raise spec.error(
            "name", "missing; give the study a name, e.g. name: digits-mlp (or pass --name)"
        )
    seed = None
    if spec.sampler is not None and spec.sampler.get("seed") is not None:
        seed = int(spec.sampler["seed"])
    policy = None
    if spec.early_stopping is not None:
        policy = spec.early_stopping.to_dict()  # the study builds it from the registry
    executor = _executor(spec)
    try:
        study = Study(
            spec.name,
            spec.space,
            list(spec.objectives),
            sampler=dict(spec.sampler) if spec.sampler is not None else None,
            policy=policy,
            storage=spec.storage,
            seed=seed,
            extend_space=overrides is not None and overrides.extend_space,
            constraints=[c.to_dict() for c in spec.constraints],
        )
    except SpaceError as e:
        raise _Locator(spec.file, spec.lines).wrap(e, "space") from None
    except SpecError as e:
        raise _Locator(spec.file, spec.lines).wrap(e, "name") from None
    study._set_attrs(sweep=spec.sweep_attrs())
    runner = Runner(study, executor, spec.limits, callbacks=callbacks, progress=progress)
    return study, runner


def _executor(spec: SweepSpec) -> Executor:
    lim = spec.limits
    if spec.function is not None:
        from hypersweep.execution.function import FunctionExecutor

        try:
            fn = resolve_function(spec.function, spec.base_dir)
            return FunctionExecutor(
                fn,
                max_concurrent=lim.max_concurrent,
                trial_timeout=lim.trial_timeout,
                grace=spec.grace,
                study_name=spec.name,
            )
        except HypersweepError as e:
            raise _Locator(spec.file, spec.lines).wrap(e, "function") from None
    from hypersweep.execution.command import CommandExecutor

    command = spec.command if isinstance(spec.command, str) else list(spec.command or ())
    try:
        return CommandExecutor(
            command,
            study_name=spec.name or "",
            metrics=[o.metric for o in spec.objectives] + [c.metric for c in spec.constraints],
            reduce=spec.reduce,
            params_as=spec.params_as,
            max_concurrent=lim.max_concurrent,
            trial_timeout=lim.trial_timeout,
            grace=spec.grace,
            workdir=str(spec.workdir),
            env=dict(spec.env),
        )
    except HypersweepError as e:
        raise _Locator(spec.file, spec.lines).wrap(e, "command") from None
