"""The zoo walk skips hidden files and folders."""

from __future__ import annotations

from pathlib import Path

from zoo import xnet_files


def test_hidden_files_and_folders_are_not_models(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / ".cache").mkdir()
    for name in ("a.xnet", "lib/b.xnet", ".#a.xnet", ".cache/c.xnet", "notes.txt"):
        (tmp_path / name).write_text("input x: 1 x 2 x 2\nrelu\n")
    assert [p.relative_to(tmp_path).as_posix() for p in xnet_files(tmp_path)] == [
        "a.xnet",
        "lib/b.xnet",
    ]
