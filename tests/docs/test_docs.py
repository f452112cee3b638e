"""docs/*.md: every `$ dslc ...` line in a console block prints exactly what follows it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)


def run(command: str) -> str:
    """The output of one documented dslc command, run from the repository root."""
    args = shlex.split(command)
    assert args[0] == "dslc", command
    result = CliRunner().invoke(main, args[1:], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _rewrite(text: str) -> str:
    def block(m: re.Match[str]) -> str:
        cmds = [ln[2:] for ln in m.group(1).splitlines() if ln.startswith("$ ")]
        return "```console\n" + "".join(f"$ {c}\n{run(c)}" for c in cmds) + "```"

    return BLOCK.sub(block, text)


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_documented_outputs_are_current(
    doc: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    text = doc.read_text(encoding="utf-8")
    fresh = _rewrite(text)
    if update_golden:
        doc.write_text(fresh, encoding="utf-8")
    assert fresh == text
    assert "$ dslc" in text
