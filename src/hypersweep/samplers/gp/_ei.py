"""The numerically stable log expected improvement (Ament et al. 2023)."""

from __future__ import annotations

import math

import numpy as np

from hypersweep.samplers.gp._model import LOG_SQRT_2PI, LOG_SQRT_PI_2
from hypersweep.samplers.gp._scipy import erfcx, log_ndtr, ndtr

# ======================================================================================
# log expected improvement
# ======================================================================================


def log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log h(z)`` with ``h(z) = phi(z) + z * Phi(z)``, and its derivative ``Phi(z) / h(z)``.

    For minimization ``EI(x) = sigma * h((best - mu) / sigma)``, so ``log EI = log h(z) +
    log sigma``. The branches follow Ament et al. (2023), eq. (9): the direct formula for
    ``z > -1``; for ``-1e3 < z <= -1``, ``log phi(z) + log1mexp(log(|z| sqrt(pi/2)
    erfcx(|z|/sqrt 2)))``, which avoids the cancellation in ``phi(z) + z Phi(z)``; and the
    asymptotic ``log(phi(z) / z^2) + log1p(-3 / z^2)`` below ``-1e3``. Finite everywhere, so
    the acquisition still ranks candidates where plain EI underflows to 0.

    Example:
        >>> v, g = log_h(np.array([0.0, -40.0]))
        >>> np.round(v, 3).tolist()
        [-0.919, -808.299]
    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    hi = z > -1.0
    zz = z[hi]
    out[hi] = np.log(np.exp(-0.5 * zz * zz - LOG_SQRT_2PI) + zz * ndtr(zz))
    mid = (~hi) & (z > -1e3)
    zz = -z[mid]
    c = np.log(zz * erfcx(zz / math.sqrt(2.0))) + LOG_SQRT_PI_2  # log(|z| Phi(z) / phi(z))
    log1mexp = np.where(c > -math.log(2.0), np.log(-np.expm1(c)), np.log1p(-np.exp(c)))
    out[mid] = -0.5 * zz * zz - LOG_SQRT_2PI + log1mexp
    lo = z <= -1e3
    zz = -z[lo]
    out[lo] = -0.5 * zz * zz - LOG_SQRT_2PI - 2.0 * np.log(zz) + np.log1p(-3.0 / (zz * zz))
    grad = np.exp(log_ndtr(z) - out)
    return out, grad


def log_ei(best: float, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    sd = np.sqrt(var)
    return log_h((best - mu) / sd)[0] + np.log(sd)
