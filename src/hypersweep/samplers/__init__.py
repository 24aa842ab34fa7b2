"""Samplers: the algorithms that choose each next configuration.

Every sampler is registered once in :data:`REGISTRY` (name -> ``module:Class``, imported
lazily) and passes the shared suite in :mod:`hypersweep.testing.samplers`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from hypersweep.errors import HypersweepError, SpecError
from hypersweep.samplers.base import History, Proposal, Sampler

__all__ = ["REGISTRY", "History", "Proposal", "Sampler", "make_sampler"]

REGISTRY: dict[str, str] = {
    "random": "hypersweep.samplers.random:RandomSampler",
    "grid": "hypersweep.samplers.grid:GridSampler",
    "sobol": "hypersweep.samplers.sobol:SobolSampler",
    "tpe": "hypersweep.samplers.tpe:TPESampler",
    "gp": "hypersweep.samplers.gp:GPSampler",
    "auto": "hypersweep.samplers.auto:AutoSampler",
    "bohb": "hypersweep.samplers.bohb:BOHBSampler",
    "anneal": "hypersweep.samplers.anneal:AnnealSampler",
    "cmaes": "hypersweep.samplers.cmaes:CMAESSampler",
    "pbt": "hypersweep.samplers.pbt:PBTSampler",
    "nsga2": "hypersweep.samplers.nsga2:NSGA2Sampler",
}


def sampler_class(name: str) -> type[Sampler]:
    """The class registered under ``name``."""
    import difflib

    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(
            f"sampler.name: unknown sampler {name!r}{hint}; known: {', '.join(REGISTRY)}"
        )
    module, attr = REGISTRY[name].split(":")
    cls: type[Sampler] = getattr(importlib.import_module(module), attr)
    return cls


def make_sampler(spec: str | Mapping[str, Any] | Sampler | None) -> Sampler:
    """Build a sampler from a name, a sweep-file mapping ``{name: tpe, seed: 0, ...}``, or
    return a :class:`Sampler` instance unchanged. ``None`` means the default (``auto``
    where registered, else ``random``).
    """
    import inspect

    if isinstance(spec, Sampler):
        return spec
    if spec is None:
        spec = "auto" if "auto" in REGISTRY else "random"
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise SpecError(f"sampler: expected a name or a mapping, got {type(spec).__name__}")
    opts = dict(spec)
    name = opts.pop("name", None)
    if not isinstance(name, str):
        raise SpecError("sampler.name: missing; e.g. sampler: {name: random, seed: 0}")
    cls = sampler_class(name)
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p != "self"]
    for k in opts:
        if k not in accepted:
            import difflib

            close = difflib.get_close_matches(k, accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(
                f"sampler.{k}: {name} has no option {k!r}{hint}; options: "
                f"{', '.join(accepted) or 'none'}"
            )
    try:
        return cls(**opts)
    except (TypeError, ValueError) as e:
        if isinstance(e, HypersweepError):  # already names the option
            raise
        raise SpecError(f"sampler: {e}") from None
