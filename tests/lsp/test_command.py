"""`dslc lsp` as a command: listed in the help, and a clear message when pygls is missing."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from dslc.cli import main


def test_the_command_is_listed() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    assert "lsp" in out and "Serve the Language Server Protocol" in out


def test_without_pygls_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pygls", None)  # `import pygls` now raises ImportError
    result = CliRunner().invoke(main, ["lsp"])
    assert result.exit_code == 1
    assert "pip install 'dslc[lsp]'" in result.output
    assert "Traceback" not in result.output
