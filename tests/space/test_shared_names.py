"""Names shared by the branches of conditional groups, each branch with its own range."""

from __future__ import annotations

import numpy as np
import pytest

from hypersweep.errors import SpaceError
from hypersweep.space import Choice, Float, Int, Space, parse_space

# Azure AutoML: a list of sub-spaces, each with its own learning_rate range
AUTOML = {
    "model": {
        "choice": {
            "lgbm": {"learning_rate": "loguniform(1e-3, 1e-1)", "num_leaves": "int(8, 64)"},
            "xgb": {"learning_rate": "uniform(0.1, 0.3)", "max_depth": "int(1, 10)"},
            "linear": {"learning_rate": "choice(0.5, 1.0)"},
        }
    }
}


def _optuna_layers() -> Space:
    # Optuna's n_units_l{i} loop: layer i exists when n_layers > i
    return Space(
        {
            "n_layers": Choice(
                {
                    str(n): {f"n_units_l{i}": Int(4, 128, log=True) for i in range(n)}
                    for n in (1, 2, 3)
                }
            )
        }
    )


def test_each_branch_keeps_its_own_range() -> None:
    space = parse_space(AUTOML)
    assert space.names == [
        "model",
        "learning_rate@model=lgbm",
        "num_leaves",
        "learning_rate@model=xgb",
        "max_depth",
        "learning_rate@model=linear",
    ]
    assert space.param_names == ["model", "learning_rate", "num_leaves", "max_depth"]
    assert space.shared == {"learning_rate"}
    draws = space.sample(np.random.default_rng(0), 600)
    by_model: dict[str, list] = {}
    for d in draws:
        by_model.setdefault(d["model"], []).append(d["learning_rate"])
        assert space.validate(d) == d
        u = space.encode(d)
        assert space.decode(u) == d
        assert int(np.isfinite(u[[1, 3, 5]]).sum()) == 1  # one learning_rate column is active
    assert all(1e-3 <= v <= 1e-1 for v in by_model["lgbm"])
    assert all(0.1 <= v <= 0.3 for v in by_model["xgb"])
    assert set(by_model["linear"]) == {0.5, 1.0}
    assert parse_space(space.to_spec()) == space


def test_validate_checks_the_active_branch_range() -> None:
    space = parse_space(AUTOML)
    assert space.validate({"model": "xgb", "learning_rate": 0.2, "max_depth": 3})
    with pytest.raises(
        SpaceError, match=r"^params\.learning_rate: 0\.05 is outside \[0\.1, 0\.3\]"
    ):
        space.validate({"model": "xgb", "learning_rate": 0.05, "max_depth": 3})
    with pytest.raises(SpaceError, match=r"^params\.max_depth: is not active"):
        space.validate({"model": "lgbm", "learning_rate": 0.05, "num_leaves": 9, "max_depth": 3})


def test_encoding_fills_only_the_active_branch_column() -> None:
    space = _optuna_layers()
    assert space.names[:2] == ["n_layers", "n_units_l0@n_layers=1"]
    u = space.encode({"n_layers": "2", "n_units_l0": 16, "n_units_l1": 32})
    assert np.isnan(u[space.column("n_units_l0@n_layers=1")])
    assert np.isfinite(u[space.column("n_units_l0@n_layers=2")])
    assert np.isnan(u[space.column("n_units_l0@n_layers=3")])
    assert space.decode(u) == {"n_layers": "2", "n_units_l0": 16, "n_units_l1": 32}
    grid = space.grid()
    assert len(grid) == 125 + 125**2 + 125**3
    assert grid[0] == {"n_layers": "1", "n_units_l0": 4}
    assert "n_units_l2" in grid[len(grid) - 1]


def test_nested_branches_share_names_too() -> None:
    space = Space(
        {
            "g": Choice(
                {
                    "a": {"h": Choice({"p": {"x": Float(0, 1)}, "q": {"x": Float(5, 6)}})},
                    "b": {"x": Int(10, 20)},
                }
            )
        }
    )
    assert space.names == ["g", "h", "x@g=a,h=p", "x@g=a,h=q", "x@g=b"]
    for d in space.sample(np.random.default_rng(3), 200):
        assert space.decode(space.encode(d)) == d
        lo, hi = {"p": (0, 1), "q": (5, 6)}.get(d.get("h", ""), (10, 20))
        assert lo <= d["x"] <= hi


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (  # top level and a branch: both active when the branch is taken
            {"lr": "uniform(0, 1)", "m": {"choice": {"a": {"lr": "uniform(0, 2)"}}}},
            r"^space\.m\.a\.lr: duplicate parameter name 'lr' \(also at space\.lr\); a name "
            r"may repeat only in different options of a conditional group",
        ),
        (  # two different groups: both can be active
            {
                "m": {"choice": {"a": {"lr": "uniform(0, 1)"}, "b": {}}},
                "n": {"choice": {"c": {"lr": "uniform(0, 2)"}, "d": {}}},
            },
            r"^space\.n\.c\.lr: duplicate parameter name 'lr' \(also at space\.m\.a\.lr\)",
        ),
    ],
)
def test_names_that_could_be_active_together_are_refused(spec: dict, match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        parse_space(spec)
