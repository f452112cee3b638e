"""The VS Code extension's node tools, shared by the editor tests: `npm ci` in editors/vscode
when its node_modules is missing or older than package-lock.json, then test/tokenize.js and
test/check.js. The tests skip only where node is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VSCODE = ROOT / "editors" / "vscode"

# [line, column, text, [scope, ...]]: 0-based, the scopes outermost first
Token = tuple[int, int, str, list[str]]


def _installed() -> bool:
    marker = VSCODE / "node_modules" / ".package-lock.json"  # written by npm ci
    lock = VSCODE / "package-lock.json"
    return marker.is_file() and marker.stat().st_mtime >= lock.stat().st_mtime


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the extension's packages installed (npm ci, about 1 s)."""
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed (the editor tests need node and npm)")
    if not _installed():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed without npm"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=VSCODE,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return found


def run_node(node: str, script: str, *args: str) -> Any:
    """Run one of editors/vscode/test/*.js and read the JSON it prints."""
    done = subprocess.run(
        [node, str(VSCODE / "test" / script), *args],
        cwd=VSCODE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def tokenize(node: str) -> Callable[[Sequence[Path]], dict[Path, list[Token]]]:
    """Tokenise files with the TextMate grammar, as VS Code does, in one node process."""

    def run(paths: Sequence[Path]) -> dict[Path, list[Token]]:
        found = run_node(node, "tokenize.js", *(str(p) for p in paths))
        return {Path(k): [tuple(t) for t in v] for k, v in found.items()}

    return run
