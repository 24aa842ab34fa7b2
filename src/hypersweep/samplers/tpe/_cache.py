"""The bad-set density's kernel rows, kept incrementally across asks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hypersweep.samplers.base import (
    History,
)
from hypersweep.samplers.tpe._layout import Layout
from hypersweep.samplers.tpe._parzen import Kernel, Parzen, quantize
from hypersweep.space import Space

if TYPE_CHECKING:
    from hypersweep.samplers.tpe._sampler import TPESampler


class BadCache:
    """The bad-set density's kernel shape and kernel rows, kept incrementally.

    The bandwidths of ``g`` follow Scott's rule over the observed trials among the first
    ``quantize(history.n)`` rows (good and bad alike: the good set is at most 25 rows),
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
        self.kernels: list[Kernel | None] = []
        self.b: list[np.ndarray] = []
        self.done = np.zeros(0, dtype=bool)  # rows whose kernel rows are computed
        self.fit_key = (-1, -1)  # (prefix, observed rows in it) of the current fit
        self.good: dict[int, tuple[bytes, Parzen]] = {}  # group -> (good rows, l)

    def update(self, sampler: TPESampler, layout: Layout, history: History) -> None:
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
        prefix = quantize(history.n)
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

    def kernel(self, gi: int) -> Kernel:
        k = self.kernels[gi]
        assert k is not None
        return k
