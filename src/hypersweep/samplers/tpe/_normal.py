"""The standard normal CDF and its inverse in numpy: the values of ``scipy.special.ndtr``
and ``ndtri`` (the same Cephes rational approximations, evaluated in the same order: bit
for bit where numpy's ``exp``/``log`` take their baseline path, within a few ulp where they
use AVX-512; ``tests/samplers/test_tpe.py`` compares them), without importing scipy.special
(about 0.2 s: most of a one-second study, where TPE needs them from its 11th trial).
:func:`ndtr` and :func:`ndtri` use scipy's own ufuncs once scipy.special is imported
anyway, or after :data:`SWITCH_AFTER` calls."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ndtr", "ndtri", "numpy_ndtr", "numpy_ndtri"]

#: calls served in numpy before scipy.special is imported for good: its ufuncs cost ~1 us a
#: call against ~0.1 ms here, so a long study amortizes the 0.2 s import; the values are the
#: same either way, so the switch changes no proposal
SWITCH_AFTER = 2000
_calls = 0
_scipy: tuple[Callable[..., Any], Callable[..., Any]] | None = None


def _fast() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """scipy.special's (ndtr, ndtri) once it is imported anyway or the calls make it pay."""
    global _calls, _scipy
    if _scipy is None:
        _calls += 1
        if _calls < SWITCH_AFTER and "scipy.special" not in sys.modules:
            return None
        try:
            from scipy.special import ndtr as f
            from scipy.special import ndtri as g
        except ImportError:  # pragma: no cover - scipy is a dependency
            _calls = -(2**62)
            return None
        _scipy = (f, g)
    return _scipy


_SQRT1_2 = 0.70710678118654752440
_SQRT2PI = 2.50662827463100050242e0
_MAXLOG = 7.09782712893383996732e2  # log(DBL_MAX)
_EXP_M2 = 0.13533528323661269189  # exp(-2)

# rational approximations (Cephes Math Library, S. L. Moshier; as in scipy's xsf)
_P = (
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
)
_Q = (
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
)
_R = (
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
)
_S = (
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
)
_T = (
    9.60497373987051638749e0,
    9.00260197203842689217e1,
    2.23200534594684319226e3,
    7.00332514112805075473e3,
    5.55923013010394962768e4,
)
_U = (
    3.35617141647503099647e1,
    5.21357949780152679795e2,
    4.59432382970980127987e3,
    2.26290000613890934246e4,
    4.92673942608635921086e4,
)
_P0 = (
    -5.99633501014107895267e1,
    9.80010754185999661536e1,
    -5.66762857469070293439e1,
    1.39312609387279679503e1,
    -1.23916583867381258016e0,
)
_Q0 = (
    1.95448858338141759834e0,
    4.67627912898881538453e0,
    8.63602421390890590575e1,
    -2.25462687854119370527e2,
    2.00260212380060660359e2,
    -8.20372256168333339912e1,
    1.59056225126211695515e1,
    -1.18331621121330003142e0,
)
_P1 = (
    4.05544892305962419923e0,
    3.15251094599893866154e1,
    5.71628192246421288162e1,
    4.40805073893200834700e1,
    1.46849561928858024014e1,
    2.18663306850790267539e0,
    -1.40256079171354495875e-1,
    -3.50424626827848203418e-2,
    -8.57456785154685413611e-4,
)
_Q1 = (
    1.57799883256466749731e1,
    4.53907635128879210584e1,
    4.13172038254672030440e1,
    1.50425385692907503408e1,
    2.50464946208309415979e0,
    -1.42182922854787788574e-1,
    -3.80806407691578277194e-2,
    -9.33259480895457427372e-4,
)
_P2 = (
    3.23774891776946035970e0,
    6.91522889068984211695e0,
    3.93881025292474443415e0,
    1.33303460815807542389e0,
    2.01485389549179081538e-1,
    1.23716634817820021358e-2,
    3.01581553508235416007e-4,
    2.65806974686737550832e-6,
    6.23974539184983293730e-9,
)
_Q2 = (
    6.02427039364742014255e0,
    3.67983563856160859403e0,
    1.37702099489081330271e0,
    2.16236993594496635890e-1,
    1.34204006088543189037e-2,
    3.28014464682127739104e-4,
    2.89247864745380683936e-6,
    6.79019408009981274425e-9,
)


def _polevl(x: np.ndarray, coef: tuple[float, ...]) -> np.ndarray:
    out = x * coef[0]
    out += coef[1]
    for c in coef[2:]:
        out *= x
        out += c
    return out


def _p1evl(x: np.ndarray, coef: tuple[float, ...]) -> np.ndarray:
    out = x + coef[0]
    for c in coef[1:]:
        out *= x
        out += c
    return out


def _ndtr_small(x: np.ndarray) -> np.ndarray:
    """``ndtr`` where ``|x| < 1`` (``x = a / sqrt(2)``): through erf."""
    zz = x * x
    return 0.5 + 0.5 * (x * _polevl(zz, _T) / _p1evl(zz, _U))


def _ndtr_big(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``ndtr`` where ``|x| >= 1``: through erfc (``z = |x|``); NaN stays NaN."""
    m = -z * z
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        e = np.exp(m)
        near = z < 8.0
        if near.all():
            r = (e * _polevl(z, _P)) / _p1evl(z, _Q)
        elif not near.any():
            r = (e * _polevl(z, _R)) / _p1evl(z, _S)
        else:
            r = np.where(
                near,
                (e * _polevl(z, _P)) / _p1evl(z, _Q),
                (e * _polevl(z, _R)) / _p1evl(z, _S),
            )
    r[m < -_MAXLOG] = 0.0
    half = 0.5 * r
    return np.where(x > 0, 1.0 - half, half)


def ndtr(a: np.ndarray | float) -> np.ndarray:
    """The standard normal CDF, elementwise."""
    fast = _fast()
    if fast is not None:
        return np.asarray(fast[0](a))
    return numpy_ndtr(a)


def ndtri(y0: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`ndtr`, elementwise (``-inf`` at 0, ``inf`` at 1, NaN outside)."""
    fast = _fast()
    if fast is not None:
        return np.asarray(fast[1](y0))
    return numpy_ndtri(y0)


def numpy_ndtr(a: np.ndarray | float) -> np.ndarray:
    """:func:`ndtr` in numpy."""
    arr = np.asarray(a, dtype=np.float64)
    x = arr.reshape(-1) * _SQRT1_2
    z = np.abs(x)
    small = z < 1.0
    if small.all():
        return _ndtr_small(x).reshape(arr.shape)
    y = _ndtr_big(x, z)
    if small.any():
        y[small] = _ndtr_small(x[small])
    return y.reshape(arr.shape)


def numpy_ndtri(y0: np.ndarray | float) -> np.ndarray:
    """:func:`ndtri` in numpy."""
    y0 = np.asarray(y0, dtype=np.float64)
    out = np.full_like(y0, np.nan)
    out[y0 == 0.0] = -np.inf
    out[y0 == 1.0] = np.inf
    ok = (y0 > 0.0) & (y0 < 1.0)
    yv = y0[ok]
    flip = yv > (1.0 - _EXP_M2)
    y = np.where(flip, 1.0 - yv, yv)
    res = np.empty_like(y)
    mid = y > _EXP_M2
    if mid.any():
        ym = y[mid] - 0.5
        y2 = ym * ym
        xm = ym + ym * (y2 * _polevl(y2, _P0) / _p1evl(y2, _Q0))
        res[mid] = xm * _SQRT2PI
    tail = ~mid
    if tail.any():
        yt = y[tail]
        x = np.sqrt(-2.0 * np.log(yt))
        x0 = x - np.log(x) / x
        z = 1.0 / x
        x1 = np.where(
            x < 8.0,
            z * _polevl(z, _P1) / _p1evl(z, _Q1),
            z * _polevl(z, _P2) / _p1evl(z, _Q2),
        )
        xt = x0 - x1
        res[tail] = np.where(flip[tail], xt, -xt)
    out[ok] = res
    return out
