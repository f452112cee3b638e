"""dslc's diagnostics as LSP diagnostics, each published in the file it is about."""

from __future__ import annotations

from lsprotocol import types as lsp
from pygls.uris import from_fs_path

from dslc.diagnostics import Diagnostic
from dslc.lsp.state import norm
from dslc.source import Span

__all__ = ["location", "span_range", "to_lsp", "uri_of"]


def uri_of(path: str) -> str:
    """The file URI of a path."""
    return from_fs_path(norm(path)) or path


def span_range(span: Span) -> lsp.Range:
    """A span (1-based, end exclusive) as an LSP range (0-based, end exclusive)."""
    return lsp.Range(
        lsp.Position(max(span.line - 1, 0), max(span.col - 1, 0)),
        lsp.Position(max(span.end_line - 1, 0), max(span.end_col - 1, 0)),
    )


def location(span: Span) -> lsp.Location:
    """Where a span is, as an LSP location."""
    return lsp.Location(uri_of(span.source.path), span_range(span))


def to_lsp(diagnostics: tuple[Diagnostic, ...], main: str) -> dict[str, list[lsp.Diagnostic]]:
    """Diagnostics by the URI of the file each is about; `main` (a path) takes those without a
    place, and also a copy of each error in an imported file, at the call that expanded it."""
    out: dict[str, list[lsp.Diagnostic]] = {uri_of(main): []}
    for d in diagnostics:
        span = d.span
        here = span.source.path if span is not None else main
        out.setdefault(uri_of(here), []).append(_one(d, span))
        if span is not None and norm(here) != norm(main):
            site = next((s for _, s in span.chain() if norm(s.source.path) == norm(main)), None)
            if site is not None:
                echo = _one(d, site, f"in an imported block ({span}): ")
                echo.related_information = [
                    lsp.DiagnosticRelatedInformation(location(span), "here")
                ]
                out[uri_of(main)].append(echo)
    return out


def _one(d: Diagnostic, span: Span | None, prefix: str = "") -> lsp.Diagnostic:
    where = (
        span_range(span) if span is not None else lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    )
    text = "\n".join([prefix + d.message, *(f"help: {h}" for h in d.hints)])
    related = [
        lsp.DiagnosticRelatedInformation(location(site), note)
        for note, site in (d.span.chain() if d.span is not None else [])
    ]
    return lsp.Diagnostic(
        range=where,
        message=text,
        severity=lsp.DiagnosticSeverity.Error
        if d.severity == "error"
        else lsp.DiagnosticSeverity.Warning,
        code=d.code,
        code_description=None,
        source="dslc",
        related_information=related or None,
        data={"hints": list(d.hints)},
    )
