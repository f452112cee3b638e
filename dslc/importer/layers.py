"""ONNX ops with windows and weights as IR layers: Conv, ConvTranspose, the pools, batch
norm, LRN, Gemm / MatMul (+ Add), LayerNormalization, and a zero Pad before a window."""

from __future__ import annotations

import numpy as np

from dslc.importer.state import State, Unsupported
from dslc.importer.wire import Node
from dslc.ir.dims import Dim
from dslc.ir.ops import (
    AdaptivePoolAttrs,
    AxisAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DeconvAttrs,
    DenseAttrs,
    LayerNormAttrs,
    LrnAttrs,
    NoAttrs,
    Op,
    Pads,
    PoolAttrs,
)
from dslc.source import Span

__all__ = ["WINDOW_OPS"]


def _i(node: Node, key: str, default: int) -> int:
    a = node.attrs.get(key)
    return a.i if a is not None else default


def _f(node: Node, key: str, default: float) -> float:
    a = node.attrs.get(key)
    return a.f if a is not None else default


def _pair(node: Node, key: str, default: int) -> tuple[int, int]:
    a = node.attrs.get(key)
    if a is None or not a.ints:
        return (default, default)
    if len(a.ints) != 2:
        raise Unsupported(f"only 2-D windows are supported ({key} = {list(a.ints)})")
    return (a.ints[0], a.ints[1])


def _auto_pads(
    node: Node,
    x: tuple[Dim, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> Pads:
    """Explicit pads, or those auto_pad asks for (SAME_UPPER puts the odd one at the end)."""
    mode = node.attrs["auto_pad"].s.decode() if "auto_pad" in node.attrs else "NOTSET"
    if mode in ("NOTSET", ""):
        a = node.attrs.get("pads")
        p = list(a.ints) if a is not None and a.ints else [0, 0, 0, 0]
        if len(p) != 4:
            raise Unsupported(f"only 2-D windows are supported (pads = {p})")
        return (p[0], p[1], p[2], p[3])
    if mode == "VALID":
        return (0, 0, 0, 0)
    begins, ends = [], []
    for size, k, s, d in zip(x[2:], kernel, stride, dilation):
        span = (k - 1) * d + 1
        if isinstance(size, int):
            total = max(0, (-(-size // s) - 1) * s + span - size)
        else:  # a symbolic size is taken to be a multiple of the stride
            total = max(0, span - s)
        small = total // 2
        begins.append(small if mode == "SAME_UPPER" else total - small)
        ends.append(total - begins[-1])
    return (begins[0], begins[1], ends[0], ends[1])


def _source(st: State, node: Node) -> tuple[int, Pads]:
    """The window's input node and the zero padding a Pad before it adds."""
    name = node.inputs[0]
    if name in st.pads:
        src, extra = st.pads.pop(name)
        return src, extra
    return st.node_of(name), (0, 0, 0, 0)


def _add(a: Pads, b: Pads) -> Pads:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


def _has_bias(st: State, node: Node, at: int) -> bool:
    """A bias input that is there and is not an exporter's computed zeros."""
    if len(node.inputs) <= at or not node.inputs[at]:
        return False
    name = node.inputs[at]
    if name in st.inits:
        return True
    v = st.value(name)
    return v is None or bool(getattr(v, "any", lambda: True)())


def conv(st: State, node: Node, span: Span) -> None:
    w = st.const_dims(node.inputs[1])
    if len(w) != 4:
        raise Unsupported(f"only 2-D convolutions are supported (weight of rank {len(w)})")
    src, extra = _source(st, node)
    x = st.shapes[src]
    kernel, stride, dil = (w[2], w[3]), _pair(node, "strides", 1), _pair(node, "dilations", 1)
    pads = _add(_auto_pads(node, x, kernel, stride, dil), extra)
    groups = _i(node, "group", 1)
    attrs = ConvAttrs(
        w[0], w[1] * groups, kernel, stride, pads, dil, groups, _has_bias(st, node, 2)
    )
    st.emit(Op.CONV, attrs, [src], node, span, node.inputs[1])


def deconv(st: State, node: Node, span: Span) -> None:
    w = st.const_dims(node.inputs[1])
    if len(w) != 4 or "output_shape" in node.attrs:
        raise Unsupported("only 2-D transposed convolutions without output_shape are supported")
    src, x = st.node_of(node.inputs[0]), st.shape_of(node.inputs[0])
    kernel, stride, dil = (w[2], w[3]), _pair(node, "strides", 1), _pair(node, "dilations", 1)
    mode = node.attrs["auto_pad"].s.decode() if "auto_pad" in node.attrs else "NOTSET"
    if mode not in ("NOTSET", "VALID", ""):
        raise Unsupported(f"auto_pad {mode} of a transposed convolution is not supported")
    pads = _auto_pads(node, x, kernel, stride, dil)
    groups = _i(node, "group", 1)
    attrs = DeconvAttrs(
        w[1] * groups,
        w[0],
        kernel,
        stride,
        pads,
        _pair(node, "output_padding", 0),
        dil,
        groups,
        _has_bias(st, node, 2),
    )
    st.emit(Op.DECONV, attrs, [src], node, span, node.inputs[1])


def pool(st: State, node: Node, span: Span) -> None:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise Unsupported("MaxPool's indices output is not supported")
    src, extra = _source(st, node)
    x = st.shapes[src]
    kernel, stride, dil = (
        _pair(node, "kernel_shape", 1),
        _pair(node, "strides", 1),
        _pair(node, "dilations", 1),
    )
    pads = _add(_auto_pads(node, x, kernel, stride, dil), extra)
    op = Op.MAXPOOL if node.op_type == "MaxPool" else Op.AVGPOOL
    include = bool(_i(node, "count_include_pad", 0)) if op is Op.AVGPOOL else True
    if extra != (0, 0, 0, 0) and op is Op.AVGPOOL:
        include = True  # zeros padded before the pool are counted as any input
    attrs = PoolAttrs(kernel, stride, pads, bool(_i(node, "ceil_mode", 0)), dil, include)
    st.emit(op, attrs, [src], node, span)


def pad(st: State, node: Node, span: Span) -> None:
    mode = node.attrs["mode"].s.decode() if "mode" in node.attrs else "constant"
    p = st.ints(node.inputs[1]) if len(node.inputs) > 1 else list(node.attrs["pads"].ints)
    fill = st.floats(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else [0.0]
    if mode != "constant" or any(fill) or len(p) != 8 or len(node.inputs) > 3:
        raise Unsupported("only a zero Pad of the height and width before a window is supported")
    if p[0] or p[1] or p[4] or p[5]:
        from dslc.ir.ops import PadChannelsAttrs

        if p[0] or p[4] or any(p[2:4]) or any(p[6:8]):
            raise Unsupported("only a zero Pad of the channels or of height and width is supported")
        st.emit(
            Op.PAD_CHANNELS, PadChannelsAttrs(p[1], p[5]), [st.node_of(node.inputs[0])], node, span
        )
        return
    st.pads[node.outputs[0]] = (st.node_of(node.inputs[0]), (p[2], p[3], p[6], p[7]))


def batchnorm(st: State, node: Node, span: Span) -> None:
    c = st.const_dims(node.inputs[1])[0]
    momentum = 1 - _f(node, "momentum", 0.9)
    attrs = BatchNormAttrs(c, _f(node, "epsilon", 1e-5), round(momentum, 6))
    st.emit(Op.BATCHNORM, attrs, [st.node_of(node.inputs[0])], node, span, node.inputs[1])


def lrn(st: State, node: Node, span: Span) -> None:
    attrs = LrnAttrs(
        _i(node, "size", 5), _f(node, "alpha", 1e-4), _f(node, "beta", 0.75), _f(node, "bias", 1.0)
    )
    st.emit(Op.LRN, attrs, [st.node_of(node.inputs[0])], node, span)


def gemm(st: State, node: Node, span: Span) -> None:
    if _i(node, "transA", 0) or _f(node, "alpha", 1.0) != 1.0 or _f(node, "beta", 1.0) != 1.0:
        raise Unsupported("only Gemm with transA = 0 and alpha = beta = 1 is supported")
    w = st.const_dims(node.inputs[1])
    out, inp = (w[0], w[1]) if _i(node, "transB", 0) else (w[1], w[0])
    attrs = DenseAttrs(out, inp, _has_bias(st, node, 2))
    st.emit(Op.DENSE, attrs, [st.node_of(node.inputs[0])], node, span, node.inputs[1])


def _averaging(st: State, name: str, axis: int) -> bool:
    """True for dslc's adaptive-pool matrix: non-negative, each window summing to 1."""
    v = st.value(name)
    if not isinstance(v, np.ndarray) or v.ndim != 2:
        return False
    return bool((v >= 0).all() and np.allclose(v.sum(axis=axis), 1, atol=1e-5))


def matmul(st: State, node: Node, span: Span) -> None:
    a, b = node.inputs[0], node.inputs[1]
    if st.is_const(a) and _averaging(st, a, 1) and len(st.shape_of(b)) == 4:
        rows = st.const_dims(a)[0]  # dslc's adaptive pool: rows, then columns
        st.views[node.outputs[0]] = ("rows", st.node_of(b), rows)
        return
    view = st.views.get(a)
    if view is not None and view[0] == "rows" and st.is_const(b) and _averaging(st, b, 0):
        size = (view[2], st.const_dims(b)[1])
        st.emit(Op.ADAPTIVE_AVGPOOL, AdaptivePoolAttrs(size), [view[1]], node, span)
        return
    w = st.const_dims(node.inputs[1])
    if len(w) != 2:
        raise Unsupported("only a MatMul by a constant matrix is supported")
    name = node.inputs[0]
    view = st.views.get(name)
    if view is not None and view[0] == "nhwc":
        nid = st.emit(
            Op.LINEAR, DenseAttrs(w[1], w[0], False), [view[1]], node, span, node.inputs[1], out=""
        )
        st.views[node.outputs[0]] = ("nhwc", nid, 0)
        return
    st.emit(Op.DENSE, DenseAttrs(w[1], w[0], False), [st.node_of(name)], node, span, node.inputs[1])


def layernorm(st: State, node: Node, span: Span) -> None:
    c = st.const_dims(node.inputs[1])
    if len(c) != 1:
        raise Unsupported("only a LayerNormalization over the last axis is supported")
    attrs = LayerNormAttrs(c[0], _f(node, "epsilon", 1e-5))
    view = st.views.get(node.inputs[0])
    if view is not None and view[0] == "nhwc":
        nid = st.emit(Op.LAYERNORM, attrs, [view[1]], node, span, node.inputs[1], out="")
        st.views[node.outputs[0]] = ("nhwc", nid, 0)
        return
    st.emit(Op.LAYERNORM, attrs, [st.node_of(node.inputs[0])], node, span, node.inputs[1])


def global_pool(st: State, node: Node, span: Span) -> None:
    op = Op.GLOBAL_AVGPOOL if node.op_type == "GlobalAveragePool" else Op.GLOBAL_MAXPOOL
    st.emit(op, NoAttrs(), [st.node_of(node.inputs[0])], node, span)


def reduce_mean(st: State, node: Node, span: Span) -> None:
    src = st.node_of(node.inputs[0])
    axes = st.ints(node.inputs[1]) if len(node.inputs) > 1 else list(node.attrs["axes"].ints)
    rank = len(st.shapes[src])
    if rank != 4 or sorted(a % 4 for a in axes) != [2, 3]:
        raise Unsupported(f"only a ReduceMean over height and width is supported (axes {axes})")
    keep = node.attrs["keepdims"].i if "keepdims" in node.attrs else 1
    if keep:
        st.emit(Op.GLOBAL_AVGPOOL, NoAttrs(), [src], node, span)
        return
    gap = st.emit(Op.GLOBAL_AVGPOOL, NoAttrs(), [src], node, span, out="")
    st.emit(Op.FLATTEN, AxisAttrs(1), [gap], node, span)


WINDOW_OPS = {
    "Conv": conv,
    "ConvTranspose": deconv,
    "MaxPool": pool,
    "AveragePool": pool,
    "Pad": pad,
    "BatchNormalization": batchnorm,
    "LRN": lrn,
    "Gemm": gemm,
    "MatMul": matmul,
    "LayerNormalization": layernorm,
    "GlobalAveragePool": global_pool,
    "GlobalMaxPool": global_pool,
    "ReduceMean": reduce_mean,
}
