"""Go to definition (blocks across imports, taps and labels, imported files) and the outline
(blocks, labels, taps, inputs)."""

from __future__ import annotations

import re

from lsprotocol import types as lsp

from dslc.lsp.convert import location, span_range, uri_of
from dslc.lsp.state import Checked
from dslc.lsp.where import elements, word_at
from dslc.syntax import ast

__all__ = ["definition", "symbols"]

IMPORT = re.compile(r'^\s*import\s+"([^"]*)"')


def definition(checked: Checked, line: int, char: int) -> lsp.Location | None:
    """Where the name (or import) at a 0-based place of the checked buffer is defined."""
    text_line = checked.source.line(line + 1)
    m = IMPORT.match(text_line)
    if m and m.start(1) <= char <= m.end(1):
        target = checked.imports.get(m.group(1))
        if target is None:
            return None
        start = lsp.Position(0, 0)
        return lsp.Location(uri_of(target), lsp.Range(start, start))
    word, _, _ = word_at(checked.source.text, line, char)
    if not word:
        return None
    if word in checked.blocks:
        return location(checked.blocks[word].span)
    if checked.program is None:
        return None
    for e, block in elements(checked.program):
        if e.tap == word or e.label == word:
            inside = block is None or block.span.line <= line + 1 <= block.span.end_line
            if inside:
                return location(e.span)
    for s in checked.program.statements:
        if isinstance(s, ast.Input) and s.name == word:
            return location(s.span)
    return None


def symbols(checked: Checked) -> list[lsp.DocumentSymbol]:
    """The outline: the network, its inputs, blocks with their labels, top-level labels."""
    out: list[lsp.DocumentSymbol] = []
    if checked.program is None:
        return out
    inner: dict[str, list[lsp.DocumentSymbol]] = {}
    for e, block in elements(checked.program):
        for name, kind in ((e.label, lsp.SymbolKind.Field), (e.tap, lsp.SymbolKind.Variable)):
            if name is not None:
                sym = _symbol(
                    name, kind, e.span, "label" if kind is lsp.SymbolKind.Field else "tap"
                )
                inner.setdefault(block.name if block else "", []).append(sym)
    for s in checked.program.statements:
        if isinstance(s, ast.Network):
            out.append(_symbol(s.name, lsp.SymbolKind.Module, s.span, "network"))
        elif isinstance(s, ast.Input):
            out.append(_symbol(s.name, lsp.SymbolKind.Variable, s.span, "input"))
        elif isinstance(s, ast.BlockDef):
            from dslc.lsp.hover import signature

            sym = _symbol(s.name, lsp.SymbolKind.Function, s.span, signature(s))
            sym.children = inner.get(s.name, [])
            out.append(sym)
    out += inner.get("", [])
    return out


def _symbol(name: str, kind: lsp.SymbolKind, span: object, detail: str) -> lsp.DocumentSymbol:
    from dslc.source import Span

    assert isinstance(span, Span)
    r = span_range(span)
    return lsp.DocumentSymbol(name=name, kind=kind, range=r, selection_range=r, detail=detail)
