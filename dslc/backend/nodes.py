"""One IR node as ONNX nodes: one `match` over Op, pools, resizes and adaptive pools."""

from __future__ import annotations

from typing import Any, assert_never

import numpy as np

from dslc.backend import proto
from dslc.backend.emitter import ELEM, Emitter
from dslc.backend.nodes_channels import emit_channel_node
from dslc.backend.nodes_modern import emit_modern
from dslc.backend.nodes_pool import fit_ceil
from dslc.diagnostics import DiagnosticError
from dslc.ir.dims import Dim, add
from dslc.ir.graph import (
    Node,
)
from dslc.ir.ops import (
    AdaptivePoolAttrs,
    AxisAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DeconvAttrs,
    DenseAttrs,
    LrnAttrs,
    Op,
    OpaqueAttrs,
    PoolAttrs,
    ScalarAttrs,
    UpsampleAttrs,
)
from dslc.ir.shapes import conv_out

__all__ = ["conv_attrs", "emit_node"]


def _pool_attrs(a: PoolAttrs, x: tuple[Dim, ...], ignores_pads: bool) -> dict[str, Any]:
    """Kernel, strides, pads and ceil mode as ONNX wants them.

    ONNX's shape inference before opset 22 does not drop a ceil-mode window that would start
    in the padding, as PyTorch (and ONNX Runtime) do. So where sizes are known, ceil mode is
    written as extra end padding in floor mode; that is exact when the op ignores padding
    (max pooling, or averaging without count_include_pad)."""
    pads = list(a.pads)
    ceil = a.ceil and _ceil_axes(a, x)
    if ceil and ignores_pads and all(isinstance(d, int) for d in x[2:]):
        for axis in ceil:
            pads[axis + 2] += max(0, _extra(a, x, axis))
        if all(pads[i + 2] < a.kernel[i] for i in (0, 1)):
            return {
                "kernel_shape": list(a.kernel),
                "strides": list(a.stride),
                "pads": pads,
                "ceil_mode": 0,
            }
        pads = list(a.pads)
    return {
        "kernel_shape": list(a.kernel),
        "strides": list(a.stride),
        "pads": pads,
        "ceil_mode": int(bool(ceil)),
    }


def _avgpool(e: Emitter, node: Node, a: PoolAttrs, x: str) -> None:
    """Average pooling. In ceil mode with count_include_pad, PyTorch divides by the window
    clipped to the padded input; zero-padding explicitly, then averaging over the valid
    cells with the overhang as extra (uncounted) padding, is exactly that."""
    a, x, shape = fit_ceil(e, node, a, x, e.analysis.shapes[node.inputs[0]])
    concrete = all(isinstance(d, int) for d in shape[2:])
    if not (a.ceil and a.count_include_pad and concrete and _ceil_axes(a, shape)):
        e.emit(
            "AveragePool",
            node,
            [x],
            count_include_pad=int(a.count_include_pad),
            **_pool_attrs(a, shape, not a.count_include_pad),
        )
        return
    t, l, b, r = a.pads
    pad = e.const(f"{node.name}.pads", np.array([0, 0, t, l, 0, 0, b, r], np.int64))
    e.shaped(f"{node.name}.padded", (*shape[:2], add(shape[2], t + b), add(shape[3], l + r)))
    e.nodes.append(proto.node("Pad", [x, pad], [f"{node.name}.padded"], name=f"{node.name}.padded"))
    extra = [_extra(a, shape, axis) for axis in (0, 1)]
    e.emit(
        "AveragePool",
        node,
        [f"{node.name}.padded"],
        count_include_pad=0,
        kernel_shape=list(a.kernel),
        strides=list(a.stride),
        pads=[0, 0, max(0, extra[0]), max(0, extra[1])],
        ceil_mode=0,
    )


def _axis_args(a: PoolAttrs, x: tuple[Dim, ...], axis: int) -> tuple[int, int, int, int, int, int]:
    size = x[2 + axis]
    assert isinstance(size, int)
    return (size, a.kernel[axis], a.stride[axis], a.dilation[axis], a.pads[axis], a.pads[axis + 2])


def _ceil_axes(a: PoolAttrs, x: tuple[Dim, ...]) -> list[int]:
    """The axes on which ceil mode changes the output size (all, if a size is symbolic)."""
    if not all(isinstance(d, int) for d in x[2:]):
        return [0, 1]
    out = []
    for axis in (0, 1):
        args = _axis_args(a, x, axis)
        if conv_out(*args, ceil=True) != conv_out(*args, ceil=False):
            out.append(axis)
    return out


def _extra(a: PoolAttrs, x: tuple[Dim, ...], axis: int) -> int:
    """End padding to add so that floor mode gives ceil mode's (PyTorch's) windows."""
    size, k, s, d, pb, pe = _axis_args(a, x, axis)
    want = conv_out(size, k, s, d, pb, pe, ceil=True)
    assert isinstance(want, int)
    return (want - 1) * s + d * (k - 1) + 1 - (size + pb + pe)


def emit_node(e: Emitter, node: Node) -> None:
    a = node.attrs
    xs = [e.names[i] for i in node.inputs]
    match node.op:
        case Op.INPUT:
            return
        case Op.CONV:
            assert isinstance(a, ConvAttrs)
            e.emit("Conv", node, xs + e.params(node), **conv_attrs(a))
        case Op.DECONV:
            assert isinstance(a, DeconvAttrs)
            e.emit(
                "ConvTranspose",
                node,
                xs + e.params(node),
                kernel_shape=list(a.kernel),
                strides=list(a.stride),
                pads=list(a.pads),
                dilations=list(a.dilation),
                group=a.groups,
                output_padding=list(a.output_padding),
            )
        case Op.MAXPOOL:
            assert isinstance(a, PoolAttrs)
            a, x, shape = fit_ceil(e, node, a, xs[0], e.analysis.shapes[node.inputs[0]])
            attrs = _pool_attrs(a, shape, True)
            e.emit("MaxPool", node, [x], dilations=list(a.dilation), **attrs)
        case Op.AVGPOOL:
            assert isinstance(a, PoolAttrs)
            _avgpool(e, node, a, xs[0])
        case Op.GLOBAL_AVGPOOL:
            e.emit("GlobalAveragePool", node, xs)
        case Op.GLOBAL_MAXPOOL:
            e.emit("GlobalMaxPool", node, xs)
        case Op.ADAPTIVE_AVGPOOL:
            assert isinstance(a, AdaptivePoolAttrs)
            _adaptive(e, node, a, xs[0])
        case Op.BATCHNORM:
            assert isinstance(a, BatchNormAttrs)
            e.emit(
                "BatchNormalization",
                node,
                xs + e.params(node),
                epsilon=a.eps,
                momentum=1.0 - a.momentum,
            )
        case Op.LRN:
            assert isinstance(a, LrnAttrs)
            e.emit("LRN", node, xs, size=a.size, alpha=a.alpha, beta=a.beta, bias=a.k)
        case Op.DROPOUT:
            assert isinstance(a, ScalarAttrs)
            ratio = e.const(f"{node.name}.p", np.array(a.value, np.float32))
            e.emit("Dropout", node, [*xs, ratio])
        case Op.RELU | Op.SIGMOID | Op.TANH | Op.IDENTITY:
            e.emit(
                {Op.RELU: "Relu", Op.SIGMOID: "Sigmoid", Op.TANH: "Tanh", Op.IDENTITY: "Identity"}[
                    node.op
                ],
                node,
                xs,
            )
        case Op.LEAKY_RELU | Op.ELU:
            assert isinstance(a, ScalarAttrs)
            e.emit("LeakyRelu" if node.op is Op.LEAKY_RELU else "Elu", node, xs, alpha=a.value)
        case Op.RELU6:
            lo = e.const(f"{node.name}.min", e.floats(0.0))
            hi = e.const(f"{node.name}.max", e.floats(6.0))
            e.emit("Clip", node, [*xs, lo, hi])
        case Op.SOFTMAX | Op.FLATTEN:
            assert isinstance(a, AxisAttrs)
            e.emit("Softmax" if node.op is Op.SOFTMAX else "Flatten", node, xs, axis=a.axis)
        case Op.DENSE:
            assert isinstance(a, DenseAttrs)
            e.emit("Gemm", node, xs + e.params(node), transB=1)
        case Op.UPSAMPLE:
            assert isinstance(a, UpsampleAttrs)
            _resize(e, node, a, xs)
        case Op.ADD:
            e.emit("Add" if len(xs) == 2 else "Sum", node, xs)
        case Op.CONCAT:
            e.emit("Concat", node, xs, axis=1)
        case Op.CHANNELS | Op.SHUFFLE | Op.SPACE_TO_DEPTH | Op.DEPTH_TO_SPACE | Op.PAD_CHANNELS:
            emit_channel_node(e, node, xs[0])
        case (
            Op.MUL
            | Op.SILU
            | Op.HARDSWISH
            | Op.HARDSIGMOID
            | Op.GELU
            | Op.PRELU
            | Op.LAYERNORM
            | Op.LINEAR
            | Op.SCALE
            | Op.STOCHASTIC_DEPTH
        ):
            emit_modern(e, node)
        case Op.OPAQUE:
            assert isinstance(a, OpaqueAttrs)
            raise DiagnosticError(
                "E0802",
                f"'{node.name}' is an ONNX {a.op_type} dslc has no layer for: it cannot be compiled",
                node.span,
                "analyse the model with summary, rf or graph; compile needs every layer understood",
            )
        case _:
            assert_never(node.op)


def _resize(e: Emitter, node: Node, a: UpsampleAttrs, xs: list[str]) -> None:
    if a.mode == "nearest":
        attrs: dict[str, Any] = {
            "mode": "nearest",
            "coordinate_transformation_mode": "asymmetric",
            "nearest_mode": "floor",
        }
    else:
        # half_pixel is PyTorch's align_corners=False at every size; ONNX's pytorch_half_pixel
        # samples pixel 0 where an output side is 1 (PyTorch averages: 2 x 2 -> 1 x 1)
        attrs = {
            "mode": "linear",
            "coordinate_transformation_mode": "align_corners" if a.align_corners else "half_pixel",
        }
    n = node.name
    int64 = proto.ELEM_INT64
    if a.scale is not None and all(float(f).is_integer() for f in a.scale):
        scales = e.const(f"{n}.scales", np.array([1, 1, *a.scale], np.float32))
        e.emit("Resize", node, [xs[0], "", scales], **attrs)
        return
    e.nodes.append(proto.node("Shape", [xs[0]], [f"{n}.nc"], name=f"{n}.nc", end=2))
    e.shaped(f"{n}.nc", (2,), int64)
    e.shaped(f"{n}.hw", (2,), int64)
    e.shaped(f"{n}.sizes", (4,), int64)
    out = e.analysis.shapes[node.id]
    if a.scale is not None and all(isinstance(d, int) for d in out[2:]):
        e.const(f"{n}.hw", np.array(out[2:], np.int64))  # PyTorch's floor(H * factor)
    elif a.scale is not None:  # whole on the symbolic side (E0309): Shape * k there, fixed else
        mul = [0 if isinstance(d, int) else int(f) for d, f in zip(out[2:], a.scale, strict=True)]
        fixed = [d if isinstance(d, int) else 0 for d in out[2:]]
        e.nodes.append(proto.node("Shape", [xs[0]], [f"{n}.in_hw"], name=f"{n}.in_hw", start=2))
        e.shaped(f"{n}.in_hw", (2,), int64)
        k, add = (
            e.const(f"{n}.k", np.array(mul, np.int64)),
            e.const(f"{n}.add", np.array(fixed, np.int64)),
        )
        e.nodes.append(proto.node("Mul", [f"{n}.in_hw", k], [f"{n}.kx"], name=f"{n}.kx"))
        e.shaped(f"{n}.kx", (2,), int64)
        e.nodes.append(proto.node("Add", [f"{n}.kx", add], [f"{n}.hw"], name=f"{n}.hw"))
    else:
        e.nodes.append(proto.node("Shape", [xs[1]], [f"{n}.hw"], name=f"{n}.hw", start=2))
    e.nodes.append(
        proto.node("Concat", [f"{n}.nc", f"{n}.hw"], [f"{n}.sizes"], name=f"{n}.sizes", axis=0)
    )
    e.emit("Resize", node, [xs[0], "", "", f"{n}.sizes"], **attrs)


def _adaptive(e: Emitter, node: Node, a: AdaptivePoolAttrs, x: str) -> None:
    shape = e.analysis.shapes[node.inputs[0]]
    h, w = shape[2], shape[3]
    if (h, w) == a.size:
        e.emit("Identity", node, [x])
        return
    if isinstance(h, int) and isinstance(w, int) and h % a.size[0] == 0 and w % a.size[1] == 0:
        k = [h // a.size[0], w // a.size[1]]
        e.emit("AveragePool", node, [x], kernel_shape=k, strides=k)
        return
    n = node.name
    if isinstance(h, int):
        rows = e.const(f"{n}.rows", e.floats(_averaging(h, a.size[0])))
    else:
        rows = _dynamic_averaging(e, f"{n}.rows", x, 2, a.size[0], h)
    if isinstance(w, int):
        cols = e.const(f"{n}.cols", e.floats(_averaging(w, a.size[1]).T.copy()))
    else:
        wt = _dynamic_averaging(e, f"{n}.colsT", x, 3, a.size[1], w)
        cols = e.shaped(f"{n}.cols", (w, a.size[1]))
        e.nodes.append(proto.node("Transpose", [wt], [cols], name=cols, perm=[1, 0]))
    e.shaped(f"{n}.r", (*shape[:2], a.size[0], w))
    e.nodes.append(proto.node("MatMul", [rows, x], [f"{node.name}.r"], name=f"{node.name}.r"))
    e.emit("MatMul", node, [f"{node.name}.r", cols])


def _dynamic_averaging(e: Emitter, name: str, x: str, axis: int, out: int, n: Dim) -> str:
    """The averaging matrix of `_averaging` computed in the graph, for a size known only at
    run time: window i covers [floor(i n / out), ceil((i + 1) n / out))."""
    int64, boolean, elem = proto.ELEM_INT64, proto.ELEM_BOOL, ELEM[e.dtype]

    def node(
        op: str,
        inputs: list[str],
        suffix: str,
        shape: tuple[Dim | None, ...],
        kind: int,
        **attrs: Any,
    ) -> str:
        e.nodes.append(
            proto.node(op, inputs, [f"{name}.{suffix}"], name=f"{name}.{suffix}", **attrs)
        )
        e.shaped(f"{name}.{suffix}", tuple(n if d is None else d for d in shape), kind)
        return f"{name}.{suffix}"

    size = node("Shape", [x], "n", (1,), int64, start=axis, end=axis + 1)  # [n]
    i = e.const(f"{name}.i", np.arange(out, dtype=np.int64))
    k = e.const(f"{name}.out", np.array([out], np.int64))
    k1 = e.const(f"{name}.out1", np.array([out - 1], np.int64))
    one = e.const(f"{name}.one", np.array([1], np.int64))
    o = (out,)
    begin = node("Div", [node("Mul", [i, size], "in", o, int64), k], "begin", o, int64)  # floor
    upper = node("Mul", [node("Add", [i, one], "i1", o, int64), size], "i1n", o, int64)
    end = node("Div", [node("Add", [upper, k1], "i1nk", o, int64), k], "end", o, int64)  # ceil
    zero = e.const(f"{name}.zero", np.array(0, np.int64))
    step = e.const(f"{name}.step", np.array(1, np.int64))
    axes = e.const(f"{name}.axes", np.array([1], np.int64))
    scalar = node("Squeeze", [size], "scalar", (), int64)
    positions = node("Range", [zero, scalar, step], "at", (None,), int64)  # [n]
    col = (out, 1)
    grid = (out, None)
    inside = node(
        "And",
        [
            node(
                "GreaterOrEqual",
                [positions, node("Unsqueeze", [begin, axes], "b1", col, int64)],
                "ge",
                grid,
                boolean,
            ),
            node(
                "Less",
                [positions, node("Unsqueeze", [end, axes], "e1", col, int64)],
                "lt",
                grid,
                boolean,
            ),
        ],
        "in_window",
        grid,
        boolean,
    )
    length = node("Sub", [end, begin], "len", o, int64)
    count = node(
        "Cast", [node("Unsqueeze", [length, axes], "len1", col, int64)], "count", col, elem, to=elem
    )
    mask = node("Cast", [inside], "mask", grid, elem, to=elem)
    return node("Div", [mask, count], "matrix", grid, elem)


def _averaging(n: int, out: int) -> np.ndarray:
    """PyTorch's adaptive pooling windows as an out x n averaging matrix."""
    m = np.zeros((out, n), np.float32)
    for i in range(out):
        lo, hi = (i * n) // out, -(-(i + 1) * n // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def conv_attrs(a: ConvAttrs) -> dict[str, Any]:
    return {
        "kernel_shape": list(a.kernel),
        "strides": list(a.stride),
        "pads": list(a.pads),
        "dilations": list(a.dilation),
        "group": a.groups,
    }
