"""The smallest input that would work, for a network whose spatial size collapses (E0305).

Output sizes of every layer grow with the input's height and width, each axis on its own, so
a search per axis over trial expansions (no weights, no shape passes) finds the smallest
input for which no layer shrinks a size to zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dslc.diagnostics import Sink
from dslc.expand.imports import ImportRoot
from dslc.expand.limits import Limits
from dslc.source import SourceFile
from dslc.syntax import ast

__all__ = ["BIG", "smallest_input_hint"]

BIG = 1 << 16  # larger inputs than this are not suggested


def smallest_input_hint(
    program: ast.Program,
    source: SourceFile,
    overrides: dict[str, ast.Expr],
    sink: Sink,
    limits: Limits,
    root: ImportRoot | None = None,
) -> None:
    """Add 'the smallest input that works' to the first collapse error in `sink`, if found."""
    inputs = [s for s in program.statements if isinstance(s, ast.Input)]
    if len(inputs) != 1 or len(inputs[0].dims) != 3:
        return
    stmt = inputs[0]
    h, w = stmt.dims[1], stmt.dims[2]
    if not (isinstance(h, ast.Num) and isinstance(w, ast.Num)):
        return
    hw = (int(h.value), int(w.value))

    def works(size: tuple[int, int]) -> bool:
        return _works(program, stmt, size, source, overrides, limits, root)

    best: list[int] = []
    for axis in (0, 1):

        def along(v: int, axis: int = axis) -> bool:
            return works((v, BIG) if axis == 0 else (BIG, v))

        found = hw[axis] if along(hw[axis]) else _search(along, hw[axis])
        if found is None:
            return
        best.append(found)
    if not works((best[0], best[1])):
        return
    c = stmt.dims[0]
    shape = f"{c.value if isinstance(c, ast.Num) else c.id} x {best[0]} x {best[1]}"
    for i, d in enumerate(sink.items):
        if d.code == "E0305":
            hint = f"the smallest input that works is {shape} (input {stmt.name}: {shape})"
            sink.items[i] = replace(d, hints=(*d.hints, hint))
            return


def _search(works: Callable[[int], bool], start: int) -> int | None:
    """The smallest v > start with works(v), for a monotone works; None past BIG."""
    lo, hi = start, max(start * 2, start + 1)
    while not works(hi):
        if hi >= BIG:
            return None
        lo, hi = hi, min(hi * 2, BIG)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid, hi)
    return hi


def _works(
    program: ast.Program,
    stmt: ast.Input,
    size: tuple[int, int],
    source: SourceFile,
    overrides: dict[str, ast.Expr],
    limits: Limits,
    root: ImportRoot | None,
) -> bool:
    from dslc.expand.program import build_graph

    h, w = stmt.dims[1], stmt.dims[2]
    assert isinstance(h, ast.Num) and isinstance(w, ast.Num)
    dims = (stmt.dims[0], ast.Num(size[0], h.span), ast.Num(size[1], w.span))
    statements = tuple(replace(s, dims=dims) if s is stmt else s for s in program.statements)
    trial = Sink()
    roomy = replace(limits, tensor=1 << 62)  # trial sizes may be huge; they are never allocated
    build_graph(source, overrides, trial, roomy, replace(program, statements=statements), root)
    return not any(d.code in ("E0305", "E0601") for d in trial.errors)
