"""Azure ML sweep job YAML (CLI v2, ``type: sweep``) -> the native sweep-file mapping.

The mapping is documented in ``docs/foreign.md``. Azure runs ``trial.command`` through a
shell after substituting ``${{search_space.x}}`` and ``${{inputs.x}}`` as text; hypersweep
never uses a shell, so a command that needs one (``&&``, pipes, ``$VAR``) is refused, and
the placeholders become native ``{x}`` placeholders (search space) or literal text
(literal inputs, local data paths).
"""

from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypersweep._validate import STUDY_NAME, short
from hypersweep.spec.foreign._common import Translator, literal_item, placeholder

__all__ = ["AzureTranslator"]

TOP = (
    "$schema",
    "type",
    "name",
    "display_name",
    "experiment_name",
    "description",
    "tags",
    "sampling_algorithm",
    "search_space",
    "objective",
    "early_termination",
    "limits",
    "compute",
    "trial",
    "inputs",
    "outputs",
    "identity",
    "queue_settings",
    "resources",
    "services",
    "properties",
)
#: keys that change nothing hypersweep does: one warning each
IGNORED_TOP = {
    "display_name": "display name of the Azure studio UI",
    "description": "kept nowhere",
    "tags": "Azure job tags",
    "compute": "trials run on this machine",
    "identity": "data access identity",
    "queue_settings": "Azure job queue",
    "resources": "Azure job resources",
    "services": "Azure job services",
    "properties": "Azure job properties",
}
TRIAL = ("command", "code", "environment", "environment_variables", "distribution", "resources")
#: search space expression -> its keys (all required unless listed in _OPTIONAL)
EXPRESSIONS = {
    "choice": ("values",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "loguniform": ("min_value", "max_value"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}
POLICIES = {
    "bandit": ("slack_factor", "slack_amount"),
    "median_stopping": (),
    "truncation_selection": ("truncation_percentage", "exclude_finished_jobs"),
}
POLICY_COMMON = ("type", "policy_type", "evaluation_interval", "delay_evaluation")
LIMITS = {
    "max_total_trials": "max_trials",
    "max_concurrent_trials": "max_concurrent",
    "timeout": "timeout",
    "trial_timeout": "trial_timeout",
}
#: Azure's default when max_total_trials is omitted
DEFAULT_MAX_TRIALS = 1000
#: ``${{ context.name }}`` (CLI v2) and the legacy ``{context.name}`` spelling
_EXPR = re.compile(r"\$\{\{\s*([A-Za-z_][\w.\-]*)\s*\}\}")
_LEGACY = re.compile(r"(?<![{$])\{(search_space|inputs|outputs)\.([A-Za-z_][\w\-]*)\}(?!\})")
_SHELL = re.compile(r"&|\|\||[|;<>`]|\$\(|\$[A-Za-z_{]")
_REMOTE = ("azureml:", "wasbs:", "wasb:", "abfss:", "abfs:", "adl:", "azureml://", "git+")
_URL = ("http://", "https://")


class AzureTranslator(Translator):
    source = "Azure ML sweep job"

    def __init__(self, data: Mapping[str, Any], base: Path) -> None:
        super().__init__(data)
        self.base = base
        self.space_names: list[str] = []
        self.inputs_used: set[str] = set()

    def translate(self) -> None:
        d = self.data
        kind = d.get("type")
        if kind in ("pipeline", "automl", "command") or "jobs" in d:
            self._refuse_kind(kind)
            return
        if kind == "sweep_job":
            self.note("type: sweep_job (the older CLI spelling) read as type: sweep")
        elif kind != "sweep":
            self.refuse("type", f"expected type: sweep, got {short(kind)}")
        for k in d:
            key = str(k)
            if key not in TOP:
                hint = {
                    "algorithm": " (the 2021 preview spelling: write sampling_algorithm:)",
                    "job_type": " (the 2021 preview spelling: write type: sweep)",
                    "max_total_trials": " (it belongs under limits:)",
                }.get(key, "")
                self.unknown("", key, list(TOP), hint)
            elif key in IGNORED_TOP:
                self.warn(key, f"not used by hypersweep ({IGNORED_TOP[key]})")
        self.attempt(self._name)
        self.attempt(self._search_space)
        self.attempt(self._trial)
        self.attempt(self._objective)
        self.attempt(self._sampling)
        self.attempt(self._early_termination)
        self.attempt(self._limits)

    # --- the job as a whole ---------------------------------------------------------------
    def _refuse_kind(self, kind: Any) -> None:
        if kind == "pipeline" or "jobs" in self.data:
            self.refuse(
                "type",
                "an Azure ML pipeline job; hypersweep runs one sweep: copy the sweep "
                "step (jobs.<step> with type: sweep) into a file of its own, with its "
                "trial command written out",
            )
        elif kind == "automl":
            self.refuse(
                "type",
                "an Azure AutoML job: AutoML chooses and trains its own models, there is "
                "no trial command hypersweep could run; write a sweep job (type: sweep) "
                "or a hypersweep file for your training script",
            )
        else:
            self.refuse(
                "type",
                "a single command job, not a sweep: add search_space, objective and "
                "sampling_algorithm (type: sweep), or write a hypersweep file",
            )

    def _name(self) -> None:
        for key in ("name", "experiment_name", "display_name"):
            v = self.data.get(key)
            if isinstance(v, str) and STUDY_NAME.fullmatch(v):
                self.put("name", v, key)
                self.note(f"{key}: {v} -> name (the study; re-running resumes it)")
                if key == "experiment_name":
                    return
                break
        if "experiment_name" in self.data and self.t.native.get("name") != self.data.get(
            "experiment_name"
        ):
            self.warn("experiment_name", "not used (the study is named by name:)")

    # --- search space ---------------------------------------------------------------------
    def _search_space(self) -> None:
        ss = self.data.get("search_space")
        if ss is None:
            raise self.refuse("search_space", "missing; the parameters to sweep")
        if isinstance(ss, list):
            raise self.refuse(
                "search_space",
                "a list of sub-spaces (AutoML's form); a sweep job takes one mapping",
            )
        ss = self.mapping(ss, "search_space")
        space: dict[str, Any] = {}
        for name, expr in ss.items():
            path = f"search_space.{name}"
            native = self.attempt(self._expression, str(name), expr, path)
            if native is not None:
                space[str(name)] = native
                self.t.origin[f"space.{name}"] = path
        self.space_names = list(space)
        self.put("space", space, "search_space")

    def _expression(self, name: str, expr: Any, path: str) -> dict[str, Any]:
        e = self.mapping(expr, path)
        kind = e.get("type")
        if kind not in EXPRESSIONS:
            raise self.refuse(
                f"{path}.type",
                f"unknown expression {short(kind)}; Azure's are {', '.join(EXPRESSIONS)}",
            )
        need = EXPRESSIONS[str(kind)]
        for k in e:
            if k != "type" and k not in need:
                self.unknown(path, str(k), ["type", *need])
        missing = [k for k in need if k not in e]
        if missing:
            raise self.refuse(path, f"{kind} needs {', '.join(missing)}")
        if kind == "choice":
            values = e["values"]
            if not isinstance(values, list) or not values:
                raise self.refuse(f"{path}.values", "expected a non-empty list")
            for v in values:
                if isinstance(v, str) and (v != v.strip() or any(c.isspace() for c in v)):
                    self.warn(
                        f"{path}.values",
                        f"value {v!r} holds white space: Azure's shell splits it into "
                        "several arguments, hypersweep passes it as one",
                    )
            return {"type": "choice", "values": values}
        if kind == "randint":
            upper = self.integer(e["upper"], f"{path}.upper", minimum=1)
            self.note(f"{path}: randint(upper={upper}) -> int from 0 to {upper - 1}")
            return {"type": "int", "low": 0, "high": upper - 1}
        if kind in ("uniform", "quniform"):
            lo = self.number(e["min_value"], f"{path}.min_value")
            hi = self.number(e["max_value"], f"{path}.max_value")
            out: dict[str, Any] = {"type": kind, "low": lo, "high": hi}
            if kind == "quniform":
                out.update(self._quantized(lo, hi, self.number(e["q"], f"{path}.q"), path))
            return out
        if kind in ("loguniform", "qloguniform"):
            lo = self.number(e["min_value"], f"{path}.min_value")
            hi = self.number(e["max_value"], f"{path}.max_value")
            out = {"type": kind, "low": math.exp(lo), "high": math.exp(hi)}
            if kind == "qloguniform":
                q = self.number(e["q"], f"{path}.q")
                out.update(self._quantized(out["low"], out["high"], q, path, log=True))
            self.note(
                f"{path}: {kind} min_value/max_value are exponents -> "
                f"low=exp({lo:g})={out['low']:.6g}, high=exp({hi:g})={out['high']:.6g}"
            )
            return out
        mu = self.number(e["mu"], f"{path}.mu")
        sigma = self.number(e["sigma"], f"{path}.sigma")
        out = {"type": kind, "mu": mu, "sigma": sigma}
        if "q" in e:
            out["q"] = self.number(e["q"], f"{path}.q")
        return out

    def _quantized(
        self, lo: float, hi: float, q: float, path: str, log: bool = False
    ) -> dict[str, Any]:
        """``round(x / q) * q`` of ``x`` in ``[lo, hi]`` takes the multiples of ``q`` from
        ``q * round(lo / q)`` to ``q * round(hi / q)``."""
        qlo, qhi = q * round(lo / q), q * round(hi / q)
        if log and qlo <= 0:
            self.warn(
                f"{path}.min_value", f"Azure can round values to 0; hypersweep starts at {q}"
            )
            qlo = q
        if (qlo, qhi) != (lo, hi):
            self.note(f"{path}: multiples of q={q:g} from {qlo:g} to {qhi:g}")
        return {"low": float(qlo), "high": float(qhi), "q": q}

    # --- the trial ------------------------------------------------------------------------
    def _trial(self) -> None:
        trial = self.data.get("trial")
        if isinstance(trial, str):
            raise self.refuse(
                "trial",
                f"a reference to a component file ({trial}); write the trial inline with "
                "command, code and environment",
            )
        trial = self.mapping(trial, "trial")
        for k in trial:
            if k not in TRIAL:
                hint = " (Azure's trial jobs run on the sweep's compute)" if k == "compute" else ""
                if k == "compute":
                    self.warn("trial.compute", "not used (trials run on this machine)")
                    continue
                self.unknown("trial", str(k), list(TRIAL), hint)
        if "environment" in trial:
            env = trial["environment"]
            shown = env if isinstance(env, str) else "an inline environment"
            self.warn(
                "trial.environment",
                f"not used: trials run in the current environment, not {short(shown)}",
            )
        if "distribution" in trial:
            self.refuse(
                "trial.distribution",
                "distributed trials (mpi/pytorch/tensorflow launchers) are not translated; "
                "launch the workers from the command (torchrun ...) or drop the key",
            )
        res = trial.get("resources")
        if isinstance(res, Mapping):
            n = res.get("instance_count", 1)
            if n != 1:
                self.refuse(
                    "trial.resources.instance_count", f"{n} nodes per trial; one runs here"
                )
            elif set(res) - {"instance_count"}:
                self.warn("trial.resources", "not used (trials run on this machine)")
        self.attempt(self._code, trial.get("code"))
        envvars = trial.get("environment_variables")
        if envvars is not None:
            env_map = self.mapping(envvars, "trial.environment_variables")
            self.put(
                "env", {str(k): str(v) for k, v in env_map.items()}, "trial.environment_variables"
            )
        self.attempt(self._command, trial.get("command"))

    def _code(self, code: Any) -> None:
        if code is None:
            return
        path = "trial.code"
        if isinstance(code, Mapping):
            key = "local_path" if "local_path" in code else "directory"
            code = code.get(key)
            path = f"trial.code.{key}"
        where = self.string(code, path)
        if where.startswith(_REMOTE) or where.startswith(_URL):
            raise self.refuse(
                path, f"{where!r} is not a local directory; check it out and give its path"
            )
        d = (self.base / where).resolve()
        if not d.is_dir():
            raise self.refuse(path, f"directory {str(d)!r} does not exist")
        self.put("workdir", str(d), path)
        self.note(f"{path}: {where} -> workdir (trials run there; nothing is uploaded)")

    def _command(self, raw: Any) -> None:
        path = "trial.command"
        text = self.string(raw, path)
        refs: dict[str, str] = {}  # sentinel -> native item text
        used: set[str] = set()

        def legacy(m: re.Match[str]) -> str:
            self.warn(
                path, f"legacy placeholder {m.group(0)} read as ${{{{{m.group(1)}.{m.group(2)}}}}}"
            )
            return "${{" + m.group(1) + "." + m.group(2) + "}}"

        text = _LEGACY.sub(legacy, text)

        def sub(m: re.Match[str]) -> str:
            expr = m.group(1)
            ctx, _, name = expr.partition(".")
            if ctx == "search_space" and name in self.space_names:
                used.add(name)
                key = f"\x00{len(refs)}\x00"
                refs[key] = placeholder(name)
                return key
            if ctx == "search_space":
                raise self.refuse(path, f"${{{{{expr}}}}} names no parameter of search_space")
            if ctx == "inputs":
                return self._input(name)
            if ctx == "outputs":
                raise self.refuse(
                    f"outputs.{name}",
                    f"${{{{outputs.{name}}}}}: Azure makes a fresh output folder per trial; "
                    "not translated: write a path into the command",
                )
            raise self.refuse(
                path, f"${{{{{expr}}}}} is not translated (only search_space.* and inputs.*)"
            )

        shell = _SHELL.search(_EXPR.sub("x", text))
        if shell:
            raise self.refuse(
                path,
                f"uses the shell ({shell.group(0)!r}); hypersweep runs the command "
                "without a shell: keep one program and its arguments (install packages "
                "beforehand)",
            )
        text = _EXPR.sub(sub, text)
        if "${{" in text:
            raise self.refuse(path, "a ${{...}} expression hypersweep cannot read")
        try:
            words = shlex.split(text)
        except ValueError as e:
            raise self.refuse(path, f"cannot split it into arguments: {e}") from None
        argv = []
        for w in words:
            parts = re.split("(\x00\\d+\x00)", w)
            argv.append("".join(refs[p] if p in refs else literal_item(p) for p in parts))
        self.put("command", argv, path)
        self.put("params_as", "env", path)
        for name in self.space_names:
            if name not in used:
                self.warn(
                    f"search_space.{name}",
                    f"not in trial.command: Azure passes it as AZUREML_SWEEP_{name}, "
                    f"hypersweep as HYPERSWEEP_PARAM_{name.upper()} (and HYPERSWEEP_PARAMS)",
                )
        self.note(f"trial.command -> command: {' '.join(argv)}")
        for name in self.data.get("outputs") or {}:
            self.warn(f"outputs.{name}", "not used (no Azure output folders here)")
        for name in self.data.get("inputs") or {}:
            if name not in self.inputs_used:
                self.warn(f"inputs.{name}", "not used by trial.command; ignored")

    def _input(self, name: str) -> str:
        inputs = self.data.get("inputs") or {}
        path = f"inputs.{name}"
        if name not in inputs:
            raise self.refuse("trial.command", f"${{{{inputs.{name}}}}} names no input")
        self.inputs_used.add(name)
        v = inputs[name]
        if isinstance(v, bool):
            return "True" if v else "False"  # as Azure writes a YAML boolean
        if isinstance(v, (int, float, str)):
            self.note(f"{path}: {v!r} written into the command")
            return str(v)
        spec = self.mapping(v, path)
        where = spec.get("path", spec.get("file", spec.get("folder")))
        if not isinstance(where, str):
            raise self.refuse(path, "a data input without a path")
        if where.startswith(_REMOTE):
            raise self.refuse(
                f"{path}.path",
                f"{where!r} is Azure storage or a registered asset, not readable here: "
                "download it and give a local path (path: ./data/...)",
            )
        if where.startswith(_URL):
            if spec.get("mode") != "direct":
                self.warn(
                    f"{path}.path",
                    "the URL is passed to the script as written; Azure would pass a "
                    "downloaded or mounted local copy",
                )
            return shlex.quote(where)
        local = (self.base / os.path.expanduser(where)).resolve()
        if not local.exists():
            raise self.refuse(f"{path}.path", f"{str(local)!r} does not exist")
        self.note(f"{path}: {where} -> {local}")
        return shlex.quote(str(local))

    # --- objective, sampler, early termination, limits --------------------------------------
    def _objective(self) -> None:
        o = self.mapping(self.data.get("objective"), "objective")
        for k in o:
            if k not in ("primary_metric", "goal"):
                self.unknown("objective", str(k), ["primary_metric", "goal"])
        metric = self.string(o.get("primary_metric"), "objective.primary_metric")
        goal = str(o.get("goal", "")).lower()
        if goal not in ("minimize", "maximize"):
            raise self.refuse(
                "objective.goal", f"expected maximize or minimize, got {short(o.get('goal'))}"
            )
        self.put("objective", {"metric": metric, "goal": goal}, "objective")
        self.t.origin["objective.metric"] = "objective.primary_metric"
        self.t.origin["objective.goal"] = "objective.goal"

    def _sampling(self) -> None:
        v = self.data.get("sampling_algorithm")
        path = "sampling_algorithm"
        if v is None:
            raise self.refuse(path, "missing; random, grid or bayesian")
        cfg = {"type": v} if isinstance(v, str) else dict(self.mapping(v, path))
        kind = str(cfg.get("type", "")).lower()
        out: dict[str, Any]
        if kind == "random":
            for k in cfg:
                if k not in ("type", "seed", "rule"):
                    self.unknown(path, str(k), ["type", "seed", "rule"])
            rule = str(cfg.get("rule", "random")).lower()
            if rule not in ("random", "sobol"):
                raise self.refuse(
                    f"{path}.rule", f"expected random or sobol, got {short(cfg['rule'])}"
                )
            out = {"name": "sobol" if rule == "sobol" else "random"}
            if cfg.get("seed") is not None:
                out["seed"] = self.integer(cfg["seed"], f"{path}.seed")
        elif kind == "grid":
            for k in cfg:
                if k != "type":
                    self.unknown(path, str(k), ["type"])
            out = {"name": "grid"}
        elif kind == "bayesian":
            for k in cfg:
                if k != "type":
                    self.unknown(path, str(k), ["type"])
            out = {"name": "gp"}
            if self.data.get("early_termination") is not None:
                self.warn(
                    "early_termination",
                    "Azure refuses early termination with bayesian sampling; "
                    "hypersweep applies it",
                )
        else:
            raise self.refuse(f"{path}", f"expected random, grid or bayesian, got {short(v)}")
        self.put("sampler", out, path)
        self.note(f"{path}: {kind} -> sampler: {out['name']}")

    def _early_termination(self) -> None:
        v = self.data.get("early_termination")
        path = "early_termination"
        if v is None:
            return
        e = self.mapping(v, path)
        kind = e.get("type", e.get("policy_type"))
        if kind not in POLICIES:
            raise self.refuse(
                f"{path}.type",
                f"expected bandit, median_stopping or truncation_selection, got {short(kind)}",
            )
        known = [*POLICY_COMMON, *POLICIES[str(kind)]]
        for k in e:
            if k not in known:
                self.unknown(path, str(k), known)
        out: dict[str, Any] = {
            "policy": {"bandit": "bandit", "median_stopping": "median"}.get(
                str(kind), "truncation"
            )
        }
        if "evaluation_interval" in e:
            out["interval"] = self.integer(
                e["evaluation_interval"], f"{path}.evaluation_interval", 1
            )
        if "delay_evaluation" in e:
            out["delay"] = self.integer(e["delay_evaluation"], f"{path}.delay_evaluation")
        for k in ("slack_factor", "slack_amount"):
            if e.get(k) is not None:
                out[k] = self.number(e[k], f"{path}.{k}")
        if kind == "truncation_selection":
            if "truncation_percentage" in e:
                out["percentage"] = self.number(
                    e["truncation_percentage"], f"{path}.truncation_percentage"
                )
            if "exclude_finished_jobs" in e:
                out["exclude_finished"] = bool(e["exclude_finished_jobs"])
        self.put("early_stopping", out, path)
        for src, dst in (
            ("evaluation_interval", "interval"),
            ("delay_evaluation", "delay"),
            ("truncation_percentage", "percentage"),
        ):
            self.t.origin[f"early_stopping.{dst}"] = f"{path}.{src}"
        self.note(
            f"{path}: {kind} -> early_stopping: {out['policy']} (intervals and delay count "
            "report steps)"
        )

    def _limits(self) -> None:
        v = self.data.get("limits")
        path = "limits"
        d = self.mapping(v, path) if v is not None else {}
        out: dict[str, Any] = {}
        for k, val in d.items():
            if k not in LIMITS:
                hint = {
                    "max_total_runs": " (the preview spelling of max_total_trials)",
                    "max_concurrent_runs": " (the preview spelling of max_concurrent_trials)",
                    "max_duration_minutes": " (the preview spelling: timeout: in seconds)",
                }.get(str(k), "")
                self.unknown(path, str(k), list(LIMITS), hint)
                continue
            out[LIMITS[str(k)]] = self.integer(val, f"{path}.{k}", 1)
            self.t.origin[f"limits.{LIMITS[str(k)]}"] = f"{path}.{k}"
        if "max_trials" not in out:
            out["max_trials"] = DEFAULT_MAX_TRIALS
            self.note(
                f"limits.max_total_trials: not given -> max_trials: {DEFAULT_MAX_TRIALS} "
                "(Azure's default)"
            )
        if "max_concurrent" not in out:
            self.note(
                "limits.max_concurrent_trials: not given (Azure: as many as the cluster "
                "allows) -> hypersweep's default"
            )
        self.put("limits", out, path)
