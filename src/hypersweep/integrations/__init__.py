"""Callbacks that connect training libraries to the current hypersweep trial.

Each module imports its library only when it is imported itself (never from
``import hypersweep``):

* :mod:`hypersweep.integrations.lightning`: ``HypersweepCallback`` for PyTorch Lightning
  (``pip install hypersweep[lightning]``);
* :mod:`hypersweep.integrations.keras`: ``HypersweepCallback`` for Keras 3
  (``hypersweep[keras]``);
* :mod:`hypersweep.integrations.xgboost`: ``HypersweepCallback`` for XGBoost
  (``hypersweep[xgboost]``);
* :mod:`hypersweep.integrations.lightgbm`: ``hypersweep_callback`` for LightGBM
  (``hypersweep[lightgbm]``).

Every callback reports the watched metric (and, optionally, others) to the current trial
after each epoch or boosting round, through :func:`hypersweep.report` (so it works in an
objective function and in a command trial alike), and stops training once
:func:`hypersweep.should_stop` says so or the report raised
:class:`~hypersweep.TrialStopped`. The objective then returns its result as usual; the
trial is recorded as STOPPED. See ``docs/integrations.md``.
"""

from __future__ import annotations

__all__: list[str] = []
