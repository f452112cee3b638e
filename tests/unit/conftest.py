"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from nets import TINY_NET


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """TINY_NET written to tiny.xnet in a fresh folder."""
    path = tmp_path / "tiny.xnet"
    path.write_text(TINY_NET, encoding="utf-8")
    return path
