"""hypersweep: hyperparameter optimization, embedded by default.

``import hypersweep`` is lazy: the in-trial SDK (:func:`params`, :func:`report`,
:func:`should_stop`) loads without numpy, scipy or SQLAlchemy; the rest of the API loads
on first use.

Example:
    >>> import hypersweep as hs
    >>> study = hs.Study("demo", space={"x": hs.Float(-5, 5)}, storage="memory", seed=1)
    >>> best = study.optimize(lambda p: p["x"] ** 2, max_trials=30)
    >>> abs(best.params["x"]) < 1.5
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hypersweep.errors import (
    HypersweepError,
    SpaceError,
    SpaceExhausted,
    SpecError,
    StorageError,
    StudyNotFound,
    TrialNotRunning,
    TrialPruned,
    TrialStopped,
)
from hypersweep.sdk import (
    budget,
    checkpoint_dir,
    notices,
    params,
    report,
    restore_from,
    seed,
    should_stop,
)

if TYPE_CHECKING:
    from hypersweep.limits import Limits
    from hypersweep.samplers.base import Sampler
    from hypersweep.space import Beta, Bool, Choice, Fixed, Float, Group, Int, Normal, Space
    from hypersweep.stopping.base import Decision, Policy
    from hypersweep.storage import open_storage
    from hypersweep.study import Study
    from hypersweep.study_optuna import create_study
    from hypersweep.trial import Objective, Trial, TrialState

__version__ = "0.1.0"

_LAZY = {
    "Study": "hypersweep.study",
    "Space": "hypersweep.space",
    "Float": "hypersweep.space",
    "Int": "hypersweep.space",
    "Normal": "hypersweep.space",
    "Choice": "hypersweep.space",
    "Bool": "hypersweep.space",
    "Fixed": "hypersweep.space",
    "Beta": "hypersweep.space",
    "Group": "hypersweep.space",
    "Objective": "hypersweep.trial",
    "Trial": "hypersweep.trial",
    "TrialState": "hypersweep.trial",
    "Sampler": "hypersweep.samplers.base",
    "Policy": "hypersweep.stopping.base",
    "Decision": "hypersweep.stopping.base",
    "Limits": "hypersweep.limits",
    "open_storage": "hypersweep.storage",
    "create_study": "hypersweep.study_optuna",
}

__all__ = [
    "Beta",
    "Bool",
    "Choice",
    "Decision",
    "Fixed",
    "Float",
    "Group",
    "HypersweepError",
    "Int",
    "Limits",
    "Normal",
    "Objective",
    "Policy",
    "Sampler",
    "Space",
    "SpaceError",
    "SpaceExhausted",
    "SpecError",
    "StorageError",
    "Study",
    "StudyNotFound",
    "Trial",
    "TrialNotRunning",
    "TrialPruned",
    "TrialState",
    "TrialStopped",
    "budget",
    "checkpoint_dir",
    "create_study",
    "notices",
    "open_storage",
    "params",
    "report",
    "restore_from",
    "seed",
    "should_stop",
]


#: sub-packages reachable as attributes (``hs.presets.bohb(...)``), imported on first use
_SUBMODULES = ("analysis", "presets", "samplers", "stopping", "storage")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"hypersweep.{name}")
    if name == "exceptions":  # Optuna's name: optuna.exceptions.TrialPruned
        return importlib.import_module("hypersweep.errors")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hypersweep' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
