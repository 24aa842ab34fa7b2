"""Samplers: the algorithms that choose each next configuration.

Every sampler is registered once in :data:`REGISTRY` (name -> ``module:Class``, imported
lazily) and passes the shared suite in :mod:`hypersweep.testing.samplers`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from hypersweep._validate import did_you_mean, fail
from hypersweep.errors import HypersweepError
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
}


def sampler_class(name: str) -> type[Sampler]:
    """The class registered under ``name``."""
    if name not in REGISTRY:
        hint = did_you_mean(name, REGISTRY)
        raise fail("sampler.name", f"unknown sampler {name!r}{hint}; known: {', '.join(REGISTRY)}")
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
        raise fail("sampler", f"expected a name or a mapping, got {type(spec).__name__}")
    opts = dict(spec)
    name = opts.pop("name", None)
    if not isinstance(name, str):
        raise fail("sampler.name", "missing; e.g. sampler: {name: random, seed: 0}")
    cls = sampler_class(name)
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p != "self"]
    for k in opts:
        if k not in accepted:
            hint = did_you_mean(k, accepted)
            raise fail(
                f"sampler.{k}",
                f"{name} has no option {k!r}{hint}; options: {', '.join(accepted) or 'none'}",
            )
    try:
        return cls(**opts)
    except (TypeError, ValueError) as e:
        if isinstance(e, HypersweepError):  # already names the option
            raise
        raise fail("sampler", f"{e}") from None
