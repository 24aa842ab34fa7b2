"""A Ctrl-C that Python drops (raised inside a callback whose exceptions it ignores, as
``logging``'s after-fork callback when a trial is started) still ends the run."""

from __future__ import annotations

import os
import signal

import pytest

import hypersweep as hs
from hypersweep.execution.interrupts import InterruptLatch


class _Dropper:
    """Sends this process SIGINT from ``__del__``: the handler runs there, and Python
    prints its ``KeyboardInterrupt`` as "Exception ignored" and goes on."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(200_000):  # the handler runs at one of these turns
            pass


def test_python_drops_the_interrupt_and_the_latch_keeps_it() -> None:
    _Dropper()  # without the latch: nothing reaches the caller
    with InterruptLatch() as latch:
        _Dropper()
        assert latch.pending
        with pytest.raises(KeyboardInterrupt):
            latch.check()
        latch.check()  # once
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_dropped_ctrl_c_ends_optimize_after_the_trial() -> None:
    study = hs.Study("s", space={"x": hs.Float(0, 1)}, storage="memory", seed=0)
    seen = []

    def fn(params: dict[str, float]) -> float:
        seen.append(params["x"])
        _Dropper()  # a Ctrl-C during the trial, lost in a callback
        return params["x"]

    with pytest.raises(KeyboardInterrupt):
        study.optimize(fn, max_trials=20, isolation="inline")
    assert len(seen) == 1
    assert study.attrs.get("stop_reason") == "interrupted (Ctrl-C)"
