"""Running generated input through hypersweep: sweep files, spaces, sampled values."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hypersweep.testing.fuzz._source import FuzzFailure


# --------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------
def value_problem(param: Any, value: Any) -> str | None:
    """Why ``value`` is not in ``param``'s declared set (checked independently of
    :meth:`Param.validate`), or ``None``."""
    from hypersweep.space import Bool, Choice, Fixed, Float, Int, Normal

    if isinstance(param, Fixed):
        return None if value == param.value else f"{value!r} != fixed {param.value!r}"
    if isinstance(param, (Choice, Bool)):
        same = any(type(o) is type(value) and o == value for o in param.options)
        return None if same else f"{value!r} is not an option"
    if isinstance(param, Int):
        if type(value) is not int:
            return f"{value!r} is not an int"
        if not param.low <= value <= param.high:
            return f"{value} outside [{param.low}, {param.high}]"
        if (value - param.low) % (param.step or 1):
            return f"{value} off the step grid"
        return None
    if type(value) is not float or not math.isfinite(value):
        return f"{value!r} is not a finite float"
    if isinstance(param, Float):
        if not param.low <= value <= param.high:
            return f"{value!r} outside [{param.low!r}, {param.high!r}]"
        if param.step is not None:
            k = (value - param.low) / param.step
            if abs(k - round(k)) > 1e-6 * max(1.0, abs(k)):
                return f"{value!r} off the step grid (k={k!r})"
        return None
    if isinstance(param, Normal):
        if param.log and not value > 0:
            return f"log-normal value {value!r} <= 0"
        if param.step is not None:
            k = value / param.step
            if abs(k - round(k)) > 1e-6 * max(1.0, abs(k)):
                return f"{value!r} not a multiple of {param.step!r}"
    return None


def check_values(space: Any, configs: Sequence[Mapping[str, Any]], where: str) -> None:
    params = {c.name: c.param for c in space.columns}
    for config in configs:
        for name, value in config.items():
            p = params.get(name)
            problem = value_problem(p, value) if p is not None else None
            if problem:
                raise FuzzFailure("outside", f"{where}: {name}: {problem}")
        space.validate(config)  # the library agrees (raises SpaceError otherwise)


_EDGES = (0.0, 1.0, float(np.nextafter(1.0, 0.0)), 5e-324, 0.5, 1e-12, 1 - 1e-12, math.nan)


def check_space(space: Any, rng: np.random.Generator, n: int = 64) -> None:
    """Sample ``space`` (random rows, the unit cube's edges) and check every value."""
    check_values(space, space.sample(rng, n), "sample")
    edges = np.array([[e] * space.dim for e in _EDGES]) if space.dim else np.zeros((1, 0))
    check_values(space, space.decode_many(edges), "decode(edges)")
    grid = None
    try:
        grid = space.grid(3)
    except Exception as e:
        expect_error(e)
    if grid is not None and len(grid):
        check_values(space, [grid[0], grid[len(grid) - 1], grid[len(grid) // 2]], "grid")


def expect_error(e: BaseException) -> str:
    from hypersweep.errors import HypersweepError

    if not isinstance(e, HypersweepError):
        raise FuzzFailure("bare", f"{type(e).__name__}: {str(e)[:300]}") from e
    text = str(e)
    if "\n" in text or "\r" in text or not text.strip():
        raise FuzzFailure("multiline", repr(text[:300])) from e
    return "error"


def _ask_some(spec: Any, n: int = 3) -> None:
    """Run ``n`` ask/tell rounds of the file's study (memory storage, its sampler)."""
    import hypersweep as hs
    from hypersweep.errors import HypersweepError

    try:
        study = hs.Study(
            spec.name or "fuzz",
            spec.space,
            list(spec.objectives),
            sampler=dict(spec.sampler) if spec.sampler is not None else None,
            storage="memory",
            seed=0,
        )
        for i in range(n):
            t = study.ask()
            check_values(spec.space, [t.params], "ask")
            values = [float(i)] * len(spec.objectives)
            study.tell(t, values if len(values) > 1 else values[0])
    except HypersweepError as e:  # e.g. a grid too large for an index: one line, still
        expect_error(e)


def check_sweep_text(text: str, sample: int = 64) -> str:
    """Load ``text`` as a sweep file; ``"ok"`` or ``"error"``, else :class:`FuzzFailure`."""
    from hypersweep.spec import load_text

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # overflow in numpy = a bad value
        try:
            spec = load_text(text, "fuzz.yaml", base_dir="/")
        except Exception as e:
            return expect_error(e)
        try:
            check_space(spec.space, np.random.default_rng(0), sample)
            _ask_some(spec)
        except FuzzFailure:
            raise
        except Exception as e:
            raise FuzzFailure(
                "bare", f"sampling an accepted space: {type(e).__name__}: {str(e)[:300]}"
            ) from e
    return "ok"
