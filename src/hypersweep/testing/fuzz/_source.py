"""Where the fuzz generators' choices come from, and how a failure is reported."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol


class FuzzFailure(AssertionError):
    """The input surface misbehaved: ``kind`` is ``bare``, ``multiline`` or ``outside``."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


class Source(Protocol):
    """Where a generator's choices come from."""

    def pick(self, options: Sequence[Any]) -> Any: ...
    def integer(self, lo: int, hi: int) -> int: ...


class RandomSource:
    """A :class:`Source` over :class:`random.Random` (fast; for long runs)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self._rng.randrange(len(options))]

    def integer(self, lo: int, hi: int) -> int:
        return self._rng.randint(lo, hi)
