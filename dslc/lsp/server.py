"""`dslc lsp`: the language server (pygls, stdio). Each buffer is checked on open, on save and
shortly after the typing stops (debounced); a request about a buffer changed since its last
check checks it first, so answers always match the text."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from dslc import __version__
from dslc.lsp.complete import complete
from dslc.lsp.convert import to_lsp
from dslc.lsp.edits import fixes, formatted
from dslc.lsp.hover import hover_text
from dslc.lsp.navigate import definition, symbols
from dslc.lsp.state import Checked, check_text, norm, scope_of

__all__ = ["DEBOUNCE_S", "DslcServer", "main", "make_server"]

DEBOUNCE_S = 0.025  # wait this long after a keystroke before checking (`dslc lsp --debounce-ms`)
KINDS = {
    "layer": lsp.CompletionItemKind.Function,
    "block": lsp.CompletionItemKind.Class,
    "combinator": lsp.CompletionItemKind.Keyword,
    "argument": lsp.CompletionItemKind.Property,
    "tap": lsp.CompletionItemKind.Variable,
    "parameter": lsp.CompletionItemKind.Constant,
}


class DslcServer(LanguageServer):
    """The server and what it knows: each open buffer's last check and where it published."""

    def __init__(self) -> None:
        super().__init__("dslc", __version__)
        self.checked: dict[str, Checked] = {}
        self.published: dict[str, set[str]] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.debounce = DEBOUNCE_S

    def path(self, uri: str) -> str:
        """The file system path of a URI."""
        return norm(to_fs_path(uri) or uri)

    def fresh(self, uri: str) -> Checked:
        """The check of the buffer's current text, checking (and publishing) it if needed."""
        doc = self.workspace.get_text_document(uri)
        version = doc.version or 0
        old = self.checked.get(uri)
        if old is not None and old.version == version and uri not in self.pending:
            return old
        return self.check(uri)

    def check(self, uri: str) -> Checked:
        """Check a buffer now and publish its diagnostics, clearing those it published before."""
        if (handle := self.pending.pop(uri, None)) is not None:
            handle.cancel()
        doc = self.workspace.get_text_document(uri)
        checked = check_text(self.path(uri), doc.source, doc.version or 0)
        self.checked[uri] = checked
        by_uri = to_lsp(checked.diagnostics, checked.source.path)
        for gone in self.published.get(uri, set()) - set(by_uri):
            self.publish(gone, [])
        for target, items in by_uri.items():
            self.publish(target, items)
        self.published[uri] = set(by_uri)
        return checked

    def publish(self, uri: str, items: list[lsp.Diagnostic]) -> None:
        """Send one file's diagnostics."""
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=items)
        )

    def later(self, uri: str) -> None:
        """Check a buffer once the typing has paused."""
        if (handle := self.pending.pop(uri, None)) is not None:
            handle.cancel()
        loop = asyncio.get_running_loop()
        self.pending[uri] = loop.call_later(self.debounce, self._due, uri)

    def _due(self, uri: str) -> None:
        self.pending.pop(uri, None)
        if uri in self.checked:
            self.check(uri)

    def with_analysis(self, uri: str, checked: Checked) -> Checked:
        """For a block library, the check of an open network that imports it (its analysis
        holds the library's layers); else the buffer's own."""
        if checked.analysis is not None:
            return checked
        path = self.path(uri)
        for other in self.checked.values():
            if other.analysis is not None and any(
                norm(b.span.source.path) == path for b in other.blocks.values()
            ):
                blocks = {**other.blocks, **checked.blocks}
                return replace(checked, blocks=blocks, analysis=other.analysis)
        return checked


def make_server() -> DslcServer:
    """A server with every feature registered."""
    server = DslcServer()
    _register(server)
    return server


def _register(server: DslcServer) -> None:
    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DslcServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.check(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DslcServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.later(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: DslcServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls.check(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DslcServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.checked.pop(uri, None)
        if (handle := ls.pending.pop(uri, None)) is not None:
            handle.cancel()
        for target in ls.published.pop(uri, set()):
            ls.publish(target, [])

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: DslcServer, params: lsp.HoverParams) -> lsp.Hover | None:
        uri, pos = params.text_document.uri, params.position
        checked = ls.with_analysis(uri, ls.fresh(uri))
        text = hover_text(checked, ls.path(uri), pos.line, pos.character)
        if text is None:
            return None
        return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text))

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["(", ",", ">"])
    )
    def completion(ls: DslcServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        uri, pos = params.text_document.uri, params.position
        doc = ls.workspace.get_text_document(uri)
        checked = scope_of(ls.path(uri), doc.source, pos.line) or ls.checked.get(uri)
        items = complete(checked, doc.source, pos.line, pos.character)
        return lsp.CompletionList(
            is_incomplete=False,
            items=[
                lsp.CompletionItem(
                    label=i.label, kind=KINDS[i.kind], detail=i.detail, insert_text=i.insert
                )
                for i in items
            ],
        )

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def goto(ls: DslcServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        pos = params.position
        return definition(ls.fresh(params.text_document.uri), pos.line, pos.character)

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def outline(ls: DslcServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        return symbols(ls.fresh(params.text_document.uri))

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def formatting(
        ls: DslcServer, params: lsp.DocumentFormattingParams
    ) -> list[lsp.TextEdit] | None:
        uri = params.text_document.uri
        return formatted(ls.workspace.get_text_document(uri).source, ls.path(uri))

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]),
    )
    def actions(ls: DslcServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        return fixes(
            uri, ls.workspace.get_text_document(uri).source, list(params.context.diagnostics)
        )


def main(debounce_ms: int | None = None) -> None:
    """Serve over stdin and stdout until the client says exit."""
    server = make_server()
    if debounce_ms is not None:
        server.debounce = debounce_ms / 1000
    server.start_io()
