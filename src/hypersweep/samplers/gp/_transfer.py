"""Transfer for the GP: a related study's model as the prior mean.

A study warm-started with ``mode: prior`` (see :mod:`hypersweep.samplers.prior`) gives
the GP the prior's rows. They do not join the GP's data (a shifted optimum among them
blurs the model where it must converge finely); a GP fit on them alone, the *source
model*, becomes the prior mean of this study's GP, calibrated on this study's own
values (:func:`calibrated`): the source model is fit to the prior's values under their
own output transform (the tail compression that lets a GP resolve values near the
optimum), its mean is mapped back to raw values, ``a m(z) + b`` maps it onto this
study's raw values by least squares, and this study's output transform applies to the
mean as to its values. The study's GP then models what differs
from the related problem, which near a shifted optimum is smooth (for a quadratic bowl
moved by ``delta``, a linear function), and far from the study's own trials it predicts
what the related problem knew.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from hypersweep.history import History
from hypersweep.samplers.gp._features import Features
from hypersweep.samplers.gp._model import Posterior, PriorMean, Warp


class SourceModel:
    """The GP of the prior's first objective, fit to its rows (those ``keep`` selects,
    as for the study's own model) under their own output transform by ``fit`` (the
    sampler's MAP fit of a GP on ``(Z, y)``); zero prior mean; cached by the prior."""

    def __init__(self) -> None:
        self._cached: tuple[bytes, Posterior, Warp] | None = None

    def __call__(
        self,
        feats: Features,
        history: History,
        keep: Callable[[np.ndarray], np.ndarray],
        fit: Callable[[np.ndarray, np.ndarray, Features], Posterior],
    ) -> tuple[Posterior, Warp]:
        p = history.prior
        assert p is not None
        digest = hashlib.sha1(
            repr(p.X.shape).encode() + p.X.tobytes() + p.Y[:, 0].tobytes()
        ).digest()
        if self._cached is not None and self._cached[0] == digest:
            return self._cached[1], self._cached[2]
        rows = keep(p.Y[:, 0])
        warp = Warp.fit(p.Y[rows, 0])
        post = fit(feats(feats.canon(p.X[rows])), warp(p.Y[rows, 0]), feats)
        self._cached = (digest, post, warp)
        return post, warp


def calibrated(source: tuple[Posterior, Warp], Z: np.ndarray, y_raw: np.ndarray) -> PriorMean:
    """The source's mean fit to this study's raw observations ``(Z, y_raw)`` (lower is
    better): in raw values on both sides, ``a m(z) + b`` by least squares with ``a >= 0``
    (a source that ranks them the wrong way round adds nothing but the constant), then
    put through the study's output transform fit to ``y_raw``, so that the mean and the
    study's values are on one scale."""
    post, source_warp = source
    m = source_warp.inverse(post.mean_grad(Z, None)[0])[0]
    mc, yc = m - m.mean(), y_raw - y_raw.mean()
    var = float(mc @ mc)
    a = max(0.0, float(mc @ yc) / var) if var > 0 else 0.0
    return PriorMean(post, source_warp, a, float(y_raw.mean() - a * m.mean()), Warp.fit(y_raw))
