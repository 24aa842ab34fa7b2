"""An executor wrapper that gives each trial its own GPU devices.

:class:`DeviceExecutor` takes the devices a trial needs from a
:class:`~hypersweep.resources.GpuPool` when the trial starts, hands them to the wrapped
executor as the trial's ``CUDA_VISIBLE_DEVICES`` (through its ``trial_env``, which the
command and function executors add to the trial's environment) and gives them back
when the trial's outcome arrives (or the executor closes). A trial that declares no GPU
sees none (``CUDA_VISIBLE_DEVICES=""``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

from hypersweep.errors import HypersweepError
from hypersweep.execution.base import Decide, Event, Executor, Outcome, Report
from hypersweep.limits import Limits
from hypersweep.resources import (
    CUDA_VAR,
    GpuPool,
    Resources,
    cuda_visible_devices,
    fit_concurrency,
    visible_devices,
)
from hypersweep.trial import Trial


def function_executor(
    fn: Callable[..., Any],
    limits: Limits,
    isolation: str,
    study_name: str,
    runs_dir: str | os.PathLike[str],
    resources: Resources | Any = None,
    gpus: Sequence[str] | None = None,
    auto: bool = False,
    **options: Any,
) -> tuple[Executor, Limits]:
    """The executor of ``Study.optimize`` and its limits: with ``resources``, each
    trial runs in a worker process given its devices (``gpus``; default: the visible
    ones), and ``max_concurrent`` follows from them when ``auto``, else is capped.
    ``options`` go to :class:`~hypersweep.execution.function.FunctionExecutor`."""
    from hypersweep.execution.function import FunctionExecutor

    pool = res = None
    if resources is not None:
        res = Resources.parse(resources, "resources")
        devs = list(visible_devices() if gpus is None else gpus)
        n = fit_concurrency(res, devs, None if auto else limits.max_concurrent)
        limits = dataclasses.replace(limits, max_concurrent=n)
        pool = GpuPool(devs)
        if isolation == "inline":
            raise HypersweepError(
                "resources: trials given devices run in worker processes; use "
                "isolation='process' (or 'auto')"
            )
        isolation = "process"
    ex: Executor = FunctionExecutor(
        fn,
        max_concurrent=limits.max_concurrent,
        trial_timeout=limits.trial_timeout,
        isolation=isolation,
        study_name=study_name,
        runs_dir=runs_dir,
        **options,
    )
    if pool is not None and res is not None:
        ex = DeviceExecutor(ex, res, pool)
    return ex, limits


__all__ = ["DeviceExecutor", "function_executor"]


class DeviceExecutor(Executor):
    """Runs trials on ``inner``, each with its share of ``pool``'s devices.

    ``inner`` must have a ``trial_env`` attribute (a dict merged into the next started
    trial's environment): :class:`~hypersweep.execution.command.CommandExecutor` and
    :class:`~hypersweep.execution.function.FunctionExecutor` have one.
    """

    def __init__(self, inner: Executor, resources: Resources, pool: GpuPool) -> None:
        if not hasattr(inner, "trial_env"):
            raise HypersweepError(
                f"resources: the {type(inner).__name__} cannot give trials their devices"
            )
        self.inner = inner
        self.resources = resources
        self.pool = pool
        self.capacity = min(inner.capacity, pool.capacity(resources.gpus))
        self.devices: dict[int, list[str]] = {}  # trial number -> its devices

    def open(self, decide: Decide | None = None) -> None:
        self.inner.open(decide)

    @property
    def running(self) -> set[int]:
        return self.inner.running

    def start(self, trial: Trial, budget: float | None = None) -> None:
        devs = self.pool.acquire(self.resources.gpus)
        if devs is None:
            raise HypersweepError(
                f"executor is full: no free GPU share of {self.resources.gpus:g} "
                f"(free: {self.pool.free()})"
            )
        self.devices[trial.number] = devs
        self.inner.trial_env = {CUDA_VAR: cuda_visible_devices(devs)}
        try:
            self.inner.start(trial, budget)
        except BaseException:
            self._release(trial.number)
            raise

    def _release(self, number: int) -> None:
        devs = self.devices.pop(number, None)
        if devs is not None:
            self.pool.release(devs, self.resources.gpus)

    def poll(self, timeout: float) -> list[Event]:
        events = self.inner.poll(timeout)
        for ev in events:
            if isinstance(ev, Outcome):
                self._release(ev.number)
        return events

    def stop(self, number: int, at: Report | None = None) -> None:
        self.inner.stop(number, at=at)

    def started_at(self, number: int) -> float | None:
        return self.inner.started_at(number)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            for number in list(self.devices):
                self._release(number)
