"""The executor contract suite over every executor: function trials in worker processes
and inline, command trials, and the fake executor the runner tests use."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from hypersweep.execution.command import CommandExecutor
from hypersweep.execution.function import FunctionExecutor
from hypersweep.testing.contract_trials import function_trial
from hypersweep.testing.executors import ExecutorContract, FakeClock, FakeExecutor, contract_plan

Make = Any


class TestFunctionProcesses(ExecutorContract):
    @pytest.fixture
    def make(self) -> Make:
        def make(trial_timeout: float | None = None, max_concurrent: int = 1, grace: float = 0.5):
            return FunctionExecutor(
                function_trial,
                max_concurrent=max_concurrent,
                trial_timeout=trial_timeout,
                isolation="process",
                grace=grace,
            )

        return make


class TestFunctionInline(ExecutorContract):
    runs_in_caller = True
    spawns_processes = False
    enforces_timeouts = False

    @pytest.fixture
    def make(self) -> Make:
        def make(trial_timeout: float | None = None, max_concurrent: int = 1, grace: float = 0.5):
            return FunctionExecutor(function_trial, isolation="inline", grace=grace)

        return make

    def test_capacity_is_how_many_run_at_once(self, make: Make, tmp_path: Path) -> None:
        assert make().capacity == 1  # inline: one at a time


class TestCommand(ExecutorContract):
    @pytest.fixture
    def make(self, tmp_path: Path) -> Make:
        def make(trial_timeout: float | None = None, max_concurrent: int = 1, grace: float = 0.5):
            return CommandExecutor(
                [sys.executable, "-m", "hypersweep.testing.contract_trials"],
                study_name="contract",
                metrics=["loss"],
                params_as="env",
                max_concurrent=max_concurrent,
                trial_timeout=trial_timeout,
                grace=grace,
                runs_dir=tmp_path / "runs",
            )

        return make


class TestFake(ExecutorContract):
    spawns_processes = False

    @pytest.fixture
    def make(self) -> Make:
        def make(trial_timeout: float | None = None, max_concurrent: int = 1, grace: float = 0.5):
            return FakeExecutor(
                contract_plan,
                FakeClock(),
                max_concurrent=max_concurrent,
                trial_timeout=trial_timeout,
                grace=grace,
            )

        return make
