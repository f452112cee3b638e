"""Shapes are computed once, while expanding: the analysis reuses them."""

from __future__ import annotations

from typing import Any

import pytest

from dslc.compiler import compile_source
from dslc.expand import expander
from dslc.ir import shapes
from dslc.source import SourceFile

NET = """network once
input x: 3 x 32 x 32
conv3x3(8) -> bn -> relu -> residual<conv3x3(8) -> relu> -> maxpool2 -> gap -> flatten -> dense(4)
"""


def test_every_node_shape_is_computed_exactly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = shapes.node_shape

    def counting(node: Any, inputs: Any) -> Any:
        calls.append(node.name)
        return real(node, inputs)

    monkeypatch.setattr(expander, "node_shape", counting)
    monkeypatch.setattr(shapes, "node_shape", counting)
    analysis = compile_source(SourceFile("once.xnet", NET))
    assert sorted(calls) == sorted(n.name for n in analysis.graph.nodes)
    assert len(analysis.shapes) == len(analysis.graph.nodes)
