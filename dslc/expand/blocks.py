"""Block calls: how deep they may nest, and the chains a call passes in."""

from __future__ import annotations

from dslc.diagnostics import DiagnosticError
from dslc.source import Span
from dslc.syntax import ast

__all__ = ["MAX_BLOCK_DEPTH", "check_depth", "passed_chains"]

MAX_BLOCK_DEPTH = 50


def check_depth(name: str, stack: tuple[str, ...], span: Span) -> None:
    """A block may not call itself, nor blocks nest past MAX_BLOCK_DEPTH."""
    if name in stack:
        cycle = " -> ".join((*stack[stack.index(name) :], name))
        raise DiagnosticError(
            "E0401",
            f"block '{name}' calls itself ({cycle})",
            span,
            "blocks may call other blocks, but not recursively",
        )
    if len(stack) >= MAX_BLOCK_DEPTH:
        raise DiagnosticError(
            "E0603",
            f"blocks call blocks more than {MAX_BLOCK_DEPTH} deep here",
            span,
            "flatten the block structure",
        )


def passed_chains(
    d: ast.BlockDef, passed: ast.Combinator | None, span: Span
) -> list[tuple[str, ast.Chain]]:
    """Pair a block's chain parameters (`block b(...)<body> = ...`) with the chains of its
    call; both must be there, as many on each side."""
    given = passed.branches if passed is not None else ()
    form = f"{d.name}(...)<{' | '.join(d.branches)}>" if d.branches else f"{d.name}(...)"
    if passed is not None and passed.numbered:
        raise DiagnosticError(
            "E0104", f"the chains of block '{d.name}' are passed in <...>", span, f"write {form}"
        )
    if len(given) != len(d.branches):
        if not d.branches:
            message = f"block '{d.name}' takes no chains, got {len(given)}"
        else:
            n = len(d.branches)
            message = (
                f"block '{d.name}' takes {n} chain{'s' if n > 1 else ''} in <...>, got {len(given)}"
            )
        raise DiagnosticError("E0104", message, span, f"write {form}")
    return list(zip(d.branches, given, strict=True))
