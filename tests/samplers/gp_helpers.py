"""Checks shared by the GP tests."""

from __future__ import annotations

import numpy as np


def assert_posterior_gradients(post, Zq: np.ndarray, eps: float = 1e-6) -> None:
    """``post.predict_grad``'s mean and variance gradients against central differences of
    ``post.predict``, and its mean against ``predict``'s."""
    dims = np.arange(Zq.shape[1])
    mu, _, dmu, dvar = post.predict_grad(Zq, dims)
    np.testing.assert_allclose(mu, post.predict(Zq)[0], atol=1e-12)
    for j in dims:
        e = np.zeros_like(Zq)
        e[:, j] = eps
        (m1, v1), (m0, v0) = post.predict(Zq + e), post.predict(Zq - e)
        np.testing.assert_allclose(dmu[:, j], (m1 - m0) / (2 * eps), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dvar[:, j], (v1 - v0) / (2 * eps), rtol=1e-5, atol=1e-6)
