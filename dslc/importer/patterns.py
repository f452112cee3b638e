"""Layers exporters spell as several nodes: GELU as x * 0.5 * (1 + erf(x / sqrt 2)) (the
TorchScript exporter below opset 20), and a channel split as SplitToSequence + SequenceAt (the
dynamo exporter's `chunk`). The steps between are views, not layers."""

from __future__ import annotations

import math

from dslc.importer.state import State, Unsupported
from dslc.importer.wire import Node
from dslc.ir.ops import ChannelSliceAttrs, GeluAttrs, Op
from dslc.source import Span

__all__ = ["PATTERN_OPS", "gelu_step"]


def _scalar(st: State, name: str) -> float | None:
    if not st.is_const(name):
        return None
    values = st.floats(name)
    return values[0] if len(values) == 1 else None


def _source(st: State, name: str) -> tuple[int, int]:
    """The IR node behind a tensor and 1 when it is seen channels-last."""
    view = st.views.get(name)
    if view is not None and view[0] == "nhwc":
        return view[1], 1
    return st.node_of(name), 0


def div(st: State, node: Node, span: Span) -> None:
    c = _scalar(st, node.inputs[1])
    if c is None or abs(c - math.sqrt(2)) > 1e-4:
        raise Unsupported("only the division by sqrt(2) inside a GELU is supported")
    src, nhwc = _source(st, node.inputs[0])
    st.views[node.outputs[0]] = ("gelu1", src, nhwc)


def erf(st: State, node: Node, span: Span) -> None:
    view = st.views.get(node.inputs[0])
    if view is None or view[0] != "gelu1":
        raise Unsupported("only the erf inside a GELU is supported")
    st.views[node.outputs[0]] = ("gelu2", view[1], view[2])


def gelu_step(st: State, node: Node, span: Span) -> bool:
    """Add(erf, 1), Mul(x, 1 + erf) and Mul(., 0.5) of a GELU; False for any other node."""
    ins = node.inputs
    views = [st.views.get(n) for n in ins]
    kinds = [v[0] if v else "" for v in views]
    consts = [_scalar(st, n) for n in ins]
    if node.op_type == "Add" and "gelu2" in kinds and 1.0 in consts:
        v = views[kinds.index("gelu2")]
        assert v is not None
        st.views[node.outputs[0]] = ("gelu3", v[1], v[2])
        return True
    if node.op_type == "Mul" and "gelu3" in kinds and len(ins) == 2:
        v = views[kinds.index("gelu3")]
        other = ins[1 - kinds.index("gelu3")]
        assert v is not None
        if (st.views.get(other) or ("", -1))[:2] in (("nhwc", v[1]),) or st.tensors.get(other) == v[
            1
        ]:
            st.views[node.outputs[0]] = ("gelu4", v[1], v[2])
            return True
    if node.op_type == "Mul" and "gelu4" in kinds and 0.5 in consts:
        v = views[kinds.index("gelu4")]
        assert v is not None
        nid = st.emit(Op.GELU, GeluAttrs(), [v[1]], node, span, out="" if v[2] else None)
        if v[2]:
            st.views[node.outputs[0]] = ("nhwc", nid, 0)
        return True
    return False


def split_to_sequence(st: State, node: Node, span: Span) -> None:
    src = st.node_of(node.inputs[0])
    x = st.shapes[src]
    axis = node.attrs["axis"].i if "axis" in node.attrs else 0
    if axis % len(x) != 1 or not isinstance(x[1], int) or len(node.inputs) < 2:
        raise Unsupported("only a SplitToSequence of the channels in given sizes is supported")
    sizes = st.ints(node.inputs[1])
    if len(sizes) == 1:  # one size: chunks of that many channels
        sizes = [sizes[0]] * (x[1] // sizes[0]) + ([x[1] % sizes[0]] if x[1] % sizes[0] else [])
    start, ranges = 0, []
    for size in sizes:
        ranges.append((start, start + size))
        start += size
    st.sequences[node.outputs[0]] = (src, ranges)


def sequence_at(st: State, node: Node, span: Span) -> None:
    seq = st.sequences.get(node.inputs[0])
    if seq is None:
        raise Unsupported("its sequence does not come from a SplitToSequence of channels")
    at = st.ints(node.inputs[1])
    src, ranges = seq
    if len(at) != 1 or not -len(ranges) <= at[0] < len(ranges):
        raise Unsupported(f"position {at} is not in the sequence")
    lo, hi = ranges[at[0]]
    st.emit(Op.CHANNELS, ChannelSliceAttrs(lo, hi), [src], node, span)


PATTERN_OPS = {
    "Div": div,
    "Erf": erf,
    "SplitToSequence": split_to_sequence,
    "SequenceAt": sequence_at,
}
