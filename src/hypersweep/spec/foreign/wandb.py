"""W&B sweep config (``wandb sweep sweep.yaml``) -> the native sweep-file mapping.

The mapping is documented in ``docs/foreign.md``. The trial's argv is built the way the W&B
agent builds it: the ``command`` list (default ``${env} ${interpreter} ${program}
${args}``) with its macros expanded, parameters in name order, values written as W&B
writes them (``str()`` of the value: booleans ``True``/``False``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any

from hypersweep._validate import STUDY_NAME, is_number, short
from hypersweep.spec.foreign._common import Translator, literal_item, placeholder

__all__ = ["WandbTranslator", "hyperband_rungs"]

TOP = (
    "program",
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "command",
    "run_cap",
    "name",
    "description",
    "project",
    "entity",
    "controller",
)
IGNORED_TOP = {
    "description": "kept nowhere",
    "project": "W&B project; nothing is sent to W&B",
    "entity": "W&B entity; nothing is sent to W&B",
    "controller": "hypersweep's own loop chooses the runs, always locally",
}
REFUSED_TOP = {
    "job": "a W&B Launch job reference; hypersweep runs a local program: give program:",
    "scheduler": "a W&B Launch sweep scheduler; hypersweep chooses the runs itself: drop it "
    "and give method:",
    "tune": "a Ray Tune search config (W&B's tune integration); write method: and "
    "parameters: instead",
    "imports": "W&B Launch imports are not translated",
}
METHODS = {"grid": "grid", "random": "random", "bayes": "gp"}
DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
ARGS_MACROS = ("${args}", "${args_no_hyphens}", "${args_no_boolean_flags}")
PARAM_KEYS = (
    "distribution",
    "values",
    "value",
    "probabilities",
    "min",
    "max",
    "mu",
    "sigma",
    "q",
    "a",
    "b",
    "parameters",
)
DISTRIBUTIONS = (
    "constant",
    "categorical",
    "int_uniform",
    "uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
    "q_log_uniform",
    "q_log_uniform_values",
    "inv_log_uniform",
    "inv_log_uniform_values",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
    "beta",
    "q_beta",
)
HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")
_ENVVAR = re.compile(r"^\$\{envvar:([A-Za-z_][A-Za-z0-9_]*)\}$")
_JSON_SAFE = re.compile(r"^[ !#-\[\]-~]*$")  # printable ASCII without " and \


def hyperband_rungs(et: Mapping[str, Any]) -> list[int]:
    """W&B's hyperband bands (the steps at which runs are judged).

    With ``max_iter`` the bands are ``int(max_iter / eta**k)`` for ``k = 1 .. s`` (while
    ``>= 1``), sorted: ``max_iter`` itself is the top, not a band and not a cap. With
    ``min_iter`` they are ``int(min_iter * eta**k)``, ``k = 0, 1, ...``, without end
    (listed up to a billion steps).

    Example:
        >>> hyperband_rungs({"max_iter": 27, "s": 2, "eta": 3})
        [3, 9]
        >>> hyperband_rungs({"max_iter": 10, "s": 2, "eta": 3})
        [1, 3]
        >>> hyperband_rungs({"min_iter": 3})[:5]
        [3, 9, 27, 81, 243]
    """
    eta = et.get("eta", 3)
    if "max_iter" in et:
        band = float(et["max_iter"])
        bands: list[int] = []
        for _ in range(int(et["s"])):
            band /= eta
            if band < 1:
                break
            bands.append(int(band))
        return sorted(set(bands))
    out: list[int] = []
    b = float(et["min_iter"])
    while b < 1e9 and len(out) < 100:
        if int(b) not in out and int(b) >= 1:
            out.append(int(b))
        b *= eta
    return out


class WandbTranslator(Translator):
    source = "W&B sweep config"

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self.params: dict[str, Any] = {}
        self.kinds: dict[str, set[str]] = {}  # top-level parameter -> kinds of its values

    def translate(self) -> None:
        d = self.data
        launch = [str(k) for k in d if k in REFUSED_TOP]
        if launch:  # not a sweep of a local program: say so, once per key, and stop
            for key in launch:
                self.refuse(key, REFUSED_TOP[key])
            return
        for k in d:
            key = str(k)
            if key not in TOP:
                self.unknown("", key, list(TOP))
            elif key in IGNORED_TOP:
                self.warn(key, f"not used ({IGNORED_TOP[key]})")
        if isinstance(d.get("name"), str) and STUDY_NAME.fullmatch(d["name"]):
            self.put("name", d["name"], "name")
            self.note(f"name: {d['name']} -> name (the study; re-running resumes it)")
        elif "name" in d:
            self.warn("name", f"{short(d['name'])} is not a study name; give --name")
        self.attempt(self._parameters)
        self.attempt(self._metric)
        self.attempt(self._method)
        self.attempt(self._early_terminate)
        self.attempt(self._command)
        if "run_cap" in d:
            cap = self.attempt(self.integer, d["run_cap"], "run_cap", 1)
            if cap is not None:
                self.put("limits.max_trials", cap, "run_cap")
                self.note(f"run_cap: {cap} -> limits.max_trials")

    # --- parameters -----------------------------------------------------------------------
    def _parameters(self) -> None:
        p = self.data.get("parameters")
        if p is None:
            raise self.refuse("parameters", "missing; the parameters to sweep")
        p = self.mapping(p, "parameters")
        space: dict[str, Any] = {}
        for name, spec in p.items():
            path = f"parameters.{name}"
            kinds: set[str] = set()
            native = self.attempt(self._param, str(name), spec, path, kinds)
            if native is not None:
                space[str(name)] = native
                self.kinds[str(name)] = kinds
                self.t.origin[f"space.{name}"] = path
        self.params = space
        self.put("space", space, "parameters")

    def _param(self, name: str, spec: Any, path: str, kinds: set[str]) -> dict[str, Any]:
        s = self.mapping(spec, path)
        for k in s:
            if k not in PARAM_KEYS:
                self.unknown(path, str(k), list(PARAM_KEYS))
        if "parameters" in s:
            sub = self.mapping(s["parameters"], f"{path}.parameters")
            kinds.add("dict")
            params = {}
            for n, v in sub.items():
                r = self.attempt(self._param, str(n), v, f"{path}.parameters.{n}", set())
                if r is not None:
                    params[str(n)] = r
            self.note(f"{path}: nested parameters -> a group, delivered as one JSON object")
            return {"type": "group", "params": params}
        dist = s.get("distribution")
        if dist is None:
            if "values" in s:
                dist = "categorical"
            elif "value" in s:
                dist = "constant"
            elif "min" in s and "max" in s:
                ints = all(
                    isinstance(s[k], int) and not isinstance(s[k], bool) for k in ("min", "max")
                )
                dist = "int_uniform" if ints else "uniform"
            else:
                raise self.refuse(path, "needs values, value, min/max or a distribution")
        if dist not in DISTRIBUTIONS:
            raise self.refuse(
                f"{path}.distribution",
                f"unknown distribution {short(dist)}; W&B's are {', '.join(DISTRIBUTIONS)}",
            )
        if dist == "constant":
            v = s.get("value")
            kinds.add(_kind(v))
            return {"type": "fixed", "value": v}
        if dist == "categorical":
            values = s.get("values")
            if not isinstance(values, list) or not values:
                raise self.refuse(f"{path}.values", "expected a non-empty list")
            kinds.update(_kind(v) for v in values)
            out: dict[str, Any] = {"type": "choice", "values": list(values)}
            if "probabilities" in s:
                w = s["probabilities"]
                if not isinstance(w, list) or len(w) != len(values):
                    raise self.refuse(
                        f"{path}.probabilities", "expected one probability per value"
                    )
                out["weights"] = w
            return out
        if dist.startswith("q_") and dist != "q_beta":
            kinds.add("int" if isinstance(s.get("q", 1.0), int) else "float")
        else:
            kinds.add("int" if dist == "int_uniform" else "float")
        if dist in ("normal", "q_normal", "log_normal", "q_log_normal"):
            mu = self.number(s.get("mu", 0), f"{path}.mu")
            sigma = self.number(s.get("sigma", 1), f"{path}.sigma")
            kind = {"normal": "normal", "q_normal": "qnormal", "log_normal": "lognormal"}.get(
                dist, "qlognormal"
            )
            out = {"type": kind, "mu": mu, "sigma": sigma}
            if dist.startswith("q_"):
                q = s.get("q", 1.0)
                if isinstance(q, int) and not isinstance(q, bool):
                    raise self.refuse(
                        f"{path}.q",
                        f"{dist} with an integer q gives integers in W&B; hypersweep's "
                        f"{kind} gives floats (3.0): write q: {float(q)} to accept floats",
                    )
                out["q"] = self.number(q, f"{path}.q")
            return out
        if dist in ("beta", "q_beta"):
            out = {
                "type": "beta",
                "alpha": self.number(s.get("a", 1), f"{path}.a"),
                "beta": self.number(s.get("b", 1), f"{path}.b"),
            }
            if dist == "q_beta":
                out["step"] = self.number(s.get("q", 1.0), f"{path}.q")
            return out
        lo = self.number(s.get("min"), f"{path}.min") if "min" in s else None
        hi = self.number(s.get("max"), f"{path}.max") if "max" in s else None
        if lo is None or hi is None:
            raise self.refuse(path, f"{dist} needs min and max")
        if dist == "int_uniform":
            return {"type": "int", "low": lo, "high": hi}
        if dist == "uniform":
            return {"type": "uniform", "low": lo, "high": hi}
        if dist in ("log_uniform", "q_log_uniform", "inv_log_uniform"):
            elo, ehi = (
                (math.exp(lo), math.exp(hi))
                if dist != "inv_log_uniform"
                else (math.exp(-hi), math.exp(-lo))
            )
            self.note(
                f"{path}: {dist} min/max are exponents (e^{lo:g} .. e^{hi:g}) -> "
                f"loguniform from {elo:.6g} to {ehi:.6g}"
                + (" (1/x log-uniform is x log-uniform)" if dist.startswith("inv") else "")
            )
            lo, hi = elo, ehi
        if dist in (
            "log_uniform",
            "log_uniform_values",
            "inv_log_uniform",
            "inv_log_uniform_values",
        ):
            return {"type": "loguniform", "low": lo, "high": hi}
        q = s.get("q", 1.0)
        self.number(q, f"{path}.q")
        qlo, qhi = q * round(lo / q), q * round(hi / q)
        log = dist.startswith("q_log")
        if log and qlo <= 0:
            self.warn(f"{path}.min", f"W&B can round values to 0; hypersweep starts at {q}")
            qlo = q
        if isinstance(q, int) and not isinstance(q, bool):
            out = {"type": "int", "low": int(qlo), "high": int(qhi), "step": q}
            if log:
                out["log"] = True
            return out
        return {"type": "qloguniform" if log else "quniform", "low": qlo, "high": qhi, "q": q}

    # --- metric, method, early termination ------------------------------------------------
    def _metric(self) -> None:
        m = self.data.get("metric")
        if m is None:
            raise self.refuse(
                "metric",
                "missing; W&B runs grid and random sweeps without one, but hypersweep "
                "ranks trials by a metric: add metric: {name: ..., goal: minimize}",
            )
        m = self.mapping(m, "metric")
        for k in m:
            if k not in ("name", "goal", "target"):
                self.unknown("metric", str(k), ["name", "goal", "target"])
        name = self.string(m.get("name"), "metric.name")
        goal = m.get("goal", "minimize")
        if goal not in ("minimize", "maximize"):
            raise self.refuse("metric.goal", f"expected minimize or maximize, got {short(goal)}")
        self.put("objective", {"metric": name, "goal": goal}, "metric")
        self.t.origin["objective.metric"] = "metric.name"
        if "goal" not in m:
            self.note("metric.goal: not given -> minimize (W&B's default)")
        if "target" in m:
            self.put("limits.target", self.number(m["target"], "metric.target"), "metric.target")
            self.note("metric.target -> limits.target (no new trials once a trial reaches it)")

    def _method(self) -> None:
        m = self.data.get("method")
        if m not in METHODS:
            raise self.refuse("method", f"expected grid, random or bayes, got {short(m)}")
        self.put("sampler", {"name": METHODS[m]}, "method")
        self.note(f"method: {m} -> sampler: {METHODS[m]}")

    def _early_terminate(self) -> None:
        et = self.data.get("early_terminate")
        path = "early_terminate"
        if et is None:
            return
        et = self.mapping(et, path)
        if et.get("type") != "hyperband":
            raise self.refuse(f"{path}.type", f"expected hyperband, got {short(et.get('type'))}")
        for k in et:
            if k not in HYPERBAND_KEYS:
                self.unknown(path, str(k), list(HYPERBAND_KEYS))
        if et.get("strict"):
            raise self.refuse(
                f"{path}.strict", "W&B's strict mode is not translated; drop it (or strict: false)"
            )
        eta = et.get("eta", 3)
        if not is_number(eta) or eta <= 1:
            raise self.refuse(f"{path}.eta", f"expected a number > 1, got {short(eta)}")
        if "max_iter" in et:
            self.integer(et["max_iter"], f"{path}.max_iter", 1)
            if "s" not in et:
                raise self.refuse(
                    f"{path}.s", "missing; W&B needs s (the number of bands) with max_iter"
                )
            self.integer(et["s"], f"{path}.s", 1)
        elif "min_iter" in et:
            self.number(et["min_iter"], f"{path}.min_iter")
        else:
            raise self.refuse(path, "hyperband needs min_iter or max_iter")
        rungs = hyperband_rungs(et)
        if not rungs:
            raise self.refuse(
                path, "no band at or above 1: raise max_iter or min_iter, or lower s"
            )
        out: dict[str, Any] = {"policy": "asha", "reduction_factor": eta, "rungs": rungs}
        shown = (
            f"rungs at steps {rungs}"
            if len(rungs) < 6
            else (f"rungs at steps {rungs[:4]}... without end")
        )
        self.put("early_stopping", out, path)
        self.t.origin["early_stopping.rungs"] = f"{path}.max_iter"
        self.note(
            f"{path}: hyperband -> early_stopping: asha, {shown}; max_iter is the top, not a "
            "cap (steps count from 0, each rung judged once when a trial reaches it)"
        )

    # --- the command ----------------------------------------------------------------------
    def _command(self) -> None:
        cmd = self.data.get("command", DEFAULT_COMMAND)
        if not isinstance(cmd, list) or not cmd:
            raise self.refuse("command", "expected a list of arguments and macros")
        names = sorted(self.params)
        macros = {str(c) for c in cmd}
        as_args = bool(macros & set(ARGS_MACROS))
        as_json = "${args_json}" in macros
        bools = [n for n in names if self.kinds.get(n, set()) & {"bool", "none"}]
        if as_args and as_json and bools:
            raise self.refuse(
                "command",
                f"{bools[0]} is a boolean used by both ${{args}} (True) and ${{args_json}} (true)",
            )
        if as_args:
            self._stringify(bools)
        argv: list[str] = []
        for i, item in enumerate(cmd):
            path = f"command[{i}]"
            if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                raise self.refuse(path, f"expected a string, got {short(item)}")
            item = str(item)
            if item == "${env}":
                argv.append("/usr/bin/env")
            elif item == "${interpreter}":
                argv.append("python")
            elif item == "${program}":
                argv.append(literal_item(self.string(self.data.get("program"), "program")))
            elif item in ("${args}", "${args_no_boolean_flags}"):
                if item == "${args_no_boolean_flags}" and bools:
                    raise self.refuse(
                        path,
                        f"${{args_no_boolean_flags}} leaves out false flags ({bools[0]}); "
                        "hypersweep cannot drop an argument: use ${args}",
                    )
                argv.extend(f"--{literal_item(n)}={placeholder(n)}" for n in names)
            elif item == "${args_no_hyphens}":
                argv.extend(f"{literal_item(n)}={placeholder(n)}" for n in names)
            elif item == "${args_json}":
                argv.append(self._json_item(names, path))
            elif item == "${args_json_file}":
                raise self.refuse(
                    path,
                    "${args_json_file} is not translated yet; use ${args_json}, or read "
                    "the JSON file named by HYPERSWEEP_PARAMS_FILE (params_as: json)",
                )
            elif _ENVVAR.match(item):
                var = _ENVVAR.match(item).group(1)  # type: ignore[union-attr]
                if var not in os.environ:
                    raise self.refuse(path, f"{item}: the environment variable {var} is not set")
                argv.append(literal_item(os.environ[var]))
                self.note(f"{path}: {item} -> {os.environ[var]!r} (read now, at load)")
            elif "${" in item:
                raise self.refuse(path, f"unknown macro in {item!r}")
            else:
                argv.append(literal_item(item))
        self.put("command", argv, "command")
        self.put("params_as", "env", "command")
        if not as_args and not as_json:
            self.warn(
                "command",
                "passes no ${args}: W&B hands the parameters to the script through "
                "wandb.config; here they arrive as HYPERSWEEP_PARAMS (JSON) and "
                "HYPERSWEEP_PARAM_* environment variables",
            )
        for n in names:
            if self.kinds.get(n, set()) & {"list", "dict"} and (as_args or as_json):
                self.warn(
                    f"parameters.{n}",
                    "lists and mappings reach the script as compact JSON "
                    "([1,2], {\"lr\":0.1}); W&B wrote Python's repr ([1, 2], {'lr': 0.1})",
                )
        self.note("command -> command: " + " ".join(argv))

    def _stringify(self, names: list[str]) -> None:
        """Booleans (and null) as W&B writes them on a command line: ``True``, ``None``."""
        for n in names:
            p = self.params[n]
            if p.get("type") == "choice":
                p["values"] = [_wandb_text(v) for v in p["values"]]
            elif p.get("type") == "fixed":
                p["value"] = _wandb_text(p["value"])
            self.note(f"parameters.{n}: booleans -> the strings True/False, as W&B writes them")

    def _json_item(self, names: list[str], path: str) -> str:
        parts = []
        for i, n in enumerate(names):
            kinds = self.kinds.get(n, set())
            sep = ", " if i else ""
            if kinds <= {"str"} and kinds:
                values = self.params[n].get("values", [self.params[n].get("value")])
                bad = [v for v in values if not _JSON_SAFE.match(str(v))]
                if bad:
                    raise self.refuse(
                        path, f"${{args_json}}: value {bad[0]!r} of {n} needs JSON escapes"
                    )
                parts.append(literal_item(f'{sep}"{n}": "') + placeholder(n) + literal_item('"'))
            elif "str" in kinds:
                raise self.refuse(path, f"${{args_json}}: {n} mixes strings and other values")
            else:
                parts.append(literal_item(f'{sep}"{n}": ') + placeholder(n))
            if not _JSON_SAFE.match(n):
                raise self.refuse(path, f"${{args_json}}: the name {n!r} needs JSON escapes")
        return literal_item("{") + "".join(parts) + literal_item("}")


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if v is None:
        return "none"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "list"
    return "dict"


def _wandb_text(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return str(v)
    return v
