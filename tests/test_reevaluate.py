"""Multi-seed re-evaluation (hypersweep.reevaluate; Study.reevaluate/robust_ranking)."""

from __future__ import annotations

import random

import pytest

import hypersweep as hs
from hypersweep._sequence import trial_seed
from hypersweep.errors import HypersweepError
from hypersweep.trial import TrialState


def noisy(params, trial):
    """A lucky seed can make a poor configuration look best; the mean cannot."""
    noise = random.Random(trial.seed).gauss(0.0, 1.0)
    return (params["x"] - 1.0) ** 2 + noise


def study():
    s = hs.Study("noisy", space={"x": hs.Float(-3, 3)}, storage="memory", seed=3, sampler="random")
    s.optimize(noisy, max_trials=12)
    return s


def test_reevaluate_queues_new_seed_runs_linked_to_the_original():
    s = study()
    best = sorted(s.trials(), key=lambda t: t.value)[:2]
    queued = s.reevaluate(top=2, seeds=3)
    assert len(queued) == 6 and all(t.state == TrialState.QUEUED for t in queued)
    assert [t.system_attrs["reevaluates"] for t in queued] == [best[0].number] * 3 + [
        best[1].number
    ] * 3
    assert [t.params for t in queued[:3]] == [best[0].params] * 3
    seeds = [t.system_attrs["seed"] for t in queued]
    assert seeds[:3] == [trial_seed(3, best[0].number, j) for j in (1, 2, 3)]
    assert len(set(seeds)) == 6
    s.optimize(noisy, max_trials=18)  # queued trials run first, with their own seeds
    assert s.trial_seed(s.trials()[12]) == seeds[0]
    more = s.reevaluate(top=1, seeds=2)  # new seeds continue the repeats
    assert [t.system_attrs["repeat"] for t in more] == [4, 5]


def test_robust_ranking_ranks_by_the_mean_of_every_seed():
    s = study()
    s.reevaluate(top=3, seeds=4)
    s.optimize(noisy, max_trials=24)
    rows = s.robust_ranking()
    assert len(rows) == 3 and [r.rank for r in rows] == [1, 2, 3]
    means = [r.mean for r in rows]
    assert means == sorted(means)
    for r in rows:
        assert len(r.values) == 5 and r.pending == 0
        assert r.mean == pytest.approx(sum(r.values) / 5)
        assert r.std > 0
    assert sorted(r.original_rank for r in rows) == [1, 2, 3]


def test_reevaluate_checks_its_arguments():
    s = study()
    with pytest.raises(HypersweepError, match="top must be an integer >= 1"):
        s.reevaluate(top=0)
    empty = hs.Study("e", space={"x": hs.Float(0, 1)}, storage="memory")
    with pytest.raises(HypersweepError, match="no finished trial"):
        empty.reevaluate()
    mo = hs.Study("mo", space={"x": hs.Float(0, 1)}, objective=["a", "b"], storage="memory")
    with pytest.raises(HypersweepError, match="several objectives"):
        mo.reevaluate()
