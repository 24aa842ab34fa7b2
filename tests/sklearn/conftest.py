"""One BLAS thread per test: the estimators here are tiny, and threads fighting over the
cores cost far more than they give (a 10x slowdown on a loaded 2-core machine)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
