"""A real language client (pytest-lsp) talking to `python -m dslc lsp` over stdio, shared by
the tests of a module; helpers to open buffers and wait for what the server publishes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities, fixture

ROOT = Path(__file__).resolve().parents[2]


@fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "dslc", "lsp", "--debounce-ms", "10"]
    ),
    scope="module",
)
async def client(lsp_client: LanguageClient) -> object:
    await lsp_client.initialize_session(
        lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
    )
    yield
    await lsp_client.shutdown_session()


def uri(path: Path) -> str:
    out = from_fs_path(str(path))
    assert out is not None
    return out


def open_doc(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    u = uri(path)
    client.diagnostics.pop(u, None)
    body = path.read_text(encoding="utf-8") if text is None else text
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(u, "xnet", version, body))
    )
    return u


def change(client: LanguageClient, u: str, text: str, version: int) -> None:
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=version, uri=u),
            [lsp.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def published(
    client: LanguageClient,
    u: str,
    ok: Callable[[Sequence[lsp.Diagnostic]], bool] = lambda ds: True,
    timeout: float = 20,
) -> Sequence[lsp.Diagnostic]:
    """Wait until the diagnostics published for `u` satisfy `ok`; return them."""
    for _ in range(int(timeout / 0.02)):
        if u in client.diagnostics and ok(client.diagnostics[u]):
            return client.diagnostics[u]
        await asyncio.sleep(0.02)
    pytest.fail(f"no diagnostics as expected for {u}: {client.diagnostics.get(u)}")


def at(line: int, char: int) -> lsp.Position:
    return lsp.Position(line=line, character=char)
