"""The run configuration stored with a study, so that any process can run its trials.

``hypersweep run sweep.yaml`` stores the sweep file's text and the command-line
overrides that shape the trials (seed, limits) in the study's attributes
(:data:`RUN_ATTR`). ``hypersweep worker --storage URL --study NAME`` reads them back and
builds the same study and runner (:func:`spec_from_study`): the command template,
``params_as``, metrics, limits, early stopping, ``env`` (values included: keep secrets
out of sweep files) and resources all come from the storage; only the code the trials run
must be on the worker's machine. Relative paths (``workdir``, ``function: file.py:f``,
``python train.py``) resolve against the sweep file's directory when it exists on this
machine, else against ``--dir`` (default: the current directory).

It also fits a study's declared resources to the devices of this process
(:func:`fit_resources`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypersweep.errors import HypersweepError
from hypersweep.resources import GpuPool, fit_concurrency, visible_devices

if TYPE_CHECKING:
    from hypersweep.spec.build import Overrides
    from hypersweep.spec.model import SweepSpec

__all__ = ["RUN_ATTR", "fit_resources", "run_config", "spec_from_study"]


#: the study attribute that holds the run configuration
RUN_ATTR = "run_config"
_VERSION = 1
_KEPT = ("seed", "max_trials", "max_concurrent", "timeout")


def run_config(spec: SweepSpec, overrides: Overrides | None) -> dict[str, Any]:
    """The JSON-ready run configuration of ``spec`` (see the module docstring)."""
    kept = {k: getattr(overrides, k) for k in _KEPT if overrides is not None}
    return {
        "version": _VERSION,
        "text": spec.text,
        "file": Path(spec.file).name,
        "base_dir": str(spec.base_dir),
        "overrides": {k: v for k, v in kept.items() if v is not None},
    }


def spec_from_study(
    attrs: Mapping[str, Any], study: str, base_dir: str | os.PathLike[str] | None = None
) -> tuple[SweepSpec, dict[str, Any]]:
    """The sweep spec and stored overrides of a study, from its attributes.

    ``base_dir``: where relative paths resolve (default: the stored sweep directory
    when it exists here, else the current directory).

    Raises:
        HypersweepError: the study holds no run configuration (one line with the fix).
    """
    from hypersweep.spec import load_text

    cfg = attrs.get(RUN_ATTR)
    if not isinstance(cfg, Mapping) or not isinstance(cfg.get("text"), str):
        raise HypersweepError(
            f"study {study!r} holds no run configuration (it was not started by "
            "'hypersweep run' of this version); start it once with 'hypersweep run "
            "sweep.yaml', then workers can join it"
        )
    if cfg.get("version") != _VERSION:
        raise HypersweepError(
            f"study {study!r}: run configuration version {cfg.get('version')!r} is not "
            f"{_VERSION}; run the same hypersweep version on every machine"
        )
    if base_dir is None:
        stored = str(cfg.get("base_dir") or "")
        base_dir = stored if stored and os.path.isdir(stored) else os.getcwd()
    spec = load_text(cfg["text"], str(cfg.get("file") or "sweep.yaml"), base_dir=base_dir)
    over = cfg.get("overrides")
    return spec, dict(over) if isinstance(over, Mapping) else {}


def fit_resources(
    spec: SweepSpec, devices: Sequence[str] | None
) -> tuple[SweepSpec, GpuPool | None]:
    """``spec`` with ``max_concurrent`` fitted to its resources on ``devices`` (default:
    the visible ones), and the pool that hands the devices out.

    Without ``limits.max_concurrent`` the concurrency follows from the resources; with
    it, it is capped at what fits (with a warning).

    Raises:
        SpecError: the trials need GPUs and this process has none (or too few).
    """
    res = spec.resources
    if res is None:
        return spec, None
    devs = list(visible_devices() if devices is None else devices)
    want = fit_concurrency(
        res, devs, spec.limits.max_concurrent if spec.concurrent_given else None
    )
    lim = dataclasses.replace(spec.limits, max_concurrent=want)
    return dataclasses.replace(spec, limits=lim), GpuPool(devs)
