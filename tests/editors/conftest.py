"""The VS Code extension's node tools for the editor tests (they skip only where node is not
installed; npm ci runs in editors/vscode first when its node_modules is missing or stale)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import textmate
from textmate import Token


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the extension's packages installed."""
    found = textmate.node_ready()
    if found is None:
        pytest.skip("node is not installed (the editor tests need node and npm)")
    return found


@pytest.fixture(scope="session")
def tokenize(node: str) -> Callable[[Sequence[Path]], dict[Path, list[Token]]]:
    """Tokenise files with the TextMate grammar, as VS Code does, in one node process."""
    return lambda paths: textmate.tokenize(node, paths)
