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
:class:`~hypersweep.limits.Limits`, a
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
* ``limits``: every field of :class:`~hypersweep.limits.Limits`:
  ``max_trials``, ``max_concurrent``, ``timeout``, ``trial_timeout``, ``max_steps``,
  ``target``, ``patience``, ... Durations are seconds or strings such as ``90s``, ``10m``,
  ``2h``, ``1h30m``, ``500ms``, ``1d``.
* ``storage``: a storage URL (``sqlite:///.hypersweep/studies.db`` when omitted).
* ``params_as`` (command sweeps): ``args``, ``env`` or ``json``.
* ``metrics`` (command sweeps): ``{reduce: last|min|max}``.
* ``grace``: a duration a stopped trial has to end by itself before it is killed.

Unknown keys anywhere are errors, with a "did you mean" suggestion.

An Azure ML sweep job or a W&B sweep config is recognised and translated into these keys
first (:mod:`hypersweep.spec.foreign`, ``docs/foreign.md``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from hypersweep.spec.build import Overrides, build, effective, resolve_function
from hypersweep.spec.foreign import ForeignFileError, load_foreign, summary
from hypersweep.spec.model import (
    DEFAULT_GRACE,
    MAX_FILE_CHARS,
    EarlyStopping,
    Locator,
    SweepFileError,
    SweepSpec,
)
from hypersweep.spec.parse import Parser, kind_of, parse_duration, storage_url_problem
from hypersweep.spec.yaml import compose

__all__ = [
    "DEFAULT_GRACE",
    "EarlyStopping",
    "ForeignFileError",
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
    data, lines = compose(text, file)
    loc = Locator(file, lines)
    base = Path(base_dir if base_dir is not None else os.getcwd()).resolve()
    foreign = load_foreign(data, lines, file, base)  # Azure ML, W&B: translated first
    if foreign is not None:
        data, loc = foreign[0].native, Locator(file, foreign[1])
    if not isinstance(data, Mapping):
        raise loc.error(
            "",
            f"expected a mapping of keys (name:, command:, space:, "
            f"objective:, ...), got {kind_of(data)}",
        )
    parser = Parser(loc, base, collect=collect)
    try:
        spec = dataclasses.replace(parser.parse(data), text=text)
        if foreign is not None:
            notes, warns = summary(foreign[0], file, lines)
            spec = dataclasses.replace(
                spec, translated=tuple(notes), foreign_warnings=tuple(warns)
            )
        return spec
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
        if isinstance(e, ForeignFileError):
            errors.extend(e.problems)
        elif e not in errors:
            errors.append(e)
        return None, sorted(errors, key=lambda e: e.line)
    except (UnicodeDecodeError, OSError):
        load(path)  # raises the located error
        raise
    return spec, []
