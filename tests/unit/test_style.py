"""One code style for the whole tree: ruff's lint and formatter, and mypy --strict.

The versions are pinned in the `test` extra, so a new release cannot change what passes."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREE = ["dslc", "runtime", "tests", "bench"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def _ruff() -> str:
    found = shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed: it comes with the test extra (pip install '.[test]')")
    return found


def test_ruff_lint_is_clean() -> None:
    result = _run(_ruff(), "check", "--no-cache", *TREE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    result = _run(_ruff(), "format", "--check", "--no-cache", *TREE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed: it comes with the test extra (pip install '.[test]')")
    result = _run(sys.executable, "-m", "mypy", "--no-incremental", "dslc", "runtime/dslc_runtime")
    assert result.returncode == 0, result.stdout + result.stderr
