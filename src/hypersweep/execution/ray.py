"""Run trials on a Ray cluster: the coordinator pushes each trial to the cluster as an
actor with the trial's resources (CPUs, fractional GPUs, custom resources); the reports
stream back through the actor's :meth:`poll`.

Each trial gets its own actor (``num_cpus`` / ``num_gpus`` / ``resources`` from
:class:`~hypersweep.resources.Resources`; Ray places it on a node that has them, and sets
``CUDA_VISIBLE_DEVICES`` there for the GPUs it grants). The actor runs the trial with the
ordinary local executor of one trial, built on that node from a picklable factory: a
:class:`~hypersweep.execution.function.FunctionExecutor` (process isolation) for a Python
function, a :class:`~hypersweep.execution.command.CommandExecutor` for a command (the
same templates, parameter passing and metric intake as a local run). So stop requests,
the grace period and ``trial_timeout`` behave as they do locally, enforced on the node.

The protocol is the executor's (:mod:`hypersweep.execution.base`): the runner pulls
events, decides, and calls :meth:`RayExecutor.stop`. Calls to one actor run in the order
they were made, so a function trial waiting at a report gets its answer (stop, or go on)
only after the runner has decided on that report. The storage stays the source of truth:
the coordinator alone writes to it; a node that dies takes its actors with it, and each
of their trials ends as *lost* (:attr:`~hypersweep.execution.base.Outcome.lost`): the
runner re-queues it within ``limits.retries``.

Ray is an optional dependency (``pip install 'hypersweep[ray]'``); it is imported when a
:class:`RayExecutor` is opened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hypersweep._validate import one_line
from hypersweep.errors import HypersweepError
from hypersweep.execution.base import Decide, Event, Executor, Outcome, OutcomeStatus, Report
from hypersweep.resources import Resources
from hypersweep.trial import Trial

__all__ = ["RayExecutor", "TrialActor", "ray_options"]

#: seconds one actor poll blocks at most (a stop request waits behind it)
_ACTOR_POLL = 0.2
#: seconds close() gives the actors to end their trials before they are killed
_CLOSE_WAIT = 10.0


def _import_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError:
        raise HypersweepError(
            "executor.ray: Ray is not installed; pip install 'hypersweep[ray]'"
        ) from None
    return ray


def ray_options(resources: Resources) -> dict[str, Any]:
    """The Ray actor options that reserve ``resources``.

    >>> ray_options(Resources(cpus=2, gpus=0.5, custom={"GPU_like": 1}))
    {'num_cpus': 2.0, 'num_gpus': 0.5, 'resources': {'GPU_like': 1.0}}
    """
    out: dict[str, Any] = {"num_cpus": float(resources.cpus), "num_gpus": float(resources.gpus)}
    if resources.custom:
        out["resources"] = {k: float(v) for k, v in resources.custom.items()}
    return out


class TrialActor:
    """The node side of one trial (a Ray actor class once wrapped by ``ray.remote``):
    a one-trial local executor, driven by the coordinator's calls in order."""

    def __init__(self, make: Callable[[], Executor]) -> None:
        self.inner = make()
        self.inner.open()

    def start(self, trial: Trial, budget: float | None) -> float:
        self.inner.start(trial, budget)
        return time.time()

    def poll(self, timeout: float) -> list[Event]:
        """The events since the last call, waiting up to ``timeout`` for the first."""
        end = time.monotonic() + timeout
        while True:
            events = self.inner.poll(min(0.05, max(0.0, end - time.monotonic())))
            if events or time.monotonic() >= end:
                return events

    def started_at(self, number: int) -> float | None:
        return self.inner.started_at(number)

    def stop(self, number: int, at: Report | None) -> None:
        self.inner.stop(number, at)

    def close(self) -> None:
        self.inner.close()


@dataclass
class _Remote:
    trial: Trial
    actor: Any
    pending: Any = None  # the outstanding poll call's ObjectRef
    stopping: bool = False
    started_at: float | None = None


class RayExecutor(Executor):
    """Runs each trial as a Ray actor on a cluster.

    Args:
        make: builds the local executor of one trial on the node (picklable: e.g.
            :meth:`for_function` / :meth:`for_command` make one).
        address: the cluster: ``"auto"`` (the one this machine belongs to, as
            ``ray start`` left it) or ``HOST:PORT`` of its head; ``None`` starts a
            private local one.
        max_concurrent: trials at once (actors that exist at once).
        resources: what each trial reserves on the cluster.
        init: extra keyword arguments to ``ray.init`` (``namespace``, ``runtime_env``, ...).
    """

    def __init__(
        self,
        make: Callable[[], Executor],
        *,
        address: str | None = "auto",
        max_concurrent: int = 1,
        resources: Resources | Mapping[str, Any] | None = None,
        init: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(make):
            raise HypersweepError("executor.ray: make must build an executor")
        if max_concurrent < 1:
            raise HypersweepError(f"max_concurrent: must be >= 1, got {max_concurrent}")
        self.make = make
        self.address = address
        self.capacity = max_concurrent
        self.resources = Resources.parse(resources, "resources")
        self.init = dict(init or {})
        self._runs: dict[int, _Remote] = {}
        self._actor_cls: Any = None
        self._ray: Any = None
        self._unavailable: Any = ()
        self._owns_ray = False

    # constructors ----------------------------------------------------------------------
    @classmethod
    def for_function(
        cls,
        fn: Callable[..., Any],
        *,
        trial_timeout: float | None = None,
        grace: float = 5.0,
        study_name: str | None = None,
        **kwargs: Any,
    ) -> RayExecutor:
        """Run the Python objective ``fn`` (importable on the nodes) on the cluster."""
        from functools import partial

        from hypersweep.execution.function import FunctionExecutor

        make = partial(
            FunctionExecutor,
            fn,
            max_concurrent=1,
            trial_timeout=trial_timeout,
            isolation="process",
            grace=grace,
            study_name=study_name,
        )
        return cls(make, **kwargs)

    @classmethod
    def for_command(
        cls, command: Any, *, command_options: Mapping[str, Any], **kwargs: Any
    ) -> RayExecutor:
        """Run a command trial on the cluster (``command_options``: the keyword arguments
        of :class:`~hypersweep.execution.command.CommandExecutor`, but one trial each)."""
        from functools import partial

        from hypersweep.execution.command import CommandExecutor

        opts = {**command_options, "max_concurrent": 1}
        CommandExecutor(command, **opts).close()  # its checks run here, not on a node
        return cls(partial(CommandExecutor, command, **opts), **kwargs)

    # the protocol ----------------------------------------------------------------------
    def open(self, decide: Decide | None = None) -> None:
        if self._ray is not None:
            return
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs = {"log_to_driver": False, **self.init}
            if self.address is None:
                kwargs.setdefault("num_cpus", max(1, self.capacity))
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise HypersweepError(
                    f"executor.ray.address: cannot connect to the Ray cluster at "
                    f"{self.address!r} ({e}); start one with 'ray start --head' or give "
                    "its HOST:PORT"
                ) from None
            self._owns_ray = True
        self._ray = ray
        self._unavailable = getattr(ray.exceptions, "ActorUnavailableError", ())
        # max_restarts=0: a dead node's trial ends lost here and the runner re-queues it
        self._actor_cls = ray.remote(max_restarts=0, max_task_retries=0)(TrialActor)

    @property
    def running(self) -> set[int]:
        return set(self._runs)

    def start(self, trial: Trial, budget: float | None = None) -> None:
        if len(self._runs) >= self.capacity:
            raise HypersweepError("executor is full")
        if self._ray is None:
            self.open()
        actor = self._actor_cls.options(**ray_options(self.resources)).remote(self.make)
        run = _Remote(trial, actor)
        run.pending = actor.start.remote(trial, budget)
        self._runs[trial.number] = run

    def started_at(self, number: int) -> float | None:
        run = self._runs.get(number)
        return None if run is None else run.started_at

    def stop(self, number: int, at: Report | None = None) -> None:
        run = self._runs.get(number)
        if run is None or run.stopping:
            return
        run.stopping = True
        run.actor.stop.remote(number, at)  # runs after the poll in flight, in order

    def poll(self, timeout: float) -> list[Event]:
        if not self._runs:
            time.sleep(min(timeout, 0.05))
            return []
        ray = self._ray
        by_ref = {run.pending: run for run in self._runs.values()}
        ready, _ = ray.wait(list(by_ref), num_returns=1, timeout=max(0.0, timeout))
        if ready:  # and whatever else is done by now
            more, _ = ray.wait(list(by_ref), num_returns=len(by_ref), timeout=0)
            ready = list({*ready, *more})
        out: list[Event] = []
        for ref in ready:
            run = by_ref[ref]
            n = run.trial.number
            try:
                got = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the actor's own code raised
                self._end(n)
                err = one_line(str(e.cause if e.cause is not None else e))
                out.append(
                    Outcome(
                        n, OutcomeStatus.FAILED, error=f"ray: {err}", started_at=run.started_at
                    )
                )
                continue
            except self._unavailable:
                # not known dead yet (its node may be gone, or only slow): ask again; a
                # dead node's actors answer ActorDiedError once Ray has marked the node
                # dead, and only then is a re-queued trial never placed on it again
                run.pending = run.actor.poll.remote(_ACTOR_POLL)
                continue
            except Exception as e:  # the actor or its node died
                out.append(self._lost(run, e))
                continue
            if isinstance(got, float):  # the answer of start()
                run.started_at = got
                events: list[Event] = []
            else:
                events = got
            ended = False
            for ev in events:
                if isinstance(ev, Report):
                    if not run.stopping:  # reports after a stop request do not count
                        out.append(ev)
                else:
                    if run.started_at is not None and ev.started_at is None:
                        ev = Outcome(**{**ev.__dict__, "started_at": run.started_at})
                    out.append(ev)
                    ended = True
            if ended:
                self._end(n)
            else:
                run.pending = run.actor.poll.remote(_ACTOR_POLL)
        return out

    def _lost(self, run: _Remote, e: BaseException) -> Outcome:
        n = run.trial.number
        self._end(n, kill=True)
        reason = type(e).__name__
        return Outcome(
            n,
            OutcomeStatus.STOPPED if run.stopping else OutcomeStatus.FAILED,
            error=f"ray: the trial's actor or node died ({reason})",
            started_at=run.started_at,
            lost=not run.stopping,
        )

    def _end(self, number: int, kill: bool = True) -> None:
        run = self._runs.pop(number, None)
        if run is not None and kill:
            try:
                self._ray.kill(run.actor, no_restart=True)
            except Exception:  # already gone
                pass

    def close(self) -> None:
        if self._ray is None:
            return
        ray = self._ray
        closing = []
        for run in self._runs.values():
            try:
                closing.append(run.actor.close.remote())
            except Exception:
                pass
        if closing:  # each actor ends its trial's processes, then goes
            ray.wait(closing, num_returns=len(closing), timeout=_CLOSE_WAIT)
        for n in list(self._runs):
            self._end(n)
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
        self._ray = None
