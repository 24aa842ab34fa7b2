"""The one "best" implementation (hypersweep._best) and History's counts, best and front."""

from __future__ import annotations

import numpy as np
import pytest

import hypersweep as hs
from hypersweep._best import best_of, best_row, pareto_mask
from hypersweep.constraints import Constraint
from hypersweep.history import COMPLETED, FAILED, QUEUED, History, StateCode
from hypersweep.space import Space
from hypersweep.storage.memory import InMemoryStorage
from hypersweep.trial import Objective, Trial, TrialState


def _brute_front(y: np.ndarray) -> list[bool]:
    le = (y[None, :, :] <= y[:, None, :]).all(axis=2)
    lt = (y[None, :, :] < y[:, None, :]).any(axis=2)
    return (~(le & lt).any(axis=1)).tolist()


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_pareto_mask_matches_brute_force(m: int) -> None:
    rng = np.random.default_rng(m)
    for _ in range(200):
        y = rng.integers(0, 5, size=(int(rng.integers(1, 40)), m)).astype(float)  # many ties
        assert pareto_mask(y).tolist() == _brute_front(y)
    assert pareto_mask(np.zeros((0, m))).tolist() == []


def test_best_row_takes_the_first_minimum_among_allowed_rows() -> None:
    y = np.array([0.0, 2.0, 1.0, 1.0])
    assert best_row(y, np.array([False, True, True, True])) == 2
    assert best_row(y, np.zeros(4, dtype=bool)) is None


def _t(number: int, values: tuple[float, ...] | None) -> Trial:
    return Trial(number, TrialState.COMPLETED, {}, values=values)


def test_best_of_one_objective_ties_go_to_the_lower_number() -> None:
    trials = [_t(3, (0.5,)), _t(1, (0.9,)), _t(2, (0.9,)), _t(0, None)]
    assert [t.number for t in best_of(trials, [Objective("a", "maximize")])] == [1]
    assert [t.number for t in best_of(trials, [Objective("a")])] == [3]
    assert best_of([], [Objective("a")]) == []


def test_best_of_several_objectives_is_the_front_by_number() -> None:
    objs = [Objective("a"), Objective("b", "maximize")]
    trials = [_t(4, (1.0, 1.0)), _t(0, (2.0, 3.0)), _t(2, (1.0, 0.0)), _t(1, (3.0, 3.0))]
    trials.append(_t(5, (1.0,)))  # a value short: never on the front
    assert [t.number for t in best_of(trials, objs)] == [0, 4]


def _history(objectives: list[Objective], constraints: tuple = ()) -> History:
    space = Space({"x": hs.Float(0.0, 1.0)})
    return History(space, objectives, constraints=constraints)


def test_history_counts_best_and_front_agree_with_the_storage() -> None:
    rng = np.random.default_rng(0)
    objs = [Objective("a"), Objective("b", "maximize")]
    storage = InMemoryStorage()
    sid = storage.create_study("s", objs, None).id
    for _ in range(60):
        t = storage.create_trial(sid, {"x": float(rng.random())})
        kind = rng.integers(0, 4)
        if kind == 0:
            continue  # RUNNING
        if kind == 1:
            storage.finish_trial(sid, t.id, TrialState.FAILED, error="x")
            continue
        vals = [float(rng.integers(0, 6)), float(rng.integers(0, 6))]
        state = TrialState.STOPPED if kind == 2 else TrialState.COMPLETED
        storage.finish_trial(sid, t.id, state, values=vals)
    storage.create_trial(sid, {"x": 0.5}, state=TrialState.QUEUED)
    h = _history(objs)
    h.update(storage.get_trials(sid))
    assert h.counts() == storage.count_trials(sid)
    assert h.n_started() == sum(h.counts().values()) - h.counts()[TrialState.QUEUED]
    assert h.front().tolist() == [t.number for t in storage.best_trials(sid)]
    firsts = [t.with_(values=t.values and t.values[:1]) for t in storage.get_trials(sid)]
    one = _history(objs[:1])
    one.update(firsts)
    assert one.best_index() == best_of(firsts, objs[:1])[0].number


def test_history_best_skips_infeasible_and_failed_rows() -> None:
    h = _history([Objective("a")], constraints=(Constraint("mem", max=1.0),))
    assert h.best_index() is None and h.front().tolist() == []
    h.update(
        [
            Trial(0, TrialState.COMPLETED, {"x": 0.1}, values=(0.0,), metrics={"mem": 2.0}),
            Trial(1, TrialState.FAILED, {"x": 0.2}),
            Trial(2, TrialState.STOPPED, {"x": 0.3}, values=(0.5,), metrics={"mem": 0.5}),
            Trial(3, TrialState.COMPLETED, {"x": 0.4}, values=(0.5,), metrics={"mem": 0.5}),
        ]
    )
    assert h.best_index() == 2  # 0 is infeasible; 2 and 3 tie: the earlier one
    assert h.front().tolist() == [2, 3]
    assert h.state.tolist() == [COMPLETED, FAILED, StateCode.STOPPED, COMPLETED]
    assert StateCode.of(TrialState.QUEUED) == QUEUED and QUEUED.state == TrialState.QUEUED
