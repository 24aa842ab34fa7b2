"""Random search: independent draws from the space's prior (Bergstra & Bengio, JMLR 2012)."""

from __future__ import annotations

import numpy as np

from hypersweep.history import History
from hypersweep.samplers.base import Proposal, Sampler
from hypersweep.space import Space

__all__ = ["RandomSampler"]


class RandomSampler(Sampler):
    """Draw every parameter independently from its distribution.

    Example:
        >>> import numpy as np
        >>> from hypersweep.space import Float
        >>> sp = Space({"x": Float(0, 1)})
        >>> h = History(sp, [])
        >>> len(RandomSampler().propose(sp, h, np.random.default_rng(0), 3))
        3
    """

    name = "random"
    reads_history = False

    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        return [Proposal(p) for p in space.sample(rng, n)]
