"""Property: on random valid programs (comments, line breaks, labels, taps, conditions, nested
combinators), every token of grammars/xnet.lark gets the TextMate scope of its role, as the
zoo's do (tests/editors/). Programs go to node in batches, one process per example."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import textmate
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Program, programs


@pytest.fixture(scope="module")
def node() -> str:
    found = textmate.node_ready()
    if found is None:
        pytest.skip("node is not installed (the grammar is tokenised in node)")
    return found


@settings(max_examples=max(2, settings.default.max_examples // 10))
@given(st.lists(programs(max_elements=8), min_size=8, max_size=8))
def test_every_token_gets_the_scope_of_its_role(node: str, batch: list[Program]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"p{i}.xnet" for i in range(len(batch))]
        for path, program in zip(paths, batch, strict=True):
            path.write_text(program.text, encoding="utf-8")
        found = textmate.tokenize(node, paths)
    for path, program in zip(paths, batch, strict=True):
        bad, _ = textmate.mismatches(textmate.parser(), path.name, program.text, found[path])
        assert bad == [], program.text
