"""The trial programs of the executor contract suite (:mod:`hypersweep.testing.executors`).

One behaviour per name, chosen by the trial's ``behaviour`` parameter; ``dir`` names a
folder where a trial that runs a while writes ``<number>.pid`` (its process id):

* ``report``: reports ``loss`` = 1.0, 0.5, 0.25 at steps 0, 1, 2 and ends (result 0.25);
* ``hang``: reports a step every 0.05 s until told to stop, then ends;
* ``stubborn``: reports step 0, then ignores stop requests (and SIGINT / SIGTERM) and
  sleeps until killed;
* ``fail``: fails (raises ``RuntimeError("contract trial failed")``; a command exits 3
  after writing that line to stderr).

:func:`function_trial` is the Python objective; ``python -m
hypersweep.testing.contract_trials`` is the same as a command trial (parameters as
``HYPERSWEEP_PARAMS``, reports through the SDK).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["function_trial", "main"]

RESULT = 0.25
LOSSES = (1.0, 0.5, 0.25)


def _pid_file(params: dict[str, Any], number: int) -> None:
    with open(os.path.join(params["dir"], f"{number}.pid"), "w", encoding="utf-8") as f:
        f.write(str(os.getpid()))


def _run(
    params: dict[str, Any],
    number: int,
    report: Callable[[int, float], None],
    should_stop: Callable[[], bool],
) -> float:
    kind = params["behaviour"]
    if kind == "report":
        for step, loss in enumerate(LOSSES):
            report(step, loss)
        return RESULT
    if kind == "fail":
        raise RuntimeError("contract trial failed")
    _pid_file(params, number)
    if kind == "hang":
        step = 0
        while not should_stop():
            report(step, 1.0 / (step + 1))
            step += 1
            time.sleep(0.05)
        return 1.0 / step
    if kind == "stubborn":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                signal.signal(sig, signal.SIG_IGN)
            except ValueError:  # not the main thread (an inline trial)
                pass
        try:
            report(0, 1.0)
        except Exception:  # told to stop: ignored
            pass
        while True:
            time.sleep(0.05)
    raise ValueError(f"unknown contract behaviour {kind!r}")


def function_trial(params: dict[str, Any], trial: Any) -> float:
    """The contract trial as a Python objective function."""
    from hypersweep.errors import TrialStopped

    stopped = False

    def report(step: int, loss: float) -> None:
        nonlocal stopped
        try:
            trial.report(step=step, loss=loss)
        except TrialStopped:
            stopped = True
            if params["behaviour"] != "hang":
                raise

    return _run(params, trial.number, report, lambda: stopped)


def main() -> int:
    """The contract trial as a command (``python -m hypersweep.testing.contract_trials``)."""
    import hypersweep

    params = hypersweep.params()
    number = int(os.environ.get("HYPERSWEEP_TRIAL", "0"))

    def report(step: int, loss: float) -> None:
        hypersweep.report(step=step, loss=loss)

    hypersweep.should_stop()  # installs the SIGINT handler: stop gracefully
    try:
        value = _run(params, number, report, hypersweep.should_stop)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 3
    print(f"loss={value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
