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
the bad set's kernel rows are cached across asks (:class:`_BadCache`), as is ``l`` while
the good set stays the same. The univariate option evaluates each numeric column
separately, ``O(n d c)`` for ``c`` candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from hypersweep._validate import fail
from hypersweep.samplers.base import (
    FAILED,
    RUNNING,
    History,
    Proposal,
    Sampler,
    looks_failed,
    near_any,
    replace_failed,
    unfailed_draws,
)
from hypersweep.samplers.sobol import SobolSampler
from hypersweep.space import Float, Int, Normal, Space

__all__ = ["TPESampler"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_UNIFORM_STD = 1.0 / math.sqrt(12.0)  # spread of the uniform prior on [0, 1]


# ======================================================================================
# Space layout: column kinds, conditional groups, snapping of discrete columns
# ======================================================================================


@dataclass(frozen=True)
class _Group:
    """Columns that are active on the same trials (same parent column and option)."""

    cols: np.ndarray  # column indices, ascending
    parent: int  # parent column, -1 for the top level
    option: int  # option of ``parent`` that activates the group
    parent_group: int  # index of the group holding ``parent``, -1 for the top level
    num: np.ndarray  # positions in ``cols`` of numeric columns
    cat: np.ndarray  # positions in ``cols`` of categorical columns
    n_opt: np.ndarray  # number of options of each categorical column
    h_floor: np.ndarray  # bandwidth floor of each numeric column
    discrete: tuple[tuple[int, int], ...]  # (position in cols, column) of int/step columns


class _Layout:
    """What the sampler needs to know about a space, computed once per space."""

    def __init__(self, space: Space) -> None:
        self.dim = space.dim
        cols = space.columns
        keys: dict[tuple[int, int], list[int]] = {}
        for j, c in enumerate(cols):
            keys.setdefault((c.parent, c.option), []).append(j)
        # depth-first column order puts a parent before its children: sort groups by
        # their first column so parents' groups come first
        order = sorted(keys.items(), key=lambda kv: kv[1][0])
        col_group = np.empty(self.dim, dtype=int)
        for gi, (_, js) in enumerate(order):
            col_group[js] = gi
        self.groups: list[_Group] = []
        # discrete numeric columns: column -> number of equal bins, or -> its parameter
        # when the bins are unequal (log scale, stepped Normal)
        self.bins: dict[int, int] = {}
        self.irregular: dict[int, Any] = {}
        for (parent, option), js in order:
            num, cat, n_opt, floor = [], [], [], []
            for pos, j in enumerate(js):
                p = cols[j].param
                if p.n_options:
                    cat.append(pos)
                    n_opt.append(p.n_options)
                    continue
                num.append(pos)
                width = 0.0
                if isinstance(p, (Int, Float)) and p.step is not None:
                    n_points = p._n_points()
                    width = 1.0 / n_points
                    if p.log:
                        self.irregular[j] = p
                    else:
                        self.bins[j] = n_points
                elif isinstance(p, Normal) and p.step is not None:
                    self.irregular[j] = p
                floor.append(0.5 * width)
            discrete = tuple(
                (pos, j) for pos, j in enumerate(js) if j in self.bins or j in self.irregular
            )
            self.groups.append(
                _Group(
                    cols=np.array(js, dtype=int),
                    parent=parent,
                    option=option,
                    parent_group=int(col_group[parent]) if parent >= 0 else -1,
                    num=np.array(num, dtype=int),
                    cat=np.array(cat, dtype=int),
                    n_opt=np.array(n_opt, dtype=int),
                    h_floor=np.array(floor, dtype=float),
                    discrete=discrete,
                )
            )
        self.parent_options = {
            j: cols[j].param.n_options for j in {g.parent for g in self.groups if g.parent >= 0}
        }

    def snap(self, j: int, u: np.ndarray) -> np.ndarray:
        """Draws ``u`` of the discrete column ``j`` moved to their bin centres."""
        n = self.bins.get(j)
        if n is not None:
            return (np.minimum(np.maximum(np.floor(u * n), 0), n - 1) + 0.5) / n
        p = self.irregular[j]
        return np.asarray(p._encode(p._decode(u)), dtype=float)


# ======================================================================================
# Numerical helpers
# ======================================================================================


def _gemm_nt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` in column blocks.

    The blocks are small enough that a threaded BLAS (OpenBLAS) runs each one on the
    calling thread: waking BLAS threads for these thin products costs more than the
    product itself, and far more on a busy machine.
    """
    m, k = a.shape
    n = b.shape[0]
    step = max(16, 200_000 // max(m * k, 1))
    if n <= step:
        return a @ b.T  # type: ignore[no-any-return]
    out = np.empty((m, n))
    for s in range(0, n, step):
        np.matmul(a, b[s : s + step].T, out=out[:, s : s + step])
    return out


def _logsumexp_rows(comp: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """``log(sum(exp(comp), axis=1) + exp(extra))``; overwrites ``comp``.

    Terms more than 60 below a row's largest are raised to ``-60`` first: that changes
    the sum by less than ``n * 1e-26`` of its value, and keeps ``exp`` off its slow
    underflow path (ten times slower on far-away kernels, which are most of them).
    """
    top = np.maximum(comp.max(axis=1), extra) if comp.shape[1] else extra.copy()
    comp -= top[:, None]
    np.maximum(comp, -60.0, out=comp)
    np.exp(comp, out=comp)
    return np.log(comp.sum(axis=1) + np.exp(extra - top)) + top  # type: ignore[no-any-return]


def _k_smallest(y: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest values, ties going to earlier indices (``O(n)``)."""
    if k >= y.size:
        return np.argsort(y, kind="stable")
    kth = np.partition(y, k - 1)[k - 1]
    cand = np.flatnonzero(y <= kth)  # ascending indices
    return cand[np.argsort(y[cand], kind="stable")[:k]]  # type: ignore[no-any-return]


def _quantize(n: int) -> int:
    """``n`` itself up to 256, then the largest point of the grid ``256 * 1.05^k`` <= n.

    The bad set's bandwidths are fit on the first ``_quantize(history.n)`` rows, so they
    change every trial early on and once per 5 % growth of a long study (see
    :class:`_BadCache`).
    """
    if n <= 256:
        return n
    k = math.floor(math.log(n / 256.0) / math.log(1.05) + 1e-9)
    return min(int(256.0 * 1.05**k), n)


# ======================================================================================
# Kernels and Parzen estimators
# ======================================================================================


class _Kernel:
    """The kernel shape of one group: numeric bandwidths ``h`` and categorical ``lam``.

    A kernel centred on ``m`` (numeric part) with options ``o`` (categorical part) has
    ``log k(x) = -|x~ - m~|^2 / 2 - sum_j log Z_j(m) + sum_c log p_c(x_c | o_c)`` with
    ``x~ = x / h``, where ``Z_j`` is the truncated Gaussian's normalizer on ``[0, 1]`` (with
    ``h sqrt(2 pi)``). Expanding the square, a whole mixture is evaluated with one
    matrix product of *query features* ``[x~, one-hot(x)]`` and *kernel features*
    ``[m~, delta * one-hot(o)]``.
    """

    def __init__(self, group: _Group, h: np.ndarray, lam: np.ndarray) -> None:
        self.num, self.cat, self.n_opt = group.num, group.cat, group.n_opt
        self.h = h
        self.lam = lam
        self.log_match = np.log(1.0 - lam + lam / self.n_opt)
        self.log_miss = np.log(lam / self.n_opt)
        self.offsets = (np.cumsum(self.n_opt) - self.n_opt).astype(int)
        # [x~ | one-hot options | 1] . [m~ | delta * one-hot | const]
        self.width = len(self.num) + int(self.n_opt.sum()) + 1
        self.prior = float(-np.log(self.n_opt).sum())  # log density of the uniform prior

    @classmethod
    def fit(
        cls, group: _Group, points: np.ndarray, d_eff: int, beta: float, min_bw: float
    ) -> _Kernel:
        """Scott's rule on ``points`` (``(n, d)``, the group's columns).

        ``h_j = beta * s_j * n^(-1/(d_eff + 4))`` with ``s_j^2 = (sum_i (x_ij - mean_j)^2 +
        1/12) / n``: the centres' spread with the uniform prior's variance ``1/12`` added
        once, so that a few close points do not collapse the kernel. Clipped below by
        ``1 / min(n + 1, 100)`` (magic clipping), ``min_bw`` and half a bin.
        """
        n = points.shape[0]
        shrink = max(n, 1) ** (-1.0 / (d_eff + 4))
        mu = points[:, group.num]
        if n > 1:
            var = ((mu - mu.mean(axis=0)) ** 2).sum(axis=0)
            spread = np.sqrt((var + _UNIFORM_STD**2) / n)
        else:
            spread = np.full(len(group.num), _UNIFORM_STD)
        magic = 1.0 / min(n + 1, 100)
        floor = np.maximum(group.h_floor, max(magic, min_bw))
        h = np.minimum(np.maximum(beta * shrink * spread, floor), 1.0)
        lam = np.full(len(group.cat), min(1.0, max(0.05, 0.5 * shrink)))
        return cls(group, h, lam)

    def same(self, other: _Kernel | None) -> bool:
        """Whether ``other`` has the same shape (so its kernel rows can be reused)."""
        return (
            other is not None
            and np.array_equal(self.h, other.h)
            and np.array_equal(self.lam, other.lam)
        )

    def codes(self, points: np.ndarray) -> np.ndarray:
        """Option indices of the categorical columns of ``points`` (encoded in ``[0, 1]``)."""
        return np.minimum((points[:, self.cat] * self.n_opt).astype(int), self.n_opt - 1)

    def log_z(self, mu: np.ndarray) -> np.ndarray:
        """``log`` normalizer of each truncated kernel, per numeric column."""
        z = ndtr((1.0 - mu) / self.h) - ndtr(-mu / self.h)
        return np.log(np.maximum(z, 1e-300)) + np.log(self.h) + _LOG_SQRT_2PI  # type: ignore[no-any-return]

    def kernel_rows(self, points: np.ndarray) -> np.ndarray:
        """Kernel features ``(n, width)`` of centres ``points``; the last column holds
        each kernel's constant ``-|m~|^2 / 2 - sum_j log Z_j + sum_c log(lam_c / k_c)``."""
        mu = points[:, self.num]
        ms = mu / self.h
        b = np.zeros((points.shape[0], self.width))
        b[:, : len(self.num)] = ms
        b[:, -1] = -0.5 * (ms * ms).sum(axis=1) - self.log_z(mu).sum(axis=1)
        if len(self.cat):
            cols = self.codes(points) + self.offsets + len(self.num)
            b[np.arange(b.shape[0])[:, None], cols] = self.log_match - self.log_miss
            b[:, -1] += self.log_miss.sum()
        return b

    def query_rows(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Query features ``(c, width)`` of points ``x`` and their term ``-|x~|^2 / 2``."""
        xs = x[:, self.num] / self.h
        a = np.zeros((x.shape[0], self.width))
        a[:, : len(self.num)] = xs
        a[:, -1] = 1.0
        if len(self.cat):
            cols = self.codes(x) + self.offsets + len(self.num)
            a[np.arange(a.shape[0])[:, None], cols] = 1.0
        return a, -0.5 * (xs * xs).sum(axis=1)


def _mixture_weights(w: np.ndarray, prior_weight: float) -> np.ndarray:
    """Mixture probabilities: ``w`` rescaled to mean 1, then the prior's, all normalized."""
    n = w.shape[0]
    total = float(w.sum())
    scaled = w * (n / total) if total > 0 else np.ones(n)
    return np.append(scaled, prior_weight) / (n + prior_weight)  # type: ignore[no-any-return]


class _Parzen:
    """A weighted mixture of product kernels and the uniform prior over one group.

    Args:
        kernel: the kernel shape.
        points: ``(n, d)`` kernel centres (the group's columns, none ``NaN``); may be
            ``None`` when ``rows`` are given and the mixture is only evaluated.
        p: ``(n + 1,)`` mixture probabilities, the prior's last.
        multivariate: one joint kernel per point, else a product of per-column mixtures.
        rows: precomputed ``kernel.kernel_rows(points)`` (multivariate only); the
            mixture's log weights are added to its constant column in place.
    """

    def __init__(
        self,
        kernel: _Kernel,
        points: np.ndarray | None,
        p: np.ndarray,
        multivariate: bool,
        rows: np.ndarray | None = None,
    ) -> None:
        self.k = kernel
        self.n = p.shape[0] - 1
        self.points = points if points is not None else np.zeros((self.n, 0))
        self.p = p
        self.logw = np.log(np.maximum(p, 1e-300))
        self.multivariate = multivariate
        self._rows = rows
        if rows is not None:
            rows[:, -1] += self.logw[:-1]

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """``log`` density at the rows of ``x`` (``(c, d)``, all columns active)."""
        k = self.k
        c = x.shape[0]
        if self.multivariate:
            prior = np.full(c, k.prior + self.logw[-1])
            if self.n == 0:
                return prior
            if self._rows is None:
                self._rows = k.kernel_rows(self.points)
                self._rows[:, -1] += self.logw[:-1]
            a, row = k.query_rows(x)
            comp = _gemm_nt(a, self._rows)  # log w_k + log kernel_k(x), less the row term
            return row + _logsumexp_rows(comp, prior - row)  # type: ignore[no-any-return]
        # univariate: a product over columns of one-dimensional mixtures
        out = np.zeros(c)
        lw = self.logw[:-1]
        lp = np.full(c, self.logw[-1])
        mu = self.points[:, k.num]
        log_z = k.log_z(mu)
        for i in range(len(k.num)):
            diff = np.subtract.outer(x[:, k.num[i]] / k.h[i], mu[:, i] / k.h[i])
            comp = -0.5 * diff * diff
            comp += (lw - log_z[:, i])[None, :]
            out += _logsumexp_rows(comp, lp)
        if len(k.cat):  # p(o) = (1 - lam) * (weight of kernels on o) + lam / K * (weight)
            cx, cm = k.codes(x), k.codes(self.points)
            w, w_prior = self.p[:-1], self.p[-1]
            for i in range(len(k.cat)):
                n_opt = int(k.n_opt[i])
                on = np.bincount(cm[:, i], weights=w, minlength=n_opt)
                lam = k.lam[i]
                dens = (1.0 - lam) * on + (lam * w.sum() + w_prior) / n_opt
                out += np.log(dens[cx[:, i]])
        return out

    def sample(self, rng: np.random.Generator, c: int) -> np.ndarray:
        """``c`` draws, ``(c, d)``: a component per draw (per column if univariate)."""
        k = self.k
        dn, dc = len(k.num), len(k.cat)
        out = np.empty((c, dn + dc))
        cdf = np.cumsum(self.p)
        shape = (c, 1) if self.multivariate else (c, dn + dc)
        comp = np.minimum(np.searchsorted(cdf, rng.random(shape) * cdf[-1], side="right"), self.n)
        comp = np.broadcast_to(comp, (c, dn + dc))
        centre = np.minimum(comp, max(self.n - 1, 0))  # the prior's draws use any centre
        if dn:  # numeric: truncated normal around the centre, or uniform (the prior)
            ci = comp[:, :dn]
            u = rng.random((c, dn))
            if self.n:
                mu = self.points[centre[:, :dn], k.num]
                lo, hi = ndtr(-mu / k.h), ndtr((1.0 - mu) / k.h)
                x = np.minimum(np.maximum(mu + k.h * ndtri(lo + u * (hi - lo)), 0.0), 1.0)
                u = np.where(ci == self.n, u, x)
            out[:, k.num] = u
        if dc:  # categorical: keep the centre's option with probability 1 - lam
            ci = comp[:, dn:]
            code = (rng.random((c, dc)) * k.n_opt).astype(int)
            if self.n:
                own = k.codes(self.points)[centre[:, dn:], np.arange(dc)]
                keep = (rng.random((c, dc)) >= k.lam) & (ci < self.n)
                code = np.where(keep, own, code)
            out[:, k.cat] = (code + 0.5) / k.n_opt
        return out


class _BadCache:
    """The bad-set density's kernel shape and kernel rows, kept incrementally.

    The bandwidths of ``g`` follow Scott's rule over the observed trials among the first
    ``_quantize(history.n)`` rows (good and bad alike: the good set is at most 25 rows),
    so they change only when that prefix grows -- every trial up to 256 rows, then once
    per 5 % growth -- or when an old trial of the prefix finishes late. In between, the
    kernel rows (features and normalizers, the costly part) of the trials seen before are
    reused and only new trials' rows are computed. The result equals a fresh computation,
    so proposals stay a function of the history alone.
    """

    def __init__(self) -> None:
        self.history: History | None = None
        self.space: Space | None = None
        self.rows_done = 0
        self.kernels: list[_Kernel | None] = []
        self.b: list[np.ndarray] = []
        self.done = np.zeros(0, dtype=bool)  # rows whose kernel rows are computed
        self.fit_key = (-1, -1)  # (prefix, observed rows in it) of the current fit
        self.good: dict[int, tuple[bytes, _Parzen]] = {}  # group -> (good rows, l)

    def update(self, sampler: TPESampler, layout: _Layout, history: History) -> None:
        """Refit the bandwidths; bring the kernel rows up to date."""
        if (
            self.history is not history
            or self.space is not history.space
            or (history.n < self.rows_done)
        ):
            self.history, self.space, self.rows_done = history, history.space, 0
            self.kernels = [None] * len(layout.groups)
            self.b = [np.zeros((0, 0)) for _ in layout.groups]
            self.done = np.zeros(0, dtype=bool)
            self.fit_key = (-1, -1)
            self.good = {}
        x_all = history.X
        lo, hi = self.rows_done, history.n
        valid = history.valid
        if self.done.shape[0] < hi:  # grow geometrically
            cap = max(hi, 2 * self.done.shape[0], 64)
            self.done = np.concatenate([self.done, np.zeros(cap - self.done.size, dtype=bool)])
        # rows new since the last ask, and older rows whose trial arrived late
        new = np.concatenate(
            [np.flatnonzero(valid[:lo] & ~self.done[:lo]), lo + np.flatnonzero(valid[lo:hi])]
        )
        prefix = _quantize(history.n)
        obs = np.flatnonzero(valid[:prefix] & ~np.isnan(history.Y[:prefix]).any(axis=1))
        # observed rows only accumulate, so (prefix, count) identifies the fitting set
        refit = (prefix, obs.size) != self.fit_key
        self.fit_key = (prefix, obs.size)
        for gi, g in enumerate(layout.groups):
            rows = new
            if refit:
                act = obs[~np.isnan(x_all[obs, g.cols[0]])]
                k = sampler._kernel_fit(g, x_all[act][:, g.cols])
                if not k.same(self.kernels[gi]):
                    self.kernels[gi] = k
                    rows = np.concatenate([np.flatnonzero(self.done[:lo]), new])
            k = self.kernel(gi)
            if not sampler.multivariate:
                continue
            if self.b[gi].shape[0] < self.done.shape[0] or self.b[gi].shape[1] != k.width:
                b = np.zeros((self.done.shape[0], k.width))
                if self.b[gi].shape[1] == k.width:
                    b[:lo] = self.b[gi][:lo]
                self.b[gi] = b
            sub = x_all[rows]
            on = ~np.isnan(sub[:, g.cols[0]])
            if on.any():
                self.b[gi][rows[on]] = k.kernel_rows(sub[on][:, g.cols])
        self.done[new] = True
        self.rows_done = hi

    def kernel(self, gi: int) -> _Kernel:
        k = self.kernels[gi]
        assert k is not None
        return k


# ======================================================================================
# Multi-objective ordering
# ======================================================================================


def _nondominated(y: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``y`` (lower is better) that no other row dominates."""
    n = y.shape[0]
    if y.shape[1] == 2:  # O(n log n): sort by (y0, y1), compare with running minima of y1
        order = np.lexsort((y[:, 1], y[:, 0]))
        y0, y1 = y[order, 0], y[order, 1]
        before = np.minimum.accumulate(np.concatenate([[np.inf], y1[:-1]]))  # min y1 of j < i
        first = np.searchsorted(y0, y0, side="left")  # first row with the same y0
        # dominated: an earlier row is lower in y1, or a row with lower y0 is not higher in y1
        dom = (before < y1) | (before[first] <= y1)
        mask = np.zeros(n, dtype=bool)
        mask[order[~dom]] = True
        return mask
    dominated = np.zeros(n, dtype=bool)
    step = max(1, 2_000_000 // max(n * y.shape[1], 1))
    for s in range(0, n, step):
        blk = y[s : s + step]
        le = (y[None, :, :] <= blk[:, None, :]).all(axis=2)
        lt = (y[None, :, :] < blk[:, None, :]).any(axis=2)
        dominated[s : s + step] = (le & lt).any(axis=1)
    return ~dominated


def _mo_best(y: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` rows chosen front by front (non-domination rank)."""
    remaining = np.arange(y.shape[0])
    chosen: list[np.ndarray] = []
    need = k
    while need > 0 and remaining.size:
        front = remaining[_nondominated(y[remaining])]
        if front.size <= need:
            chosen.append(front)
            need -= front.size
            remaining = np.setdiff1d(remaining, front, assume_unique=True)
            continue
        ranks = np.argsort(np.argsort(y[front], axis=0, kind="stable"), axis=0)
        chosen.append(front[np.argsort(ranks.mean(axis=1), kind="stable")[:need]])
        need = 0
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)


# ======================================================================================
# The sampler
# ======================================================================================


class TPESampler(Sampler):
    """Tree-structured Parzen estimator over any space (see the module docstring).

    Args:
        seed: seeds the startup Sobol sequence; model-based proposals draw from the
            ``rng`` given to :meth:`propose`.
        n_startup: trials with a value needed before the model is used; until then
            proposals are Sobol points.
        n_candidates: draws from ``l(x)`` among which the best ``l / g`` is proposed.
        multivariate: joint kernels over each group's columns; ``False`` models every
            column independently (the original TPE).
        gamma: fraction of the observed trials that form the good set.
        max_good: cap on the size of the good set.
        prior_weight: weight of the prior in each density, in trials.
        bandwidth_factor: multiplier of Scott's rule.
        min_bandwidth: absolute floor of numeric bandwidths, on the unit interval.
        constant_liar: count RUNNING trials (and earlier proposals of a batch) as bad.
        forget: when set, bad trials older than the ``forget`` most recent ones get
            linearly decreasing weights (the oldest ``1 / n``); ``None`` weighs all alike.
        rank_weight: extra weight of the best good trial in ``l``; the weights fall
            linearly with the rank to about 1 for the worst good trial (0: all alike).

    Raises:
        SpecError: an option out of range.

    Example:
        >>> import hypersweep as hs
        >>> study = hs.Study("tpe-doc", space={"x": hs.Float(-2, 2), "y": hs.Int(0, 9)},
        ...                  storage="memory", sampler="tpe", seed=0)
        >>> for _ in range(40):
        ...     t = study.ask()
        ...     _ = study.tell(t, (t.params["x"] - 1) ** 2 + abs(t.params["y"] - 3))
        >>> round(study.best_params["x"]), study.best_params["y"]
        (1, 3)
    """

    name = "tpe"
    learns_from_failures = True

    def __init__(
        self,
        seed: int | None = None,
        n_startup: int = 10,
        n_candidates: int = 64,
        multivariate: bool = True,
        gamma: float = 0.15,
        max_good: int = 25,
        prior_weight: float = 1.0,
        bandwidth_factor: float = 1.0,
        min_bandwidth: float = 0.005,
        constant_liar: bool = True,
        forget: int | None = None,
        rank_weight: float = 3.0,
    ) -> None:
        super().__init__(seed)

        def check(name: str, ok: bool, value: Any, need: str) -> None:
            if not ok:
                raise fail(f"sampler.{name}", f"must be {need}, got {value!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)

        check("n_startup", is_int(n_startup) and n_startup >= 1, n_startup, "an integer >= 1")
        check(
            "n_candidates",
            is_int(n_candidates) and n_candidates >= 1,
            n_candidates,
            "an integer >= 1",
        )
        check("multivariate", isinstance(multivariate, bool), multivariate, "true or false")
        check("gamma", is_num(gamma) and 0 < gamma < 1, gamma, "a number in (0, 1)")
        check("max_good", is_int(max_good) and max_good >= 1, max_good, "an integer >= 1")
        check(
            "prior_weight", is_num(prior_weight) and prior_weight > 0, prior_weight, "a number > 0"
        )
        check(
            "bandwidth_factor",
            is_num(bandwidth_factor) and bandwidth_factor > 0,
            bandwidth_factor,
            "a number > 0",
        )
        check(
            "min_bandwidth",
            is_num(min_bandwidth) and 0 <= min_bandwidth < 1,
            min_bandwidth,
            "a number in [0, 1)",
        )
        check("constant_liar", isinstance(constant_liar, bool), constant_liar, "true or false")
        check(
            "forget",
            forget is None or (is_int(forget) and forget >= 1),
            forget,
            "an integer >= 1 or null",
        )
        check(
            "rank_weight", is_num(rank_weight) and rank_weight >= 0, rank_weight, "a number >= 0"
        )
        self.n_startup = int(n_startup)
        self.n_candidates = int(n_candidates)
        self.multivariate = multivariate
        self.gamma = float(gamma)
        self.max_good = int(max_good)
        self.prior_weight = float(prior_weight)
        self.bandwidth_factor = float(bandwidth_factor)
        self.min_bandwidth = float(min_bandwidth)
        self.constant_liar = constant_liar
        self.forget = None if forget is None else int(forget)
        self.rank_weight = float(rank_weight)
        self._sobol = SobolSampler(seed)
        self._layout: _Layout | None = None
        self._layout_space: Space | None = None
        self._cache = _BadCache()

    _DEFAULTS: dict[str, Any] = {
        "n_startup": 10,
        "n_candidates": 64,
        "multivariate": True,
        "gamma": 0.15,
        "max_good": 25,
        "prior_weight": 1.0,
        "bandwidth_factor": 1.0,
        "min_bandwidth": 0.005,
        "constant_liar": True,
        "forget": None,
        "rank_weight": 3.0,
    }

    def config(self) -> dict[str, Any]:
        out = super().config()
        for k, default in self._DEFAULTS.items():
            v = getattr(self, k)
            if v != default:
                out[k] = v
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)  # caches are rebuilt from the history on demand
        state["_cache"], state["_layout"], state["_layout_space"] = _BadCache(), None, None
        return state

    def n_good(self, n: int) -> int:
        """Size of the good set among ``n`` observed trials."""
        return min(math.ceil(self.gamma * n - 1e-9), self.max_good, n)  # 0.15 * 20 is 3

    # ----------------------------------------------------------------------------------
    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        if space.dim == 0:
            return [Proposal(p) for p in space.decode_many(np.zeros((n, 0)))]
        seed = self.seed_for(history)  # without a seed of its own: the study's
        if self._sobol.seed != seed:
            self._sobol = SobolSampler(seed)
        y = history.Y
        obs_idx = np.flatnonzero(history.valid & ~np.isnan(y).any(axis=1))
        n_obs = obs_idx.size
        if n_obs < self.n_startup:
            start = history.n
            pts = self._sobol.points(space.dim, start, n)
            return replace_failed(
                space,
                history,
                [
                    Proposal(p, key=f"sobol:{start + i}")
                    for i, p in enumerate(space.decode_many(pts))
                ],
                rng,
            )
        layout = self._get_layout(space)
        # split the observed trials into good and bad (row numbers, in trial order)
        k = self.n_good(n_obs)
        y_obs = y[obs_idx]
        if y_obs.shape[1] == 1:
            good = _k_smallest(y_obs[:, 0], k)
        else:
            good = _mo_best(y_obs, k)
        is_bad = np.ones(n_obs, dtype=bool)
        is_bad[good] = False
        good_idx, bad_idx = obs_idx[good], obs_idx[is_bad]
        # rank weights: the best good trial weighs 1 + rank_weight, the worst about 1
        w_good = 1.0 + self.rank_weight * (1.0 - np.arange(k) / k)
        self._cache.update(self, layout, history)
        w_bad = self._bad_weights(bad_idx.size)
        failed = np.flatnonzero((history.state == FAILED) & history.valid)
        if failed.size:  # failed trials are evidence: they join the bad set
            bad_idx = np.concatenate([bad_idx, failed])
            w_bad = np.concatenate([w_bad, np.ones(failed.size)])
        if self.constant_liar:  # RUNNING trials count as bad observations
            running = np.flatnonzero((history.state == RUNNING) & history.valid)
            bad_idx = np.concatenate([bad_idx, running])
            w_bad = np.concatenate([w_bad, np.ones(running.size)])
        x_all = history.X
        # failed rows, and the observed rows they are told apart from
        fails = (x_all[failed], x_all[obs_idx] if failed.size else x_all[:0])
        terms = self._constraint_terms(history, obs_idx) if history.constraints else []
        out = np.zeros((0, space.dim))
        for _ in range(n):
            if terms:
                u = self._propose_constrained(
                    space,
                    layout,
                    x_all,
                    (good_idx, w_good, bad_idx, w_bad, k / n_obs),
                    terms,
                    out,
                    fails,
                    rng,
                )
            else:
                u = self._propose_one(
                    layout, x_all, good_idx, w_good, bad_idx, w_bad, out, rng, fails
                )
            out = np.concatenate([out, u[None, :]])
        return [Proposal(p) for p in space.decode_many(out)]

    # ----------------------------------------------------------------------------------
    # constraints (c-TPE) and failed configurations
    # ----------------------------------------------------------------------------------
    def _constraint_terms(
        self, history: History, obs_idx: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]]:
        """One ``(good rows, weights, bad rows, weights, gamma)`` per constraint that some
        observed trial violates (c-TPE, Watanabe & Hutter 2023).

        The good set of a constraint is its feasible trials; when fewer than the
        objective's good-set size are feasible, the trials with the smallest violations
        fill it up (the split moves to a quantile, so ``l`` is never empty). A constraint
        every trial meets contributes nothing (its density ratio is 1 everywhere).
        """
        C = history.C[obs_idx]
        n_obs = obs_idx.size
        need = self.n_good(n_obs)
        terms = []
        for j in range(C.shape[1]):
            v = np.where(np.isnan(C[:, j]), np.inf, C[:, j])
            ok = v <= 0
            if ok.all():
                continue
            if ok.sum() >= need:
                good = np.flatnonzero(ok)
            else:
                good = np.sort(_k_smallest(v, need))
            is_bad = np.ones(n_obs, dtype=bool)
            is_bad[good] = False
            g_idx, b_idx = obs_idx[good], obs_idx[is_bad]
            terms.append(
                (g_idx, np.ones(g_idx.size), b_idx, np.ones(b_idx.size), good.size / n_obs)
            )
        return terms

    def _densities(
        self,
        gi: int,
        g: _Group,
        x_all: np.ndarray,
        good_idx: np.ndarray,
        w_good: np.ndarray,
        bad_idx: np.ndarray,
        w_bad: np.ndarray,
        extra: np.ndarray,
    ) -> tuple[_Parzen, _Parzen]:
        """``(l, g)`` of one group from the rows where the group is active."""
        x_good = x_all[good_idx]
        if g.parent < 0:
            return (
                self._fit(x_good, w_good, g),
                self._bad_density(gi, g, x_all, bad_idx, w_bad, extra),
            )
        first = g.cols[0]
        act = ~np.isnan(x_good[:, first])
        bad_act = ~np.isnan(x_all[bad_idx, first])
        extra_act = extra[~np.isnan(extra[:, first])] if extra.shape[0] else extra
        return (
            self._fit(x_good[act], w_good[act], g),
            self._bad_density(gi, g, x_all, bad_idx[bad_act], w_bad[bad_act], extra_act),
        )

    def _propose_constrained(
        self,
        space: Space,
        layout: _Layout,
        x_all: np.ndarray,
        objective: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float],
        terms: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]],
        extra: np.ndarray,
        fails: tuple[np.ndarray, np.ndarray],
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One proposal maximizing the c-TPE acquisition.

        For the objective and each constraint ``i`` with good-set fraction ``gamma_i``,
        the expected constrained improvement under the TPE model (independent densities
        per constraint) is proportional to ``prod_i (gamma_i + (1 - gamma_i) g_i(x) /
        l_i(x))^-1``; its log is the score. Candidates are drawn from every ``l_i``
        (``n_candidates`` each), so a feasible region that the objective's good set
        misses is still searched. The liars (RUNNING trials, earlier proposals of the
        batch) and FAILED trials join the objective's bad set only.
        """
        all_terms = [objective, *terms]
        dens = []
        for t, (g_idx, wg, b_idx, wb, _) in enumerate(all_terms):
            ext = extra if t == 0 else extra[:0]
            dens.append(
                [
                    self._densities(gi, g, x_all, g_idx, wg, b_idx, wb, ext)
                    for gi, g in enumerate(layout.groups)
                ]
            )
        c = self.n_candidates
        cand = np.vstack([self._draw(layout, [d[0] for d in dens_t], c, rng) for dens_t in dens])
        score = np.zeros(cand.shape[0])
        for t, term in enumerate(all_terms):
            gamma = term[4]
            if gamma >= 1.0:
                continue
            r = np.zeros(cand.shape[0])
            for gi, g in enumerate(layout.groups):
                rows = self._active_rows(layout, cand, g)
                if rows.size == 0:
                    continue
                lx, gx = dens[t][gi]
                pts = cand[np.ix_(rows, g.cols)]
                r[rows] += lx.logpdf(pts) - gx.logpdf(pts)
            score -= np.logaddexp(math.log(gamma), math.log1p(-gamma) - r)
        return self._best_unfailed(layout, cand, score, fails, rng, space)

    def _draw(
        self, layout: _Layout, ls: list[_Parzen], c: int, rng: np.random.Generator
    ) -> np.ndarray:
        """``c`` candidates drawn group by group from the densities ``ls``."""
        cand = np.full((c, layout.dim), np.nan)
        for gi, g in enumerate(layout.groups):
            rows = self._active_rows(layout, cand, g)
            if rows.size == 0:
                continue
            draws = ls[gi].sample(rng, rows.size)
            for pos, j in g.discrete:
                draws[:, pos] = layout.snap(j, draws[:, pos])
            cand[np.ix_(rows, g.cols)] = draws
        return cand

    @staticmethod
    def _active_rows(layout: _Layout, cand: np.ndarray, g: _Group) -> np.ndarray:
        if g.parent < 0:
            return np.arange(cand.shape[0])
        k = layout.parent_options[g.parent]
        par = cand[:, g.parent]
        code = np.minimum((np.nan_to_num(par) * k).astype(int), k - 1)
        return np.flatnonzero(~np.isnan(par) & (code == g.option))

    def _best_unfailed(
        self,
        layout: _Layout,
        cand: np.ndarray,
        score: np.ndarray,
        fails: tuple[np.ndarray, np.ndarray],
        rng: np.random.Generator,
        space: Space | None = None,
    ) -> np.ndarray:
        """The best-scoring candidate that does not look like a failure.

        A candidate looks like one when it repeats a failed configuration or its nearest
        finished trial failed (:func:`~hypersweep.samplers.base.looks_failed`). If every
        candidate is such, the best one that is not a failed configuration wins, else a
        uniform draw that is not one (a space whose every configuration failed gets its
        best candidate back)."""
        x_failed, x_ok = fails
        if x_failed.shape[0] == 0:
            return cand[int(np.argmax(score))]  # type: ignore[no-any-return]
        space = space if space is not None else self._layout_space
        assert space is not None
        order = np.argsort(-score, kind="stable")
        snapped = space.encode_many(space.decode_many(cand[order]))
        like = looks_failed(snapped, x_failed, x_ok)
        if not like.all():
            return cand[order[int(np.argmin(like))]]  # type: ignore[no-any-return]
        hit = near_any(x_failed, snapped)
        if not hit.all():
            return cand[order[int(np.argmin(hit))]]  # type: ignore[no-any-return]
        return unfailed_draws(space, x_failed, rng, 1)[0]  # type: ignore[no-any-return]

    def _get_layout(self, space: Space) -> _Layout:
        if self._layout is None or self._layout_space is not space:
            self._layout = _Layout(space)
            self._layout_space = space
            self._cache = _BadCache()
        return self._layout

    def _bad_weights(self, m: int) -> np.ndarray:
        w = np.ones(m)
        if self.forget is not None and m > self.forget:
            old = m - self.forget  # rows are in trial order: the first ones are oldest
            w[:old] = np.linspace(1.0 / m, 1.0, old, endpoint=False)
        return w

    def _kernel_fit(self, group: _Group, points: np.ndarray) -> _Kernel:
        d_eff = len(group.cols) if self.multivariate else 1
        return _Kernel.fit(group, points, d_eff, self.bandwidth_factor, self.min_bandwidth)

    def _fit(self, x: np.ndarray, w: np.ndarray, group: _Group) -> _Parzen:
        """The good-set density of ``group`` from rows ``x`` where it is active."""
        pts = x[:, group.cols]
        kernel = self._kernel_fit(group, pts)
        return _Parzen(kernel, pts, _mixture_weights(w, self.prior_weight), self.multivariate)

    def _bad_density(
        self,
        gi: int,
        group: _Group,
        x_all: np.ndarray,
        idx: np.ndarray,
        w: np.ndarray,
        extra: np.ndarray,
    ) -> _Parzen:
        """The bad-set density of ``group``: cached rows ``idx`` plus the liars ``extra``."""
        kernel = self._cache.kernel(gi)
        if extra.shape[0]:
            w = np.concatenate([w, np.ones(extra.shape[0])])
        p = _mixture_weights(w, self.prior_weight)
        if not self.multivariate:
            pts = np.concatenate([x_all[idx][:, group.cols], extra[:, group.cols]])
            return _Parzen(kernel, pts, p, False)
        b = self._cache.b[gi][idx]  # a copy: fancy indexing
        if extra.shape[0]:
            b = np.concatenate([b, kernel.kernel_rows(extra[:, group.cols])])
        return _Parzen(kernel, None, p, True, b)

    def _propose_one(
        self,
        layout: _Layout,
        x_all: np.ndarray,
        good_idx: np.ndarray,
        w_good: np.ndarray,
        bad_idx: np.ndarray,
        w_bad: np.ndarray,
        extra: np.ndarray,
        rng: np.random.Generator,
        fails: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """One proposal: the best ``l / g`` among draws from ``l``, group by group (never a
        failed configuration of ``fails = (failed rows, observed rows)``)."""
        c = self.n_candidates
        cand = np.full((c, layout.dim), np.nan)
        score = np.zeros(c)
        x_good = x_all[good_idx]
        active_rows: list[np.ndarray] = []
        for gi, g in enumerate(layout.groups):
            if g.parent < 0:
                rows = np.arange(c)
            else:  # candidates whose parent column chose this group's option
                parent_rows = active_rows[g.parent_group]
                k = layout.parent_options[g.parent]
                code = np.minimum((cand[parent_rows, g.parent] * k).astype(int), k - 1)
                rows = parent_rows[code == g.option]
            active_rows.append(rows)
            if rows.size == 0:
                continue
            # l changes only with the good set (rarely, in a long study): reuse it
            key = good_idx.tobytes()
            hit = self._cache.good.get(gi)
            if g.parent < 0:  # top level: active on every trial
                lx = hit[1] if hit and hit[0] == key else self._fit(x_good, w_good, g)
                gx = self._bad_density(gi, g, x_all, bad_idx, w_bad, extra)
            else:
                first = g.cols[0]
                if hit and hit[0] == key:
                    lx = hit[1]
                else:
                    good_act = ~np.isnan(x_good[:, first])
                    lx = self._fit(x_good[good_act], w_good[good_act], g)
                bad_act = ~np.isnan(x_all[bad_idx, first])
                extra_act = extra[~np.isnan(extra[:, first])] if extra.shape[0] else extra
                gx = self._bad_density(gi, g, x_all, bad_idx[bad_act], w_bad[bad_act], extra_act)
            self._cache.good[gi] = (key, lx)
            draws = lx.sample(rng, rows.size)
            for pos, j in g.discrete:
                draws[:, pos] = layout.snap(j, draws[:, pos])
            if g.parent < 0:
                cand[:, g.cols] = draws
                score += lx.logpdf(draws) - gx.logpdf(draws)
            else:
                cand[np.ix_(rows, g.cols)] = draws
                score[rows] += lx.logpdf(draws) - gx.logpdf(draws)
        if fails is None:
            fails = (np.zeros((0, layout.dim)), np.zeros((0, layout.dim)))
        return self._best_unfailed(layout, cand, score, fails, rng)
