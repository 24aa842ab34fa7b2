"""The sampler contract suite: every registered :class:`~hypersweep.samplers.Sampler` passes it.

Run it over a sampler by subclassing :class:`SamplerContract` and providing a
``sampler_factory`` fixture that returns a function ``seed -> fresh sampler``::

    import pytest
    from hypersweep.testing.samplers import SamplerContract

    class TestMySampler(SamplerContract):
        @pytest.fixture
        def sampler_factory(self):
            return lambda seed: MySampler(seed=seed)

What the suite checks, on a space that uses every parameter type (with nested conditional
groups), and on a space of the forms foreign sweep files use (:func:`new_types_space`:
q-log-uniform ints, weighted choices, beta, list- and dict-valued choices, a nested group,
names shared by the branches of a conditional group):

* every proposal passes :meth:`Space.validate <hypersweep.space.Space.validate>` unchanged:
  in range, on its step, only the active parameters, every parameter reachable;
* values are plain Python types (``int``, ``float``, ``str``, ``bool``, ``None``), never
  numpy scalars;
* the same seed and the same history give the same proposals, also in a fresh process with
  a different ``PYTHONHASHSEED`` (so samplers must be picklable);
* enqueued configurations come first; ``ask(n)`` with ``n > 1`` works;
* proposals made while trials are RUNNING differ from each other;
* a study resumed in fresh processes, two of them sharing the study at once, never holds
  the same configuration twice: on a continuous space, and on a finite space until every
  configuration has been tried (randomness comes from the study seed and the number of
  trials, never from the process; see :mod:`hypersweep._sequence`);
* a history holding FAILED trials, multi-objective values, or trials whose parameters no
  longer fit the space does not break the sampler, and ``propose`` never changes it;
* a sampler with ``learns_from_failures`` (every model-based one) spends fewer trials in
  a failing region than random search would, also when the best values lie at its edge,
  and never proposes a configuration it has seen fail again (:func:`failed_repeats`).

The factory's samplers may end a study with
:class:`~hypersweep.errors.SpaceExhausted` only on a finite space; the spaces used here
are large enough (a grid sampler needs ``grid_points``, about 3, for continuous
parameters).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from hypersweep.history import History
from hypersweep.samplers.base import Proposal, Sampler
from hypersweep.space import Beta, Bool, Choice, Float, Int, Normal, Param, Space
from hypersweep.storage.memory import InMemoryStorage
from hypersweep.study import Study
from hypersweep.testing.spaces import (
    continuous_space,
    every_type_space,
    finite_space,
    new_types_space,
)
from hypersweep.trial import Objective, Trial, TrialState

__all__ = [
    "SamplerContract",
    "SamplerFactory",
    "check_proposal",
    "continuous_space",
    "deterministic_value",
    "every_type_space",
    "failed_repeats",
    "finite_space",
    "new_types_space",
    "run_failing_study",
    "run_study",
    "seeded_run",
    "shared_run",
]

#: ``factory(seed) -> a fresh sampler``
SamplerFactory = Callable[[int], Sampler]

_PLAIN = (int, float, str, bool, type(None))


def _expected_type(param: Param, value: Any) -> type:
    if isinstance(param, Int):
        return int
    if isinstance(param, (Float, Normal, Beta)):
        return float
    if isinstance(param, Choice):
        return type(param.options[param.index(value)])
    raise TypeError(param)


def check_proposal(space: Space, params: Any) -> None:
    """Assert that ``params`` is a valid configuration of ``space`` in plain Python types.

    Valid means :meth:`Space.validate` accepts it and returns it unchanged: every value in
    range and on its step, exactly the active parameters (no inactive or unknown ones), and
    each value of its parameter's type (``int`` for :class:`Int`, ``float`` for
    :class:`Float` and :class:`Normal`, the option's own type for :class:`Choice`).
    """
    assert type(params) is dict, f"params must be a dict, got {type(params).__name__}"
    for name, value in params.items():
        assert isinstance(name, str)
        assert _plain(value), (
            f"{name}={value!r} is a {type(value).__module__}.{type(value).__name__}, "
            "not a plain Python value"
        )
    clean = space.validate(params)  # raises SpaceError naming what is wrong
    assert clean == params, f"validate() changed {params} into {clean}"
    active = space.active_mask(space.encode(params)[None, :])[0]  # a shared name: its branch
    for j, c in enumerate(space.columns):
        if active[j] and c.name in params:
            want = _expected_type(c.param, params[c.name])
            assert type(params[c.name]) is want, (
                f"{c.name}={params[c.name]!r} should be a {want.__name__}"
            )
    for f in space._fixed:
        if f.name in params:
            assert type(params[f.name]) is type(f.value) and params[f.name] == f.value


def _plain(value: Any) -> bool:
    """A plain Python value: a JSON scalar, or a list / dict of plain values."""
    if type(value) is list:
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return type(value) in _PLAIN


def deterministic_value(space: Space, params: dict[str, Any]) -> float:
    """An objective that depends on every parameter and on nothing else."""
    u = space.encode(params)
    return float(np.nansum(u * np.arange(1, u.size + 1)) / (u.size + 1))


def run_study(
    study: Study, n_trials: int, fail_every: int = 0, leave_running: Sequence[int] = ()
) -> list[dict[str, Any]]:
    """Ask and tell ``n_trials`` trials one at a time; return their params in order.

    Every ``fail_every``-th trial is told as FAILED; trial numbers in ``leave_running`` are
    not told at all.
    """
    out = []
    for i in range(n_trials):
        t = study.ask()
        out.append(t.params)
        if t.number in leave_running:
            continue
        if fail_every and i % fail_every == fail_every - 1:
            study.tell(t, error="failed on purpose")
        else:
            study.tell(t, deterministic_value(study.space, t.params))
    return out


def seeded_run(sampler: Sampler, seed: int = 7, n_trials: int = 16) -> list[dict[str, Any]]:
    """The params of a seeded study's trials (used in this process and a fresh one)."""
    study = Study(
        "determinism", space=every_type_space(), sampler=sampler, storage="memory", seed=seed
    )
    return run_study(study, n_trials, fail_every=5)


def shared_run(
    sampler: Sampler, storage: str, seed: int, n_continuous: int, n_finite: int
) -> None:
    """Add trials to the studies "shared-continuous" and "shared-finite" of ``storage``
    (created or resumed), telling each trial at once."""
    for name, space, n in (
        ("shared-continuous", continuous_space(), n_continuous),
        ("shared-finite", finite_space(), n_finite),
    ):
        study = Study(name, space=space, sampler=sampler, storage=storage, seed=seed)
        run_study(study, n, fail_every=3)


def _shared_run_child(blob: bytes, storage: str, go: Any, done: Any) -> None:  # pragma: no cover
    sampler = pickle.loads(blob)  # a copy, as another process would build it
    go.wait(60)  # start together with the parent process
    try:
        shared_run(sampler, storage, 5, 4, 3)
    except BaseException as e:
        done.put(repr(e))
        raise
    done.put("ok")


def _seeded_run_main() -> None:  # pragma: no cover - runs in a subprocess
    sampler = pickle.loads(sys.stdin.buffer.read())
    seed, n_trials = int(sys.argv[1]), int(sys.argv[2])
    print(json.dumps(seeded_run(sampler, seed, n_trials)))


def run_failing_study(
    sampler: Sampler,
    space: Space,
    fails: Callable[[dict[str, Any]], bool],
    value: Callable[[dict[str, Any]], float],
    n_trials: int,
    seed: int = 0,
) -> list[tuple[dict[str, Any], bool]]:
    """Ask and tell ``n_trials`` trials; those where ``fails(params)`` are told FAILED.

    Returns ``(params, failed)`` per trial, in order.
    """
    study = Study("failing", space=space, sampler=sampler, storage="memory", seed=seed)
    out = []
    for _ in range(n_trials):
        t = study.ask()
        bad = fails(t.params)
        if bad:
            study.tell(t, error="crashed on purpose")
        else:
            study.tell(t, value(t.params))
        out.append((t.params, bad))
    return out


def failed_repeats(space: Space, trials: Sequence[tuple[dict[str, Any], bool]]) -> list[int]:
    """Indices of trials whose configuration equals that of an earlier FAILED trial (to
    :data:`~hypersweep.samplers.base.RESOLUTION` in the unit cube)."""
    from hypersweep.samplers.base import near_any

    U = space.encode_many([p for p, _ in trials])
    out = []
    for i in range(1, len(trials)):
        earlier = np.array([j for j in range(i) if trials[j][1]], dtype=int)
        if earlier.size and near_any(U[earlier], U[i : i + 1])[0]:
            out.append(i)
    return out


class SamplerContract:
    """Behaviour every sampler guarantees (see :mod:`hypersweep.samplers.base`).

    Subclasses provide the ``sampler_factory`` fixture.
    """

    n_trials = 20

    @pytest.fixture
    def sampler_factory(self) -> SamplerFactory:  # pragma: no cover - the subclass gives it
        raise NotImplementedError("subclass SamplerContract with a sampler_factory fixture")

    def study(
        self,
        factory: SamplerFactory,
        space: Space | None = None,
        seed: int = 0,
        name: str = "contract",
        storage: Any = "memory",
        objective: Any = None,
        extend_space: bool = False,
    ) -> Study:
        return Study(
            name,
            space=space if space is not None else every_type_space(),
            objective=objective,
            sampler=factory(seed),
            storage=storage,
            seed=seed,
            extend_space=extend_space,
        )

    # --- validity ----------------------------------------------------------------------
    def test_proposals_are_valid_for_every_parameter_type(
        self, sampler_factory: SamplerFactory
    ) -> None:
        study = self.study(sampler_factory, objective={"metric": "score", "goal": "maximize"})
        space = study.space
        proposed = run_study(study, self.n_trials, fail_every=4)
        for params in proposed:
            check_proposal(space, params)
        seen = set().union(*proposed)
        missing = set(space.names) - seen
        assert not missing, f"never proposed (nested groups not explored?): {sorted(missing)}"
        assert {p["optimizer"] for p in proposed} == {"adam", "sgd"}

    def test_proposals_are_valid_for_the_foreign_forms(
        self, sampler_factory: SamplerFactory
    ) -> None:
        """Shared names, q-log ints, weights, beta, list/dict values, a nested group."""
        space = new_types_space()
        study = self.study(sampler_factory, space=space, seed=3)
        proposed = run_study(study, 30, fail_every=4)
        for params in proposed:
            check_proposal(space, params)
        if study.sampler.name != "grid":  # a grid visits points, most of them under "mlp"
            assert {p["model"] for p in proposed} == {"lgbm", "mlp", "xgb"}
            U = space.encode_many(proposed)
            never = [space.names[j] for j in np.flatnonzero(np.isnan(U).all(axis=0))]
            assert not never, f"never proposed: {never}"
        # a shared name takes the range of its own branch
        for p in proposed:
            if p["model"] == "xgb":
                assert p["learning_rate"] in (0.1, 0.3)
            elif p["model"] == "lgbm":
                assert 1e-3 <= p["learning_rate"] <= 0.3 and "n_units_l1" not in p

    def test_propose_returns_n_valid_proposals(self, sampler_factory: SamplerFactory) -> None:
        space = every_type_space()
        history = History(space, [Objective("loss")])
        proposals = sampler_factory(0).propose(space, history, np.random.default_rng(0), 6)
        assert len(proposals) == 6
        for p in proposals:
            assert isinstance(p, Proposal)
            check_proposal(space, p.params)

    def test_ask_n_gives_n_running_trials(self, sampler_factory: SamplerFactory) -> None:
        study = self.study(sampler_factory)
        run_study(study, 3)
        trials = study.ask(4)
        assert len(trials) == 4
        assert [t.number for t in trials] == [3, 4, 5, 6]
        assert all(t.state == TrialState.RUNNING for t in trials)
        for t in trials:
            check_proposal(study.space, t.params)
        assert len(study.trials(states=[TrialState.RUNNING])) == 4

    # --- reproducibility --------------------------------------------------------------
    def test_same_seed_same_proposals(self, sampler_factory: SamplerFactory) -> None:
        first = seeded_run(sampler_factory(7))
        second = seeded_run(sampler_factory(7))
        assert first == second
        assert repr(first) == repr(second)  # same types too (1 vs 1.0)

    def test_same_seed_same_proposals_in_a_fresh_process(
        self, sampler_factory: SamplerFactory
    ) -> None:
        here = json.loads(json.dumps(seeded_run(sampler_factory(11), seed=11, n_trials=12)))
        hash_seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
        env = {
            **os.environ,
            "PYTHONHASHSEED": hash_seed,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        code = "from hypersweep.testing.samplers import _seeded_run_main; _seeded_run_main()"
        proc = subprocess.run(
            [sys.executable, "-c", code, "11", "12"],
            input=pickle.dumps(sampler_factory(11)),
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
        there = json.loads(proc.stdout.decode())
        assert there == here

    def test_resumed_and_shared_studies_never_repeat_a_configuration(
        self, sampler_factory: SamplerFactory, tmp_path: Any
    ) -> None:
        import multiprocessing as mp

        url = f"sqlite:///{tmp_path / 'shared.db'}"
        shared_run(sampler_factory(5), url, 5, 4, 3)  # then resumed by two processes:
        ctx = mp.get_context("fork")  # a second process, started without the import cost
        go, done = ctx.Event(), ctx.Queue()
        child = ctx.Process(
            target=_shared_run_child, args=(pickle.dumps(sampler_factory(5)), url, go, done)
        )
        child.start()
        try:
            go.set()
            shared_run(sampler_factory(5), url, 5, 4, 3)  # this process, at the same time
            result = done.get(timeout=180)
            child.join(60)
        finally:
            if child.is_alive():
                child.kill()
        assert result == "ok" and child.exitcode == 0, result
        for name, n in (("shared-continuous", 12), ("shared-finite", 9)):
            trials = Study(name, storage=url).trials()
            assert len(trials) == n  # the finite space holds 9: each configuration once
            if sampler_factory(5).allows_repeats:  # e.g. PBT: a segment continues a member
                distinct = {t.system_attrs.get("key") for t in trials}
            else:
                distinct = {json.dumps(t.params, sort_keys=True) for t in trials}
            assert len(distinct) == n, sorted(json.dumps(t.params) for t in trials)

    # --- the study around the sampler -------------------------------------------------
    def test_enqueued_trials_come_first(self, sampler_factory: SamplerFactory) -> None:
        study = self.study(sampler_factory)
        run_study(study, 3)
        queued = study.space.sample(np.random.default_rng(123), 2)
        for params in queued:
            study.enqueue(params)
        first = study.ask()
        assert first.params == queued[0]
        rest = study.ask(2)
        assert rest[0].params == queued[1]
        check_proposal(study.space, rest[1].params)
        assert rest[1].number == 5  # the sampler's proposal comes after the queue
        assert not study.trials(states=[TrialState.QUEUED])

    def test_running_trials_get_distinct_configurations(
        self, sampler_factory: SamplerFactory
    ) -> None:
        study = self.study(sampler_factory, space=continuous_space())
        run_study(study, 2)
        asked = [study.ask() for _ in range(5)]  # no tell: all five RUNNING
        configs = {tuple(sorted(t.params.items())) for t in asked}
        assert len(configs) == 5, [t.params for t in asked]
        batch = study.ask(5)
        configs |= {tuple(sorted(t.params.items())) for t in batch}
        assert len(configs) == 10

    def test_history_with_failed_and_unfit_trials(self, sampler_factory: SamplerFactory) -> None:
        storage = InMemoryStorage()
        old = Space({"x": Float(0.0, 10.0), "gone": Int(1, 5), "act": Choice(["a", "b", "c"])})
        study = self.study(sampler_factory, space=old, storage=storage, name="edited")
        run_study(study, 8, fail_every=2, leave_running=[6])
        study.tell(study.ask(), float("nan"))  # a NaN value: FAILED too
        # the user edits the space and resumes: the old params no longer fit
        new = Space({"x": Float(0.0, 1.0), "act": Choice(["a", "d"]), "n": Int(1, 3)})
        resumed = self.study(
            sampler_factory, space=new, storage=storage, name="edited", extend_space=True
        )
        resumed.sync()
        assert not resumed.history.valid[:9].any()
        proposed = run_study(resumed, 6, fail_every=3)
        for params in proposed:
            check_proposal(new, params)

    def test_history_snapshots_of_every_state(self, sampler_factory: SamplerFactory) -> None:
        space = every_type_space()
        objectives = [Objective("loss"), Objective("acc", "maximize")]
        history = History(space, objectives)
        configs = space.sample(np.random.default_rng(5), 6)
        history.update(
            [
                Trial(0, TrialState.COMPLETED, configs[0], values=(0.5, 0.9)),
                Trial(1, TrialState.FAILED, configs[1], error="boom"),
                Trial(2, TrialState.RUNNING, configs[2]),
                Trial(3, TrialState.STOPPED, configs[3], values=(0.7, 0.2)),
                Trial(4, TrialState.QUEUED, configs[4]),
                Trial(5, TrialState.COMPLETED, {"unknown": 1, "lr": 5.0}, values=(0.1, 0.1)),
                Trial(6, TrialState.FAILED, {}, error="no params"),
                Trial(7, TrialState.COMPLETED, configs[5], values=(0.3, 0.8)),
            ]
        )
        assert history.valid.tolist() == [True] * 5 + [False, False, True]
        before = (history.version, history.X.copy(), history.Y.copy(), history.state.copy())
        proposals = sampler_factory(0).propose(space, history, np.random.default_rng(1), 3)
        assert len(proposals) == 3
        for p in proposals:
            check_proposal(space, p.params)
        # a sampler is pure: it never changes the history it reads
        assert history.version == before[0]
        np.testing.assert_array_equal(history.X, before[1])
        np.testing.assert_array_equal(history.Y, before[2])
        np.testing.assert_array_equal(history.state, before[3])

    def test_multi_objective_study(self, sampler_factory: SamplerFactory) -> None:
        study = self.study(
            sampler_factory,
            space=continuous_space(),
            objective=[{"metric": "loss"}, {"metric": "acc", "goal": "maximize"}],
        )
        for i in range(12):
            t = study.ask()
            check_proposal(study.space, t.params)
            x, y = t.params["x"], t.params["y"]
            study.tell(t, {"loss": x * x + i, "acc": y})
        assert study.best_trials

    # --- failures are evidence ---------------------------------------------------------
    @staticmethod
    def _learns(factory: SamplerFactory) -> None:
        if not getattr(factory(0), "learns_from_failures", False):
            pytest.skip("not a model-based sampler (learns_from_failures is False)")

    def test_failing_region_is_avoided(self, sampler_factory: SamplerFactory) -> None:
        """A region covering 30% of the box crashes every trial: after the first half of
        the study, the sampler sends fewer trials there than random search (30%)."""
        self._learns(sampler_factory)
        space = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
        late: list[bool] = []
        for seed in (0, 1):
            trials = run_failing_study(
                sampler_factory(seed),
                space,
                lambda p: p["x"] > 0.7,
                lambda p: (p["x"] - 0.3) ** 2 + (p["y"] - 0.4) ** 2,
                40,
                seed=seed,
            )
            late.extend(bad for _, bad in trials[20:])
            assert not failed_repeats(space, trials)
        assert sum(late) <= 0.15 * len(late), f"{sum(late)} of {len(late)} late trials failed"

    def test_failing_region_next_to_the_best_values(self, sampler_factory: SamplerFactory) -> None:
        """``-x`` is best at the crash boundary ``x = 0.8`` (the case where a GP used to
        propose ``x = 1.0`` 33 times in 40): fewer failures than random search's 20%,
        none repeated, and the boundary is approached."""
        self._learns(sampler_factory)
        space = Space({"x": Float(0.0, 1.0)})
        failures, best = 0, []
        for seed in (0, 1):
            trials = run_failing_study(
                sampler_factory(seed),
                space,
                lambda p: p["x"] > 0.8,
                lambda p: -p["x"],
                40,
                seed=seed,
            )
            failures += sum(bad for _, bad in trials)
            best.append(max(p["x"] for p, bad in trials if not bad))
            assert not failed_repeats(space, trials)
        assert failures <= 0.2 * 80, f"{failures} of 80 trials failed"
        assert min(best) > 0.7, best

    def test_failed_configuration_is_never_proposed_again(
        self, sampler_factory: SamplerFactory
    ) -> None:
        """On a finite space where the attractive half crashes, no failed configuration
        comes back, in a study and from a history where most configurations failed."""
        self._learns(sampler_factory)
        space = Space({"k": Int(0, 9), "c": Choice(["a", "b", "c"]), "on": Bool()})
        trials = run_failing_study(
            sampler_factory(3),
            space,
            lambda p: p["k"] >= 5,
            lambda p: -p["k"] + 0.1 * "abc".index(p["c"]) + 0.05 * p["on"],
            40,
            seed=3,
        )
        assert not failed_repeats(space, trials), failed_repeats(space, trials)
        # a history where all but two configurations of a small space failed
        small = Space({"c": Choice(["a", "b", "c", "d"]), "on": Bool()})
        everything = [{"c": c, "on": on} for c in "abcd" for on in (False, True)]
        ok = [{"c": "b", "on": True}, {"c": "d", "on": False}]
        history = History(small, [Objective("loss")])
        history.update(
            [
                Trial(i, TrialState.COMPLETED, p, values=(float(i),))
                if p in ok
                else Trial(i, TrialState.FAILED, p, error="boom")
                for i, p in enumerate(everything)
            ]
        )
        sampler = sampler_factory(0)
        for k in range(3):
            for p in sampler.propose(small, history, np.random.default_rng(k), 2):
                assert p.params in ok, p.params
