"""Importable contract suites (pytest): every implementation of a protocol passes its suite.

* :mod:`hypersweep.testing.samplers` — :class:`~hypersweep.testing.samplers.SamplerContract`
  for every :class:`~hypersweep.samplers.Sampler`.
* :mod:`hypersweep.testing.storage` — the storage contract suite.
* :mod:`hypersweep.testing.policies` — :class:`~hypersweep.testing.policies.PolicyContract`
  for every early-stopping :class:`~hypersweep.stopping.Policy`.
* :mod:`hypersweep.testing.executors` — :class:`~hypersweep.testing.executors.ExecutorContract`
  for every :class:`~hypersweep.execution.base.Executor`, and the fakes
  (:class:`~hypersweep.testing.executors.FakeExecutor`,
  :class:`~hypersweep.testing.executors.FakeClock`) that test the runner without sleeping.

Import the submodule you need; this package imports nothing itself (pytest is only needed
by the suites).
"""

from __future__ import annotations
