"""The spaces the contract suites run on: every parameter type, the foreign forms, a
continuous space and a finite one."""

from __future__ import annotations

from hypersweep.space import Beta, Bool, Choice, Fixed, Float, Group, Int, Normal, Space

__all__ = ["continuous_space", "every_type_space", "finite_space", "new_types_space"]


def every_type_space() -> Space:
    """A space with every parameter type, step and scale, and nested conditional groups."""
    return Space(
        {
            "lr": Float(1e-5, 1e-1, log=True),
            "dropout": Float(0.0, 0.5),
            "decay": Float(0.0, 1.0, step=0.25),
            "scale": Float(0.5, 8.0, log=True, step=0.5),
            "layers": Int(1, 4),
            "units": Int(8, 512, log=True),
            "batch": Int(16, 128, step=16),
            "noise": Normal(0.0, 1.0),
            "gain": Normal(0.0, 0.5, log=True),
            "shift": Normal(10.0, 3.0, step=1.0),
            "ratio": Normal(1.0, 0.5, log=True, step=0.5),
            "act": Choice(["relu", "tanh", "gelu"]),
            "width": Choice([16, 32, 64]),
            "mode": Choice([1, 2.5, "auto", None]),
            "bias": Bool(),
            "epochs": Fixed(10),
            "tag": Fixed("v1"),
            "optimizer": Choice(
                {
                    "adam": {
                        "beta1": Float(0.8, 0.99),
                        "amsgrad": Bool(),
                        "schedule": Choice({"cosine": {"warmup": Int(0, 10)}, "constant": {}}),
                    },
                    "sgd": {"momentum": Float(0.0, 0.99), "nesterov": Fixed(True)},
                }
            ),
        }
    )


def new_types_space() -> Space:
    """The forms of Azure ML / W&B sweep files: q-log-uniform ints, weighted choices,
    beta (plain and stepped), list- and dict-valued choices, a nested group, and names
    shared by the branches of a (weighted) conditional group, each with its own range
    (Azure AutoML's sub-spaces, Optuna's ``n_units_l{i}``)."""
    return Space(
        {
            "batch": Int(16, 256, log=True, step=16),
            "frac": Beta(2.0, 5.0),
            "drop": Beta(0.5, 0.5, low=0.0, high=0.5, step=0.05),
            "act": Choice(["relu", "tanh", "gelu"], weights=[0.2, 0.3, 0.5]),
            "shape": Choice([[32, 32], [64], [16, 16, 16]]),
            "cfg": Choice([{"a": 1}, {"b": [2, 3]}]),
            "opt": Group(
                {
                    "lr": Float(1e-4, 1e-1, log=True),
                    "kind": Choice({"adam": {"beta1": Float(0.8, 0.99)}, "sgd": {}}),
                }
            ),
            "model": Choice(
                {
                    "lgbm": {
                        "learning_rate": Float(1e-3, 0.3, log=True),
                        "n_units_l0": Int(4, 64),
                    },
                    "mlp": {
                        "learning_rate": Float(0.01, 1.0),
                        "n_units_l0": Int(8, 128, log=True),
                        "n_units_l1": Int(8, 128),
                    },
                    "xgb": {"learning_rate": Choice([0.1, 0.3]), "depth": Int(1, 6)},
                },
                weights=[1, 2, 1],
            ),
        }
    )


def continuous_space() -> Space:
    """Three continuous parameters: every proposal should be new."""
    return Space({"x": Float(-5.0, 5.0), "y": Float(1e-3, 1.0, log=True), "z": Float(0.0, 1.0)})


def finite_space() -> Space:
    """Nine configurations (3 x 3)."""
    return Space({"a": Int(0, 2), "b": Choice(["p", "q", "r"])})
