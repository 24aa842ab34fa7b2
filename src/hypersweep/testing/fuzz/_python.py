"""Hostile but plausible Python space specs and studies, and their checker."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from hypersweep.testing.fuzz._check import check_space, check_values, expect_error
from hypersweep.testing.fuzz._source import FuzzFailure, Source
from hypersweep.testing.fuzz._sweep import KINDS, PY_STRINGS, compact

# --------------------------------------------------------------------------------------
# Python specs
# --------------------------------------------------------------------------------------
_PY_NUMBERS: tuple[Any, ...] = (
    0,
    1,
    -1,
    2,
    10,
    0.5,
    1e-5,
    1e308,
    -1e308,
    5e-324,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    10**400,
    -(10**400),
    math.inf,
    -math.inf,
    math.nan,
    -0.0,
    True,
    False,
    None,
    np.int64(3),
    np.float32(0.25),
    np.float64(1e-300),
    np.uint64(2**64 - 1),
    "1",
    "x",
    1e-300,
    700.0,
    -63,
    -11.200000000000003,
    0.7,
    69,
    69.000092,
    1e-6,
    1.5,
)


def _py_value(src: Source, depth: int = 0) -> Any:
    mode = src.integer(0, 9)
    if mode <= 4:
        return src.pick(_PY_NUMBERS)
    if mode <= 6:
        return src.pick(PY_STRINGS)
    if mode == 7 and depth < 3:
        return [_py_value(src, depth + 1) for _ in range(src.integer(0, 4))]
    if mode == 8 and depth < 3:
        return {
            src.pick(("a", "b", "x", 1, None)): _py_value(src, depth + 1)
            for _ in range(src.integer(0, 3))
        }
    return src.integer(-(10**6), 10**6) / src.pick((1, 7, 1e-9, 1e9))


_PY_MILD: tuple[Any, ...] = (0, 1, 2, 3, 10, 100, -1, -5, 0.5, 0.1, 1e-5, 1e-3, 2.5, 7, 1e3)


def _py_param(src: Source, depth: int = 0, calm: bool = False) -> Any:
    import hypersweep as hs

    mode = src.integer(0, 11)
    if calm:
        mode = src.pick((0, 0, 1, 1, 2, 3, 4, 5, 6, 7))
        v = lambda: src.pick(_PY_MILD) if src.integer(0, 3) else src.pick(_PY_NUMBERS)  # noqa: E731
    else:
        v = lambda: _py_value(src, 2)  # noqa: E731
    opt = lambda: src.pick((None, None, v(), 0.1, 1, 2, 1e-3))  # noqa: E731

    def pair(integer: bool = False) -> tuple[Any, Any]:
        a, b = v(), v()
        if calm and integer and src.integer(0, 3):
            a, b = src.integer(-50, 50), src.pick((src.integer(-50, 100), 2**53, 10**6, 2**40))
        try:  # (the generator's own comparison: numpy may warn on a huge int)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return (a, b) if not calm or a < b else (b, a)
        except (TypeError, OverflowError, ValueError):
            return a, b

    if calm and mode in (0, 1):
        lo_hi = pair(mode == 1)
        if mode == 0:
            return lambda: hs.Float(*lo_hi, log=src.pick((False, False, True)), step=opt())
        return lambda: hs.Int(
            *lo_hi, log=src.pick((False, False, True)), step=src.pick((1, 1, 2, 3))
        )
    if mode == 0:
        return lambda: hs.Float(v(), v(), log=src.pick((False, True)), step=opt())
    if mode == 1:
        return lambda: hs.Int(v(), v(), log=src.pick((False, True)), step=src.pick((1, 2, v())))
    if mode == 2:
        return lambda: hs.Normal(v(), v(), log=src.pick((False, True)), step=opt())
    if mode == 3:
        return lambda: hs.Choice(
            list(
                {
                    repr(x): x
                    for x in (
                        _py_value(src, 2) for _ in range(src.integer(0 if not calm else 1, 5))
                    )
                }.values()
            )
        )
    if mode == 4 and depth < 3:

        def group() -> Any:
            return hs.Choice(
                {
                    src.pick(("a", "b", "é", "", 1)) if src.integer(0, 5) else f"o{i}": {
                        f"g{depth}{i}{j}": _build(_py_param(src, depth + 1, calm))
                        for j in range(src.integer(0, 2))
                    }
                    for i in range(src.integer(1 if calm else 0, 3))
                }
            )

        return group
    if mode == 5:
        return lambda: hs.Bool()
    if mode == 6:
        return lambda: hs.Fixed(_py_value(src))
    if mode == 7:  # a sweep-file form given to the Python API
        return lambda: compact(src)
    if mode == 8:
        return lambda: {"type": src.pick(KINDS), "low": v(), "high": v(), "step": opt()}
    if mode == 9:
        return lambda: [_py_value(src, 2) for _ in range(src.integer(0, 4))]
    if mode == 10:
        return lambda: {"choice": {"a": {"inner": {"choice": {"b": {}}}}}}
    return lambda: _py_value(src)


def _build(make: Callable[[], Any]) -> Any:
    return make()


def python_case(src: Source) -> Callable[[], str]:
    """A Python-API case: a closure that builds params / a space / a study and uses them.

    Returns the closure; :func:`check_python_case` runs it.
    """
    import hypersweep as hs

    calm = src.integer(0, 9) < 6  # most cases are plausible: the checks past the space run
    n_params = src.integer(1 if calm else 0, 4)
    names = (
        ("x", "lr", "y", "größe")
        if calm
        else ("x", "lr", "y", 1, None, "a b", "x\n", "größe", "", "_", "z" * 201)
    )
    makers = [
        (names[i] if calm else src.pick(names), _py_param(src, 0, calm)) for i in range(n_params)
    ]
    name = "fuzz" if calm else src.pick(("fuzz", "a.b-c_1", "x\n", "", "é", "n" * 201, 1, None))
    seed = (
        src.pick((None, 0, 1))
        if calm
        else src.pick((None, 0, 1, -1, 2**63, 2**64, 10**400, 1.5, True))
    )
    enq = [
        src.pick(({}, {"x": 0.5}, {1: 2}, {"x": _py_value(src)}, None, [("x", 1)], "x"))
        for _ in range(src.integer(0, 2))
    ]
    results = [
        src.pick(
            (
                0.5,
                10**400,
                -(10**400),
                math.nan,
                math.inf,
                "x",
                None,
                [1],
                {"loss": 1},
                np.float64(2.0),
                True,
                2**63,
            )
        )
        for _ in range(2)
    ]
    use_validate = src.integer(0, 1)
    extra = _py_value(src)
    objective = (
        None
        if calm
        else src.pick(
            (
                None,
                "loss",
                {"metric": "acc", "goal": "maximize"},
                "a\nb",
                "",
                3,
                [],
                [{"metric": "a"}, {"metric": "a"}],
                {"metric": "l", "goal": "up"},
                {"metric": "l", 1: 2},
            )
        )
    )
    sampler = (
        src.pick((None, "random", "tpe", "sobol"))
        if calm
        else src.pick(
            (
                None,
                "random",
                "grid",
                "bogus",
                3,
                {"name": "random", "seed": -1},
                {"name": "tpe", "seed": 10**400},
                {"name": "tpe", "n_startup": -1},
                {"name": "grid", "grid_points": 2},
                {"seed": 1},
                {"name": "anneal", "bogus": 1},
            )
        )
    )
    user_attrs = src.pick((None, None, {"a": 1}, {"a": math.nan}, {"a": object()}, {1: 2}))

    def case() -> str:
        spec = {k: _build(m) for k, m in makers}
        space = hs.Space(spec)  # type: ignore[arg-type]  # keys may be anything here
        check_space(space, np.random.default_rng(0), 32)
        if use_validate:
            try:
                space.validate({"x": extra} if isinstance(extra, (int, float, str)) else extra)
            except hs.SpaceError:
                pass
        study = hs.Study(
            name,
            space,
            objective,
            storage="memory",
            seed=seed,
            sampler=sampler,
        )
        for e in enq:
            try:
                study.enqueue(e, user_attrs)
            except hs.HypersweepError as err:
                expect_error(err)
        for r in results:
            t = study.ask()
            check_values(space, [t.params], "ask")
            done = study.tell(t, r if len(study.objectives) == 1 else [r] * len(study.objectives))
            if done.state.value == "RUNNING":
                raise FuzzFailure("bare", "tell left the trial RUNNING")
        return "ok"

    return case


def check_python_case(case: Callable[[], str]) -> str:
    """Run a :func:`python_case`; ``"ok"`` or ``"error"``, else :class:`FuzzFailure`."""
    import logging

    logging.getLogger("hypersweep").disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                return case()
            except FuzzFailure:
                raise
            except Exception as e:
                return expect_error(e)
    finally:
        logging.getLogger("hypersweep").disabled = False
