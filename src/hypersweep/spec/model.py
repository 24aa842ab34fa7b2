"""What a sweep file says: its keys, the frozen SweepSpec, and the located SweepFileError."""

from __future__ import annotations

import dataclasses
import logging
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hypersweep._validate import one_line
from hypersweep.constraints import Constraint
from hypersweep.errors import HypersweepError, SpaceError, SpecError
from hypersweep.limits import Limits
from hypersweep.metrics import MetricsConfig
from hypersweep.resources import Resources
from hypersweep.space import Space
from hypersweep.trial import Objective

if TYPE_CHECKING:
    pass


log = logging.getLogger("hypersweep")
T = TypeVar("T")

#: Seconds a stopped trial has to end by itself (SIGINT) before SIGTERM, then SIGKILL.
DEFAULT_GRACE = 10.0

TOP_KEYS = (
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
    "warm_start",
    "resources",
    "executor",
)
#: Every field of :class:`~hypersweep.limits.Limits` is a ``limits:`` key.
LIMIT_KEYS = tuple(f.name for f in dataclasses.fields(Limits))
OBJECTIVE_KEYS = ("metric", "goal")
METRICS_KEYS = ("source", "reduce", "patterns", "logdir")
REDUCE = ("last", "min", "max")
PARAMS_AS = ("args", "env", "json")
GOALS = ("minimize", "maximize", "min", "max")
COMMAND_ONLY = ("workdir", "env", "params_as", "metrics")
STORAGE_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")

# Keys that belong one level down: "max_trials" at the top level means limits.max_trials.
NESTED_HOME = {
    **{k: "limits" for k in LIMIT_KEYS},
    "seed": "sampler",
    "metric": "objective",
    "goal": "objective",
    "reduce": "metrics",
    "policy": "early_stopping",
}
#: Azure ML / W&B spellings written in a native file -> the native key (a hint only).
FOREIGN_KEYS = {
    "search_space": "space",
    "parameters": "space",
    "sampling_algorithm": "sampler",
    "method": "sampler",
    "early_termination": "early_stopping",
    "early_terminate": "early_stopping",
    "primary_metric": "objective.metric",
    "trial": "command",
    "program": "command",
    "run_cap": "limits.max_trials",
    "max_total_trials": "limits.max_trials",
    "max_concurrent_trials": "limits.max_concurrent",
    "limits.max_total_trials": "max_trials",
    "limits.max_concurrent_trials": "max_concurrent",
    "limits.run_cap": "max_trials",
    "objective.primary_metric": "metric",
    "objective.name": "metric",
    "early_stopping.type": "policy",
    "early_stopping.evaluation_interval": "interval",
    "early_stopping.delay_evaluation": "delay",
    "sampler.type": "name",
}
#: One ``<number><unit>`` of a duration; matched repeatedly, so parsing is linear.
DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.IGNORECASE)
MAX_DURATION_CHARS = 200
#: The largest sweep file :func:`load_text` reads (characters; PyYAML reads ~50 KB/s here).
MAX_FILE_CHARS = 200_000
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FUNCTION_RE = re.compile(r"^(?P<target>[^:]+):(?P<attr>[A-Za-z_][\w.]*)$")


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
        shown = path if path.isprintable() else repr(path)
        super().__init__(one_line(detail), path=shown)
        self.file = file
        self.line = line
        where = f"{file}:{line}"
        self.args = (f"{where} {shown}: {self.detail}" if shown else f"{where} {self.detail}",)


_LEADING_PATH = re.compile(r"^(?P<path>[A-Za-z_][\w./\-\[\]]*): (?P<rest>.*)$", re.DOTALL)


class Locator:
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
        """Locate an error raised by library code at the key path it carries.

        A :class:`~hypersweep.errors.HypersweepError` carries its path as ``exc.path``
        (the checks of :mod:`hypersweep._validate` set it); without one, the error is
        placed at ``default_path``.
        """
        if isinstance(exc, SweepFileError):
            return exc
        if isinstance(exc, HypersweepError) and exc.path:
            return self.error(exc.path, exc.detail)
        if isinstance(exc, SpaceError):
            return self.error(default_path, exc.detail)
        text = one_line(str(exc))
        # Transitional, for raise sites not yet on hypersweep._validate (the command
        # executor's program checks, Limits.retry_on): their path still leads the text.
        m = _LEADING_PATH.match(text)
        if m and (m.group("path").split(".")[0].split("[")[0] in (*TOP_KEYS, "seed")):
            return self.error(m.group("path"), m.group("rest"))
        return self.error(default_path, text)


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
        per_trial: each trial runs in a fresh folder of its own (``workdir: per_trial``).
        env: extra environment variables of command trials.
        sampler: the sampler configuration (``{name: ..., ...}``), or ``None`` for the
            default.
        early_stopping: the early-stopping configuration, or ``None``.
        limits: the run limits.
        storage: the storage URL, or ``None`` for the default.
        params_as: how command trials receive parameters not in the template.
        reduce: how a command trial's value is taken from its reports.
        metrics_config: where a command trial's metrics are read from (``metrics:``).
        grace: seconds a stopped trial has to end by itself.
        constraints: metrics with bounds (:mod:`hypersweep.constraints`).
        warm_start: the checked ``warm_start`` key (:mod:`hypersweep.spec.warm_start`), or
            ``None``.
        resources: what each trial needs (:mod:`hypersweep.resources`), or ``None``.
        concurrent_given: ``limits.max_concurrent`` was set (else, with ``resources``,
            it follows from them).
        text: the sweep file's text (stored with the study for ``hypersweep worker``).
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
    per_trial: bool = False
    metrics_config: MetricsConfig = field(default_factory=MetricsConfig)
    grace: float = DEFAULT_GRACE
    constraints: tuple[Constraint, ...] = ()
    warm_start: Mapping[str, Any] | None = None
    resources: Resources | None = None
    concurrent_given: bool = True
    text: str = field(default="", repr=False, compare=False)
    #: where trials run (:mod:`hypersweep.spec.executor`): ``None`` = local
    executor: Any = None
    lines: Mapping[str, int] = field(
        default_factory=lambda: types.MappingProxyType({}), repr=False, compare=False
    )
    #: a foreign file (Azure ML, W&B): what was translated, and one warning per key that
    #: cannot be honoured (see :mod:`hypersweep.spec.foreign`)
    translated: tuple[str, ...] = field(default=(), repr=False, compare=False)
    foreign_warnings: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def error(self, path: str, detail: str) -> SweepFileError:
        """A :class:`SweepFileError` located at ``path`` of this file."""
        return Locator(self.file, self.lines).error(path, detail)

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
            "per_trial": self.per_trial,
            "env_names": sorted(self.env),
        }
