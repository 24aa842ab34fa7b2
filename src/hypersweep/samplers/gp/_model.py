"""The GP model: hyperparameter priors, Matérn kernel, posterior, MAP fit, output transforms."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hypersweep.samplers.gp._scipy import dpotrf, dpotri, dpotrs, dtrtrs, minimize

_SQRT5 = math.sqrt(5.0)
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)

# Hyperparameters live on log scale: theta = [log l_1 .. log l_D, log s^2, log noise].
# Inputs are the unit cube, outputs are standardized, so these numbers are unit-free.
SIG_PRIOR = (0.0, 1.0)  # log-normal (mean, sd of the log): median 1
_SIG_BOUNDS = (math.log(5e-2), math.log(20.0))
NOISE_PRIOR = (math.log(1e-6), 4.0)  # median 1e-6, but anything up to ~1e-3 is cheap
_NOISE_BOUNDS = (math.log(1e-10), math.log(1.0))
_LS_MIN = 5e-3
# Both L-BFGS-B runs (hyperparameters, acquisition polish) stop when an iteration improves
# the objective by less than this relative amount (scipy's default is 2.2e-9): finer
# optima did not change proposals measurably on BBOB and cost a third more iterations.
FTOL = 1e-6
# Up to this many observations the hyperparameters are refit at every proposal; from then
# on at every second one (odd counts use the fit without the newest observation), the
# posterior always using every observation.
REFIT_ALWAYS_BELOW = 20


def ls_prior(n_dims: int) -> tuple[float, float]:
    """Log-normal lengthscale prior: median 0.5 up to 5 dimensions, then growing as sqrt(D).

    The sqrt(D) growth follows Hvarfner, Hellsten & Nardi 2024 ("Vanilla Bayesian
    optimization performs great in high dimensions", ICML): in more dimensions, unit-cube
    points are farther apart, and short lengthscales would make the model uninformative.
    """
    return math.log(0.5) + 0.5 * math.log(max(n_dims, 5) / 5.0), 1.0


def pessimism(n_dims: int) -> float:
    """Where the prior mean sits between the mean (0) and the worst (1) observed value.

    ``min(1, max(0.5, D / 10))``: the part of the cube near its boundary grows with the
    dimension (within 0.05 of a face: 19% of the volume at D = 2, 65% at D = 10), and so
    does expected improvement's pull toward it. Measured on BBOB (24 functions, instances
    1-2, mean log10 precision at 100 evaluations, for 0 / 0.5 / 1): d = 2: -1.70 / -1.80
    / -1.66; d = 5: 0.37 / 0.11 / 0.10; d = 10: 1.23 / 0.88 / 0.73 (the 0 column at
    d = 5 and 10 was measured before the coordinate neighbours joined the candidates).
    """
    return min(1.0, max(0.5, n_dims / 10.0))


def _ls_bounds(n_dims: int) -> tuple[float, float]:
    """``[5e-3, 3]`` up to 10 dimensions, the upper end growing as sqrt(D) beyond.

    Capping the lengthscale keeps every parameter a little relevant: with few trials the
    likelihood readily declares a parameter irrelevant (lengthscale -> infinity) and the
    search then never varies it (measured on Hartmann-6 and BBOB; see ``GPSampler``).
    """
    return math.log(_LS_MIN), math.log(3.0 * math.sqrt(max(n_dims, 10) / 10.0))


# ======================================================================================
# the Gaussian process
# ======================================================================================


def _matern(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matérn-5/2 correlation ``(1 + s + s^2/3) e^-s`` with ``s = sqrt5 r``, and
    ``-(dk/dr) / r = 5/3 (1 + s) e^-s`` (finite at ``r = 0``)."""
    s = _SQRT5 * r
    e = np.exp(-s)
    return (1.0 + s + s * s / 3.0) * e, (5.0 / 3.0) * (1.0 + s) * e


def sqdist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(d, 0.0)


def _cholesky(K: np.ndarray, noise: float) -> np.ndarray:
    """Lower Cholesky factor of ``K + noise I``, adding jitter if it is not positive definite."""
    n = K.shape[0]
    jitter = 0.0
    scale = float(K.diagonal().mean()) if n else 1.0
    for _ in range(12):
        c, info = dpotrf(K + (noise + jitter) * np.eye(n), lower=1, clean=1)
        if info == 0:
            return np.asarray(c)
        jitter = max(jitter * 10.0, 1e-10 * scale)
    raise np.linalg.LinAlgError("the kernel matrix is not positive definite")


@dataclass
class Posterior:
    """The GP conditioned on ``(Z, y)`` with fixed hyperparameters."""

    Z: np.ndarray  # (n, P) training inputs
    y: np.ndarray  # (n,) standardized targets
    inv_ls: np.ndarray  # (P,) 1 / lengthscale of each feature
    signal: float
    noise: float
    L: np.ndarray
    alpha: np.ndarray
    #: the prior mean (transfer); ``None``: zero
    mean: PriorMean | None = None

    @classmethod
    def build(
        cls,
        Z: np.ndarray,
        y: np.ndarray,
        inv_ls: np.ndarray,
        signal: float,
        noise: float,
        mean: PriorMean | None = None,
    ) -> Posterior:
        Zs = Z * inv_ls
        K = signal * _matern(np.sqrt(sqdist(Zs, Zs)))[0]
        L = _cholesky(K, noise)
        alpha = dpotrs(L, y if mean is None else y - mean(Z), lower=1)[0]
        return cls(Z, y, inv_ls, signal, noise, L, alpha, mean)

    def predict(self, Zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent function at ``Zq``."""
        r2 = sqdist(Zq * self.inv_ls, self.Z * self.inv_ls)
        k = self.signal * _matern(np.sqrt(r2))[0]
        v = dtrtrs(self.L, k.T, lower=1)[0]
        var = self.signal - np.einsum("ij,ij->j", v, v)
        mu = k @ self.alpha
        if self.mean is not None:
            mu = mu + self.mean(Zq)
        return mu, np.maximum(var, 1e-12 * self.signal)

    def loo(self, rows: int) -> float:
        """The leave-one-out log predictive density of the first ``rows`` training
        values, in closed form (Rasmussen & Williams 2006, eq. 5.10-5.12): ``mu_-i =
        y_i - alpha_i / [K^-1]_ii``, ``var_-i = 1 / [K^-1]_ii``."""
        n = self.y.shape[0]
        Linv = dtrtrs(self.L, np.eye(n), lower=1)[0]
        var = 1.0 / (Linv[:, :rows] ** 2).sum(0)
        r = self.alpha[:rows] * var
        return float(np.sum(-0.5 * np.log(var) - 0.5 * r * r / var))

    def mean_grad(self, Zq: np.ndarray, feat: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The posterior mean at ``Zq`` and (``feat`` given) its gradient by those
        features, without the variance (zero prior mean)."""
        r2 = sqdist(Zq * self.inv_ls, self.Z * self.inv_ls)
        k, b = _matern(np.sqrt(r2))
        mu = self.signal * (k @ self.alpha)
        if feat is None:
            return mu, np.zeros((Zq.shape[0], 0))
        ga = self.signal * b * self.alpha
        il2 = self.inv_ls[feat] ** 2
        return mu, -(ga.sum(1)[:, None] * Zq[:, feat] - ga @ self.Z[:, feat]) * il2

    def predict_grad(
        self, Zq: np.ndarray, feat: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance, and their gradients with respect to the features ``feat``.

        With ``k_i = s^2 m(r_i)``, ``dk_i/dx = -b_i (x - x_i) / l^2`` where ``b`` is the
        second output of :func:`_matern`; ``dmu = sum_i alpha_i dk_i`` and ``dvar = -2
        sum_i (K^-1 k)_i dk_i``.
        """
        r2 = sqdist(Zq * self.inv_ls, self.Z * self.inv_ls)
        k, b = _matern(np.sqrt(r2))
        k *= self.signal
        b *= self.signal
        w = dpotrs(self.L, k.T, lower=1)[0].T  # K^-1 k, (m, n)
        var = self.signal - np.einsum("ij,ij->i", k, w)
        floor = 1e-12 * self.signal
        il2 = self.inv_ls[feat] ** 2
        Xq, Xt = Zq[:, feat], self.Z[:, feat]
        ga = b * self.alpha
        dmu = -(ga.sum(1)[:, None] * Xq - ga @ Xt) * il2
        gw = b * w
        dvar = 2.0 * (gw.sum(1)[:, None] * Xq - gw @ Xt) * il2
        dvar[var <= floor] = 0.0
        mu = k @ self.alpha
        if self.mean is not None:
            m, dm = self.mean.with_grad(Zq, feat)
            mu, dmu = mu + m, dmu + dm
        return mu, np.maximum(var, floor), dmu, dvar


@dataclass(frozen=True)
class PriorMean:
    """A prior mean from another GP, the *source* (a related study's model of its own
    objective, fit to its values under ``source_warp``): ``warp(a m(z) + b)`` with ``m``
    the source's mean mapped back to its raw values, ``a``, ``b`` calibrated on this
    study's raw values, and ``warp`` this study's output transform (transfer; see
    :mod:`hypersweep.samplers.gp._transfer`)."""

    source: Posterior
    source_warp: Warp
    a: float
    b: float
    warp: Warp

    def raw(self, Zq: np.ndarray) -> np.ndarray:
        """The source's mean at ``Zq`` in its raw values."""
        return self.source_warp.inverse(self.source.mean_grad(Zq, None)[0])[0]

    def __call__(self, Zq: np.ndarray) -> np.ndarray:
        return self.warp(self.a * self.raw(Zq) + self.b)

    def with_grad(self, Zq: np.ndarray, feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, dm = self.source.mean_grad(Zq, feat)
        v, dv = self.source_warp.inverse(m)
        u = self.a * v + self.b
        return self.warp(u), (self.a * self.warp.slope(u) * dv)[:, None] * dm


@dataclass
class FitData:
    """One objective's GP and the data it was fit on (see ``GPSampler._model``)."""

    keep: np.ndarray
    Xc: np.ndarray
    Z: np.ndarray
    y: np.ndarray
    y_obs: np.ndarray
    post: Posterior


def _neg_log_prior(theta: np.ndarray, G: int) -> tuple[float, np.ndarray]:
    """Negative log prior of ``theta`` (independent log-normals) and its gradient."""
    grad = np.zeros_like(theta)
    val = 0.0
    for sl, (m, s) in (
        (slice(0, G), ls_prior(G)),
        (slice(G, G + 1), SIG_PRIOR),
        (slice(G + 1, G + 2), NOISE_PRIOR),
    ):
        d = (theta[sl] - m) / s
        val += 0.5 * float(d @ d)
        grad[sl] = d / s
    return val, grad


class Fit:
    """Negative log posterior of the hyperparameters, with its analytic gradient.

    ``theta = [log l_1 .. log l_G, log s^2, log noise]``. The gradient of the log marginal
    likelihood is ``1/2 tr((alpha alpha^T - K^-1) dK/dtheta)`` (Rasmussen & Williams, eq.
    5.9), with ``dK/dlog l_g = s^2 b(r) D2_g / l_g^2``, ``dK/dlog s^2 = K_f`` and
    ``dK/dlog noise = noise I``.
    """

    def __init__(self, D2: np.ndarray, y: np.ndarray) -> None:
        self.D2 = D2  # (n*n, G) squared input distances per lengthscale group
        self.y = y
        self.n = y.shape[0]
        self.G = D2.shape[1]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        n, G = self.n, self.G
        inv_l2 = np.exp(-2.0 * theta[:G])
        signal = math.exp(theta[G])
        noise = math.exp(theta[G + 1])
        k, b = _matern(np.sqrt((self.D2 @ inv_l2).reshape(n, n)))
        K = signal * k
        c, info = dpotrf(K + noise * np.eye(n), lower=1, clean=0)
        if info != 0:
            return 1e10, np.zeros_like(theta)
        alpha = dpotrs(c, self.y, lower=1)[0]
        Kinv = np.tril(dpotri(c, lower=1)[0])
        Kinv += np.tril(Kinv, -1).T
        nll = 0.5 * self.y @ alpha + np.log(np.diag(c)).sum() + n * LOG_SQRT_2PI
        W = np.outer(alpha, alpha) - Kinv
        grad = np.empty_like(theta)
        grad[:G] = -0.5 * signal * ((W * b).ravel() @ self.D2) * inv_l2
        grad[G] = -0.5 * float(np.sum(W * K))
        grad[G + 1] = -0.5 * noise * float(np.trace(W))
        lp, lp_grad = _neg_log_prior(theta, G)
        return float(nll + lp), grad + lp_grad


def fit_hyper(
    Z: np.ndarray, y: np.ndarray, groups: np.ndarray, G: int, starts: list[np.ndarray]
) -> np.ndarray:
    """MAP hyperparameters by L-BFGS-B from each start; the best optimum wins."""
    n = Z.shape[0]
    D2 = np.empty((n * n, G))
    for g in range(G):
        F = Z[:, groups == g]
        D2[:, g] = sqdist(F, F).ravel()
    fun = Fit(D2, y)
    bounds = [_ls_bounds(G)] * G + [_SIG_BOUNDS, _NOISE_BOUNDS]
    lo, hi = np.array(bounds).T
    best: tuple[float, np.ndarray] | None = None
    for x0 in starts:
        res = minimize(
            fun,
            np.clip(x0, lo, hi),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 200, "ftol": FTOL},
        )
        if np.isfinite(res.fun) and (best is None or res.fun < best[0]):
            best = (float(res.fun), res.x)
    return starts[0] if best is None else best[1]


# ======================================================================================
# output transforms
# ======================================================================================


@dataclass(frozen=True)
class Warp:
    """The output transform fit to values ``y`` (see :func:`transform`), as a function
    that can be applied to other values: ``t`` and ``s`` of the compression, then the
    mean and standard deviation of the compressed ``y``."""

    t: float
    s: float
    mean: float
    sd: float

    @classmethod
    def fit(cls, y: np.ndarray) -> Warp:
        y = np.asarray(y, dtype=float)
        q25, q50, q75 = np.percentile(y, [25, 50, 75])
        s = float(q75 - q25)
        t = float(q50 + s) if s > 0 else math.inf
        c = cls._compress(y, t, s)
        sd = float(c.std())
        return cls(t, s, float(c.mean()), sd if sd > 0 else 1.0)

    @staticmethod
    def _compress(y: np.ndarray, t: float, s: float) -> np.ndarray:
        if not s > 0:
            return y
        return np.where(y > t, t + s * np.log1p(np.maximum(y - t, 0.0) / s), y)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return (self._compress(np.asarray(y, dtype=float), self.t, self.s) - self.mean) / self.sd

    def inverse(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The values whose warp is ``w``, and the derivative of that inverse at ``w``."""
        c = np.asarray(w, dtype=float) * self.sd + self.mean
        if not self.s > 0:
            return c, np.full(c.shape, self.sd)
        over = np.minimum(np.maximum(c - self.t, 0.0) / self.s, 700.0)  # no overflow
        grow = np.expm1(over)
        return np.where(c > self.t, self.t + self.s * grow, c), self.sd * (1.0 + grow)

    def slope(self, y: np.ndarray) -> np.ndarray:
        """The derivative of the warp at ``y``."""
        if not self.s > 0:
            return np.full(np.shape(y), 1.0 / self.sd)
        over = np.maximum(np.asarray(y, dtype=float) - self.t, 0.0)
        return self.s / (self.s + over) / self.sd


def transform(y: np.ndarray) -> np.ndarray:
    """Compress the heavy upper tail of ``y`` (lower is better), then standardize.

    Values above ``t = median + IQR`` become ``t + IQR * log1p((y - t) / IQR)``: continuous
    with slope 1 at ``t``, logarithmic beyond. A few very bad trials (a diverged training
    run, the walls of an ill-conditioned function) then no longer squash the differences
    among the good ones, which are what the optimizer needs to resolve; the order of all
    values is kept. Measured on BBOB this beats plain standardization, a full
    ``log(y - min)`` warp and a rank (copula) transform, which both lose the
    magnitudes near the optimum. (:class:`Warp` is the same transform as a function.)
    """
    return Warp.fit(y)(y)


def scalarize(Y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """ParEGO's augmented Chebyshev scalarization under random simplex weights."""
    lo, hi = Y.min(0), Y.max(0)
    F = (Y - lo) / np.where(hi > lo, hi - lo, 1.0)
    w = rng.dirichlet(np.ones(Y.shape[1]))
    return (F * w).max(1) + 0.05 * (F @ w)
