"""docs/*.md: every `$ dslc ...` line in a console block prints exactly what follows it."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
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


def _drawn_text(svg: Path) -> list[str]:
    """The words and numbers a picture shows: titles, labels, legend, ticks."""
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg.read_text())]


def test_pictures_are_current(tmp_path: Path, update_golden: bool) -> None:
    """docs/make_pictures.py draws every picture the docs show, and the committed ones show
    the same labels, legends and ticks (the geometry is left to matplotlib's version)."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    spec = importlib.util.spec_from_file_location(
        "make_pictures", ROOT / "docs" / "make_pictures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.make(tmp_path)
    shown = {m for doc in DOCS for m in re.findall(r"\]\((pictures/[^)]+)\)", doc.read_text())}
    assert {f"pictures/{p.name}" for p in made} == shown
    for fresh in made:
        committed = ROOT / "docs" / "pictures" / fresh.name
        if update_golden:
            shutil.copyfile(fresh, committed)
        assert committed.exists(), f"run: python3 docs/make_pictures.py ({fresh.name})"
        assert len(committed.read_bytes()) < 100_000
        assert _drawn_text(committed) == _drawn_text(fresh), fresh.name
        assert "Receptive field" in " ".join(_drawn_text(fresh)) or "unit (3, 4)" in " ".join(
            _drawn_text(fresh)
        )
