"""README's "Layout of the code" stays true: it names every folder and top-level module of the
compiler, and every path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Layout of the code")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _paths() -> list[str]:
    rows = [ln for ln in _section().splitlines() if ln.startswith("| `")]
    first_cells = [row.split("|")[1] for row in rows]
    return [p for cell in first_cells for p in re.findall(r"`([^`]+)`", cell)]


def test_every_named_path_exists() -> None:
    named = _paths()
    assert len(named) > 10
    assert [p for p in named if not (ROOT / p).exists()] == []


def test_every_folder_and_top_level_module_is_named() -> None:
    named = {p.rstrip("/") for p in _paths()}
    dslc = ROOT / "dslc"
    parts = [p for p in dslc.iterdir() if not p.name.startswith((".", "_"))]
    wanted = {
        str(p.relative_to(ROOT))
        for p in parts
        if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"
    }
    assert sorted(wanted - named) == []
