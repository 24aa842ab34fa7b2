"""Build the Study and Runner a SweepSpec describes (the objects the Python API uses)."""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypersweep._validate import did_you_mean, fail
from hypersweep.errors import HypersweepError, SpaceError, SpecError

if TYPE_CHECKING:
    from hypersweep.execution.base import Executor
    from hypersweep.execution.runner import Progress, Runner
    from hypersweep.study import Study
    from hypersweep.trial import Trial
from hypersweep.spec.model import FUNCTION_RE, Locator, SweepSpec


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
        gpus: the GPU devices this process hands to trials (``--gpus``); ``None``: the
            devices visible to it (:func:`~hypersweep.resources.visible_devices`).
    """

    name: str | None = None
    storage: str | None = None
    seed: int | None = None
    max_trials: int | None = None
    max_concurrent: int | None = None
    timeout: float | None = None
    extend_space: bool = False
    gpus: tuple[str, ...] | None = None


def resolve_function(ref: str, base_dir: Path) -> Callable[..., Any]:
    """Import the callable named by ``"module:attr"`` or ``"path/file.py:attr"``.

    The module's directory (the sweep file's directory for ``module:attr``) is put first
    on ``sys.path``, so worker processes (which inherit ``sys.path``) import it too.

    Raises:
        HypersweepError: it cannot be imported or is not callable.
    """
    m = FUNCTION_RE.match(ref)
    if not m:
        raise fail("function", f"expected 'module:attr' or 'path/file.py:attr', got {ref!r}")
    target, attr = m.group("target"), m.group("attr")
    if target.endswith(".py") or "/" in target or os.sep in target:
        file = (base_dir / target).resolve()
        if not file.is_file():
            raise fail("function", f"file {str(file)!r} does not exist")
        directory, module_name = str(file.parent), file.stem
    else:
        directory, module_name = str(base_dir), target
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise fail("function", f"cannot import {module_name!r}: {e}") from None
    except Exception as e:
        raise fail(
            "function", f"importing {module_name!r} failed: {type(e).__name__}: {e}"
        ) from None
    if target.endswith(".py"):
        loaded = Path(getattr(module, "__file__", "") or "").resolve()
        if loaded != (base_dir / target).resolve():
            raise fail(
                "function",
                f"the module name {module_name!r} is taken by {str(loaded)!r}; rename the file",
            )
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(module) if not n.startswith("_")]
            raise fail(
                "function",
                f"{module_name!r} has no attribute {part!r}{did_you_mean(part, names)}",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise fail("function", f"{ref!r} is not callable")
    return obj


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
        concurrent_given=spec.concurrent_given or o.max_concurrent is not None,
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
    pool = None
    on_ray = spec.executor is not None and spec.executor.kind == "ray"
    if spec.resources is not None and not on_ray:  # on Ray, the cluster places trials
        from hypersweep.spec.stored import fit_resources

        spec, pool = fit_resources(spec, overrides.gpus if overrides is not None else None)
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
    if pool is not None and spec.resources is not None:
        from hypersweep.execution.devices import DeviceExecutor

        executor = DeviceExecutor(executor, spec.resources, pool)
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
        raise Locator(spec.file, spec.lines).wrap(e, "space") from None
    except SpecError as e:
        raise Locator(spec.file, spec.lines).wrap(e, "name") from None
    study.set_attrs(sweep=spec.sweep_attrs())
    if spec.warm_start is not None:  # enqueue the source's best, or set the prior block
        study.warm_start(**spec.warm_start)
    if spec.text:  # what ``hypersweep worker`` runs the study's trials from
        from hypersweep.spec.stored import RUN_ATTR, run_config

        study.set_attrs(**{RUN_ATTR: run_config(spec, overrides)})
    runner = Runner(study, executor, spec.limits, callbacks=callbacks, progress=progress)
    return study, runner


def _executor(spec: SweepSpec) -> Executor:
    where = spec.executor
    if where is not None and where.kind == "ray":
        return _ray_executor(spec)
    return _local_executor(spec)


def _ray_executor(spec: SweepSpec) -> Executor:
    """``executor: {ray: ...}``: each trial runs on the cluster in a one-trial local
    executor (the same function / command set-up as a local run), built on its node from
    plain, picklable arguments."""
    from functools import partial

    from hypersweep.execution.ray import RayExecutor

    where = spec.executor
    cls, args, kwargs = _local_parts(spec, 1, "process")
    cls(*args, **kwargs).close()  # its checks run here, before any trial is sent
    init = {} if where.namespace is None else {"namespace": where.namespace}
    return RayExecutor(
        partial(cls, *args, **kwargs),
        address=where.address,
        max_concurrent=spec.limits.max_concurrent,
        resources=spec.resources,  # the per-trial ``resources:`` key
        init=init,
    )


def _local_executor(spec: SweepSpec) -> Executor:
    cls, args, kwargs = _local_parts(spec, spec.limits.max_concurrent, "auto")
    built: Executor = cls(*args, **kwargs)
    return built


def _local_parts(
    spec: SweepSpec, max_concurrent: int, isolation: str
) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """(executor class, args, keyword args) of the local executor the spec describes,
    its arguments checked (a bad one raises, located in the file)."""
    lim = spec.limits
    if spec.function is not None:
        from hypersweep.execution.function import FunctionExecutor

        try:
            fn = resolve_function(spec.function, spec.base_dir)
        except HypersweepError as e:
            raise Locator(spec.file, spec.lines).wrap(e, "function") from None
        return (
            FunctionExecutor,
            (fn,),
            {
                "max_concurrent": max_concurrent,
                "isolation": isolation,
                "trial_timeout": lim.trial_timeout,
                "grace": spec.grace,
                "study_name": spec.name,
                "delivery": spec.space.delivery(),
            },
        )
    from hypersweep.execution.command import CommandExecutor

    command = spec.command if isinstance(spec.command, str) else list(spec.command or ())
    kwargs: dict[str, Any] = {
        "study_name": spec.name or "",
        "metrics": [o.metric for o in spec.objectives] + [c.metric for c in spec.constraints],
        "required": [o.metric for o in spec.objectives],
        "metrics_config": spec.metrics_config,
        "per_trial": spec.per_trial,
        "delivery": spec.space.delivery(),
        "reduce": spec.reduce,
        "params_as": spec.params_as,
        "max_concurrent": max_concurrent,
        "trial_timeout": lim.trial_timeout,
        "grace": spec.grace,
        "workdir": str(spec.workdir),
        "env": dict(spec.env),
    }
    try:
        CommandExecutor(command, **kwargs).close()  # the template and program checks
    except HypersweepError as e:
        raise Locator(spec.file, spec.lines).wrap(e, "command") from None
    return CommandExecutor, (command,), kwargs
