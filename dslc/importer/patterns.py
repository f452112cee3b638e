"""Layers exporters spell as several nodes, and the slices: GELU as x * 0.5 * (1 + erf(x /
sqrt 2)) (the TorchScript exporter below opset 20); channel splits (Split, Slice, and the
dynamo exporter's SplitToSequence + SequenceAt); x[:, :, ::s, ::s] as a 1x1 average pool of
stride s. The steps between are views, not layers."""

from __future__ import annotations

import math

from dslc.importer.state import State, Unsupported
from dslc.importer.wire import Node
from dslc.ir.ops import ChannelSliceAttrs, GeluAttrs, Op, PoolAttrs
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


def split(st: State, node: Node, span: Span) -> None:
    src = st.node_of(node.inputs[0])
    x = st.shapes[src]
    axis = node.attrs["axis"].i if "axis" in node.attrs else 0
    if axis % len(x) != 1 or not isinstance(x[1], int):
        raise Unsupported("only a Split of the channels is supported")
    if len(node.inputs) > 1 and node.inputs[1]:
        sizes = st.ints(node.inputs[1])
    elif "split" in node.attrs:
        sizes = list(node.attrs["split"].ints)
    else:
        n = len(node.outputs)
        sizes = [-(-x[1] // n)] * (n - 1) + [x[1] - -(-x[1] // n) * (n - 1)]
    start = 0
    for out, size in zip(node.outputs, sizes):
        st.emit(Op.CHANNELS, ChannelSliceAttrs(start, start + size), [src], node, span, out=out)
        start += size


def slice_(st: State, node: Node, span: Span) -> None:
    view = st.views.get(node.inputs[0])
    src = view[1] if view is not None and view[0] == "rows_step" else st.node_of(node.inputs[0])
    x = st.shapes[src]
    starts, ends = st.ints(node.inputs[1]), st.ints(node.inputs[2])
    axes = st.ints(node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else [0]
    steps = st.ints(node.inputs[4]) if len(node.inputs) > 4 and node.inputs[4] else [1]
    if (
        len(x) == 4
        and [a % 4 for a in axes] in ([2], [3], [2, 3])
        and _every(st, x, starts, ends, axes)
    ):
        _strided(st, node, span, src, [a % 4 for a in axes], steps)
        return
    if len(axes) != 1 or axes[0] % len(x) != 1 or steps != [1] or not isinstance(x[1], int):
        raise Unsupported("only a Slice of the channels with step 1 is supported")
    c = x[1]
    lo, hi = (min(max(v + c if v < 0 else v, 0), c) for v in (starts[0], ends[0]))
    st.emit(Op.CHANNELS, ChannelSliceAttrs(lo, hi), [src], node, span)


def _every(
    st: State, x: tuple[object, ...], starts: list[int], ends: list[int], axes: list[int]
) -> bool:
    """A Slice from the first element to the end of each axis (x[:, :, ::s, ::s])."""
    return all(b == 0 and (e >= 2**31 or e == x[a % 4]) for b, e, a in zip(starts, ends, axes))


def _strided(
    st: State, node: Node, span: Span, src: int, axes: list[int], steps: list[int]
) -> None:
    """x[:, :, ::s, ::s] (one Slice, or one per axis) is a 1x1 average pool of stride s."""
    view = st.views.get(node.inputs[0])
    if axes == [2] and steps[0] > 1:
        st.views[node.outputs[0]] = ("rows_step", src, steps[0])
        return
    if axes == [3] and view is not None and view[0] == "rows_step":
        src, steps = view[1], [view[2], steps[0]]
    elif axes != [2, 3]:
        raise Unsupported("only a Slice every s rows and columns (x[:, :, ::s, ::s]) is supported")
    attrs = PoolAttrs((1, 1), (steps[0], steps[1]), (0, 0, 0, 0), False)
    st.emit(Op.AVGPOOL, attrs, [src], node, span)


PATTERN_OPS = {
    "Div": div,
    "Erf": erf,
    "Split": split,
    "Slice": slice_,
    "SplitToSequence": split_to_sequence,
    "SequenceAt": sequence_at,
}
