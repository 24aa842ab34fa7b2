"""Samplers: the algorithms that choose each next configuration.

Every sampler is registered once in :data:`REGISTRY` (name -> ``module:Class``, imported
lazily) and passes the shared suite in :mod:`hypersweep.testing.samplers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypersweep._registry import Registry
from hypersweep._validate import fail
from hypersweep.history import History
from hypersweep.samplers.base import Proposal, Sampler

__all__ = ["REGISTRY", "History", "Proposal", "Sampler", "make_sampler", "sampler_class"]

REGISTRY = Registry(
    "sampler",
    "sampler",
    "name",
    {
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
    },
)


def sampler_class(name: str) -> type[Sampler]:
    """The class registered under ``name``."""
    cls: type[Sampler] = REGISTRY.load(name)
    return cls


def make_sampler(spec: str | Mapping[str, Any] | Sampler | None) -> Sampler:
    """Build a sampler from a name, a sweep-file mapping ``{name: tpe, seed: 0, ...}``, or
    return a :class:`Sampler` instance unchanged. ``None`` means the default (``auto``
    where registered, else ``random``).
    """
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
    sampler: Sampler = REGISTRY.build(name, opts)
    return sampler
