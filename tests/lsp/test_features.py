"""Hover, completion, go to definition, the outline, formatting and quick fixes from
`dslc lsp`, asked by a real client over stdio."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from tests.lsp.conftest import ROOT, at, change, open_doc, published, uri

pytestmark = pytest.mark.asyncio(loop_scope="module")

RESNET50 = ROOT / "models" / "resnet50.xnet"
LIB = ROOT / "models" / "lib" / "resnet.xnet"


async def hover(client: LanguageClient, u: str, line: int, char: int) -> str:
    h = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(u), at(line, char))
    )
    assert h is not None and isinstance(h.contents, lsp.MarkupContent)
    return h.contents.value


async def labels(
    client: LanguageClient, u: str, line: int, char: int
) -> dict[str, lsp.CompletionItem]:
    got = await client.text_document_completion_async(
        lsp.CompletionParams(lsp.TextDocumentIdentifier(u), at(line, char))
    )
    assert isinstance(got, lsp.CompletionList)
    return {i.label: i for i in got.items}


async def test_hover_on_a_block_call_gives_its_numbers_and_signature(
    client: LanguageClient,
) -> None:
    u = open_doc(client, RESNET50)
    text = await hover(client, u, 11, 20)  # layer3: bottleneck_stage(256, 6, stride=2)
    assert "`layer3` (62 layers)" in text
    assert "- output: `N x 1024 x 14 x 14`" in text
    assert "- params: 7,098,368 · MACs: 1,464,336,384" in text
    assert "- receptive field: size 267, jump 16" in text
    assert "block bottleneck_stage(c, n, stride = 1, groups = 1" in text
    assert "keeps the previous stage's" in text  # the comment above the definition


async def test_hover_in_a_library_shows_every_instance(client: LanguageClient) -> None:
    open_doc(client, RESNET50)
    u = open_doc(client, LIB)
    text = await hover(client, u, 23, 23)  # conv2: conv3x3(C, stride=stride, ...) in bottleneck
    assert text.startswith("**conv3x3** — 16 instances")
    assert "`layer1.0.conv2` (conv)\n- output: `N x 64 x 56 x 56`" in text
    assert "`layer2.0.conv2` (conv)\n- output: `N x 128 x 28 x 28`" in text
    assert "… and 10 more" in text


async def test_hover_shows_symbolic_shapes(client: LanguageClient, tmp_path: Path) -> None:
    text = "network fcn\ninput x: 3 x H x W\nconv3x3(8, stride=2) -> residual<conv3x3(8) -> bn>\n"
    u = open_doc(client, tmp_path / "fcn.xnet", text)
    await published(client, u)
    first = await hover(client, u, 2, 2)
    assert (
        "`conv1` (conv)\n- output: `N x 8 x (H+1)/2 x (W+1)/2`" in first
        or "output: `N x 8 x" in first
    )
    assert "H" in first.split("- output:")[1].splitlines()[0]
    assert "MACs: " in first and "*H*W" in first.replace(" ", "")
    comb = await hover(client, u, 2, 26)
    assert comb.startswith("**residual<…>**")


async def test_hover_on_a_diagnostic_code_explains_it(
    client: LanguageClient, tmp_path: Path
) -> None:
    u = open_doc(client, tmp_path / "c.xnet", "# see E0301\nnetwork t\ninput x: 3 x 8 x 8\nrelu\n")
    text = await hover(client, u, 0, 8)
    assert "E0301: " in text and "$ dslc check example.xnet" in text


async def test_completion_of_layers_blocks_taps_and_parameters(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "lib.xnet").write_text("block unit(c, stride = 1) = conv3x3(c, stride=stride)\n")
    text = (
        'network t(width = 8)\ninput x: 3 x 8 x 8\nimport "lib.xnet"\n'
        "conv3x3(width) @skip -> unit(width) -> \n"
    )
    u = open_doc(client, tmp_path / "m.xnet", text)
    await published(client, u)
    got = await labels(client, u, 3, 39)
    assert {"conv", "conv3x3", "maxpool2", "relu", "residual", "unit", "skip", "width"} <= set(got)
    assert got["unit"].kind == lsp.CompletionItemKind.Class
    assert got["unit"].detail == "block unit(c, stride = 1)"
    assert got["conv"].detail is not None and got["conv"].detail.startswith("conv(c, k, stride")


async def test_completion_of_keyword_arguments(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "lib.xnet").write_text("block unit(c, stride = 1) = conv3x3(c, stride=stride)\n")
    text = 'network t\ninput x: 3 x 8 x 8\nimport "lib.xnet"\nconv3x3(8, ) -> unit(8, )\n'
    u = open_doc(client, tmp_path / "k.xnet", text)
    await published(client, u)
    layer = await labels(client, u, 3, 11)
    assert {"stride=", "dilation=", "groups=", "bias="} <= set(layer) and "unit" not in layer
    block = await labels(client, u, 3, 24)
    assert set(block) == {"c=", "stride="}


async def test_completion_works_while_the_line_does_not_parse(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = "network t\ninput x: 3 x 8 x 8\nblock b(c) = conv3x3(c)\nb(8) @f -> relu\n"
    u = open_doc(client, tmp_path / "typing.xnet", text)
    await published(client, u)
    change(client, u, text.replace("-> relu", "-> maxpool2(st"), 2)
    got = await labels(client, u, 3, 25)
    assert "stride=" in got and "ceil=" in got
    change(client, u, text.replace("-> relu", "-> "), 3)
    got = await labels(client, u, 3, 11)
    assert {"b", "f", "relu"} <= set(got)


async def test_go_to_definition(client: LanguageClient, tmp_path: Path) -> None:
    u = open_doc(client, RESNET50)
    got = await client.text_document_definition_async(
        lsp.DefinitionParams(lsp.TextDocumentIdentifier(u), at(10, 25))
    )
    assert isinstance(got, lsp.Location)  # bottleneck_stage, in the imported library
    assert got.uri == uri(LIB) and got.range.start.line == 35
    got = await client.text_document_definition_async(
        lsp.DefinitionParams(lsp.TextDocumentIdentifier(u), at(7, 12))
    )
    assert isinstance(got, lsp.Location) and got.uri == uri(LIB) and got.range.start.line == 0
    text = "network t\ninput x: 3 x 8 x 8\nconv3x3(8) @a -> relu -> add<a | identity>\n"
    u = open_doc(client, tmp_path / "tap.xnet", text)
    got = await client.text_document_definition_async(
        lsp.DefinitionParams(lsp.TextDocumentIdentifier(u), at(2, 29))
    )
    assert isinstance(got, lsp.Location) and got.range.start == at(2, 0)


async def test_outline(client: LanguageClient) -> None:
    u = open_doc(client, LIB)
    got = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(lsp.TextDocumentIdentifier(u))
    )
    assert got is not None
    tops = {s.name: s for s in got if isinstance(s, lsp.DocumentSymbol)}
    assert list(tops)[:3] == ["stem", "basic", "bottleneck"]
    assert [c.name for c in tops["bottleneck"].children or []] == [
        "conv1",
        "bn1",
        "conv2",
        "bn2",
        "conv3",
        "bn3",
        "downsample",
    ]


async def test_formatting_uses_the_formatter(client: LanguageClient, tmp_path: Path) -> None:
    u = open_doc(
        client, tmp_path / "f.xnet", "network  t\ninput x : 3 x 8 x 8\nconv3x3( 8 )->relu\n"
    )
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(lsp.TextDocumentIdentifier(u), lsp.FormattingOptions(4, True))
    )
    assert edits is not None and len(edits) == 1
    assert edits[0].new_text == "network t\ninput x: 3 x 8 x 8\nconv3x3(8) -> relu\n"
    u = open_doc(client, tmp_path / "g.xnet", "network t\ninput x: 3 x 8 x 8\nconv3x3(8) -> relu\n")
    same = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(lsp.TextDocumentIdentifier(u), lsp.FormattingOptions(4, True))
    )
    assert same is not None and len(same) == 0  # already formatted: no edit


async def fixes(client: LanguageClient, u: str) -> dict[str, lsp.WorkspaceEdit | None]:
    ds = list(await published(client, u, bool))
    got = await client.text_document_code_action_async(
        lsp.CodeActionParams(lsp.TextDocumentIdentifier(u), ds[0].range, lsp.CodeActionContext(ds))
    )
    return {a.title: a.edit for a in got or [] if isinstance(a, lsp.CodeAction)}


async def test_quick_fixes(client: LanguageClient, tmp_path: Path) -> None:
    u = open_doc(
        client,
        tmp_path / "q1.xnet",
        "network t\ninput x: 3 x 8 x 8\nresidual<conv3x3(8, stride=2)>\n",
    )
    got = await fixes(client, u)
    edit = got["Add '| project' (a projection shortcut)"]
    assert edit is not None and edit.changes is not None
    (e,) = edit.changes[u]
    assert e.new_text == " | project" and e.range.start == at(2, 29)
    u = open_doc(
        client, tmp_path / "q2.xnet", "network t\ninput x: 3 x 8 x 8\nconv3x3(4) -> dense(10)\n"
    )
    got = await fixes(client, u)
    assert set(got) == {"Insert 'flatten ->'", "Insert 'gap -> flatten ->'"}
    u = open_doc(
        client, tmp_path / "q3.xnet", "network t\ninput x: 3 x 8 x 8\nconv3x3(4) -> rellu\n"
    )
    got = await fixes(client, u)
    edit = got["Change 'rellu' to 'relu'"]
    assert edit is not None and edit.changes is not None
    assert edit.changes[u][0].new_text == "relu"
