"""Check a composed sweep file and turn it into a SweepSpec, one located error per problem."""

from __future__ import annotations

import difflib
import math
import re
import shlex
import types
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypersweep._validate import check_number, did_you_mean, short
from hypersweep.constraints import Constraint, parse_constraints
from hypersweep.errors import HypersweepError, SpaceError, SpecError
from hypersweep.limits import Limits
from hypersweep.metrics import MetricsConfig
from hypersweep.resources import Resources
from hypersweep.space import Space, parse_space
from hypersweep.spec.executor import parse_executor
from hypersweep.spec.warm_start import parse_warm_start
from hypersweep.trial import Objective

if TYPE_CHECKING:
    pass
from hypersweep.spec.model import (
    COMMAND_ONLY,
    DEFAULT_GRACE,
    DURATION_PART,
    ENV_NAME,
    FOREIGN_KEYS,
    FUNCTION_RE,
    GOALS,
    LIMIT_KEYS,
    MAX_DURATION_CHARS,
    METRICS_KEYS,
    NESTED_HOME,
    OBJECTIVE_KEYS,
    PARAMS_AS,
    REDUCE,
    STORAGE_SCHEMES,
    TOP_KEYS,
    UNIT_SECONDS,
    EarlyStopping,
    Locator,
    SweepFileError,
    SweepSpec,
    T,
)

MAX_INT = 2**63 - 1
#: ``${{search_space.x}}`` / ``${{inputs.x}}`` (Azure ML), ``${args}`` (W&B) in a native command
FOREIGN_PLACEHOLDER = re.compile(r"\$\{\{([^{}]*)\}\}|\$\{(args[a-z_]*|program|interpreter|env)\}")


def kind_of(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return f"a boolean ({v!r})"
    if isinstance(v, (int, float)):
        return f"a number ({short(v)})"
    if isinstance(v, str):
        return f"a string ({short(v)})"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, Mapping):
        return "a mapping"
    return type(v).__name__


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
    if isinstance(value, str) and len(value) <= MAX_DURATION_CHARS:
        s = value.strip()
        try:
            return float(s)
        except ValueError:
            pass
        total, pos, parts = 0.0, 0, 0
        while pos < len(s):
            m = DURATION_PART.match(s, pos)
            if m is None:
                break
            total += float(m.group(1)) * UNIT_SECONDS[m.group(2).lower()]
            pos, parts = m.end(), parts + 1
        if parts and s[pos:].strip() == "":
            return total
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:60] + "..."
    raise ValueError(
        f"{what}: cannot read {shown} as a duration; use seconds or e.g. 90s, 10m, 2h, 1h30m"
    )


class Parser:
    """Validates the data of one sweep file."""

    def __init__(self, loc: Locator, base: Path, collect: bool = False) -> None:
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
                self.attempt(partial(self._unknown_key, k, allowed, path), None)
                continue
            self._unknown_key(k, allowed, path)

    def _unknown_key(self, k: Any, allowed: Sequence[str], path: str) -> None:
        key = str(k)
        full = f"{path}.{key}" if path else key
        hint = did_you_mean(key, allowed)
        if full in FOREIGN_KEYS:  # an Azure ML / W&B spelling
            hint = f" (did you mean {FOREIGN_KEYS[full]!r}? {key!r} is the Azure ML / W&B name)"
        elif not path and (not hint or key in NESTED_HOME):
            # a key of a section written at the top level: max_trials -> limits.max_trials
            close = difflib.get_close_matches(key, list(NESTED_HOME), n=1, cutoff=0.75)
            if close:
                hint = f" (did you mean {NESTED_HOME[close[0]]}.{close[0]}?)"
        where = f"{path} takes" if path else "known keys:"
        raise self.err(full, f"unknown key {key!r}{hint}; {where} {', '.join(allowed)}")

    def mapping(self, v: Any, path: str, example: str) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            raise self.err(path, f"expected a mapping such as {example}, got {kind_of(v)}")
        return v

    def string(self, v: Any, path: str) -> str:
        if not isinstance(v, str) or not v.strip():
            raise self.err(path, f"expected a non-empty string, got {kind_of(v)}")
        return v

    def choice(self, v: Any, options: Sequence[str], path: str) -> str:
        if not isinstance(v, str) or v.lower() not in options:
            hint = did_you_mean(str(v).lower(), options) if isinstance(v, str) else ""
            raise self.err(path, f"must be one of {', '.join(options)}, got {v!r}{hint}")
        return v.lower()

    def integer(self, v: Any, path: str, minimum: int = 1) -> int:
        ok = (isinstance(v, int) and not isinstance(v, bool)) or (
            isinstance(v, float) and v.is_integer()
        )
        if not ok or not minimum <= int(v) <= MAX_INT:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            if ok and int(v) > MAX_INT:
                kind += " of at most 2**63-1"
            raise self.err(path, f"must be {kind}, got {short(v)}")
        return int(v)

    def number(self, v: Any, path: str) -> float:
        try:
            return check_number(path, v)
        except SpecError as e:
            raise self.loc.wrap(e, path) from None

    def duration(self, v: Any, path: str, allow_zero: bool = False) -> float:
        try:
            s = parse_duration(v, path)
        except ValueError as e:
            raise self.err(path, str(e).split(": ", 1)[1]) from None
        if not math.isfinite(s) or s < 0 or (s == 0 and not allow_zero):
            raise self.err(path, f"must be a positive duration, got {short(v)}")
        return s

    # --- the file ---------------------------------------------------------------------
    def parse(self, d: Mapping[str, Any]) -> SweepSpec:
        for k in d:
            if not isinstance(k, str):
                raise self.err(str(k), f"keys must be names, got {kind_of(k)}")
        self.keys(d, TOP_KEYS, "")
        name = self.attempt(lambda: self.name(d), None)
        no_target: tuple[str | tuple[str, ...] | None, str | None] = (None, None)
        command, function = self.attempt(lambda: self.target(d), no_target)
        if function is not None:
            for k in COMMAND_ONLY:
                if k in d:
                    only_command = self.err(
                        k,
                        "only for command sweeps; a function sweep runs the function in "
                        "hypersweep's own processes",
                    )
                    self.attempt(partial(self._raise, only_command), None)
        space = self.attempt(lambda: self.space(d), None)
        if command is not None and space is not None:
            self.attempt(lambda: self.check_placeholders(command, space), None)
        one_value: tuple[Objective, ...] = (Objective("value"),)
        objectives = self.attempt(lambda: self.objectives(d), one_value)
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
        workdir, per_trial = self.attempt(lambda: self.workdir(d), (self.base, False))
        no_env: dict[str, str] = {}
        env = self.attempt(lambda: self.env(d.get("env")), no_env)
        storage = self.attempt(lambda: self.storage(d.get("storage")), None)
        params_as = self.attempt(
            lambda: (
                self.choice(d["params_as"], PARAMS_AS, "params_as") if "params_as" in d else "args"
            ),
            "args",
        )
        reduce, capture = self.attempt(lambda: self.reduce(d), ("last", MetricsConfig()))
        grace = self.attempt(
            lambda: (
                self.duration(d["grace"], "grace", allow_zero=True)
                if "grace" in d
                else DEFAULT_GRACE
            ),
            DEFAULT_GRACE,
        )
        no_constraints: tuple[Constraint, ...] = ()
        constraints = self.attempt(
            lambda: self.keyed("constraints", d, parse_constraints, objectives=objectives),
            no_constraints,
        )
        warm_start = self.attempt(lambda: self.keyed("warm_start", d, parse_warm_start), None)
        resources = self.attempt(lambda: self.keyed("resources", d, _resources), None)
        lim_d = d.get("limits")
        given = isinstance(lim_d, Mapping) and "max_concurrent" in lim_d
        executor = self.attempt(lambda: self.keyed("executor", d, parse_executor), None)
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
            per_trial=per_trial,
            env=types.MappingProxyType(env),
            sampler=sampler,
            early_stopping=early,
            limits=limits,
            storage=storage,
            params_as=params_as,
            reduce=reduce,
            metrics_config=capture,
            grace=grace,
            constraints=constraints,
            warm_start=warm_start,
            resources=resources,
            concurrent_given=given or resources is None,
            executor=executor,
            lines=types.MappingProxyType(dict(self.loc.lines)),
        )

    @staticmethod
    def _raise(e: Exception) -> None:
        raise e

    def keyed(self, key: str, d: Mapping[str, Any], parse: Callable[..., T], **kw: Any) -> T:
        """``parse(d[key], **kw)`` (``None`` when absent), its errors located at ``key``:
        the keys whose parsing lives with their concept (constraints, resources, ...)."""
        try:
            return parse(d.get(key), **kw)
        except SpecError as e:
            raise self.loc.wrap(e, key) from None

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

    def workdir(self, d: Mapping[str, Any]) -> tuple[Path, bool]:
        """The working directory, and whether each trial gets a folder of its own
        (``workdir: per_trial``, or ``{path: src, per_trial: true}``)."""
        if "workdir" not in d:
            return self.base, False
        raw, path, per_trial = d["workdir"], "workdir", False
        if raw == "per_trial":
            return self.base, True
        if isinstance(raw, Mapping):
            self.keys(raw, ("path", "per_trial"), "workdir")
            per_trial = raw.get("per_trial", False)
            if not isinstance(per_trial, bool):
                raise self.err(
                    "workdir.per_trial", f"expected true or false, got {kind_of(per_trial)}"
                )
            raw, path = raw.get("path", "."), "workdir.path"
        wd = Path(self.string(raw, path)).expanduser()
        workdir = (self.base / wd).resolve()
        if not workdir.is_dir():
            raise self.err(path, f"directory {str(workdir)!r} does not exist")
        return workdir, per_trial

    def reduce(self, d: Mapping[str, Any]) -> tuple[str, MetricsConfig]:
        if d.get("metrics") is None:
            return "last", MetricsConfig()
        m = self.mapping(d["metrics"], "metrics", "{source: auto, reduce: last}")
        self.keys(m, METRICS_KEYS, "metrics")
        reduce = self.choice(m["reduce"], REDUCE, "metrics.reduce") if "reduce" in m else "last"
        try:
            return reduce, MetricsConfig.parse(m)
        except SpecError as e:
            raise self.loc.wrap(e, "metrics") from None

    def name(self, d: Mapping[str, Any]) -> str | None:
        if "name" not in d:
            return None
        from hypersweep._validate import STUDY_NAME

        v = d["name"]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not STUDY_NAME.fullmatch(v):
            raise self.err(
                "name",
                f"{short(v)} is not a valid study name; use letters, digits, "
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
            m = FUNCTION_RE.match(ref)
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
                        f"command[{i}]", f"each argument must be a string, got {kind_of(a)}"
                    )
                out.append(str(a))
            return tuple(out), None
        raise self.err("command", f"expected a string or a list of arguments, got {kind_of(cmd)}")

    def check_placeholders(self, command: str | tuple[str, ...], space: Space) -> None:
        from hypersweep.execution.command import TRIAL_PLACEHOLDERS, command_placeholders

        names: list[str] = list(space.param_names) + sorted(space.delivery().groups())
        parts = [command] if isinstance(command, str) else list(command)
        for i, part in enumerate(parts):
            path = "command" if isinstance(command, str) else f"command[{i}]"
            try:
                refs = command_placeholders(part if isinstance(command, str) else [part])
            except HypersweepError as e:
                raise self.loc.wrap(e, path) from None
            text = part if isinstance(part, str) else ""
            foreign = FOREIGN_PLACEHOLDER.search(text)
            if foreign:
                inner = (foreign.group(1) or "").strip()
                fix = inner.split(".", 1)[1] if inner.startswith("search_space.") else None
                raise self.err(
                    path,
                    f"{foreign.group(0)} is an Azure ML / W&B placeholder and would reach the "
                    "script as written; "
                    + (f"write {{{fix}}}" if fix in names else "write {name} for a parameter")
                    + " (or run the Azure or W&B file itself)",
                )
            for ref in sorted(refs):
                if ref not in names and ref not in TRIAL_PLACEHOLDERS:
                    raise self.err(
                        path,
                        f"placeholder {{{ref}}} is not a parameter of the "
                        f"space{did_you_mean(ref, names)}; parameters: "
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
            self.keys(o, OBJECTIVE_KEYS, path)
            if "metric" not in o:
                raise self.err(
                    path, "metric: missing; e.g. {metric: val_accuracy, goal: maximize}"
                )
            metric = o["metric"]
            if not isinstance(metric, str) or not metric.strip():
                raise self.err(f"{path}.metric", f"expected a metric name, got {kind_of(metric)}")
            if metric == "step":
                raise self.err(
                    f"{path}.metric",
                    "'step' is reserved for the report step; name the metric differently",
                )
            if "goal" not in o:
                raise self.err(path, "goal: missing; say goal: maximize or goal: minimize")
            goal = self.choice(o["goal"], GOALS, f"{path}.goal")
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
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_INT
        ):
            raise self.err(
                "sampler.seed", f"must be an integer from 0 to 2**63-1, got {short(seed)}"
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
        self.keys(d, LIMIT_KEYS, "limits")
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
            if val is not None and k in LIMIT_KEYS:
                self.attempt(partial(one, k, val), None)
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
            if not ENV_NAME.match(str(k)):
                raise self.err(p, f"{k!r} is not a valid environment variable name")
            if isinstance(val, bool) or val is None or not isinstance(val, (str, int, float)):
                raise self.err(
                    p, f'expected a string or a number, got {kind_of(val)}; quote it, e.g. "true"'
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


def _resources(v: Any) -> Resources | None:
    return None if v is None else Resources.parse(v, "resources")


def storage_url_problem(url: str) -> str | None:
    """Why ``url`` is not a storage URL hypersweep supports, or ``None`` when it is."""
    if url in ("memory", ":memory:", "memory://") or url.startswith(STORAGE_SCHEMES):
        return None
    return f"unsupported URL {url!r}; use sqlite:///path.db, postgresql://user@host/db or memory"
