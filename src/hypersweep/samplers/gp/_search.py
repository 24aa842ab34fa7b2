"""The GP sampler's candidate search: where an acquisition is maximized.

A candidate set (scrambled Sobol points, Gaussian perturbations of the incumbents at
six scales, their coordinate neighbours; :func:`candidates`), the best five polished
together by one L-BFGS-B run over their continuous coordinates (:func:`polish`), and
the best snapped candidate that is not seen, running or known to fail
(:func:`maximize`). Shared by the single- and multi-objective acquisitions.
"""

from __future__ import annotations

import numpy as np

from hypersweep.samplers.base import near_any, unfailed_draws
from hypersweep.samplers.gp._acquisition import Acquisition
from hypersweep.samplers.gp._features import Features
from hypersweep.samplers.gp._model import FTOL
from hypersweep.samplers.gp._scipy import minimize
from hypersweep.samplers.gp._scipy import sobol as scipy_sobol


def candidates(
    feats: Features,
    incumbents: np.ndarray,
    ls: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Sobol points, perturbations of the incumbents, and their coordinate neighbours."""
    D = feats.space.dim
    sobol = scipy_sobol(d=D, scramble=True, seed=rng).random(1024 if D <= 10 else 2048)
    # Gaussian perturbations at six scales (relative to the lengthscales); half of
    # them move every coordinate, half only a random few (sparse moves matter in
    # higher dimensions and for discrete parameters)
    rel = np.minimum(ls / np.exp(np.mean(np.log(ls))), 10.0)  # geometric mean 1
    scales = np.repeat([0.3, 0.1, 0.03, 0.01, 0.003, 0.001], 32)
    base = np.repeat(incumbents, scales.size, axis=0)
    step = np.tile(scales, incumbents.shape[0])[:, None] * rel[None, :]
    move = rng.random(base.shape) < max(2.0 / D, 0.2)
    move[rng.random(base.shape[0]) < 0.5] = True
    move[np.arange(base.shape[0]), rng.integers(0, D, base.shape[0])] = True
    local = base + move * step * rng.standard_normal(base.shape)
    local = np.where(np.isnan(local), rng.random(local.shape), local)  # inactive: any
    for jc in feats.categorical:  # keep the incumbent's option, or re-draw it (1 in 4)
        flip = rng.random(local.shape[0]) < 0.25
        local[flip, jc] = rng.random(int(flip.sum()))
    # one coordinate at a time: every option of a categorical, the neighbouring
    # values of an int or step, steps of a continuous parameter
    nb = []
    for x in incumbents[:3]:
        for j in range(D):
            if np.isnan(x[j]):
                continue
            vals = feats.neighbours(j, float(x[j]))
            if j in feats.continuous:
                vals = x[j] + (vals - x[j]) * rel[j]
            rows = np.repeat(x[None, :], len(vals), axis=0)
            rows[:, j] = vals
            nb.append(rows)
    parts = [sobol, _reflect(local)]
    if nb:
        nbs = np.vstack(nb)
        parts.append(_reflect(np.where(np.isnan(nbs), 0.5, nbs)))
    return np.vstack(parts)


def maximize(
    acq: Acquisition,
    feats: Features,
    incumbents: np.ndarray,
    seen: np.ndarray,
    rng: np.random.Generator,
    failed_c: np.ndarray | None = None,
) -> np.ndarray:
    C = candidates(feats, incumbents, 1.0 / acq.inv_ls[feats.start], rng)
    Cc = feats.canon(C)
    a = acq(feats(Cc))
    order = np.argsort(-a, kind="stable")
    polished = polish(acq, feats, C[order[:5]], Cc[order[:5]])
    cand = np.vstack([polished, C[order[:50]]])
    a = acq(feats(feats.canon(cand)))
    space = feats.space
    for i in np.argsort(-a, kind="stable"):
        snapped = feats.canon(space.encode_many(space.decode_many(cand[i][None, :])))
        if _contains(seen, snapped[0]):
            continue
        if failed_c is not None and failed_c.shape[0] and near_any(failed_c, snapped)[0]:
            continue  # a configuration seen to fail is never proposed again
        return cand[i]
    if failed_c is not None and failed_c.shape[0]:
        return unfailed_draws(space, failed_c, rng, 1)[0]
    return rng.random(space.dim)  # every good candidate is taken: explore


def polish(acq: Acquisition, feats: Features, U0: np.ndarray, Uc: np.ndarray) -> np.ndarray:
    """One L-BFGS-B run over the active continuous coordinates of several starts at
    once (the objective is their summed acquisition, so they do not interact)."""
    cols, fcols = feats.continuous, feats.continuous_feat
    act = ~np.isnan(Uc[:, cols])  # (B, c): the coordinates that may move
    if not act.any():
        return U0
    Zbase = feats(Uc)
    # precondition: optimize x / lengthscale, so every coordinate has a unit scale
    scale = np.broadcast_to(acq.inv_ls[fcols], act.shape)[act]

    def fun(xs: np.ndarray) -> tuple[float, np.ndarray]:
        Zq = Zbase.copy()
        sub = Zq[:, fcols]
        sub[act] = xs / scale
        Zq[:, fcols] = sub
        val, grad = acq.with_grad(Zq, fcols)
        return -float(val.sum()), -grad[act] / scale

    x0 = Uc[:, cols][act] * scale
    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(np.zeros_like(scale), scale)),
        options={"maxiter": 100, "ftol": FTOL},
    )
    out = U0.copy()
    sub = out[:, cols]
    sub[act] = np.clip(res.x / scale, 0.0, 1.0)
    out[:, cols] = sub
    return out


def _reflect(U: np.ndarray) -> np.ndarray:
    """Fold values outside [0, 1] back inside (mirror at the bounds)."""
    U = np.mod(U, 2.0)
    return np.where(U > 1.0, 2.0 - U, U)


def _contains(rows: np.ndarray, u: np.ndarray) -> bool:
    same = (np.abs(rows - u) < 1e-12) | (np.isnan(rows) & np.isnan(u))
    return bool(same.all(axis=1).any())
