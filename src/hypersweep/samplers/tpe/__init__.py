"""Tree-structured Parzen estimator (TPE) on the unit-cube encoding.

TPE (Bergstra, Bardenet, Bengio and Kégl, "Algorithms for hyper-parameter optimization",
NeurIPS 2011) splits the observed trials at a quantile of their values into a *good* set and
a *bad* set, fits a kernel density to each -- ``l(x)`` to the good configurations, ``g(x)``
to the bad ones -- and proposes the candidate, among draws from ``l``, that maximizes
``l(x) / g(x)`` (which is monotone in expected improvement under the TPE model). The
components follow Watanabe, "Tree-structured Parzen estimator: understanding its algorithm
components and their roles for better empirical performance" (arXiv:2304.11127, 2023):

* **Multivariate kernels** (Falkner, Klein and Hutter, "BOHB", ICML 2018): one product
  kernel per trial over all columns of a conditional group, so the density keeps the
  interactions between parameters. ``multivariate=False`` gives the original independent
  (univariate) densities per column.
* **Every parameter type** through :class:`~hypersweep.space.Space`'s unit-cube encoding:
  numeric columns (log scale, ``Normal`` through its CDF, ints and steps as equal bins) are
  truncated Gaussian kernels on ``[0, 1]``; draws of an int or stepped column are snapped
  to their bin centre and its bandwidth is at least half a bin, so the density at a bin
  centre stands for the bin's mass. Categorical columns use the Aitchison-Aitken kernel
  (Aitchison and Aitken, Biometrika 1976): the trial's own option keeps ``1 - lam +
  lam / k`` of the mass, every option gets ``lam / k``.
* **Conditional groups**: columns with the same parent option form a group; a group's
  densities are fit only on the trials where it is active, and a candidate's score is the
  sum of ``log l - log g`` over the groups it activates (the densities factorize down the
  tree, as in the original tree-structured model).
* **The split**: the ``n_good = min(ceil(gamma * n), max_good)`` best of ``n`` observed
  trials are good -- the "linear" rule of Watanabe 2023 with ``gamma = 0.15`` (BOHB's
  fraction) and a cap of 25 so that ``l`` stays sharp in long studies. Ties go to the
  earlier trial: later repeats of a configuration land in the bad set and move the
  search on.
* **Rank weights**: inside ``l`` the best good trial weighs ``1 + rank_weight`` and the
  weights fall linearly with the rank to about 1 for the worst good trial: a middle way
  between Watanabe's uniform and improvement-proportional weightings, invariant to any
  monotone transformation of the objective.
* **Bandwidths**: Scott's rule, ``h_j = beta * s_j * n^(-1/(d+4))`` per column (``d`` is
  the group's size, 1 when univariate), where ``s_j`` is the spread of the kernel centres
  with the uniform prior's variance added once (so that a few close points do not make a
  spike), clipped below by ``1 / min(n + 1, 100)`` ("magic clipping", Bergstra et al.
  2011), by ``min_bandwidth`` and by half a bin for discrete columns.
* **Prior**: each density also mixes in the space's own prior (uniform on the unit cube,
  which is log-uniform for log parameters and normal for ``Normal`` ones) with the weight
  of ``prior_weight`` trials.
* **Startup**: the first ``n_startup`` trials are points of the study's scrambled Sobol
  sequence (the same points as :class:`~hypersweep.samplers.sobol.SobolSampler`).
* **Constant liar** (Ginsbourger, Le Riche and Carraro, 2010): RUNNING trials, and the
  proposals made earlier in the same batch, join the bad set as if they had the worst
  value, so concurrent proposals spread out (EXEMPLARS §9.5).
* **Failed trials** join the bad set (weight 1, like the liars), and the chosen candidate
  is the best-scoring one that neither repeats a failed configuration nor has a failed
  trial as its nearest finished neighbour (:func:`~hypersweep.samplers.base.looks_failed`).
* **Constraints** (c-TPE; Watanabe & Hutter, "c-TPE: tree-structured Parzen estimator
  with inequality constraints for expensive hyperparameter optimization", IJCAI 2023):
  each constraint that some trial violates gets its own split -- its feasible trials are
  good, or the least-violating ``n_good`` ones while fewer are feasible -- and the score
  is ``sum_i -log(gamma_i + (1 - gamma_i) g_i(x) / l_i(x))`` over the objective and the
  constraints (the log of the expected constrained improvement with independent
  densities); candidates are drawn from every ``l_i``.
* **Multi-objective**: the good set is filled front by front in non-domination order
  (Deb et al., NSGA-II, 2002); inside the last front needed, the mean of the
  per-objective ranks decides. The rank weights follow that order. This is a minimal
  treatment (no hypervolume-based selection); a front is found in ``O(n log n)`` for two
  objectives and ``O(n^2)`` for more.

The defaults (``gamma``, ``rank_weight``, the bandwidth rule, ``n_candidates``) were chosen
on BBOB instances 6-15 of COCO's suite (instance ids 71-80) and checked on instances 1-5,
the ones ``benchmarks/bbob.py`` reports; nothing depends on the function.

Cost per proposal is ``O(n d)`` numpy work with no Python loop over trials: a density is
one matrix product between the candidates' and the kernels' features (Gaussian exponents
expand into ``|x|^2 + |mu|^2 - 2 x.mu``; categorical matches are one-hot products), and
the bad set's kernel rows are cached across asks (:class:`BadCache`), as is ``l`` while
the good set stays the same. The univariate option evaluates each numeric column
separately, ``O(n d c)`` for ``c`` candidates.
"""

from __future__ import annotations

from hypersweep.samplers.tpe._sampler import TPESampler

__all__ = ["TPESampler"]
