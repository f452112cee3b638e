"""The model zoo's files, as every test that walks the zoo finds them."""

from __future__ import annotations

from pathlib import Path

__all__ = ["xnet_files"]


def xnet_files(models: Path) -> list[Path]:
    """Every .xnet under `models`, sorted; hidden files and folders (an editor's `.#x.xnet`, a
    `.cache/`) are not models and are left out."""
    return sorted(
        p
        for p in models.rglob("*.xnet")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(models).parts)
    )
