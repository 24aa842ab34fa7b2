"""TPE's kernels and Parzen estimators, and the numerical helpers they use."""

from __future__ import annotations

import math

import numpy as np

from hypersweep.samplers.tpe._layout import Group
from hypersweep.samplers.tpe._normal import ndtr, ndtri

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_UNIFORM_STD = 1.0 / math.sqrt(12.0)  # spread of the uniform prior on [0, 1]

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
        return a @ b.T
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
    return np.log(comp.sum(axis=1) + np.exp(extra - top)) + top


def k_smallest(y: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest values, ties going to earlier indices (``O(n)``)."""
    if k >= y.size:
        return np.argsort(y, kind="stable")
    kth = np.partition(y, k - 1)[k - 1]
    cand = np.flatnonzero(y <= kth)  # ascending indices
    return cand[np.argsort(y[cand], kind="stable")[:k]]


def quantize(n: int) -> int:
    """``n`` itself up to 256, then the largest point of the grid ``256 * 1.05^k`` <= n.

    The bad set's bandwidths are fit on the first ``quantize(history.n)`` rows, so they
    change every trial early on and once per 5 % growth of a long study (see
    :class:`BadCache`).
    """
    if n <= 256:
        return n
    k = math.floor(math.log(n / 256.0) / math.log(1.05) + 1e-9)
    return min(int(256.0 * 1.05**k), n)


# ======================================================================================
# Kernels and Parzen estimators
# ======================================================================================


class Kernel:
    """The kernel shape of one group: numeric bandwidths ``h`` and categorical ``lam``.

    A kernel centred on ``m`` (numeric part) with options ``o`` (categorical part) has
    ``log k(x) = -|x~ - m~|^2 / 2 - sum_j log Z_j(m) + sum_c log p_c(x_c | o_c)`` with
    ``x~ = x / h``, where ``Z_j`` is the truncated Gaussian's normalizer on ``[0, 1]`` (with
    ``h sqrt(2 pi)``). Expanding the square, a whole mixture is evaluated with one
    matrix product of *query features* ``[x~, one-hot(x)]`` and *kernel features*
    ``[m~, delta * one-hot(o)]``.
    """

    def __init__(self, group: Group, h: np.ndarray, lam: np.ndarray) -> None:
        self.num, self.cat, self.n_opt = group.num, group.cat, group.n_opt
        self.h = h
        self.lam = lam
        self.log_match = np.log(1.0 - lam + lam / self.n_opt)
        self.log_miss = np.log(lam / self.n_opt)
        self.offsets = (np.cumsum(self.n_opt) - self.n_opt).astype(int)
        # [x~ | one-hot options | 1] . [m~ | delta * one-hot | const]
        self.width = len(self.num) + int(self.n_opt.sum()) + 1
        self.prior = float(-np.log(self.n_opt).sum())  # log density of the uniform prior
        # options' prior probabilities where a choice has weights (else uniform, 1 / k)
        self.cat_probs = group.cat_probs
        self._log_probs = [None if w is None else np.log(w) for w in group.cat_probs]

    @classmethod
    def fit(
        cls, group: Group, points: np.ndarray, d_eff: int, beta: float, min_bw: float
    ) -> Kernel:
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

    def prior_logpdf(self, x: np.ndarray) -> np.ndarray:
        """``log`` density of the prior at the rows of ``x``: uniform on the numeric
        columns, the options' probabilities (``1 / k`` without weights) on the others."""
        out = np.full(x.shape[0], self.prior)
        if self.cat_probs:
            codes = self.codes(x)
            for i, lp in enumerate(self._log_probs):
                if lp is not None:
                    out += lp[codes[:, i]] + math.log(self.n_opt[i])
        return out

    def same(self, other: Kernel | None) -> bool:
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
        # one call for both bounds (the same values, half the per-call overhead)
        both = ndtr(np.stack(np.broadcast_arrays((1.0 - mu) / self.h, -mu / self.h)))
        z = both[0] - both[1]
        return np.log(np.maximum(z, 1e-300)) + np.log(self.h) + LOG_SQRT_2PI

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


def mixture_weights(w: np.ndarray, prior_weight: float) -> np.ndarray:
    """Mixture probabilities: ``w`` rescaled to mean 1, then the prior's, all normalized."""
    n = w.shape[0]
    total = float(w.sum())
    scaled = w * (n / total) if total > 0 else np.ones(n)
    return np.append(scaled, prior_weight) / (n + prior_weight)


class Parzen:
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
        kernel: Kernel,
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
            if k.cat_probs:
                prior = k.prior_logpdf(x) + self.logw[-1]
            else:
                prior = np.full(c, k.prior + self.logw[-1])
            if self.n == 0:
                return prior
            if self._rows is None:
                self._rows = k.kernel_rows(self.points)
                self._rows[:, -1] += self.logw[:-1]
            a, row = k.query_rows(x)
            comp = _gemm_nt(a, self._rows)  # log w_k + log kernel_k(x), less the row term
            return row + _logsumexp_rows(comp, prior - row)
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
                probs = k.cat_probs[i] if k.cat_probs else None
                if probs is None:
                    dens = (1.0 - lam) * on + (lam * w.sum() + w_prior) / n_opt
                else:
                    dens = (1.0 - lam) * on + lam * w.sum() / n_opt + w_prior * probs
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
                lo, hi = ndtr(np.stack(np.broadcast_arrays(-mu / k.h, (1.0 - mu) / k.h)))
                x = np.minimum(np.maximum(mu + k.h * ndtri(lo + u * (hi - lo)), 0.0), 1.0)
                u = np.where(ci == self.n, u, x)
            out[:, k.num] = u
        if dc:  # categorical: keep the centre's option with probability 1 - lam
            ci = comp[:, dn:]
            r = rng.random((c, dc))
            code = (r * k.n_opt).astype(int)
            for i, probs in enumerate(k.cat_probs):  # the prior's draws follow the weights
                if probs is not None:
                    pick = np.minimum(
                        np.searchsorted(np.cumsum(probs), r[:, i], "right"), k.n_opt[i] - 1
                    )
                    code[:, i] = np.where(ci[:, i] == self.n, pick, code[:, i])
            if self.n:
                own = k.codes(self.points)[centre[:, dn:], np.arange(dc)]
                keep = (rng.random((c, dc)) >= k.lam) & (ci < self.n)
                code = np.where(keep, own, code)
            out[:, k.cat] = (code + 0.5) / k.n_opt
        return out
