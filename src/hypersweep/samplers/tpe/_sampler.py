"""The TPE sampler (see :mod:`hypersweep.samplers.tpe`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hypersweep._validate import fail
from hypersweep.history import FAILED, RUNNING, History
from hypersweep.samplers.base import (
    Proposal,
    Sampler,
    looks_failed,
    near_any,
    replace_failed,
    unfailed_draws,
)
from hypersweep.samplers.prior import (
    duel_role,
    effective_weight,
    forgotten,
    merged,
    sobol_position,
    tag,
)
from hypersweep.samplers.sobol import SobolSampler
from hypersweep.samplers.tpe._cache import BadCache
from hypersweep.samplers.tpe._layout import Group, Layout
from hypersweep.samplers.tpe._order import mo_best
from hypersweep.samplers.tpe._parzen import Kernel, Parzen, k_smallest, mixture_weights
from hypersweep.space import Space

# ======================================================================================
# The sampler
# ======================================================================================


class TPESampler(Sampler):
    """Tree-structured Parzen estimator over any space (see the module docstring).

    Args:
        seed: seeds the startup Sobol sequence; model-based proposals draw from the
            ``rng`` given to :meth:`propose`.
        n_startup: trials with a value needed before the model is used; until then
            proposals are Sobol points.
        n_candidates: draws from ``l(x)`` among which the best ``l / g`` is proposed.
        multivariate: joint kernels over each group's columns; ``False`` models every
            column independently (the original TPE).
        gamma: fraction of the observed trials that form the good set.
        max_good: cap on the size of the good set.
        prior_weight: weight of the prior in each density, in trials.
        bandwidth_factor: multiplier of Scott's rule.
        min_bandwidth: absolute floor of numeric bandwidths, on the unit interval.
        constant_liar: count RUNNING trials (and earlier proposals of a batch) as bad.
        forget: when set, bad trials older than the ``forget`` most recent ones get
            linearly decreasing weights (the oldest ``1 / n``); ``None`` weighs all alike.
        rank_weight: extra weight of the best good trial in ``l``; the weights fall
            linearly with the rank to about 1 for the worst good trial (0: all alike).

    Raises:
        SpecError: an option out of range.

    Example:
        >>> import hypersweep as hs
        >>> study = hs.Study("tpe-doc", space={"x": hs.Float(-2, 2), "y": hs.Int(0, 9)},
        ...                  storage="memory", sampler="tpe", seed=0)
        >>> for _ in range(40):
        ...     t = study.ask()
        ...     _ = study.tell(t, (t.params["x"] - 1) ** 2 + abs(t.params["y"] - 3))
        >>> round(study.best_params["x"]), study.best_params["y"]
        (1, 3)
    """

    name = "tpe"
    learns_from_failures = True

    def __init__(
        self,
        seed: int | None = None,
        n_startup: int = 10,
        n_candidates: int = 64,
        multivariate: bool = True,
        gamma: float = 0.15,
        max_good: int = 25,
        prior_weight: float = 1.0,
        bandwidth_factor: float = 1.0,
        min_bandwidth: float = 0.005,
        constant_liar: bool = True,
        forget: int | None = None,
        rank_weight: float = 3.0,
    ) -> None:
        super().__init__(seed)

        def check(name: str, ok: bool, value: Any, need: str) -> None:
            if not ok:
                raise fail(f"sampler.{name}", f"must be {need}, got {value!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)

        check("n_startup", is_int(n_startup) and n_startup >= 1, n_startup, "an integer >= 1")
        check(
            "n_candidates",
            is_int(n_candidates) and n_candidates >= 1,
            n_candidates,
            "an integer >= 1",
        )
        check("multivariate", isinstance(multivariate, bool), multivariate, "true or false")
        check("gamma", is_num(gamma) and 0 < gamma < 1, gamma, "a number in (0, 1)")
        check("max_good", is_int(max_good) and max_good >= 1, max_good, "an integer >= 1")
        check(
            "prior_weight", is_num(prior_weight) and prior_weight > 0, prior_weight, "a number > 0"
        )
        check(
            "bandwidth_factor",
            is_num(bandwidth_factor) and bandwidth_factor > 0,
            bandwidth_factor,
            "a number > 0",
        )
        check(
            "min_bandwidth",
            is_num(min_bandwidth) and 0 <= min_bandwidth < 1,
            min_bandwidth,
            "a number in [0, 1)",
        )
        check("constant_liar", isinstance(constant_liar, bool), constant_liar, "true or false")
        check(
            "forget",
            forget is None or (is_int(forget) and forget >= 1),
            forget,
            "an integer >= 1 or null",
        )
        check(
            "rank_weight", is_num(rank_weight) and rank_weight >= 0, rank_weight, "a number >= 0"
        )
        self.n_startup = int(n_startup)
        self.n_candidates = int(n_candidates)
        self.multivariate = multivariate
        self.gamma = float(gamma)
        self.max_good = int(max_good)
        self.prior_weight = float(prior_weight)
        self.bandwidth_factor = float(bandwidth_factor)
        self.min_bandwidth = float(min_bandwidth)
        self.constant_liar = constant_liar
        self.forget = None if forget is None else int(forget)
        self.rank_weight = float(rank_weight)
        self._sobol = SobolSampler()  # scrambled by this sampler's seed at each call
        self._layout: Layout | None = None
        self._layout_space: Space | None = None
        self._cache = BadCache()

    _DEFAULTS: dict[str, Any] = {
        "n_startup": 10,
        "n_candidates": 64,
        "multivariate": True,
        "gamma": 0.15,
        "max_good": 25,
        "prior_weight": 1.0,
        "bandwidth_factor": 1.0,
        "min_bandwidth": 0.005,
        "constant_liar": True,
        "forget": None,
        "rank_weight": 3.0,
    }

    def config(self) -> dict[str, Any]:
        out = super().config()
        for k, default in self._DEFAULTS.items():
            v = getattr(self, k)
            if v != default:
                out[k] = v
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)  # caches are rebuilt from the history on demand
        state["_cache"], state["_layout"], state["_layout_space"] = BadCache(), None, None
        return state

    def _good(self, y: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The good rows among rows ``idx`` of ``y`` (best first) and their rank weights:
        the best weighs ``1 + rank_weight``, the worst about 1."""
        k = self.n_good(idx.size)
        if k == 0:
            return idx[:0], np.zeros(0)
        y_obs = y[idx]
        good = k_smallest(y_obs[:, 0], k) if y_obs.shape[1] == 1 else mo_best(y_obs, k)
        return idx[good], 1.0 + self.rank_weight * (1.0 - np.arange(k) / k)

    def n_good(self, n: int) -> int:
        """Size of the good set among ``n`` observed trials."""
        return min(math.ceil(self.gamma * n - 1e-9), self.max_good, n)  # 0.15 * 20 is 3

    # ----------------------------------------------------------------------------------
    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        if space.dim == 0:
            return [Proposal(p) for p in space.decode_many(np.zeros((n, 0)))]
        own = history  # proposals are numbered by the study's own trials
        role = duel_role(history)  # transfer: guided and exploring trials alternate first
        w_prior, n_prior = (0.0 if role == "explore" else effective_weight(history)), 0
        if w_prior > 0:  # transfer: the prior rows go first, weighing w_prior each
            history, n_prior = merged(history)
        y = history.Y
        usable = history.valid & ~np.isnan(y).any(axis=1)
        forgot = forgotten(own)  # a dropped prior's guesses: left out (n_prior is 0 then)
        obs_idx = np.flatnonzero(usable if forgot is None else usable & ~forgot)
        n_obs = obs_idx.size
        if n_obs < self.n_startup or role == "explore":
            start = sobol_position(own)
            pts = self._sobol.points(space.dim, start, n, self.seed)
            return tag(
                replace_failed(
                    space,
                    history,
                    [
                        Proposal(p, key=f"sobol:{start + i}")
                        for i, p in enumerate(space.decode_many(space.warp(pts)))
                    ],
                    rng,
                ),
                role,
            )
        layout = self._get_layout(space)
        # split the observed trials into good and bad (row numbers, in trial order)
        # the good set of each block (own trials; prior rows), ranked within the block
        good_idx, w_good = self._good(y, obs_idx[obs_idx >= n_prior])
        if n_prior:
            g_p, w_p = self._good(y, obs_idx[obs_idx < n_prior])
            good_idx = np.concatenate([good_idx, g_p])
            w_good = np.concatenate([w_good, w_prior * w_p])
        k = good_idx.size
        is_bad = np.ones(history.n, dtype=bool)
        is_bad[good_idx] = False
        # a prior's bad rows are left out: a related study's trials crowd its optimum, and
        # as bad evidence they would cancel its good rows there; it tells where to look
        bad_idx = obs_idx[is_bad[obs_idx] & (obs_idx >= n_prior)]
        self._cache.update(self, layout, history)
        w_bad = self._bad_weights(bad_idx.size)
        failed = np.flatnonzero((history.state == FAILED) & history.valid)
        if failed.size:  # failed trials are evidence: they join the bad set
            bad_idx = np.concatenate([bad_idx, failed])
            w_bad = np.concatenate([w_bad, np.ones(failed.size)])
        if self.constant_liar:  # RUNNING trials count as bad observations
            running = np.flatnonzero((history.state == RUNNING) & history.valid)
            bad_idx = np.concatenate([bad_idx, running])
            w_bad = np.concatenate([w_bad, np.ones(running.size)])
        x_all = history.X
        # failed rows, and the observed rows they are told apart from
        fails = (x_all[failed], x_all[obs_idx] if failed.size else x_all[:0])
        terms = self._constraint_terms(history, obs_idx) if history.constraints else []
        out = np.zeros((0, space.dim))
        for _ in range(n):
            if terms:
                u = self._propose_constrained(
                    space,
                    layout,
                    x_all,
                    (good_idx, w_good, bad_idx, w_bad, k / n_obs),
                    terms,
                    out,
                    fails,
                    rng,
                )
            else:
                u = self._propose_one(
                    layout, x_all, good_idx, w_good, bad_idx, w_bad, out, rng, fails
                )
            out = np.concatenate([out, u[None, :]])
        return tag([Proposal(p) for p in space.decode_many(out)], role)

    # ----------------------------------------------------------------------------------
    # constraints (c-TPE) and failed configurations
    # ----------------------------------------------------------------------------------
    def _constraint_terms(
        self, history: History, obs_idx: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]]:
        """One ``(good rows, weights, bad rows, weights, gamma)`` per constraint that some
        observed trial violates (c-TPE, Watanabe & Hutter 2023).

        The good set of a constraint is its feasible trials; when fewer than the
        objective's good-set size are feasible, the trials with the smallest violations
        fill it up (the split moves to a quantile, so ``l`` is never empty). A constraint
        every trial meets contributes nothing (its density ratio is 1 everywhere).
        """
        C = history.C[obs_idx]
        n_obs = obs_idx.size
        need = self.n_good(n_obs)
        terms = []
        for j in range(C.shape[1]):
            v = np.where(np.isnan(C[:, j]), np.inf, C[:, j])
            ok = v <= 0
            if ok.all():
                continue
            if ok.sum() >= need:
                good = np.flatnonzero(ok)
            else:
                good = np.sort(k_smallest(v, need))
            is_bad = np.ones(n_obs, dtype=bool)
            is_bad[good] = False
            g_idx, b_idx = obs_idx[good], obs_idx[is_bad]
            terms.append(
                (g_idx, np.ones(g_idx.size), b_idx, np.ones(b_idx.size), good.size / n_obs)
            )
        return terms

    def _densities(
        self,
        gi: int,
        g: Group,
        x_all: np.ndarray,
        good_idx: np.ndarray,
        w_good: np.ndarray,
        bad_idx: np.ndarray,
        w_bad: np.ndarray,
        extra: np.ndarray,
    ) -> tuple[Parzen, Parzen]:
        """``(l, g)`` of one group from the rows where the group is active."""
        x_good = x_all[good_idx]
        if g.parent < 0:
            return (
                self._fit(x_good, w_good, g),
                self._bad_density(gi, g, x_all, bad_idx, w_bad, extra),
            )
        first = g.cols[0]
        act = ~np.isnan(x_good[:, first])
        bad_act = ~np.isnan(x_all[bad_idx, first])
        extra_act = extra[~np.isnan(extra[:, first])] if extra.shape[0] else extra
        return (
            self._fit(x_good[act], w_good[act], g),
            self._bad_density(gi, g, x_all, bad_idx[bad_act], w_bad[bad_act], extra_act),
        )

    def _propose_constrained(
        self,
        space: Space,
        layout: Layout,
        x_all: np.ndarray,
        objective: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float],
        terms: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]],
        extra: np.ndarray,
        fails: tuple[np.ndarray, np.ndarray],
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One proposal maximizing the c-TPE acquisition.

        For the objective and each constraint ``i`` with good-set fraction ``gamma_i``,
        the expected constrained improvement under the TPE model (independent densities
        per constraint) is proportional to ``prod_i (gamma_i + (1 - gamma_i) g_i(x) /
        l_i(x))^-1``; its log is the score. Candidates are drawn from every ``l_i``
        (``n_candidates`` each), so a feasible region that the objective's good set
        misses is still searched. The liars (RUNNING trials, earlier proposals of the
        batch) and FAILED trials join the objective's bad set only.
        """
        all_terms = [objective, *terms]
        dens = []
        for t, (g_idx, wg, b_idx, wb, _) in enumerate(all_terms):
            ext = extra if t == 0 else extra[:0]
            dens.append(
                [
                    self._densities(gi, g, x_all, g_idx, wg, b_idx, wb, ext)
                    for gi, g in enumerate(layout.groups)
                ]
            )
        c = self.n_candidates
        cand = np.vstack([self._draw(layout, [d[0] for d in dens_t], c, rng) for dens_t in dens])
        score = np.zeros(cand.shape[0])
        for t, term in enumerate(all_terms):
            gamma = term[4]
            if gamma >= 1.0:
                continue
            r = np.zeros(cand.shape[0])
            for gi, g in enumerate(layout.groups):
                rows = self._active_rows(layout, cand, g)
                if rows.size == 0:
                    continue
                lx, gx = dens[t][gi]
                pts = cand[np.ix_(rows, g.cols)]
                r[rows] += lx.logpdf(pts) - gx.logpdf(pts)
            score -= np.logaddexp(math.log(gamma), math.log1p(-gamma) - r)
        return self._best_unfailed(layout, cand, score, fails, rng, space)

    def _draw(
        self, layout: Layout, ls: list[Parzen], c: int, rng: np.random.Generator
    ) -> np.ndarray:
        """``c`` candidates drawn group by group from the densities ``ls``."""
        cand = np.full((c, layout.dim), np.nan)
        for gi, g in enumerate(layout.groups):
            rows = self._active_rows(layout, cand, g)
            if rows.size == 0:
                continue
            draws = ls[gi].sample(rng, rows.size)
            for pos, j in g.discrete:
                draws[:, pos] = layout.snap(j, draws[:, pos])
            cand[np.ix_(rows, g.cols)] = draws
        return cand

    @staticmethod
    def _active_rows(layout: Layout, cand: np.ndarray, g: Group) -> np.ndarray:
        if g.parent < 0:
            return np.arange(cand.shape[0])
        k = layout.parent_options[g.parent]
        par = cand[:, g.parent]
        code = np.minimum((np.nan_to_num(par) * k).astype(int), k - 1)
        return np.flatnonzero(~np.isnan(par) & (code == g.option))

    def _best_unfailed(
        self,
        layout: Layout,
        cand: np.ndarray,
        score: np.ndarray,
        fails: tuple[np.ndarray, np.ndarray],
        rng: np.random.Generator,
        space: Space | None = None,
    ) -> np.ndarray:
        """The best-scoring candidate that does not look like a failure.

        A candidate looks like one when it repeats a failed configuration or its nearest
        finished trial failed (:func:`~hypersweep.samplers.base.looks_failed`). If every
        candidate is such, the best one that is not a failed configuration wins, else a
        uniform draw that is not one (a space whose every configuration failed gets its
        best candidate back)."""
        x_failed, x_ok = fails
        if x_failed.shape[0] == 0:
            return cand[int(np.argmax(score))]
        space = space if space is not None else self._layout_space
        assert space is not None
        order = np.argsort(-score, kind="stable")
        snapped = space.encode_many(space.decode_many(cand[order]))
        like = looks_failed(snapped, x_failed, x_ok)
        if not like.all():
            return cand[order[int(np.argmin(like))]]
        hit = near_any(x_failed, snapped)
        if not hit.all():
            return cand[order[int(np.argmin(hit))]]
        return unfailed_draws(space, x_failed, rng, 1)[0]

    def _get_layout(self, space: Space) -> Layout:
        if self._layout is None or self._layout_space is not space:
            self._layout = Layout(space)
            self._layout_space = space
            self._cache = BadCache()
        return self._layout

    def _bad_weights(self, m: int) -> np.ndarray:
        w = np.ones(m)
        if self.forget is not None and m > self.forget:
            old = m - self.forget  # rows are in trial order: the first ones are oldest
            w[:old] = np.linspace(1.0 / m, 1.0, old, endpoint=False)
        return w

    def _kernel_fit(self, group: Group, points: np.ndarray) -> Kernel:
        d_eff = len(group.cols) if self.multivariate else 1
        return Kernel.fit(group, points, d_eff, self.bandwidth_factor, self.min_bandwidth)

    def _fit(self, x: np.ndarray, w: np.ndarray, group: Group) -> Parzen:
        """The good-set density of ``group`` from rows ``x`` where it is active."""
        pts = x[:, group.cols]
        kernel = self._kernel_fit(group, pts)
        return Parzen(kernel, pts, mixture_weights(w, self.prior_weight), self.multivariate)

    def _bad_density(
        self,
        gi: int,
        group: Group,
        x_all: np.ndarray,
        idx: np.ndarray,
        w: np.ndarray,
        extra: np.ndarray,
    ) -> Parzen:
        """The bad-set density of ``group``: cached rows ``idx`` plus the liars ``extra``."""
        kernel = self._cache.kernel(gi)
        if extra.shape[0]:
            w = np.concatenate([w, np.ones(extra.shape[0])])
        p = mixture_weights(w, self.prior_weight)
        if not self.multivariate:
            pts = np.concatenate([x_all[idx][:, group.cols], extra[:, group.cols]])
            return Parzen(kernel, pts, p, False)
        b = self._cache.b[gi][idx]  # a copy: fancy indexing
        if extra.shape[0]:
            b = np.concatenate([b, kernel.kernel_rows(extra[:, group.cols])])
        return Parzen(kernel, None, p, True, b)

    def _propose_one(
        self,
        layout: Layout,
        x_all: np.ndarray,
        good_idx: np.ndarray,
        w_good: np.ndarray,
        bad_idx: np.ndarray,
        w_bad: np.ndarray,
        extra: np.ndarray,
        rng: np.random.Generator,
        fails: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """One proposal: the best ``l / g`` among draws from ``l``, group by group (never a
        failed configuration of ``fails = (failed rows, observed rows)``)."""
        c = self.n_candidates
        cand = np.full((c, layout.dim), np.nan)
        score = np.zeros(c)
        x_good = x_all[good_idx]
        active_rows: list[np.ndarray] = []
        for gi, g in enumerate(layout.groups):
            if g.parent < 0:
                rows = np.arange(c)
            else:  # candidates whose parent column chose this group's option
                parent_rows = active_rows[g.parent_group]
                k = layout.parent_options[g.parent]
                code = np.minimum((cand[parent_rows, g.parent] * k).astype(int), k - 1)
                rows = parent_rows[code == g.option]
            active_rows.append(rows)
            if rows.size == 0:
                continue
            # l changes only with the good set (rarely, in a long study): reuse it
            key = good_idx.tobytes() + w_good.tobytes()
            hit = self._cache.good.get(gi)
            if g.parent < 0:  # top level: active on every trial
                lx = hit[1] if hit and hit[0] == key else self._fit(x_good, w_good, g)
                gx = self._bad_density(gi, g, x_all, bad_idx, w_bad, extra)
            else:
                first = g.cols[0]
                if hit and hit[0] == key:
                    lx = hit[1]
                else:
                    good_act = ~np.isnan(x_good[:, first])
                    lx = self._fit(x_good[good_act], w_good[good_act], g)
                bad_act = ~np.isnan(x_all[bad_idx, first])
                extra_act = extra[~np.isnan(extra[:, first])] if extra.shape[0] else extra
                gx = self._bad_density(gi, g, x_all, bad_idx[bad_act], w_bad[bad_act], extra_act)
            self._cache.good[gi] = (key, lx)
            draws = lx.sample(rng, rows.size)
            for pos, j in g.discrete:
                draws[:, pos] = layout.snap(j, draws[:, pos])
            if g.parent < 0:
                cand[:, g.cols] = draws
                score += lx.logpdf(draws) - gx.logpdf(draws)
            else:
                cand[np.ix_(rows, g.cols)] = draws
                score[rows] += lx.logpdf(draws) - gx.logpdf(draws)
        if fails is None:
            fails = (np.zeros((0, layout.dim)), np.zeros((0, layout.dim)))
        return self._best_unfailed(layout, cand, score, fails, rng)
