"""Edits: formatting through `dslc fmt`'s formatter, and quick fixes for the hints that say
exactly what to write (a missing `| project`, a missing `flatten`, a misspelt name)."""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types as lsp

from dslc.diagnostics import CompileError
from dslc.lsp.where import word_at
from dslc.source import SourceFile
from dslc.syntax.format import format_program
from dslc.syntax.parser import parse

__all__ = ["fixes", "formatted"]

DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'")


def formatted(text: str, path: str) -> list[lsp.TextEdit] | None:
    """One edit replacing the whole text by its canonical layout; [] when it already is, None
    when it does not parse (nothing to format)."""
    try:
        new = format_program(parse(SourceFile(path, text)))
    except CompileError:
        return None
    if new == text:
        return []
    lines = text.split("\n")
    end = lsp.Position(len(lines) - 1, len(lines[-1]))
    return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), new)]


def _hints(d: lsp.Diagnostic) -> list[str]:
    data: Any = d.data
    if isinstance(data, dict) and isinstance(data.get("hints"), list):
        return [str(h) for h in data["hints"]]
    return [ln[6:] for ln in d.message.split("\n") if ln.startswith("help: ")]


def _insert(at: lsp.Position, text: str) -> lsp.TextEdit:
    return lsp.TextEdit(lsp.Range(at, at), text)


def _action(title: str, uri: str, d: lsp.Diagnostic, *edits: lsp.TextEdit) -> lsp.CodeAction:
    return lsp.CodeAction(
        title=title,
        kind=lsp.CodeActionKind.QuickFix,
        diagnostics=[d],
        edit=lsp.WorkspaceEdit(changes={uri: list(edits)}),
        is_preferred=True,
    )


def fixes(uri: str, text: str, diagnostics: list[lsp.Diagnostic]) -> list[lsp.CodeAction]:
    """Quick fixes for the diagnostics of this file the client sent back."""
    out: list[lsp.CodeAction] = []
    lines = text.split("\n")
    for d in diagnostics:
        if d.source != "dslc":
            continue
        hints = " ".join(_hints(d))
        start, end = d.range.start, d.range.end
        if d.code == "E0301" and "| project>" in hints and _char(lines, end, -1) == ">":
            at = lsp.Position(end.line, end.character - 1)
            out.append(
                _action(
                    "Add '| project' (a projection shortcut)", uri, d, _insert(at, " | project")
                )
            )
        if d.code == "E0306" and "insert 'flatten'" in hints:
            out.append(_action("Insert 'flatten ->'", uri, d, _insert(start, "flatten -> ")))
            out.append(
                _action("Insert 'gap -> flatten ->'", uri, d, _insert(start, "gap -> flatten -> "))
            )
        for name in DID_YOU_MEAN.findall(hints):
            word, a, b = word_at(text, start.line, start.character)
            if word and a == start.character:
                r = lsp.Range(lsp.Position(start.line, a), lsp.Position(start.line, b))
                out.append(_action(f"Change '{word}' to '{name}'", uri, d, lsp.TextEdit(r, name)))
    return out


def _char(lines: list[str], at: lsp.Position, offset: int) -> str:
    if not 0 <= at.line < len(lines):
        return ""
    i = at.character + offset
    return lines[at.line][i] if 0 <= i < len(lines[at.line]) else ""
