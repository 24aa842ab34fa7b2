"""CI guardrails that run with the suite: lint, formatting and types.

The README's test command (``pip install -e ".[dev]" && python -m pytest -q``) is the one
CI runs, so these checks live in the suite rather than in a separate CI step; the doctest
examples of ``src/hypersweep`` run here too, in a pytest of their own (``--doctest-modules``
over the package only: the files under ``tests/`` include trial scripts that must not be
imported). Each test prints the tool's own report when it fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ("src", "tests", "benchmarks", "examples")  # the Python trees (docs/ is prose)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:  # a missing tool is a broken install, not a reason to skip
        pytest.fail(f"{name} is not installed; it is part of the [dev] extra")
    return path


def test_ruff_lint_is_clean() -> None:
    res = _run(_tool("ruff"), "check", *CODE)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_is_clean() -> None:
    res = _run(_tool("ruff"), "format", "--check", *CODE)
    assert res.returncode == 0, (
        "run `ruff format src tests benchmarks examples`:\n" + res.stdout + res.stderr
    )


def test_mypy_is_clean_on_the_package() -> None:
    # configuration (strictness, third-party overrides) in pyproject.toml [tool.mypy]
    res = _run(sys.executable, "-m", "mypy")
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_doctest_examples_of_the_package_pass() -> None:
    res = _run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-modules",
        "src/hypersweep",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
