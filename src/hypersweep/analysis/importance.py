"""Which parameters matter: importance and sensitivity from a study's finished trials.

Three methods, all on the study's unit-cube encoding (each parameter's sampling prior:
log scale for a log parameter, equal mass per option) and none running extra trials:

* ``fanova``: functional ANOVA of a random forest fit to the trials (Hutter, Hoos and
  Leyton-Brown 2014). Main effects are exact integrals over the trees' leaves of the
  forest's marginals (the pair's on a 64 x 64 grid), divided by the forest's variance;
  total effects are Jansen estimates on the same forest.
* ``sobol``: Sobol' first-order (Saltelli 2010) and total (Jansen) indices and the top
  pair's interaction, Monte Carlo estimates on the same random-forest surrogate.
* ``ped-anova``: how much each parameter matters for reaching the top ``quantile`` of
  trials (Watanabe et al. 2023): the Pearson divergence between its values in the top
  trials and in all trials, normalized to sum to 1; no surrogate is fit. From each
  divergence its mean over random top sets of the same size is subtracted (what a
  parameter without effect scores from sampling noise alone), so such a one scores ~0.

A conditional parameter is extended over the whole space as one that the objective
ignores where it is inactive: its inactive entries are filled with uniform draws (seeded).

Every estimate comes with a bootstrap percentile interval: ``ped-anova`` resamples the
trials; the forest methods resample the trees (each fit to its own bootstrap resample of
the trials) and the Monte Carlo points.

The forest methods need scikit-learn (``pip install 'hypersweep[analysis]'``).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hypersweep.errors import HypersweepError

if TYPE_CHECKING:
    from hypersweep.study import Study

__all__ = ["METHODS", "Importance", "Interaction", "ParamImportance", "importance"]

METHODS = ("fanova", "ped-anova", "sobol")
_NULL_DRAWS = 32


@dataclass(frozen=True)
class ParamImportance:
    """One parameter's importance.

    Attributes:
        name: the parameter.
        importance: the headline figure: the total effect (``fanova``, ``sobol``: the
            fraction of the objective's variance the parameter takes part in) or the
            normalized divergence (``ped-anova``).
        low, high: its bootstrap interval.
        first: the first-order (main) effect (``ped-anova``: same as ``importance``).
        first_low, first_high: its bootstrap interval.
    """

    name: str
    importance: float
    low: float
    high: float
    first: float
    first_low: float
    first_high: float


@dataclass(frozen=True)
class Interaction:
    """The interaction of the two most important parameters, as a fraction of the
    variance (the pair's closed effect minus both main effects); ``fanova`` and ``sobol``
    only (``Importance.interaction`` is ``None`` for ``ped-anova``)."""

    params: tuple[str, str]
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Importance:
    """The result of :func:`importance`: parameters ordered most important first."""

    method: str
    objective: str
    n_trials: int
    level: float
    params: tuple[ParamImportance, ...]
    interaction: Interaction | None

    def __getitem__(self, name: str) -> ParamImportance:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def ranking(self) -> list[str]:
        """Parameter names, most important first."""
        return [p.name for p in self.params]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serializable form."""
        return {
            "method": self.method,
            "objective": self.objective,
            "n_trials": self.n_trials,
            "level": self.level,
            "params": [vars(p) for p in self.params],
            "interaction": None
            if self.interaction is None
            else {**vars(self.interaction), "params": list(self.interaction.params)},
        }


#: the finished trials :func:`importance` uses at most by default (a random subset beyond)
MAX_TRIALS = 5000


def importance(
    study: Study,
    method: str = "fanova",
    *,
    params: Sequence[str] | None = None,
    objective: int | str = 0,
    n_bootstrap: int = 100,
    level: float = 0.9,
    seed: int = 0,
    n_trees: int = 32,
    n_samples: int = 1024,
    quantile: float = 0.1,
    max_trials: int | None = MAX_TRIALS,
) -> Importance:
    """How much each parameter matters for ``objective``, from the finished trials.

    Args:
        study: the study (synced first).
        method: ``"fanova"``, ``"sobol"`` or ``"ped-anova"`` (see the module docstring).
        params: the parameters to report (default: every non-fixed parameter); the
            estimates always use every parameter, so fractions stay fractions of the
            whole variance.
        objective: which objective of a multi-objective study (index or metric name).
        n_bootstrap: bootstrap replicates for the intervals (0: no intervals).
        level: the intervals' coverage.
        seed: seeds the forest, the Monte Carlo points and the bootstrap.
        n_trees: trees of the forest (``fanova``, ``sobol``).
        n_samples: Monte Carlo base points (``fanova`` totals, ``sobol``).
        quantile: the top fraction of trials ``ped-anova`` explains.
        max_trials: at most this many finished trials are used, drawn at random (seeded)
            when the study has more (``None``: all). A forest grown on 100k trials has
            ~100k leaves per tree and takes minutes to decompose, while the variance
            shares of a few parameters are settled long before; the result's
            ``n_trials`` is the number used.

    Example:
        >>> import hypersweep as hs
        >>> space = {"x": hs.Float(0, 1), "z": hs.Float(0, 1)}
        >>> s = hs.Study("imp-doc", space=space, sampler="random", storage="memory", seed=0)
        >>> for _ in range(60):
        ...     t = s.ask()
        ...     _ = s.tell(t, (t.params["x"] - 0.3) ** 2)
        >>> importance(s, "ped-anova").ranking()
        ['x', 'z']
    """
    if method not in METHODS:
        close = difflib.get_close_matches(str(method), METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise HypersweepError(
            f"importance: unknown method {method!r}{hint}; known: {', '.join(METHODS)}"
        )
    if not 0 < level < 1:
        raise HypersweepError(f"importance: level must be between 0 and 1, got {level!r}")
    if not 0 < quantile < 1:
        raise HypersweepError(f"importance: quantile must be between 0 and 1, got {quantile!r}")
    if n_bootstrap < 0 or n_trees < 1 or n_samples < 2:
        raise HypersweepError(
            "importance: n_bootstrap >= 0, n_trees >= 1 and n_samples >= 2 are needed, got "
            f"{n_bootstrap}, {n_trees}, {n_samples}"
        )
    if max_trials is not None and max_trials < 2:
        raise HypersweepError(f"importance: max_trials must be >= 2 or None, got {max_trials!r}")
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    names, keep, n_options, U, y, metric = _encoded(study, params, objective, rng)
    if max_trials is not None and U.shape[0] > max_trials:
        pick = np.sort(rng.choice(U.shape[0], size=max_trials, replace=False))
        U, y = U[pick], y[pick]
    with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only cost
        if method == "ped-anova":
            est = _ped_anova(U, y, n_options, quantile, n_bootstrap, rng)
        else:
            est = _forest_method(method, U, y, keep, n_trees, n_samples, n_bootstrap, seed, rng)
    return _result(method, metric, U.shape[0], level, names, keep, est)


# data ------------------------------------------------------------------------------------
def _encoded(
    study: Study, params: Sequence[str] | None, objective: int | str, rng: np.random.Generator
) -> tuple[list[str], list[int], np.ndarray, np.ndarray, np.ndarray, str]:
    """``(names, keep, n_options, U, y, metric)``: every column's name, the columns to
    report, the finished trials' encodings (inactive entries filled uniformly) and their
    values (lower is better)."""
    study.sync()
    h = study.history
    metrics = [o.metric for o in h.objectives]
    if isinstance(objective, str):
        if objective not in metrics:
            raise HypersweepError(
                f"importance: no objective {objective!r}; the study's: {', '.join(metrics)}"
            )
        m = metrics.index(objective)
    elif isinstance(objective, int) and 0 <= objective < len(metrics):
        m = objective
    else:
        raise HypersweepError(
            f"importance: objective index {objective!r} out of range "
            f"(the study has {len(metrics)})"
        )
    space = h.space
    if space.dim == 0:
        raise HypersweepError("importance: the study has no parameter to rank")
    if params is None:
        keep = list(range(space.dim))
    else:
        keep = []
        for p in params:
            if p not in space.names:
                close = difflib.get_close_matches(p, space.names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise HypersweepError(f"importance: no parameter {p!r}{hint}")
            keep.append(space.column(p))
    ok = np.isfinite(h.Y[:, m]) & h.valid
    U = h.X[ok]
    y = h.Y[ok, m]
    if y.size < 8:
        raise HypersweepError(
            f"importance: needs at least 8 finished trials with a value, {study.name!r} "
            f"has {y.size}"
        )
    missing = np.isnan(U)
    if missing.any():
        U = U.copy()
        U[missing] = rng.random(int(missing.sum()))
    return list(space.names), keep, space.n_options, U, y, metrics[m]


# estimates ------------------------------------------------------------------------------
@dataclass
class _Estimate:
    total: np.ndarray
    first: np.ndarray
    total_reps: np.ndarray | None  # (B, D)
    first_reps: np.ndarray | None
    pair: tuple[int, int] | None = None
    pair_value: float = 0.0
    pair_reps: np.ndarray | None = None


def _ped_anova(
    U: np.ndarray,
    y: np.ndarray,
    n_options: np.ndarray,
    quantile: float,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> _Estimate:
    from hypersweep.analysis._pedanova import binned, divergences, top_rows

    bins = binned(U, n_options)
    n = y.size
    m = top_rows(y, quantile).size
    # what a parameter without effect scores: the divergence of random top sets
    null = np.mean(
        [
            divergences(bins, n_options, rng.choice(n, m, replace=False))
            for _ in range(_NULL_DRAWS)
        ],
        axis=0,
    )

    def normalized(idx: np.ndarray) -> np.ndarray:
        d = np.maximum(divergences(bins[idx], n_options, top_rows(y[idx], quantile)) - null, 0)
        s = d.sum()
        return d / s if s > 0 else d

    point = normalized(np.arange(n))
    reps = np.array([normalized(rng.integers(n, size=n)) for _ in range(n_bootstrap)])
    reps_or_none = reps if n_bootstrap else None
    return _Estimate(point, point, reps_or_none, reps_or_none)


def _forest_method(
    method: str,
    U: np.ndarray,
    y: np.ndarray,
    keep: list[int],
    n_trees: int,
    n_samples: int,
    n_bootstrap: int,
    seed: int,
    rng: np.random.Generator,
) -> _Estimate:
    from hypersweep.analysis import _forest, _sobol

    dim = U.shape[1]
    forest = _forest.fit_forest(U, y, n_trees, seed)
    trees = forest.estimators_
    T = len(trees)
    d = _sobol.design(n_samples, dim, seed)
    P = np.stack([t.predict(d.points) for t in trees])  # (T, points)
    f = P.mean(axis=0)
    s1, st = _sobol.sobol_indices(d, f)
    weights = rng.multinomial(T, np.full(T, 1.0 / T), size=n_bootstrap) / T
    rows = rng.integers(d.n, size=(n_bootstrap, d.n))
    rep_f = [weights[b] @ P for b in range(n_bootstrap)]
    rep = [_sobol.sobol_indices(d, rep_f[b], rows[b]) for b in range(n_bootstrap)]
    st_reps = np.array([r[1] for r in rep]) if n_bootstrap else None
    if method == "fanova":
        boxes = [_forest.tree_boxes(t, dim) for t in trees]
        var_f, var_reps = _variances(d, f, rep_f, rows)
        first, first_reps = _fanova_mains(boxes, dim, weights, var_f, var_reps)
    else:
        first = s1
        first_reps = np.array([r[0] for r in rep]) if n_bootstrap else None
    total = np.maximum(st, first)
    est = _Estimate(total, first, st_reps, first_reps)
    if len(keep) < 2:
        return est
    ranked = [i for i in np.argsort(-total, kind="stable").tolist() if i in keep]
    j, k = ranked[0], ranked[1]
    est.pair = (j, k)
    if method == "fanova":
        est.pair_value, est.pair_reps = _fanova_pair(boxes, j, k, weights, var_f, var_reps)
    else:
        pts = _sobol.pair_points(d, j, k)
        Pp = np.stack([t.predict(pts) for t in trees])
        est.pair_value = float(
            _sobol.pair_index(d, f, Pp.mean(axis=0), (float(s1[j]), float(s1[k])))
        )
        if n_bootstrap:
            est.pair_reps = np.array(
                [
                    _sobol.pair_index(
                        d, rep_f[b], weights[b] @ Pp, (rep[b][0][j], rep[b][0][k]), rows[b]
                    )
                    for b in range(n_bootstrap)
                ]
            )
    return est


def _variances(
    d: Any, f: np.ndarray, rep_f: list[np.ndarray], rows: np.ndarray
) -> tuple[float, np.ndarray]:
    """The forest's variance over the design's ``A`` and ``B`` points, and per replicate."""
    n = d.n

    def var(g: np.ndarray, r: np.ndarray | None) -> float:
        a, b = g[:n], g[n : 2 * n]
        if r is not None:
            a, b = a[r], b[r]
        return float(np.var(np.concatenate([a, b])))

    return var(f, None), np.array([var(g, r) for g, r in zip(rep_f, rows)])


def _share(v: np.ndarray, var: np.ndarray | float) -> np.ndarray:
    return np.where(np.asarray(var) > 0, v / np.maximum(var, 1e-300), 0.0)


def _fanova_mains(
    boxes: list[Any], dim: int, weights: np.ndarray, var_f: float, var_reps: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Main effects of the forest: the variance of each exact forest marginal (the mean of
    the trees' marginals on the union of their split points) over the forest's variance."""
    from hypersweep.analysis import _forest

    first = np.zeros(dim)
    reps = np.zeros((weights.shape[0], dim))
    for j in range(dim):
        pts = np.unique(np.concatenate([b.splits[j] for b in boxes]))
        if pts.size <= 2:
            continue
        width = np.diff(pts)
        M = np.stack([_forest.tree_marginal(b, j, pts) for b in boxes])  # (T, K)
        first[j] = float(_share(_spread(M.mean(axis=0), width), var_f))
        reps[:, j] = _share(_spread(weights @ M, width), var_reps)
    return first, (reps if weights.shape[0] else None)


def _spread(m: np.ndarray, width: np.ndarray) -> np.ndarray:
    """The variance over ``x_j`` of piecewise-constant marginals ``m`` (``(..., K)``)."""
    mu = m @ width
    return ((m - mu[..., None]) ** 2) @ width


_PAIR_CELLS = 64


def _fanova_pair(
    boxes: list[Any],
    j: int,
    k: int,
    weights: np.ndarray,
    var_f: float,
    var_reps: np.ndarray,
) -> tuple[float, np.ndarray | None]:
    """The interaction of ``j`` and ``k``: the variance of the forest's pair marginal on a
    grid minus those of its two one-parameter marginals (on the same grid)."""
    from hypersweep.analysis import _forest

    F = np.stack([_forest.tree_pair_grid(b, j, k, _PAIR_CELLS) for b in boxes])
    F = F.reshape(len(boxes), -1)

    def inter(flat: np.ndarray) -> np.ndarray:
        g = flat.reshape(*flat.shape[:-1], _PAIR_CELLS, _PAIR_CELLS)
        mu = g.mean(axis=(-2, -1), keepdims=True)
        closed = ((g - mu) ** 2).mean(axis=(-2, -1))
        vj = ((g.mean(axis=-1) - mu[..., 0]) ** 2).mean(axis=-1)
        vk = ((g.mean(axis=-2) - mu[..., 0]) ** 2).mean(axis=-1)
        return closed - vj - vk

    value = float(_share(inter(F.mean(axis=0)), var_f))
    reps = _share(inter(weights @ F), var_reps) if weights.shape[0] else None
    return value, reps


def _interval(point: np.ndarray, reps: np.ndarray | None, level: float) -> np.ndarray:
    """``(2, ...)`` percentile interval (the point itself twice without replicates)."""
    if reps is None or len(reps) == 0:
        return np.stack([point, point])
    a = (1.0 - level) / 2.0
    return np.quantile(reps, [a, 1.0 - a], axis=0)


def _result(
    method: str,
    metric: str,
    n: int,
    level: float,
    names: list[str],
    keep: list[int],
    est: _Estimate,
) -> Importance:
    tci = _interval(est.total, est.total_reps, level)
    fci = _interval(est.first, est.first_reps, level)
    rows = [
        ParamImportance(
            name,
            float(est.total[i]),
            float(tci[0, i]),
            float(tci[1, i]),
            float(est.first[i]),
            float(fci[0, i]),
            float(fci[1, i]),
        )
        for i, name in enumerate(names)
    ]
    order = [i for i in np.argsort(-est.total, kind="stable").tolist() if i in keep]
    inter = None
    if est.pair is not None:
        pv = np.array(est.pair_value)
        pci = _interval(pv, est.pair_reps, level)
        inter = Interaction(
            (names[est.pair[0]], names[est.pair[1]]),
            est.pair_value,
            float(pci[0]),
            float(pci[1]),
        )
    return Importance(method, metric, n, level, tuple(rows[i] for i in order), inter)
