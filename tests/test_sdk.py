"""The in-trial module: ``hypersweep.sdk`` is the module, ``hypersweep.report`` the function."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import hypersweep
import hypersweep.sdk as sdk


def test_sdk_is_the_module_and_report_the_function() -> None:
    assert isinstance(sdk, types.ModuleType)
    for name in ("params", "report", "should_stop", "budget", "checkpoint_dir", "notices"):
        assert getattr(hypersweep, name) is getattr(sdk, name)
    assert callable(hypersweep.report) and not isinstance(hypersweep.report, types.ModuleType)
    with pytest.raises(ModuleNotFoundError):
        __import__("hypersweep.report")


def test_a_trial_script_importing_the_sdk_loads_no_numpy() -> None:
    code = (
        "import sys, hypersweep, hypersweep.sdk\n"
        "heavy = [m for m in ('numpy', 'scipy', 'sqlalchemy') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
