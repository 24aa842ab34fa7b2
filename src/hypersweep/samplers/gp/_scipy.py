"""The scipy functions the GP sampler uses, imported on first call: ``scipy.optimize``,
``scipy.stats`` and ``scipy.special`` cost about 0.5 s to import, which a study pays only
once its GP starts modelling (not for its first, Sobol, proposals)."""

from __future__ import annotations

from typing import Any


def ndtr(*args: Any, **kwargs: Any) -> Any:
    from scipy.special import ndtr as f

    return f(*args, **kwargs)


def log_ndtr(*args: Any, **kwargs: Any) -> Any:
    from scipy.special import log_ndtr as f

    return f(*args, **kwargs)


def erfcx(*args: Any, **kwargs: Any) -> Any:
    from scipy.special import erfcx as f

    return f(*args, **kwargs)


def minimize(*args: Any, **kwargs: Any) -> Any:
    from scipy.optimize import minimize as f

    return f(*args, **kwargs)


def dpotrf(*args: Any, **kwargs: Any) -> Any:
    from scipy.linalg.lapack import dpotrf as f

    return f(*args, **kwargs)


def dpotri(*args: Any, **kwargs: Any) -> Any:
    from scipy.linalg.lapack import dpotri as f

    return f(*args, **kwargs)


def dpotrs(*args: Any, **kwargs: Any) -> Any:
    from scipy.linalg.lapack import dpotrs as f

    return f(*args, **kwargs)


def dtrtrs(*args: Any, **kwargs: Any) -> Any:
    from scipy.linalg.lapack import dtrtrs as f

    return f(*args, **kwargs)


def sobol(*args: Any, **kwargs: Any) -> Any:
    """``scipy.stats.qmc.Sobol(...)``."""
    from scipy.stats import qmc

    return qmc.Sobol(*args, **kwargs)
