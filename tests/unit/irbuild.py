"""Hand-built IR graphs for testing the passes without the parser.

b = IR(3, 32, 32)
x = b.conv(b.input, 16, k=3, pad=1)
y = b.relu(x)
g, shapes = b.done(y)
"""

from __future__ import annotations

from dslc.ir.graph import Graph, Node
from dslc.ir.ops import (
    Attrs,
    AxisAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    InputAttrs,
    NoAttrs,
    Op,
    PoolAttrs,
)
from dslc.ir.shapes import Shapes, infer_shapes
from dslc.source import SourceFile, Span

__all__ = ["IR"]

_SPAN = Span(SourceFile("irbuild", ""), 1, 1, 1, 1)


class IR:
    """A graph under construction: each method appends one node and returns its id."""

    def __init__(self, c: int, h: int, w: int) -> None:
        self.nodes: list[Node] = []
        self.input = self._add(Op.INPUT, (), InputAttrs((1, c, h, w)), "x")

    def _add(self, op: Op, inputs: tuple[int, ...], attrs: Attrs, name: str | None = None) -> int:
        node_id = len(self.nodes)
        self.nodes.append(Node(node_id, name or f"{op.value}{node_id}", op, inputs, attrs, _SPAN))
        return node_id

    def channels(self, x: int) -> int:
        shape = infer_shapes(self._graph((x,)))[x]
        assert isinstance(shape[1], int)
        return shape[1]

    def conv(
        self,
        x: int,
        c: int,
        k: int,
        stride: int = 1,
        pad: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> int:
        cin = self.channels(x)
        attrs = ConvAttrs(
            c, cin, (k, k), (stride, stride), (pad,) * 4, (dilation, dilation), groups, bias
        )
        return self._add(Op.CONV, (x,), attrs)

    def pool(self, x: int, k: int, stride: int, pad: int = 0, op: Op = Op.MAXPOOL) -> int:
        return self._add(op, (x,), PoolAttrs((k, k), (stride, stride), (pad,) * 4, False))

    def bn(self, x: int) -> int:
        return self._add(Op.BATCHNORM, (x,), BatchNormAttrs(self.channels(x), 1e-5, 0.1))

    def relu(self, x: int) -> int:
        return self._add(Op.RELU, (x,), NoAttrs())

    def add(self, *xs: int) -> int:
        return self._add(Op.ADD, xs, NoAttrs())

    def concat(self, *xs: int) -> int:
        return self._add(Op.CONCAT, xs, AxisAttrs(1))

    def gap(self, x: int) -> int:
        return self._add(Op.GLOBAL_AVGPOOL, (x,), NoAttrs())

    def flatten(self, x: int) -> int:
        return self._add(Op.FLATTEN, (x,), AxisAttrs(1))

    def dense(self, x: int, n: int, bias: bool = True) -> int:
        return self._add(Op.DENSE, (x,), DenseAttrs(n, self.channels(x), bias))

    def _graph(self, outputs: tuple[int, ...]) -> Graph:
        return Graph("irbuild", tuple(self.nodes), (self.input,), outputs, "")

    def done(self, *outputs: int) -> tuple[Graph, Shapes]:
        """The graph (its outputs as given, else the last node) and its shapes."""
        g = self._graph(outputs or (len(self.nodes) - 1,))
        return g, infer_shapes(g)
