"""Diagnostics from `dslc lsp`, seen by a real client: on open and on change, with codes, help
text, the expansion chain, and errors in imported files published in those files."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from tests.lsp.conftest import ROOT, change, open_doc, published, uri

pytestmark = pytest.mark.asyncio(loop_scope="module")

GOOD = "network t\ninput x: 3 x 8 x 8\nconv3x3(4) -> relu\n"
RESIDUAL = "network t\ninput x: 3 x 8 x 8\nblock b(c) = residual<conv3x3(c, stride=2)>\nb(8)\n"


async def test_a_correct_file_has_no_diagnostics(client: LanguageClient) -> None:
    u = open_doc(client, ROOT / "models" / "resnet152.xnet")
    assert list(await published(client, u)) == []


async def test_an_error_on_open_has_its_code_place_and_help(
    client: LanguageClient, tmp_path: Path
) -> None:
    u = open_doc(
        client, tmp_path / "flat.xnet", "network t\ninput x: 3 x 8 x 8\nconv3x3(4) -> dense(10)\n"
    )
    (d,) = await published(client, u, bool)
    assert d.code == "E0306" and d.source == "dslc"
    assert d.severity == lsp.DiagnosticSeverity.Error
    assert (d.range.start.line, d.range.start.character, d.range.end.character) == (2, 14, 23)
    assert d.message.splitlines() == [
        "dense needs a flat (N, features) input, got N x 4 x 8 x 8",
        "help: insert 'flatten' before it (or 'gap -> flatten' to pool first)",
    ]


async def test_diagnostics_follow_the_edits(client: LanguageClient, tmp_path: Path) -> None:
    u = open_doc(client, tmp_path / "edit.xnet", GOOD)
    assert list(await published(client, u)) == []
    change(client, u, GOOD.replace("relu", "relux"), 2)
    (d,) = await published(client, u, bool)
    assert d.code == "E0101" and "did you mean 'relu'" in d.message
    change(client, u, GOOD.replace("conv3x3(4)", "conv3x3(4"), 3)
    (d,) = await published(client, u, lambda ds: bool(ds) and ds[0].code != "E0101")
    assert d.code.startswith("E00")  # a syntax error, with its code
    change(client, u, GOOD, 4)
    assert list(await published(client, u, lambda ds: not ds)) == []


async def test_an_error_inside_a_block_names_the_expansion(
    client: LanguageClient, tmp_path: Path
) -> None:
    u = open_doc(client, tmp_path / "res.xnet", RESIDUAL)
    (d,) = await published(client, u, bool)
    assert d.code == "E0301" and d.range.start.line == 2
    assert "help: state the shortcut" in d.message
    (rel,) = d.related_information or []
    assert rel.message == "in expansion of block 'b'"
    assert rel.location.uri == u and rel.location.range.start.line == 3


async def test_an_error_in_an_imported_file_is_shown_in_that_file(
    client: LanguageClient, tmp_path: Path
) -> None:
    lib = tmp_path / "lib.xnet"
    lib.write_text("# a block\nblock down(c) = residual<conv3x3(c, stride=2)>\n", encoding="utf-8")
    text = 'network t\ninput x: 3 x 8 x 8\nimport "lib.xnet"\ndown(8)\n'
    u = open_doc(client, tmp_path / "main.xnet", text)
    (there,) = await published(client, uri(lib), bool)
    assert there.code == "E0301" and there.range.start.line == 1
    (here,) = await published(client, u, bool)  # and at the call that expanded it
    assert here.code == "E0301" and here.range.start.line == 3
    assert here.message.startswith(f"in an imported block ({lib}:2:17): residual body")
    # fixing the call clears both files
    change(client, u, text.replace("down(8)", "conv3x3(8)"), 2)
    assert list(await published(client, uri(lib), lambda ds: not ds)) == []
    assert list(await published(client, u, lambda ds: not ds)) == []


async def test_a_warning_is_published_as_a_warning(client: LanguageClient, tmp_path: Path) -> None:
    text = "network t\ninput x: 3 x 32 x 32\nconcat<maxpool2 | conv1x1(8, stride=2)>\n"
    u = open_doc(client, tmp_path / "w.xnet", text)
    (d,) = await published(client, u, bool)
    assert d.code == "W0701" and d.severity == lsp.DiagnosticSeverity.Warning
    assert "help: branch 1 ends at 'maxpool1'" in d.message
