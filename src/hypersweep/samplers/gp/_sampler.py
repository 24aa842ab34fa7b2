"""The GP sampler (see :mod:`hypersweep.samplers.gp`)."""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from hypersweep.history import History
from hypersweep.samplers.base import (
    Proposal,
    Sampler,
    replace_failed,
)
from hypersweep.samplers.gp._acquisition import LogEI, LowMean
from hypersweep.samplers.gp._feasibility import FeasibilityTerm, even_subset
from hypersweep.samplers.gp._features import Features
from hypersweep.samplers.gp._model import (
    NOISE_PRIOR,
    REFIT_ALWAYS_BELOW,
    SIG_PRIOR,
    FitData,
    Posterior,
    Warp,
    fit_hyper,
    ls_prior,
    pessimism,
    scalarize,
    transform,
)
from hypersweep.samplers.gp._multi import MAX_EHVI_OBJECTIVES, propose_multi
from hypersweep.samplers.gp._search import maximize
from hypersweep.samplers.gp._transfer import SourceModel, calibrated
from hypersweep.samplers.prior import (
    duel_role,
    forgotten,
    prior_design,
    relatedness,
    sobol_position,
    tag,
)
from hypersweep.samplers.sobol import SobolSampler
from hypersweep.space import Space

#: own values from which a guided trial of the duel is the prior model's predicted best
#: (before: the prior's best configuration not tried yet)
GUESS_FROM = 3

# ======================================================================================
# the sampler
# ======================================================================================


class GPSampler(Sampler):
    """Gaussian-process Bayesian optimization with the log expected improvement.

    **Model.** A GP with a Matérn-5/2 ARD kernel ``s^2 (1 + sqrt5 r + 5/3 r^2)
    exp(-sqrt5 r)`` plus a noise term, on the unit-cube encoding of
    :mod:`hypersweep.space` (log scales, int bins and normal CDFs already applied). Each
    categorical parameter is one-hot with one lengthscale (an exchangeable categorical
    kernel: all pairs of different options are equally far apart). Ints and steps are
    numeric columns, but every point the model scores is first snapped to the centre of
    its bin (the encoding of the value it decodes to), so the model never sees two
    encodings of one configuration.

    **Prior mean: pessimistic.** The GP's constant mean is not the average observed value
    but lies toward the *worst* one (after the transform below): halfway up to 5
    dimensions, at the worst from 10 on, linearly in between (:func:`pessimism`).
    Unexplored regions are expected to be bad until data says otherwise, so expected
    improvement explores between and around good trials rather than in the far corners
    of the cube, where variance is highest but good values rarely are (boundary
    over-exploration). On BBOB (24 functions, 2 instances) this lowered the mean log10
    precision at 100 evaluations from about 0.37 to 0.11 at d = 5, from 1.23 to 0.73 at
    d = 10 and from -1.70 to -1.80 at d = 2; on Hartmann-6 it doubled the seeds that
    reach the global optimum within 60 trials.

    **Conditional spaces.** An inactive numeric column is filled with the constant 0.5 and
    an inactive categorical with an all-zero one-hot vector: rows of different branches
    are separated by the choice column that selects the branch, and inside a branch the
    fill is the same for every row, so it adds no spurious distance. Proposals are
    decoded by the space, which drops their inactive columns. (For conditional spaces
    ``auto`` prefers TPE, which models each branch separately.)

    **Outputs** (signed lower-is-better) above ``median + IQR`` are compressed by a log,
    then standardized (see :func:`transform`): heavy-tailed objectives no longer flatten
    the model near the optimum.

    **Several objectives.** With two or three, each objective gets its own GP (the same
    model, transform and priors, but the prior mean alternates: at the mean for even
    trial numbers, where unexplored regions may hold other parts of the front, and
    pessimistic for odd ones, which refines the front seen; with more than ``max_points``
    observations, the rows
    kept are chosen by non-dominated front, best fronts first) and the acquisition is the
    log expected hypervolume improvement over the observed front in the transformed
    values (exact: a box decomposition of the non-dominated region and a closed form per
    box, :mod:`hypersweep.samplers.gp._ehvi`), with a reference point a tenth of the
    range beyond the worst observed value of each objective. The incumbents whose
    neighbourhoods are searched are five front members drawn at random. RUNNING trials
    and earlier proposals of the batch join every GP and the front with their posterior
    means. With four or more objectives (boxes grow as ``n^(m - 1)``) a study is
    scalarized per call with ParEGO's augmented Chebyshev function under random simplex
    weights instead (Knowles 2006, "ParEGO: a hybrid algorithm with on-line landscape
    approximation for expensive multiobjective optimization problems", IEEE TEVC).

    **Hyperparameters** are the MAP of the log marginal likelihood under log-normal priors
    (median, spread of the log, bounds), on unit-cube inputs and standardized outputs:

    * lengthscales: median 0.5 up to 5 dimensions, times ``sqrt(D / 5)`` beyond
      (Hvarfner, Hellsten & Nardi 2024); spread 1; bounds ``[5e-3, 3]``, the upper end
      times ``sqrt(D / 10)`` beyond 10 dimensions. The cap stops the likelihood from
      declaring a parameter irrelevant after a handful of trials (on Hartmann-6 and BBOB
      that froze the search in a local basin);
    * signal variance: median 1, spread 1, bounds ``[0.05, 20]``;
    * noise variance: median ``1e-6``, spread 4, bounds ``[1e-10, 1]``: near-exact
      interpolation for deterministic objectives (needed to resolve values close to the
      optimum), while a noisy objective pays little to raise it.

    L-BFGS-B with analytic gradients fits them, started from the prior medians (no warm
    start from an earlier fit: the fit is a function of the data alone). From 20
    observations on, an odd count of observations uses the hyperparameters fit to the
    same history without its newest observed trial (which a study asked in order has just
    fit): the posterior is still conditioned on every observation, and the
    hyperparameters of a settled model move little from one observation to the next (on
    BBOB this cut the cost per proposal by about a third with no loss of precision). Fits
    are cached by their data, so a fit is also reused while the observed data are
    unchanged (for example while only RUNNING trials were added).

    **Acquisition.** The log expected improvement (Ament et al. 2023, see :func:`log_h`)
    below the best transformed value, maximized over a candidate set: a scrambled Sobol
    set (1,024 points; 2,048 above 10 dimensions); 192 Gaussian perturbations of each of
    the 5 best trials at six scales from 0.3 to 0.001 of the relative lengthscales (half
    of them moving every coordinate, half a random few); and the coordinate neighbours of
    the 3 best trials (every other option of a categorical, the values one to three steps
    away for an int or step, eight steps along a continuous parameter). The 5 best
    candidates are then polished together by one L-BFGS-B run over their continuous
    coordinates, preconditioned by the lengthscales (categoricals, ints and steps stay at
    the candidate's values).

    **Failed trials and constraints.** A FAILED trial joins the objective's model with
    the worst observed value (after the output transform), so expected improvement
    vanishes next to it, and a second GP, fit to success / failure labels, gives the
    probability of success that multiplies the expected improvement. A configuration
    seen to fail is never proposed again (to :data:`~hypersweep.samplers.base.RESOLUTION`
    in the unit cube). Constraints follow constrained EI (Gardner et al. 2014): one GP
    per violated constraint, the incumbent is the best *feasible* trial, and with no
    feasible trial yet the acquisition is the probability of feasibility alone (see
    :mod:`hypersweep.samplers.gp._feasibility`). On the 1-D objective ``-x`` that fails
    above ``x = 0.8``, 3 of 40 trials failed (seeds 0-2) where the GP without this had
    30-34.

    **Parallel trials.** RUNNING trials (``history.pending()``) and the earlier proposals
    of the same call join the GP with their posterior mean as value (the kriging believer
    of Ginsbourger, Le Riche & Carraro 2010, "Kriging is well-suited to parallelize
    optimization") and the incumbent is updated with those values, so the expected
    improvement vanishes at them and concurrent proposals differ. A proposal that decodes
    to an observed, running or already proposed configuration is replaced by the next
    best candidate (by a uniform draw if all of the best 55 are taken).

    **Transfer.** With a prior (``warm_start: {mode: prior}``; see
    :mod:`hypersweep.samplers.prior`), the duel's exploring trials are the Sobol points a
    cold start tries. A GP fit to the prior's rows (under their own output transform) is
    a prior mean, mapped onto this study's raw values by least squares and through its
    transform (:mod:`hypersweep.samplers.gp._transfer`): a GP around it models the
    difference from the related problem. The first guided trial is the prior's best
    configuration; from 3 own values on, guided trials are the minimum of that model's
    posterior mean (the prior's best guess for this problem). After the duel, while the
    prior counts, each proposal fits the GP with and without that mean and keeps the
    one with the better leave-one-out log predictive density of the study's own values.
    A prior the duel drops takes its guided trials out of the model.

    **Startup.** Until ``n_startup`` trials have values, points come from the study's
    scrambled Sobol sequence (trial ``k`` gets point ``k``, key ``sobol:<k>``, as with
    :class:`~hypersweep.samplers.sobol.SobolSampler`; with a prior, ``k`` less the guided
    trials); plain uniform draws from the ``rng`` when ``seed`` is ``None``.

    **Cost bound.** With more than ``max_points`` observations the GP is fit on exactly
    ``max_points`` of them: the ``max_points // 2`` best, plus an evenly spaced (by trial
    number) selection of the others. Each fitting step is then ``O(max_points^3)`` and
    an ask costs the same however long the study grows. For 10 floats on this machine: about
    9 ms per ask over the first 100 trials and 60 ms at trials 201-300
    (``benchmarks/overhead_samplers.py``); from 300 observations on, 40 ms when the fit
    is reused and 120-300 ms when it is redone, depending on how hard the fit is.

    **Determinism.** Proposals are a function of (space, history, rng, seed) alone: the
    model state is rebuilt from the history (the caches only save work), so a study
    resumed in a fresh process, or a new sampler on the same history, proposes exactly
    what a long-running process would.

    BLAS calls run single-threaded while proposing (``threadpoolctl``, a core dependency):
    the matrices are small, and threads only contend (4x slower on a busy 2-core machine).

    Args:
        seed: seeds the startup Sobol sequence (the study supplies its seed when omitted).
        n_startup: trials with values before the GP takes over; ``None`` means
            ``max(5, min(10, D + 1))`` for ``D`` encoded columns.
        max_points: the most observations the GP is fit on (see *Cost bound*).

    Raises:
        ValueError: ``n_startup < 1`` or ``max_points < 4`` (a
            :class:`~hypersweep.errors.SpecError` through ``make_sampler``).

    Example:
        >>> from hypersweep.space import Float
        >>> sp = Space({"x": Float(-2.0, 2.0)})
        >>> s = GPSampler(seed=0)
        >>> len(s.propose(sp, History(sp, []), np.random.default_rng(0), 2))
        2
    """

    name = "gp"
    learns_from_failures = True

    def __init__(
        self, seed: int | None = None, n_startup: int | None = None, max_points: int = 300
    ) -> None:
        super().__init__(seed)
        if n_startup is not None and (
            isinstance(n_startup, bool) or not isinstance(n_startup, int) or n_startup < 1
        ):
            raise ValueError(f"n_startup must be a positive integer, got {n_startup!r}")
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 4:
            raise ValueError(f"max_points must be an integer >= 4, got {max_points!r}")
        self.n_startup = n_startup
        self.max_points = max_points
        self._sobol = SobolSampler()  # scrambled by this sampler's seed at each call
        self._fits: dict[bytes, np.ndarray] = {}  # fits by their data (a cache)
        self._source = SourceModel()  # the prior's GP (a cache)
        #: observations the last model was fit on (0 before the first fit)
        self.n_fit = 0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)  # caches are not part of the sampler's identity
        state.update(
            _fits={},
            _source=SourceModel(),
            _sobol=SobolSampler(),
        )
        return state

    def config(self) -> dict[str, Any]:
        out = super().config()
        if self.n_startup is not None:
            out["n_startup"] = self.n_startup
        if self.max_points != 300:
            out["max_points"] = self.max_points
        return out

    # ------------------------------------------------------------------------------------
    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        D = space.dim
        n_startup = self.n_startup if self.n_startup is not None else max(5, min(10, D + 1))
        role = duel_role(history)  # transfer: guided trials against exploring ones
        if role == "guided":  # the prior's best, then the prior model's predicted best
            X, Y = history.observed()
            if D == 0 or X.shape[0] < GUESS_FROM or Y.shape[1] > 1:
                return tag(prior_design(space, history, n), role)
            with _single_threaded_blas():
                return tag(self._bo(space, history, X, Y[:, 0], rng, n, True, True), role)
        # after the duel, while the prior counts, its model is the prior mean
        transfer = role is None and relatedness(history) > 0
        forgot = forgotten(history)  # a dropped prior's guesses: left out of the model
        if forgot is not None:
            history = history.without(forgot)
        X, Y = history.observed()
        if D == 0 or X.shape[0] < max(n_startup, 2) or role == "explore":
            return tag(self._startup(space, history, rng, n), role)  # exploring: Sobol
        with _single_threaded_blas():
            if Y.shape[1] == 1:
                return tag(self._bo(space, history, X, Y[:, 0], rng, n, transfer), role)
            if Y.shape[1] <= MAX_EHVI_OBJECTIVES:
                return tag(propose_multi(self, space, history, X, Y, rng, n), role)
            return tag(self._bo(space, history, X, scalarize(Y, rng), rng, n), role)

    def _startup(
        self, space: Space, history: History, rng: np.random.Generator, n: int
    ) -> list[Proposal]:
        seed = self.seed
        if seed is None:
            out = [Proposal(p) for p in space.decode_many(rng.random((n, space.dim)))]
            return replace_failed(space, history, out, rng)
        start = sobol_position(history)
        U = self._sobol.points(space.dim, start, n, seed)
        out = [Proposal(p, key=f"sobol:{start + i}") for i, p in enumerate(space.decode_many(U))]
        return replace_failed(space, history, out, rng)

    # ------------------------------------------------------------------------------------
    def _subset(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """At most ``max_points`` rows: the best half, and evenly spaced others."""
        keep = self._keep(y)
        return X[keep], y[keep]

    def _keep(self, y: np.ndarray) -> np.ndarray:
        """The row indices :meth:`_subset` keeps."""
        m = self.max_points
        if y.shape[0] <= m:
            return np.arange(y.shape[0])
        order = np.argsort(y, kind="stable")
        best = order[: m // 2]
        rest = np.sort(order[m // 2 :])
        pick = rest[np.linspace(0, rest.size - 1, m - best.size).round().astype(int)]
        return np.sort(np.concatenate([best, pick]))

    def _term_fit(self, Z: np.ndarray, y: np.ndarray, feats: Features) -> Posterior:
        """A GP on ``(Z, y)`` with MAP hyperparameters and a zero prior mean (a
        feasibility term, the prior's source model)."""
        G = feats.space.dim
        theta = self._hyper(Z, y, feats)
        inv_ls = np.exp(-theta[:G])[feats.group]
        return Posterior.build(Z, y, inv_ls, math.exp(theta[G]), math.exp(theta[G + 1]))

    def _feasibility(
        self,
        history: History,
        feats: Features,
        Xc: np.ndarray,
        C: np.ndarray,
        failed_c: np.ndarray,
    ) -> list[FeasibilityTerm]:
        """The success and constraint models (see :mod:`._feasibility`)."""
        terms: list[FeasibilityTerm] = []
        if failed_c.shape[0]:
            U = np.vstack([Xc, failed_c])
            lab = np.concatenate([-np.ones(Xc.shape[0]), np.ones(failed_c.shape[0])])
            pick = even_subset(U.shape[0], self.max_points)
            Z = feats(U[pick])
            terms.append(FeasibilityTerm("success", self._term_fit(Z, lab[pick], feats), 0.0))
        for j, c in enumerate(history.constraints):
            v = C[:, j]
            fin = np.isfinite(v)
            if fin.sum() < 2 or (v[fin] <= 0).all():
                continue  # nothing violates it (or too little data): no term
            rows = np.flatnonzero(fin)
            rows = rows[even_subset(rows.size, self.max_points)]
            m, sd = float(v[rows].mean()), float(v[rows].std())
            sd = sd if sd > 0 else 1.0
            post = self._term_fit(feats(Xc[rows]), (v[rows] - m) / sd, feats)
            terms.append(FeasibilityTerm(c.metric, post, -m / sd))
        return terms

    @staticmethod
    def _failed(feats: Features, history: History) -> np.ndarray:
        """The canonical encodings of the study's failed configurations."""
        failed = history.failed()
        return feats.canon(failed) if failed.shape[0] else failed

    def _inputs(
        self,
        feats: Features,
        X: np.ndarray,
        y_raw: np.ndarray,
        failed_c: np.ndarray,
        keep: np.ndarray | None = None,
        pessimistic: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The objective model's data: (kept rows, their canonical inputs, features with
        the failed rows appended, values with the failed rows appended, observed values).
        ``keep``: the rows to fit on (default: :meth:`_keep` of ``y_raw``)."""
        keep = self._keep(y_raw) if keep is None else keep
        X, y_raw = X[keep], y_raw[keep]
        # pessimistic prior mean: the GP's zero mean sits between the mean and the worst
        y = transform(y_raw)
        if pessimistic:
            y = y - pessimism(feats.space.dim) * y.max()
        Xc = feats.canon(X)
        Z = feats(Xc)
        y_obs = y
        if failed_c.shape[0]:  # a failed trial counts as the worst value seen
            pick = even_subset(failed_c.shape[0], max(self.max_points - y.size, 0))
            Z = np.vstack([Z, feats(failed_c[pick])])
            y = np.concatenate([y, np.full(pick.size, y.max())])
        return keep, Xc, Z, y, y_obs

    def _hyper(self, Z: np.ndarray, y: np.ndarray, feats: Features) -> np.ndarray:
        """MAP hyperparameters of a GP on ``(Z, y)``, started from the prior medians: a
        function of the data alone (cached by it)."""
        G = feats.space.dim
        key = hashlib.sha1(
            repr((Z.shape, G)).encode() + feats.group.tobytes() + Z.tobytes() + y.tobytes()
        ).digest()
        theta = self._fits.get(key)
        if theta is None:
            default = np.concatenate([np.full(G, ls_prior(G)[0]), [SIG_PRIOR[0], NOISE_PRIOR[0]]])
            theta = fit_hyper(Z, y, feats.group, G, [default])
            while len(self._fits) >= 8:
                del self._fits[next(iter(self._fits))]  # the oldest
            self._fits[key] = theta
        return theta

    def _bo(
        self,
        space: Space,
        history: History,
        X: np.ndarray,
        y_raw: np.ndarray,
        rng: np.random.Generator,
        n: int,
        transfer: bool = False,
        guess: bool = False,
    ) -> list[Proposal]:
        """Expected-improvement proposals; ``transfer``: the prior's model may be the
        prior mean (:meth:`_model`); ``guess``: the minimum of the posterior mean of the
        model with the prior mean instead (a guided trial of the duel)."""
        feats = Features(space)
        failed_c = self._failed(feats, history)
        if guess:
            src = self._source(feats, history, self._keep, self._term_fit)
            m = self._fit(feats, X, y_raw, failed_c, None, None, False, src)
        else:
            m = self._model(feats, X, y_raw, failed_c, prior=history if transfer else None)
        keep, Xc, Z, y, y_obs, post = m.keep, m.Xc, m.Z, m.y, m.y_obs, m.post
        inv_ls, signal, noise, mean = post.inv_ls, post.signal, post.noise, post.mean
        self.n_fit = keep.size
        terms, feasible = self._terms(history, feats, Xc, keep, failed_c, y.size)
        use_ei = bool(feasible.any())
        if feasible.all():
            best = float(y_obs.min())
            incumbents = Xc[np.argsort(y_obs, kind="stable")[:5]]
        else:  # the incumbent is the best feasible trial; feasible ones lead
            best = float(y_obs[feasible].min()) if use_ei else math.inf
            incumbents = Xc[np.lexsort((y_obs, ~feasible))[:5]]
        seen = Xc
        P = history.pending()
        if P.shape[0]:  # kriging believer: RUNNING trials get their posterior mean
            Pc = feats.canon(P)
            Zp = feats(Pc)
            mu_p = post.predict(Zp)[0]
            Z, y = np.vstack([Z, Zp]), np.concatenate([y, mu_p])
            best = min(best, float(mu_p.min())) if use_ei else best
            seen = np.vstack([seen, Pc])
            post = Posterior.build(Z, y, inv_ls, signal, noise, mean)
        out: list[Proposal] = []
        for i in range(n):
            if i:  # ... and so do the proposals made before in this batch
                post = Posterior.build(Z, y, inv_ls, signal, noise, mean)
            acq = LowMean(post, terms, use_ei) if guess else LogEI(post, best, terms, use_ei)
            u = maximize(acq, feats, incumbents, seen, rng, failed_c)
            params = space.decode_many(u[None, :])[0]
            out.append(Proposal(params))
            uc = feats.canon(space.encode_many([params]))
            zc = feats(uc)
            mu_c = post.predict(zc)[0]
            Z, y = np.vstack([Z, zc]), np.concatenate([y, mu_c])
            best = min(best, float(mu_c[0])) if use_ei else best
            seen = np.vstack([seen, uc])
        return out

    def _model(
        self,
        feats: Features,
        X: np.ndarray,
        y_raw: np.ndarray,
        failed_c: np.ndarray,
        keep: np.ndarray | None = None,
        keep_prev: np.ndarray | None = None,
        pessimistic: bool = True,
        prior: History | None = None,
    ) -> FitData:
        """One objective's GP on the observed trials ``keep`` (default: :meth:`_keep`),
        hyperparameters from ``keep_prev`` of the history without its newest observed
        trial on a settled model (see *Hyperparameters*); ``pessimistic``: the prior
        mean (see *Prior mean*); ``prior``: a history whose prior's model is the prior
        mean instead, where it predicts the study's own values better (leave-one-out;
        see *Transfer*)."""
        own = self._fit(feats, X, y_raw, failed_c, keep, keep_prev, pessimistic, None)
        if prior is None:
            return own
        src = self._source(feats, prior, self._keep, self._term_fit)
        other = self._fit(feats, X, y_raw, failed_c, keep, keep_prev, False, src)
        rows = own.y_obs.size
        return other if other.post.loo(rows) > own.post.loo(rows) else own

    def _fit(
        self,
        feats: Features,
        X: np.ndarray,
        y_raw: np.ndarray,
        failed_c: np.ndarray,
        keep: np.ndarray | None,
        keep_prev: np.ndarray | None,
        pessimistic: bool,
        source: tuple[Posterior, Warp] | None,
    ) -> FitData:
        """:meth:`_model`'s GP with a zero prior mean, or with ``source`` calibrated to
        this study's values as the prior mean."""
        G = feats.space.dim
        n_obs = X.shape[0]
        keep, Xc, Z, y, y_obs = self._inputs(feats, X, y_raw, failed_c, keep, pessimistic)
        mean = None if source is None else calibrated(source, Z[: y_obs.size], y_raw[keep])
        if n_obs >= REFIT_ALWAYS_BELOW and n_obs % 2 == 1:
            # a settled model: the fit of this history without its newest observed trial
            prev = self._inputs(feats, X[:-1], y_raw[:-1], failed_c, keep_prev, pessimistic)
            Zf, yf = prev[2:4]
        else:
            Zf, yf = Z, y
        theta = self._hyper(Zf, yf if mean is None else yf - mean(Zf), feats)
        inv_ls = np.exp(-theta[:G])[feats.group]
        post = Posterior.build(Z, y, inv_ls, math.exp(theta[G]), math.exp(theta[G + 1]), mean)
        return FitData(keep, Xc, Z, y, y_obs, post)

    def _terms(
        self,
        history: History,
        feats: Features,
        Xc: np.ndarray,
        keep: np.ndarray,
        failed_c: np.ndarray,
        size: int,
    ) -> tuple[list[FeasibilityTerm], np.ndarray]:
        """The failure and constraint models (constrained EI; see :mod:`._feasibility`),
        and which kept observed trials are feasible."""
        terms: list[FeasibilityTerm] = []
        feasible = np.ones(size, dtype=bool)
        if failed_c.shape[0] or history.constraints:
            ok = np.isfinite(history.Y).all(axis=1) & history.valid  # rows of observed()
            C = history.C[ok][keep]
            if history.constraints:
                feasible = (C <= 0).all(axis=1)
            terms = self._feasibility(history, feats, Xc, C, failed_c)
        return terms, feasible


_BLAS: Any = None


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread while proposing, when ``threadpoolctl`` is available."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        except Exception:  # not installed: run as configured
            _BLAS = False
    if _BLAS is False:
        yield
        return
    with _BLAS.limit(limits=1, user_api="blas"):
        yield
