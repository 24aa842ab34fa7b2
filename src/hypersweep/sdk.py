"""The in-trial side: what code running *inside* a trial calls.

In a Python objective function, use the ``trial`` argument (a :class:`RunningTrial`)::

    def train(params, trial):
        for epoch in range(20):
            trial.report(step=epoch, accuracy=acc)   # raises TrialStopped when stopped

In any process launched by hypersweep (a command trial), or inside an objective
function, the module-level functions work the same::

    import hypersweep
    params = hypersweep.params()
    hypersweep.report(step=epoch, val_accuracy=acc)
    if hypersweep.should_stop():
        break

The command-trial protocol is plain files and environment variables, so it needs no
database driver and nothing Python-specific:

* ``HYPERSWEEP_PARAMS``: the parameters as a JSON object (``HYPERSWEEP_PARAMS_FILE`` names
  a file holding the same, when parameters are delivered as ``json``);
* ``HYPERSWEEP_METRICS_FILE``: a file to append JSON lines to, one report each:
  ``{"step": 3, "val_accuracy": 0.91}``;
* ``HYPERSWEEP_STOP_FILE``: a file that exists once the trial should stop; SIGINT means
  the same;
* ``HYPERSWEEP_NOTICE_FILE``: lines hypersweep appends to tell the trial something (e.g.
  that it reports faster than is stored); :func:`notices` reads them;
* ``HYPERSWEEP_CHECKPOINT_DIR``: this trial's checkpoint directory
  (``<runs_dir>/<study>/<trial number>/checkpoint``); ``HYPERSWEEP_RESTORE_FROM``: the
  checkpoint directory to start from (set only when the trial resumes another one, as a
  PBT segment does; see :mod:`hypersweep.samplers.pbt`).

This module imports nothing heavy (no numpy, no SQLAlchemy): ``import hypersweep`` inside
a trial script stays well under 50 ms.
"""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import Callable, Mapping
from typing import Any

from hypersweep.errors import HypersweepError, TrialStopped

__all__ = [
    "RunningTrial",
    "budget",
    "check_step",
    "checkpoint_dir",
    "notices",
    "params",
    "report",
    "restore_from",
    "should_stop",
]

#: Reserved key of a report line that carries the step.
STEP_KEY = "step"


def check_step(step: Any, last: int) -> int:
    """The step of a report: ``step`` checked (an integer >= 0; ``3.0`` counts as 3), or,
    when it is ``None``, one past ``last`` (the trial's last reported step, -1 before
    the first report). Every report path takes its step from here."""
    if step is None:
        return last + 1
    if isinstance(step, float) and step.is_integer() and step >= 0:
        return int(step)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        if type(step).__module__ == "numpy" and float(step).is_integer() and step >= 0:
            return int(step)  # a numpy integer (an epoch counter from an array)
        raise HypersweepError(f"report: step must be an integer >= 0, got {step!r}")
    return step


def clean_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Check intermediate metrics: names are strings, values numbers (NaN/inf allowed)."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if k == STEP_KEY:
            raise HypersweepError("report: 'step' is reserved; pass it as step=...")
        if hasattr(v, "item") and callable(v.item):
            try:
                v = v.item()
            except (TypeError, ValueError):
                pass
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise HypersweepError(
                f"report: metric {k!r} must be a number, got {type(v).__name__} {v!r}"
            )
        try:
            out[str(k)] = float(v)
        except OverflowError:  # an int beyond 1.8e308: as large as a float gets
            out[str(k)] = math.inf if v > 0 else -math.inf
    if not out:
        raise HypersweepError("report: give at least one metric, e.g. report(step=3, loss=0.2)")
    return out


class RunningTrial:
    """The handle an objective function receives as its ``trial`` argument.

    Attributes:
        number: the trial number.
        params: the configuration.
        budget: the resource this trial may use (steps), or ``None`` for no limit.
        restore_from: the checkpoint directory to start from (a resumed PBT segment), or
            ``None`` for a fresh start.
        seed: the trial's seed (see :func:`seed`), or ``None`` when the executor gives none.
    """

    def __init__(
        self,
        number: int,
        params: Mapping[str, Any],
        send: Callable[[int, dict[str, float]], bool],
        budget: float | None = None,
        checkpoint_dir: str | None = None,
        restore_from: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.seed = seed
        self.number = number
        self.params = dict(params)
        self.budget = budget
        self.restore_from = restore_from
        self._checkpoint_dir = checkpoint_dir
        self._send = send
        self._step = -1
        self._stop = False

    def report(self, step: int | None = None, **metrics: Any) -> None:
        """Record intermediate metrics at ``step`` (default: the previous step + 1).

        Raises:
            TrialStopped: the stopping policy (or a step limit) ended this trial; let it
                propagate: the trial is recorded as STOPPED with its last value.
        """
        step = self._step = check_step(step, self._step)
        if self._send(step, clean_metrics(metrics)):
            self._stop = True
            raise TrialStopped(f"trial {self.number} stopped at step {step}")

    def should_stop(self) -> bool:
        """True once the trial has been told to stop."""
        return self._stop

    @property
    def checkpoint_dir(self) -> str | None:
        """This trial's checkpoint directory (created on first use), or ``None`` when the
        executor gives none. Save state here before reporting a step."""
        if self._checkpoint_dir is not None:
            os.makedirs(self._checkpoint_dir, exist_ok=True)
        return self._checkpoint_dir

    def __repr__(self) -> str:
        return f"RunningTrial(number={self.number}, params={self.params!r})"


# ------------------------------------------------------------------------------------------
# Module-level SDK: the current in-process trial if there is one, else the env protocol.
# ------------------------------------------------------------------------------------------
_current: RunningTrial | None = None
_env_step = -1
_sigint = False
_handler_installed = False


def set_current(trial: RunningTrial | None) -> None:
    global _current
    _current = trial


def params(default: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """This trial's parameters.

    Args:
        default: returned when the code does not run under hypersweep (handy to run a
            training script by hand).

    Raises:
        HypersweepError: not running under hypersweep and no default given.
    """
    if _current is not None:
        return dict(_current.params)
    raw = os.environ.get("HYPERSWEEP_PARAMS")
    if raw is None and os.environ.get("HYPERSWEEP_PARAMS_FILE"):
        with open(os.environ["HYPERSWEEP_PARAMS_FILE"], encoding="utf-8") as f:
            raw = f.read()
    if raw is None:
        if default is not None:
            return dict(default)
        raise HypersweepError(
            "hypersweep.params(): not running as a hypersweep trial (HYPERSWEEP_PARAMS is "
            "not set); pass params(default={...}) to run by hand"
        )
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise HypersweepError("HYPERSWEEP_PARAMS must hold a JSON object")
    return value


def seed(default: int | None = None) -> int | None:
    """This trial's seed: derived from the study seed and the trial number (a
    re-evaluation has its own, see ``hypersweep reevaluate``); seed your framework with
    it. ``default`` outside hypersweep."""
    if _current is not None:
        return default if _current.seed is None else _current.seed
    raw = os.environ.get("HYPERSWEEP_SEED")
    return int(raw) if raw else default


def budget() -> float | None:
    """The resource (steps) this trial may use, or ``None`` when unlimited."""
    if _current is not None:
        return _current.budget
    raw = os.environ.get("HYPERSWEEP_BUDGET")
    return float(raw) if raw else None


def checkpoint_dir() -> str | None:
    """This trial's checkpoint directory (created if needed), or ``None`` outside hypersweep.

    Save the state to resume from (weights, optimizer, the step) here before reporting a
    step: a resumed trial (a PBT segment) starts from it.
    """
    if _current is not None:
        return _current.checkpoint_dir
    path = os.environ.get("HYPERSWEEP_CHECKPOINT_DIR")
    if not path:
        return None
    os.makedirs(path, exist_ok=True)
    return path


def restore_from() -> str | None:
    """The checkpoint directory this trial starts from, or ``None`` for a fresh start.

    Set when the trial resumes another trial's training (a PBT segment continues its own
    member or copies a better one): load the state saved there, and continue the step
    count from the step saved with it.
    """
    if _current is not None:
        return _current.restore_from
    return os.environ.get("HYPERSWEEP_RESTORE_FROM") or None


def report(step: int | None = None, **metrics: Any) -> None:
    """Report intermediate (or final) metrics of this trial.

    Under an objective function this is ``trial.report`` (and may raise
    :class:`TrialStopped`); in a command trial it appends one JSON line to
    ``HYPERSWEEP_METRICS_FILE``; outside hypersweep it does nothing.
    """
    global _env_step
    if _current is not None:
        _current.report(step=step, **metrics)
        return
    clean = clean_metrics(metrics)
    step = _env_step = check_step(step, _env_step)
    path = os.environ.get("HYPERSWEEP_METRICS_FILE")
    if not path:
        return
    line: dict[str, int | float | str] = {STEP_KEY: int(step)}
    line.update({k: (v if math.isfinite(v) else str(v)) for k, v in clean.items()})
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def _on_sigint(signum: int, frame: Any) -> None:
    global _sigint
    _sigint = True


def should_stop() -> bool:
    """True once this trial should stop (early stopping, a limit, or Ctrl-C).

    The first call in a command trial installs a SIGINT handler, so SIGINT then sets
    this flag instead of raising KeyboardInterrupt: the script can save and exit.
    """
    global _handler_installed
    if _current is not None:
        return _current.should_stop()
    if not _handler_installed and os.environ.get("HYPERSWEEP_METRICS_FILE"):
        try:
            signal.signal(signal.SIGINT, _on_sigint)
        except ValueError:  # not the main thread
            pass
        _handler_installed = True
    if _sigint:
        return True
    stop_file = os.environ.get("HYPERSWEEP_STOP_FILE")
    return stop_file is not None and stop_file != "" and os.path.exists(stop_file)


def notices() -> list[str]:
    """What hypersweep has told this command trial so far, one line each (for instance that
    it reports faster than hypersweep stores); empty outside a command trial."""
    path = os.environ.get("HYPERSWEEP_NOTICE_FILE")
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            return [ln.rstrip("\n") for ln in f if ln.strip()]
    except OSError:
        return []
