"""The GP sampler's acquisition functions: what its candidate search maximizes.

Both are logs, plus the log probability of feasibility of the failure and constraint
models (:mod:`._feasibility`), and both give their gradient with respect to the
continuous features for the L-BFGS-B polish:

* :class:`LogEI`: one objective, the log expected improvement below the incumbent;
* :class:`LogEHVI`: two or three objectives, one GP each, the log expected hypervolume
  improvement over the current front (:mod:`._ehvi`).
"""

from __future__ import annotations

import numpy as np

from hypersweep.samplers.gp._ehvi import log_ehvi
from hypersweep.samplers.gp._ei import log_ei, log_h
from hypersweep.samplers.gp._feasibility import FeasibilityTerm, log_pof, log_pof_grad
from hypersweep.samplers.gp._model import Posterior


class Acquisition:
    """Feasibility terms shared by both acquisitions; ``use`` is False while no feasible
    trial exists (the acquisition is then the probability of feasibility alone)."""

    def __init__(self, terms: list[FeasibilityTerm], use: bool) -> None:
        self.terms = terms
        self.use = use

    #: 1 / lengthscale of each feature (scales the candidates and the polish)
    inv_ls: np.ndarray

    def _value(self, Zq: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _value_grad(self, Zq: np.ndarray, feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __call__(self, Zq: np.ndarray) -> np.ndarray:
        a = self._value(Zq) if self.use else np.zeros(Zq.shape[0])
        return a + log_pof(self.terms, Zq) if self.terms else a

    def with_grad(self, Zq: np.ndarray, feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values at ``Zq`` and their gradients by the features ``feat``."""
        if self.use:
            val, grad = self._value_grad(Zq, feat)
        else:
            val, grad = np.zeros(Zq.shape[0]), np.zeros((Zq.shape[0], feat.size))
        if self.terms:
            v2, g2 = log_pof_grad(self.terms, Zq, feat)
            val, grad = val + v2, grad + g2
        return val, grad


class LogEI(Acquisition):
    """The log expected improvement below ``best`` (lower is better)."""

    def __init__(
        self, post: Posterior, best: float, terms: list[FeasibilityTerm], use: bool
    ) -> None:
        super().__init__(terms, use)
        self.post = post
        self.best = best
        self.inv_ls = post.inv_ls

    def _value(self, Zq: np.ndarray) -> np.ndarray:
        return log_ei(self.best, *self.post.predict(Zq))

    def _value_grad(self, Zq: np.ndarray, feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, var, dmu, dvar = self.post.predict_grad(Zq, feat)
        sd = np.sqrt(var)
        z = (self.best - mu) / sd
        lh, g = log_h(z)
        d_mu = -g / sd
        d_var = (1.0 - z * g) / (2.0 * var)
        return lh + np.log(sd), d_mu[:, None] * dmu + d_var[:, None] * dvar


class LowMean(Acquisition):
    """The negative posterior mean: where the model expects the best value (a guess,
    with no exploration)."""

    def __init__(self, post: Posterior, terms: list[FeasibilityTerm], use: bool) -> None:
        super().__init__(terms, use)
        self.post = post
        self.inv_ls = post.inv_ls

    def _value(self, Zq: np.ndarray) -> np.ndarray:
        return -self.post.predict(Zq)[0]

    def _value_grad(self, Zq: np.ndarray, feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, _, dmu, _ = self.post.predict_grad(Zq, feat)
        return -mu, -dmu


class LogEHVI(Acquisition):
    """The log expected hypervolume improvement over the boxes ``(lower, upper)`` of the
    non-dominated region, one independent GP per objective (lower is better)."""

    def __init__(
        self,
        posts: list[Posterior],
        lower: np.ndarray,
        upper: np.ndarray,
        terms: list[FeasibilityTerm],
        use: bool,
    ) -> None:
        super().__init__(terms, use)
        self.posts = posts
        self.lower, self.upper = lower, upper
        # the objectives' geometric mean lengthscale per feature
        self.inv_ls = np.exp(np.mean([np.log(p.inv_ls) for p in posts], axis=0))

    def _value(self, Zq: np.ndarray) -> np.ndarray:
        pred = [p.predict(Zq) for p in self.posts]
        mu = np.column_stack([m for m, _ in pred])
        var = np.column_stack([v for _, v in pred])
        out = np.empty(Zq.shape[0])
        for s in range(0, Zq.shape[0], 256):  # bounded memory: (256, boxes) at a time
            out[s : s + 256] = log_ehvi(self.lower, self.upper, mu[s : s + 256], var[s : s + 256])[
                0
            ]
        return out

    def _value_grad(self, Zq: np.ndarray, feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pred = [p.predict_grad(Zq, feat) for p in self.posts]
        mu = np.column_stack([p[0] for p in pred])
        var = np.column_stack([p[1] for p in pred])
        val, g_mu, g_var = log_ehvi(self.lower, self.upper, mu, var, grad=True)
        assert g_mu is not None and g_var is not None
        grad = np.zeros((Zq.shape[0], feat.size))
        for j, (_, _, dmu, dvar) in enumerate(pred):
            grad += g_mu[:, j, None] * dmu + g_var[:, j, None] * dvar
        finite = np.isfinite(val)
        grad[~finite] = 0.0
        return np.where(finite, val, -1e300), grad
