"""``Study.optimize``: the run loop for a Python objective (a :class:`~hypersweep.execution.
runner.Runner` over a function executor), apart from the ask / tell core of
:mod:`hypersweep.study`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from hypersweep.errors import HypersweepError
from hypersweep.trial import Trial

__all__ = ["StudyOptimize"]


class StudyOptimize:
    """The part of :class:`~hypersweep.study.Study` that runs a function's trials."""

    def optimize(
        self,
        fn: Callable[..., Any],
        max_trials: int | None = None,
        max_concurrent: int | None = 1,
        timeout: float | None = None,
        trial_timeout: float | None = None,
        target: float | None = None,
        patience: int | None = None,
        callbacks: Sequence[Callable[[Any, Trial], Any]] | None = None,  # (study, trial)
        *,
        max_steps: int | None = None,
        max_trial_seconds: float | None = None,
        isolation: str = "auto",
        progress: Any = None,
        runs_dir: str | os.PathLike[str] = ".hypersweep/runs",
        retries: int = 1,
        retry_on: Sequence[str] = (),
        max_failures: int = 3,
        constraints: Sequence[Any] | None = None,
        resources: Any = None,
        gpus: Sequence[str] | None = None,
    ) -> Trial | None:
        """Run trials of ``fn(params, trial)`` until a limit is reached.

        ``fn`` returns a number or a dict of metrics; it may call ``trial.report(step=...,
        metric=...)`` for intermediate values (raises ``TrialStopped`` when stopped).

        Args:
            max_trials: stop when the study holds this many started trials (counted over
                the whole study, so re-running after an interruption resumes up to the same
                total; a retried attempt is the same trial, a queued one counts once it
                runs).
            max_concurrent: trials at once; above 1 each runs in its own process.
                ``None``: as many as ``resources`` allow on ``gpus`` (1 without).
            timeout: seconds for this call; running trials are then stopped.
            trial_timeout: seconds per trial; the trial's process is ended and the trial
                FAILED with reason "timeout".
            target: stop once the best value reaches it (goal-aware).
            patience: stop after this many COMPLETED trials without improvement.
            callbacks: ``callback(study, trial)`` after each finished trial.
            max_steps: stop a trial (STOPPED) once it has reported this many steps.
            max_trial_seconds: a cost cap on the study's total trial time (see
                :class:`~hypersweep.limits.Limits`).
            isolation: ``"process"`` (each trial in a worker process), ``"inline"`` (in
                this process: no pickling, no timeout) or ``"auto"`` (inline only when
                ``max_concurrent == 1`` and there is no ``trial_timeout``).
            progress: a progress display (see :mod:`hypersweep.execution.runner`).
            runs_dir: where the trials' directories go
                (``<runs_dir>/<study>/<number>/checkpoint``: ``trial.checkpoint_dir``).
            retries: how often a trial lost to a dead worker, a hard stop (``timeout``,
                Ctrl-C, :meth:`stop`) or a killed process is re-queued with the same number
                and parameters (``Trial.attempt`` counts; 0: never).
            retry_on: ``["failed"]`` also retries trials failing by their own error (an
                exception, a NaN value).
            max_failures: stop when the first this many trials of the call all fail with
                the same error (0: never).
            constraints: replace the study's constraints first (see the constructor).
            resources: what each trial needs (``{"gpus": 0.5, "cpus": 2}``, see
                :mod:`hypersweep.resources`); ``gpus``: the devices to hand out.

        Returns:
            The best trial (single objective), else ``None``.

        Raises:
            HypersweepError: the run failed fast (one line: the error and the fix).
        """
        from hypersweep.execution.devices import function_executor
        from hypersweep.execution.runner import Runner
        from hypersweep.limits import Limits

        s: Any = self
        if constraints is not None:
            s.set_constraints(constraints)
        limits = Limits(
            max_trials=max_trials,
            max_concurrent=max_concurrent or 1,
            timeout=timeout,
            trial_timeout=trial_timeout,
            max_steps=max_steps,
            target=target,
            patience=patience,
            max_trial_seconds=max_trial_seconds,
            retries=retries,
            retry_on=tuple(retry_on) if isinstance(retry_on, (list, tuple)) else retry_on,  # type: ignore[arg-type]
            max_failures=max_failures,
        )
        executor, limits = function_executor(
            fn,
            limits,
            isolation,
            s.name,
            runs_dir,
            resources,
            gpus,
            max_concurrent is None,
            delivery=s.space.delivery(),
            define_by_run=s._dbr_context(),
        )
        runner = Runner(s, executor, limits, callbacks=callbacks or (), progress=progress)
        runner.run()
        if runner.failed_fast:
            raise HypersweepError(f"optimize: {runner.failed_fast}")
        return s.best_trial if len(s.objectives) == 1 else None
