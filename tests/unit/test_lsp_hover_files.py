"""Hover in a file other than the checked buffer reads it as the compiler reads sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import sys
from dslc.lsp.hover import hover_text
from dslc.lsp.state import check_text

checked = check_text(sys.argv[1], "network n\\ninput x: 3 x 8 x 8\\nconv3x3(4) -> relu\\n")
print(repr(hover_text(checked, sys.argv[2], 0, 0)))
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_hover_in_a_fifo_does_not_block_the_server(tmp_path: Path) -> None:
    """It read the path with read_text: a named pipe held the server until a writer came."""
    os.mkfifo(tmp_path / "pipe.xnet")
    done = subprocess.run(  # a child: a blocked open() would ignore any alarm
        [sys.executable, "-c", CHILD, str(tmp_path / "n.xnet"), str(tmp_path / "pipe.xnet")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


def test_a_buffer_larger_than_dslc_check_reads_is_refused_at_once(tmp_path: Path) -> None:
    """1.3 MB of layers took the server 20 s to check (and 5 MB minutes); `dslc check`
    refuses such a file, so the editor says the same, without parsing it."""
    from dslc.lsp.state import check_text, scope_of

    text = "network n\ninput x: 3 x 8 x 8\n" + "conv3x3(4) -> relu ->\n" * 60_000 + "relu\n"
    checked = check_text(str(tmp_path / "big.xnet"), text)
    [d] = checked.diagnostics  # refused before parsing: parsed, it has no problem at all
    assert d.code == "E0402" and "it is 1,320,034 bytes, more than the 1,048,576" in d.message
    assert d.span is not None and (d.span.line, d.span.col) == (1, 1)
    assert scope_of(str(tmp_path / "big.xnet"), text, 3) is None
