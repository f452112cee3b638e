"""What is at a place in a file: the word, the call or combinator, the block definition."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dslc.source import Span
from dslc.syntax import ast

__all__ = ["Found", "at", "block_doc", "contains", "elements", "word_at"]


def word_at(text: str, line: int, char: int) -> tuple[str, int, int]:
    """The identifier (letters, digits, `_`) around a 0-based line and character, with its
    start and end characters; ('', char, char) where there is none."""
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        return "", char, char
    s = lines[line]
    start = end = min(char, len(s))
    while start > 0 and (s[start - 1].isalnum() or s[start - 1] == "_"):
        start -= 1
    while end < len(s) and (s[end].isalnum() or s[end] == "_"):
        end += 1
    return s[start:end], start, end


def contains(span: Span, line: int, col: int) -> bool:
    """True when 1-based (line, col) lies in the span (its end included: a cursor after the
    last character still touches it)."""
    if (line, col) < (span.line, span.col):
        return False
    return (line, col) <= (span.end_line, span.end_col)


def _chains(p: ast.Primary) -> Iterator[ast.Chain]:
    match p:
        case ast.Combinator():
            yield from p.branches
        case ast.Group():
            yield p.chain
        case ast.Conditional():
            yield p.then
            if p.orelse is not None:
                yield p.orelse
        case ast.Call():
            pass


def _walk(
    chain: ast.Chain, block: ast.BlockDef | None
) -> Iterator[tuple[ast.Element, ast.BlockDef | None]]:
    for e in chain.elements:
        yield e, block
        for c in _chains(e.primary):
            yield from _walk(c, block)


def elements(program: ast.Program) -> Iterator[tuple[ast.Element, ast.BlockDef | None]]:
    """Every chain element of a file with the block it is in (None at the top level)."""
    for s in program.statements:
        if isinstance(s, ast.BlockDef):
            yield from _walk(s.body, s)
        elif isinstance(s, ast.ChainStmt):
            yield from _walk(s.chain, None)


@dataclass(frozen=True, slots=True)
class Found:
    """The innermost call or combinator at a place, and the block definition around it."""

    primary: ast.Call | ast.Combinator | None
    element: ast.Element | None
    block: ast.BlockDef | None  # the definition the place is in (or whose header it is on)


def at(program: ast.Program, line: int, col: int) -> Found:
    """What is at 1-based (line, col)."""
    best: tuple[ast.Call | ast.Combinator, ast.Element] | None = None
    block: ast.BlockDef | None = None
    for s in program.statements:
        if isinstance(s, ast.BlockDef) and contains(s.span, line, col):
            block = s
    for e, _ in elements(program):
        p = e.primary
        if not isinstance(p, ast.Call | ast.Combinator) or not contains(p.span, line, col):
            continue
        if best is None or _inside(p.span, best[0].span):
            best = (p, e)
    return Found(best[0] if best else None, best[1] if best else None, block)


def _inside(a: Span, b: Span) -> bool:
    return (a.line, a.col) >= (b.line, b.col) and (a.end_line, a.end_col) <= (b.end_line, b.end_col)


def block_doc(program: ast.Program, block: ast.BlockDef) -> str:
    """The comment lines right above a block definition, without their `#`."""
    own = {c.line: c.text for c in program.comments if c.own_line}
    lines: list[str] = []
    n = block.span.line - 1
    while n in own:
        lines.insert(0, own[n].lstrip("#").strip())
        n -= 1
    return "\n".join(lines)
