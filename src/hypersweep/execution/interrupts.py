"""A Ctrl-C that Python dropped still ends the run.

A SIGINT handler (Python's own, or the command line's) raises ``KeyboardInterrupt`` in
whatever the main thread runs at that moment. When that is a callback whose exceptions
Python ignores, the interrupt is printed as ``Exception ignored in ...`` and lost: an
``os.register_at_fork`` callback (``logging`` registers one, run after every fork that
starts a trial), a ``__del__``, a weakref callback. A run then went on to its end. The
:class:`InterruptLatch` wraps the handlers for the length of a run, remembers every
signal that reached them, and the runner's loop asks it once per turn.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["InterruptLatch"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptLatch:
    """Remembers SIGINT / SIGTERM while in use (main thread only; elsewhere inert).

    Only handlers written in Python are wrapped (the default SIGINT handler, the command
    line's); a signal left to the system (SIGTERM's default ends the process) is not.
    """

    def __init__(self) -> None:
        self.pending = False
        self._old: dict[int, Any] = {}

    def install(self) -> InterruptLatch:
        """Wrap the current handlers (undone by :meth:`restore`)."""
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                old = signal.getsignal(sig)
                if callable(old):
                    self._old[sig] = old
                    signal.signal(sig, self._wrap(old))
        return self

    def _wrap(self, old: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
        def handler(signum: int, frame: Any) -> Any:
            self.pending = True
            return old(signum, frame)

        return handler

    def check(self) -> None:
        """Raise the ``KeyboardInterrupt`` a signal asked for, if Python dropped it."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def restore(self) -> None:
        """Put the handlers :meth:`install` wrapped back."""
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def __enter__(self) -> InterruptLatch:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()
