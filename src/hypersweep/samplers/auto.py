"""The default sampler: Gaussian-process BO where it is strong and cheap, TPE elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np

from hypersweep.history import History
from hypersweep.samplers.base import Proposal, Sampler
from hypersweep.space import Space

__all__ = ["AutoSampler"]


class AutoSampler(Sampler):
    """Pick GP or TPE per study from the space and the number of trials so far.

    The choice is a pure function of the space, the number of objectives and
    ``history.n`` (the number of trials, whatever their state), so every process of a
    study makes the same one:

    * :class:`~hypersweep.samplers.gp.GPSampler` when the study has one objective, or
      two or three (expected hypervolume improvement), the space has no conditional
      groups, at most ``max_gp_dim`` encoded columns, no categorical parameter with
      more than ``max_gp_options`` options, and fewer than ``max_gp_trials`` trials;
    * otherwise :class:`~hypersweep.samplers.tpe.TPESampler` (Bergstra et al. 2011,
      "Algorithms for hyper-parameter optimization", NeurIPS), which models each
      conditional branch separately, handles any number of options and objectives, and
      costs a few milliseconds per proposal in studies of thousands of trials.

    Evidence for the switch points (``benchmarks/bbob.py``: COCO BBOB, the 24 noiseless
    functions at d = 2, 5, 10, instances 1-5, box ``[-5, 5]^d``, seeded by the instance;
    ``docs/benchmarks.md`` has the tables and the raw traces):

    * *numeric spaces, up to 100 trials*: GP has the best mean log10 precision and the
      best average rank of the 13 samplers measured (ours, Optuna's TPE, GP and CMA-ES,
      Hyperopt's TPE and anneal) in every dimension. Mean log10 precision at 100
      evaluations, gp / tpe: -1.70 / -0.19 (d = 2), 0.13 / 1.23 (d = 5), 0.87 / 2.07
      (d = 10); average rank: gp 3.8 / 4.0 / 3.2, the best peer 5.1 (Optuna GP) / 6.0
      (Optuna TPE) / 5.6 (Hyperopt anneal).
    * *longer studies* (d = 5 and 10, 400 evaluations, instance 1,
      ``benchmarks/results/bbob-400-report.md``): GP keeps the lead in precision at every
      checkpoint, but it gains little after 300 evaluations, while its cost keeps
      growing. Mean log10 precision at 300 and then 400 evaluations: gp -0.61 and -0.64
      (d = 5), 0.07 and -0.02 (d = 10). ``auto``, which hands over to TPE at 300, gets
      -0.65 and 0.06 at 400. The last 100 proposals cost gp about 17 s per run (170 ms
      each, fitting ``max_points = 300`` observations) and TPE under 1 s. At d = 5,
      CMA-ES catches up by 400 evaluations (average rank 2.5, against 2.8 for auto and
      2.9 for gp). So ``max_gp_trials = 300`` keeps nearly all of the GP's precision, and
      studies longer than that pay milliseconds per proposal rather than a fifth of a
      second.
    * *dimension*: quality was measured up to 10; ``max_gp_dim = 40`` bounds the cost
      (a proposal at 40 dimensions and 300 trials takes about 0.2 s on average: 0.35 s
      when it refits the hyperparameters, 0.07 s when it reuses them).
    * *conditional and large categorical spaces* are not in BBOB: the GP handles them
      (constant fill for inactive columns, one-hot categoricals) but TPE models them
      natively, so they go to TPE.
    * *multi-objective studies* (2 or 3 objectives): in ``benchmarks/multiobjective.py``
      (ZDT1-3, DTLZ2, DTLZ7; ours: gp, tpe, nsga2, random; Optuna's GP, TPE and
      NSGA-II; pymoo's NSGA-II) the GP's expected hypervolume improvement has the best
      mean hypervolume rank with two and with three objectives at 100 and 200
      evaluations (1.3, 1.3, 1.0, 1.5; Optuna's GP next), our TPE third or fourth (see
      ``docs/analysis.md``). With more objectives the number of boxes of
      the expected hypervolume improvement grows as ``n^(m - 1)``, so those studies go
      to TPE (non-dominated sorting).

    Both sub-samplers are built from this sampler's ``seed`` (so they share the scrambled
    Sobol sequence of the startup trials, keyed ``sobol:<trial number>``), and both draw
    their per-proposal randomness from the ``rng`` handed to :meth:`propose`. If TPE is
    not registered, GP is used for every study.

    Args:
        seed: passed to both sub-samplers (the study supplies its seed when omitted).
        max_gp_trials: from this many trials on, TPE takes over.
        max_gp_dim: spaces with more encoded columns go to TPE.
        max_gp_options: a categorical parameter with more options sends the space to TPE.

    Raises:
        ValueError: a negative or non-integer option (a
            :class:`~hypersweep.errors.SpecError` through ``make_sampler``).

    Example:
        >>> from hypersweep.space import Choice, Float
        >>> sp = Space({"x": Float(0.0, 1.0)})
        >>> AutoSampler(seed=0).choose(sp, History(sp, []))
        'gp'
        >>> cond = Space({"opt": Choice({"adam": {"b1": Float(0.8, 0.99)}, "sgd": {}})})
        >>> AutoSampler(seed=0).choose(cond, History(cond, []))
        'tpe'
    """

    name = "auto"
    learns_from_failures = True

    def __init__(
        self,
        seed: int | None = None,
        max_gp_trials: int = 300,
        max_gp_dim: int = 40,
        max_gp_options: int = 16,
    ) -> None:
        super().__init__(seed)
        for key, v in (
            ("max_gp_trials", max_gp_trials),
            ("max_gp_dim", max_gp_dim),
            ("max_gp_options", max_gp_options),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{key} must be a non-negative integer, got {v!r}")
        self.max_gp_trials = max_gp_trials
        self.max_gp_dim = max_gp_dim
        self.max_gp_options = max_gp_options
        self._subs: dict[str, Sampler] = {}

    _DEFAULTS: dict[str, Any] = {"max_gp_trials": 300, "max_gp_dim": 40, "max_gp_options": 16}

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
        return self.choice(space, history)[0]

    def choice(self, space: Space, history: History) -> tuple[str, str]:
        """The sampler used for the next proposals (its registry name) and why, in a
        few words (what :meth:`describe` shows). The reason does not name the number of
        trials, so it changes only when the choice does.

        Example:
            >>> from hypersweep.space import Float
            >>> sp = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
            >>> AutoSampler(seed=0).choice(sp, History(sp, []))
            ('gp', '1 objective, 2 unconditional parameters, tpe from trial 300')
        """
        from hypersweep.samplers import REGISTRY

        if "tpe" not in REGISTRY:
            return "gp", "tpe is not registered"
        k = len(history.objectives)
        if k > 1:  # (imported here: a study of one objective need not load the GP yet)
            from hypersweep.samplers.gp import MAX_EHVI_OBJECTIVES

            if k > MAX_EHVI_OBJECTIVES:
                return "tpe", f"{k} objectives > {MAX_EHVI_OBJECTIVES}"
        if space.is_conditional:
            return "tpe", "conditional space"
        if space.dim > self.max_gp_dim:
            return "tpe", f"{space.dim} parameters > max_gp_dim {self.max_gp_dim}"
        n_opts = np.asarray(space.n_options, dtype=int)
        if n_opts.size and int(n_opts.max()) > self.max_gp_options:
            j = int(n_opts.argmax())
            return "tpe", (
                f"{space.names[j]!r} has {int(n_opts[j])} options > max_gp_options "
                f"{self.max_gp_options}"
            )
        if history.n >= self.max_gp_trials:
            return "tpe", f"max_gp_trials {self.max_gp_trials} reached"
        return "gp", (
            f"{max(k, 1)} objective{'s' * (k > 1)}, {space.dim} unconditional "
            f"parameter{'s' * (space.dim != 1)}, tpe from trial {self.max_gp_trials}"
        )

    def describe(self, space: Space, history: History) -> str:
        """``auto -> gp (why)``: the sampler in use and the reason (see :meth:`choice`).

        Example:
            >>> from hypersweep.space import Choice, Float
            >>> cond = Space({"opt": Choice({"adam": {"b1": Float(0.8, 0.99)}, "sgd": {}})})
            >>> AutoSampler(seed=0).describe(cond, History(cond, []))
            'auto -> tpe (conditional space)'
        """
        name, why = self.choice(space, history)
        return f"{super().describe(space, history)} -> {name} ({why})"

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
