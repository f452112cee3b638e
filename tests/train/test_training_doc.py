"""docs/training.md: every `dslc train` command it shows runs (here for one epoch) and writes
what the page reads from it; the page's figures come from bench/training_lessons.py."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "training.md"


def _commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    return [ln for b in blocks for ln in b.splitlines() if ln.startswith("dslc train ")]


def _short(args: list[str]) -> list[str]:
    """The command for one epoch: --epochs N becomes --epochs 1."""
    i = args.index("--epochs")
    return [*args[: i + 1], "1", *args[i + 2 :], "--threads", "1"]


def test_the_page_shows_every_lesson() -> None:
    text = DOC.read_text(encoding="utf-8")
    commands = _commands()
    assert len(commands) == 12
    for flag in ("--grad-norms", "--init xavier", "--init he", "--set p=0.5", "--weight-decay",
                 "--patience", "--set bn=1"):  # fmt: skip
        assert any(flag in c for c in commands), flag
    net = (ROOT / "docs" / "training" / "deep_mlp.xnet").read_text(encoding="utf-8")
    assert net[net.index("network ") :] in text  # the page shows the file as it is
    assert "![" in text and (ROOT / "docs" / "training" / "gradient_norms.png").is_file()


@pytest.mark.parametrize("command", _commands(), ids=lambda c: shlex.split(c)[-1].split(".")[0])
def test_each_command_runs(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = shlex.split(command)
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, _short(args[1:]))
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("-o") + 1])
    doc = json.loads(out.with_suffix(".json").read_text())
    assert len(doc["epochs"]) == 1 and out.with_suffix(".png").is_file()
    sets = dict(a.split("=") for a in args[1:] if "=" in a)
    depth = int(sets.get("depth", 8))
    norms = doc["epochs"][0]["grad_norms"]
    if "--grad-norms" in args:
        dense = [k for k in norms if k.startswith("dense")]
        assert dense == [f"dense{i}" for i in range(1, depth + 2)]
        assert all(v > 0 for v in norms.values())
    else:
        assert norms is None
