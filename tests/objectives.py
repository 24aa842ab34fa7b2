"""Objective functions for the optimize() tests.

They live in an importable module (``tests.objectives``) because trials that run in worker
processes receive their function by reference: it must be defined at module level.
"""

from __future__ import annotations

import os
import time
from typing import Any

import hypersweep


def quadratic(params: dict[str, Any]) -> float:
    """Minimum 0 at x = 1."""
    return float((params["x"] - 1.0) ** 2)


def quadratic_with_pid(params: dict[str, Any], trial: Any) -> dict[str, Any]:
    """Reports three steps, then returns the value and the process id that ran the trial."""
    for step in range(3):
        trial.report(step=step, value=float(step))
    time.sleep(0.05)
    return {"value": (params["x"] - 1.0) ** 2, "pid": str(os.getpid())}


def curve(params: dict[str, Any], trial: Any) -> float:
    """Reports ``x * step`` at steps 0..4, returns the last report."""
    value = 0.0
    for step in range(5):
        value = params["x"] * step
        trial.report(step=step, value=value)
    return value


def sdk_curve(params: dict[str, Any]) -> float:
    """Uses the module-level SDK instead of the trial argument.

    Reports ``x + step`` at steps 0..4. Like a script that finishes its step before
    checking ``should_stop()``, it swallows ``TrialStopped`` and then returns
    ``x + step + 100``, so a test can tell that ``should_stop()`` said yes.
    """
    p = hypersweep.params()
    assert p == params
    value = 0.0
    for step in range(5):
        value = p["x"] + step
        try:
            hypersweep.report(step=step, value=value)
        except hypersweep.TrialStopped:
            pass
        if hypersweep.should_stop():
            return value + 100
    return value


def long_curve(params: dict[str, Any], trial: Any) -> float:
    """Reports 100 steps (``value = 100 - step``); meant to be stopped by max_steps."""
    for step in range(100):
        trial.report(step=step, value=100.0 - step)
    return -1.0  # never reached when max_steps < 100


def fails_when_large(params: dict[str, Any]) -> float:
    """Raises for x > 0.5."""
    if params["x"] > 0.5:
        raise ValueError(f"x too large: {params['x']}")
    return float(params["x"])


def returns_nan(params: dict[str, Any]) -> float:
    return float("nan")


def returns_text(params: dict[str, Any]) -> Any:
    return "not a number"


def returns_inf(params: dict[str, Any]) -> float:
    return float("inf")


def hangs(params: dict[str, Any]) -> float:
    """Never finishes in time; writes its pid into the folder $HS_TEST_PID_DIR first."""
    folder = os.environ.get("HS_TEST_PID_DIR")
    if folder:
        with open(os.path.join(folder, f"{os.getpid()}.pid"), "w") as f:
            f.write(str(os.getpid()))
    time.sleep(60)
    return 0.0


def slow_quadratic(params: dict[str, Any]) -> float:
    """Takes about 0.2 s (for the Ctrl-C test)."""
    time.sleep(0.2)
    return float((params["x"] - 1.0) ** 2)


def constant(params: dict[str, Any]) -> float:
    return 1.0


def negative_quadratic(params: dict[str, Any]) -> float:
    """Maximum 0 at x = 1."""
    return -float((params["x"] - 1.0) ** 2)


def two_metrics(params: dict[str, Any]) -> dict[str, float]:
    return {"value": float(params["x"]), "other": float(params["x"]) ** 2}
