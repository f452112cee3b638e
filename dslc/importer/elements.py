"""ONNX ops without windows as IR layers: activations, merges (Add, Sum, Mul, Concat),
channel slices (Split, Slice), Flatten / Reshape, the Reshape-Transpose-Reshape channel
shuffle, channels-last views, Resize, depth/space moves, Dropout and Identity."""

from __future__ import annotations

import numpy as np

from dslc.importer.patterns import gelu_step
from dslc.importer.state import State, Unsupported
from dslc.importer.wire import Node
from dslc.ir import dims
from dslc.ir.ops import (
    AxisAttrs,
    BlockAttrs,
    DenseAttrs,
    GeluAttrs,
    NoAttrs,
    Op,
    PreluAttrs,
    ScalarAttrs,
    ScaleAttrs,
    ShuffleAttrs,
    UpsampleAttrs,
)
from dslc.source import Span

__all__ = ["ELEMENT_OPS"]

_PLAIN = {
    "Relu": Op.RELU,
    "Sigmoid": Op.SIGMOID,
    "Tanh": Op.TANH,
    "HardSwish": Op.HARDSWISH,
}


def _input(st: State, node: Node) -> tuple[int, bool]:
    """The IR node of the first input, and whether it is seen channels-last."""
    view = st.views.get(node.inputs[0])
    if view is not None and view[0] == "nhwc":
        return view[1], True
    return st.node_of(node.inputs[0]), False


def _unary(st: State, node: Node, span: Span, op: Op, attrs: object) -> None:
    src, nhwc = _input(st, node)
    nid = st.emit(op, attrs, [src], node, span, out="" if nhwc else None)  # type: ignore[arg-type]
    if nhwc:
        st.views[node.outputs[0]] = ("nhwc", nid, 0)


def activation(st: State, node: Node, span: Span) -> None:
    t, a = node.op_type, node.attrs
    if t in _PLAIN:
        _unary(st, node, span, _PLAIN[t], NoAttrs())
    elif t == "LeakyRelu":
        _unary(st, node, span, Op.LEAKY_RELU, ScalarAttrs(a["alpha"].f if "alpha" in a else 0.01))
    elif t == "Elu":
        _unary(st, node, span, Op.ELU, ScalarAttrs(a["alpha"].f if "alpha" in a else 1.0))
    elif t == "HardSigmoid":
        alpha = a["alpha"].f if "alpha" in a else 0.2
        beta = a["beta"].f if "beta" in a else 0.5
        if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
            raise Unsupported(f"HardSigmoid(alpha={alpha:g}, beta={beta:g}) is not PyTorch's")
        _unary(st, node, span, Op.HARDSIGMOID, NoAttrs())
    elif t == "Gelu":
        approx = a["approximate"].s.decode() if "approximate" in a else "none"
        _unary(st, node, span, Op.GELU, GeluAttrs(tanh=approx == "tanh"))
    elif t == "Softmax":
        rank = len(st.shape_of(node.inputs[0]))
        axis = a["axis"].i if "axis" in a else -1
        if axis % rank != 1:
            raise Unsupported(f"only a Softmax over the channels is supported (axis {axis})")
        _unary(st, node, span, Op.SOFTMAX, AxisAttrs(1))
    elif t == "Clip":
        clip(st, node, span)
    elif t == "PRelu":
        slopes = int(np.prod(st.const_dims(node.inputs[1])))
        src = st.node_of(node.inputs[0])
        st.emit(Op.PRELU, PreluAttrs(slopes), [src], node, span, node.inputs[1])


def clip(st: State, node: Node, span: Span) -> None:
    lo = st.floats(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else []
    hi = st.floats(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else []
    if "min" in node.attrs:
        lo = [node.attrs["min"].f]
    if "max" in node.attrs:
        hi = [node.attrs["max"].f]
    if lo == [0.0] and hi == [6.0]:
        _unary(st, node, span, Op.RELU6, NoAttrs())
    elif lo == [0.0] and not hi:
        _unary(st, node, span, Op.RELU, NoAttrs())
    else:
        raise Unsupported(f"only Clip(0, 6) (ReLU6) and Clip(0) (ReLU) are supported: {lo}, {hi}")


def add(st: State, node: Node, span: Span) -> None:
    if gelu_step(st, node, span):
        return
    consts = [n for n in node.inputs if st.is_const(n)]
    if len(consts) == 1 and len(node.inputs) == 2:
        _bias(st, node, span, consts[0])
        return
    srcs = [_input(st, node if i == 0 else _shifted(node, i)) for i in range(len(node.inputs))]
    if len({nhwc for _, nhwc in srcs}) != 1:
        raise Unsupported("it adds a channels-last tensor to a channels-first one")
    nhwc = srcs[0][1]
    nid = st.emit(Op.ADD, NoAttrs(), [s for s, _ in srcs], node, span, out="" if nhwc else None)
    if nhwc:
        st.views[node.outputs[0]] = ("nhwc", nid, 0)


def _shifted(node: Node, i: int) -> Node:
    return Node(node.op_type, node.domain, node.name, [node.inputs[i]], node.outputs)


def _bias(st: State, node: Node, span: Span, const: str) -> None:
    """MatMul + Add: the constant becomes the dense (or linear) layer's bias."""
    other = next(n for n in node.inputs if n != const)
    view = st.views.get(other)
    nid = view[1] if view is not None and view[0] == "nhwc" else st.tensors.get(other)
    if nid is None:
        raise Unsupported(f"its input '{other}' is not computed by anything dslc understood")
    prev = st.nodes[nid]
    if (
        prev.op not in (Op.DENSE, Op.LINEAR)
        or not isinstance(prev.attrs, DenseAttrs)
        or prev.attrs.bias
    ):
        raise Unsupported("adding a constant is supported only as a MatMul's bias")
    if st.const_dims(const)[-1:] != (prev.attrs.out_features,):
        raise Unsupported("the constant added after the MatMul is not a bias of its outputs")
    a = prev.attrs
    st.replace(nid, DenseAttrs(a.out_features, a.in_features, True))
    st.sources[nid].append(("bias", const, False))
    if view is not None:
        st.views[node.outputs[0]] = view
    else:
        st.alias(node.outputs[0], nid)


def mul(st: State, node: Node, span: Span) -> None:
    if gelu_step(st, node, span):
        return
    a_name, b_name = node.inputs[0], node.inputs[1]
    if st.is_const(b_name) or st.is_const(a_name):
        x_name, c_name = (a_name, b_name) if st.is_const(b_name) else (b_name, a_name)
        shape = st.const_dims(c_name)
        view = st.views.get(x_name)
        src = view[1] if view is not None and view[0] == "nhwc" else st.node_of(x_name)
        if view is not None and view[0] == "nhwc" and len(shape) == 1:
            shape = (shape[0], 1, 1)
        elif len(shape) == 4 and shape[0] == 1:
            shape = shape[1:]
        if not shape or shape[1:] not in ((), (1, 1)):
            raise Unsupported(f"multiplying by a constant of shape {shape} is not supported")
        nid = st.emit(
            Op.SCALE,
            ScaleAttrs(shape, 1.0),
            [src],
            node,
            span,
            c_name,
            out="" if view is not None else None,
        )
        if view is not None:
            st.views[node.outputs[0]] = view[:1] + (nid, 0)
        return
    ia, ib = st.node_of(a_name), st.node_of(b_name)
    for x, g in ((ia, ib), (ib, ia)):  # x * sigmoid(x) is SiLU, x * hardsigmoid(x) hardswish
        gate = st.nodes[g]
        if gate.inputs == (x,) and gate.op in (Op.SIGMOID, Op.HARDSIGMOID):
            op = Op.SILU if gate.op is Op.SIGMOID else Op.HARDSWISH
            st.emit(op, NoAttrs(), [x], node, span)
            st.absorbed.add(g)
            return
    st.emit(Op.MUL, NoAttrs(), [ia, ib], node, span)


def concat(st: State, node: Node, span: Span) -> None:
    srcs = [st.node_of(n) for n in node.inputs]
    rank = len(st.shapes[srcs[0]])
    if node.attrs["axis"].i % rank != 1:
        raise Unsupported("only a Concat along the channels is supported")
    st.emit(Op.CONCAT, AxisAttrs(1), srcs, node, span)


def flatten(st: State, node: Node, span: Span) -> None:
    if (node.attrs["axis"].i if "axis" in node.attrs else 1) != 1:
        raise Unsupported("only Flatten(axis=1) is supported")
    st.emit(Op.FLATTEN, AxisAttrs(1), [st.node_of(node.inputs[0])], node, span)


def reshape(st: State, node: Node, span: Span) -> None:
    name = node.inputs[0]
    target = st.value(node.inputs[1])
    items = (
        list(target.items)
        if target is not None and not isinstance(target, np.ndarray)
        else ([int(v) for v in target.reshape(-1)] if isinstance(target, np.ndarray) else None)
    )
    if items is None:
        raise Unsupported("its target shape is computed at run time")
    view = st.views.get(name)
    if view is not None and view[0] == "shuffled":
        if len(items) != len(st.shapes[view[1]]):
            raise Unsupported("a channel shuffle must end in the input's shape")
        st.emit(Op.SHUFFLE, ShuffleAttrs(view[2]), [view[1]], node, span)
        return
    if view is not None and view[0] == "s2d" and len(items) == 4:
        st.emit(Op.SPACE_TO_DEPTH, BlockAttrs(view[2]), [view[1]], node, span)
        return
    src = st.node_of(name)
    x = st.shapes[src]
    if len(x) == 4 and items == [-1, 1, 0, 0]:  # dslc's pixel_unshuffle: each channel alone
        st.views[node.outputs[0]] = ("per_channel", src, 0)
        return
    g, per = (items[1], items[2]) if len(items) in (4, 5) else (0, 0)
    if isinstance(g, int) and isinstance(per, int) and g > 0 and x[1:2] == (g * per,):
        st.views[node.outputs[0]] = ("grouped", src, g)  # a shuffle's first step
        return
    filled = [x[i] if d == 0 and i < len(x) else d for i, d in enumerate(items)]
    if list(x) == filled:
        st.alias(node.outputs[0], src)
        return
    if len(items) == 2 and len(x) > 2:
        flat = 1
        for d in x[1:]:
            flat = dims.mul(flat, d)  # type: ignore[assignment]
        if items[1] in (-1, flat) and (items[0] in (-1, x[0]) or items[1] == flat):
            st.emit(Op.FLATTEN, AxisAttrs(1), [src], node, span)
            return
    raise Unsupported(f"only a Reshape to N x features (flatten) is supported, not to {items}")


def transpose(st: State, node: Node, span: Span) -> None:
    perm = list(node.attrs["perm"].ints) if "perm" in node.attrs else []
    name = node.inputs[0]
    view = st.views.get(name)
    if (
        view is not None
        and view[0] == "grouped"
        and perm[:3] == [0, 2, 1]
        and perm[3:]
        in (
            [3],
            [3, 4],
        )
    ):
        st.views[node.outputs[0]] = ("shuffled", view[1], view[2])
    elif view is not None and view[0] == "nhwc" and perm == [0, 3, 1, 2]:
        st.alias(node.outputs[0], view[1])
    elif view is None and perm == [0, 2, 3, 1] and len(st.shape_of(name)) == 4:
        st.views[node.outputs[0]] = ("nhwc", st.node_of(name), 0)
    else:
        raise Unsupported(
            f"only a channel shuffle's or channels-last Transpose is supported ({perm})"
        )


def resize(st: State, node: Node, span: Span) -> None:
    src = st.node_of(node.inputs[0])
    x = st.shapes[src]
    at = 1 if node.op_type == "Upsample" else 2
    mode = node.attrs["mode"].s.decode() if "mode" in node.attrs else "nearest"
    ctm = node.attrs.get("coordinate_transformation_mode")
    align = ctm is not None and ctm.s == b"align_corners"
    kind = {"nearest": "nearest", "linear": "bilinear"}.get(mode)
    if kind is None:
        raise Unsupported(f"Resize mode '{mode}' is not supported")
    scales = st.floats(node.inputs[at]) if len(node.inputs) > at and node.inputs[at] else []
    if scales:
        if len(scales) != 4 or scales[:2] != [1.0, 1.0]:
            raise Unsupported(f"only a Resize of height and width is supported (scales {scales})")
        attrs = UpsampleAttrs(kind, (scales[2], scales[3]), None, align)
        st.emit(Op.UPSAMPLE, attrs, [src], node, span)
        return
    sizes = st.value(node.inputs[3]) if len(node.inputs) > 3 else None
    hw = (
        None
        if sizes is None
        else (list(sizes.items) if not isinstance(sizes, np.ndarray) else [int(v) for v in sizes])
    )
    if not hw:
        raise Unsupported("its sizes or scales are computed at run time")
    hw = hw[-2:]
    to = next((i for i, s in enumerate(st.shapes) if len(s) == 4 and list(s[2:]) == hw), None)
    if to is None or len(x) != 4:
        raise Unsupported(f"no tensor of size {hw} to resize to")
    st.emit(Op.UPSAMPLE, UpsampleAttrs(kind, None, to, align), [src, to], node, span)


def blocks(st: State, node: Node, span: Span) -> None:
    b = node.attrs["blocksize"].i
    mode = node.attrs["mode"].s.decode() if "mode" in node.attrs else "DCR"
    if node.op_type == "DepthToSpace" and mode != "CRD":
        raise Unsupported("only DepthToSpace in CRD mode (PyTorch's pixel_shuffle) is supported")
    view = st.views.get(node.inputs[0])
    if view is not None and view[0] == "per_channel" and node.op_type == "SpaceToDepth":
        st.views[node.outputs[0]] = ("s2d", view[1], b)
        return
    op = Op.DEPTH_TO_SPACE if node.op_type == "DepthToSpace" else Op.SPACE_TO_DEPTH
    st.emit(op, BlockAttrs(b), [st.node_of(node.inputs[0])], node, span)


def dropout(st: State, node: Node, span: Span) -> None:
    ratio = st.floats(node.inputs[1])[0] if len(node.inputs) > 1 and node.inputs[1] else 0.5
    if "ratio" in node.attrs:
        ratio = node.attrs["ratio"].f
    st.emit(Op.DROPOUT, ScalarAttrs(ratio), [st.node_of(node.inputs[0])], node, span)


def identity(st: State, node: Node, span: Span) -> None:
    name = node.inputs[0]
    if name in st.views:
        st.views[node.outputs[0]] = st.views[name]
    else:  # kept as a layer: a compiled model's identity (a no-op block) comes back as one
        st.emit(Op.IDENTITY, NoAttrs(), [st.node_of(name)], node, span)


ELEMENT_OPS = {
    **dict.fromkeys(
        (
            "Relu",
            "Sigmoid",
            "Tanh",
            "HardSwish",
            "LeakyRelu",
            "Elu",
            "HardSigmoid",
            "Gelu",
            "Softmax",
            "Clip",
            "PRelu",
        ),
        activation,
    ),
    "Add": add,
    "Sum": add,
    "Mul": mul,
    "Concat": concat,
    "Flatten": flatten,
    "Reshape": reshape,
    "Transpose": transpose,
    "Resize": resize,
    "Upsample": resize,
    "DepthToSpace": blocks,
    "SpaceToDepth": blocks,
    "Dropout": dropout,
    "Identity": identity,
}
