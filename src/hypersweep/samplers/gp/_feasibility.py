"""Feasibility models of the GP sampler: where trials succeed and meet their constraints.

Two kinds of "probability of feasibility" terms multiply the expected improvement
(constrained EI, Gardner, Kusner, Xu, Weinberger & Cunningham 2014, "Bayesian optimization
with inequality constraints", ICML; for crashes: Gelbart, Snoek & Adams 2014, "Bayesian
optimization with unknown constraints", UAI):

* **Success.** When some trials FAILED, a GP is fit to labels ``-1`` (completed) and
  ``+1`` (failed) over every finished configuration: a least-squares classifier
  (Rasmussen & Williams 2006, section 6.5) with the same Matérn kernel and priors as the
  objective's model. ``P(success | x) = Phi(-mu(x) / sd(x))``: near 1 next to completed
  trials, near 0 next to failed ones, 1/2 far from both.
* **Constraints.** For each constraint that some observed trial violates, a GP on its
  violation (``metric - max`` or ``min - metric``, standardized) over the observed trials
  (a trial that did not report the metric is left out of that model);
  ``P(c(x) <= 0) = Phi((t - mu(x)) / sd(x))`` with ``t`` the standardized 0.

Their logs are added to the log EI. With no feasible observation yet, the acquisition is
the log probability of feasibility alone (Gardner et al., section 3): the search first
looks for the feasible region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hypersweep.samplers.gp._scipy import log_ndtr

__all__ = ["FeasibilityTerm", "log_pof", "log_pof_grad"]


@dataclass
class FeasibilityTerm:
    """``P(f(x) <= thr)`` under a GP posterior ``post`` of ``f``."""

    name: str
    post: object  # gp.Posterior (kept untyped to avoid an import cycle)
    thr: float


def log_pof(terms: list[FeasibilityTerm], Zq: np.ndarray) -> np.ndarray:
    """Summed log probability of feasibility at the kernel inputs ``Zq``."""
    out = np.zeros(Zq.shape[0])
    for t in terms:
        mu, var = t.post.predict(Zq)  # type: ignore[attr-defined]
        out += log_ndtr((t.thr - mu) / np.sqrt(var))
    return out


def log_pof_grad(
    terms: list[FeasibilityTerm], Zq: np.ndarray, feat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`log_pof` and its gradient with respect to the features ``feat``."""
    val = np.zeros(Zq.shape[0])
    grad = np.zeros((Zq.shape[0], feat.size))
    for t in terms:
        mu, var, dmu, dvar = t.post.predict_grad(Zq, feat)  # type: ignore[attr-defined]
        sd = np.sqrt(var)
        z = (t.thr - mu) / sd
        lp = log_ndtr(z)
        ratio = np.exp(-0.5 * z * z - 0.5 * math.log(2.0 * math.pi) - lp)  # phi / Phi
        dz = -dmu / sd[:, None] - (z / (2.0 * var))[:, None] * dvar
        val += lp
        grad += ratio[:, None] * dz
    return val, grad


def even_subset(n: int, m: int) -> np.ndarray:
    """At most ``m`` of ``n`` row indices, evenly spaced (all of them when ``n <= m``)."""
    if n <= m:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, m).round().astype(int))
