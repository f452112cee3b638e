"""The compiler's work grows linearly with the network, counted in executed Python lines.

Timings on a shared machine are noisy (bench/scaling.py has them); the number of Python lines
run to parse, expand, analyse and report a network is not. Doubling a generated network must
not much more than double it: a pass that is quadratic somewhere (a sum over every live tensor
at every step, a search over every earlier node) shows as a ratio towards 4.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from dslc.compiler import compile_source
from dslc.report.summary import summary_json
from dslc.report.table import DEFAULT_COLUMNS, build_rows, render_table
from dslc.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from scaling import densenet, fanin, resnet, symbolic, unet


def _lines_run(text: str) -> int:
    """Python lines executed to compile `text` and render its summary (table and JSON)."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    analysis = compile_source(SourceFile(str(ROOT / "models" / "g.xnet"), text))  # warm caches
    sys.settrace(tracer)
    try:
        analysis = compile_source(SourceFile(str(ROOT / "models" / "g.xnet"), text))
        render_table(analysis, build_rows(analysis), DEFAULT_COLUMNS, "float32")
        summary_json(analysis)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize(
    ("family", "n"),
    [(resnet, 8), (densenet, 60), (fanin, 120), (unet, 120), (symbolic, 8)],
    ids=["resnet", "densenet", "fanin", "unet", "symbolic"],
)
def test_twice_the_network_is_twice_the_work(family: Callable[[int], str], n: int) -> None:
    small, large = _lines_run(family(n)), _lines_run(family(2 * n))
    assert large / small < 2.2, f"{family.__name__}: {small} lines at n={n}, {large} at {2 * n}"
