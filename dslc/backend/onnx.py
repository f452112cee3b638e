"""Graph + analysis + weights -> onnx.ModelProto. The only module that imports onnx."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, assert_never

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dslc import __version__
from dslc.backend.init import Drawn, initial, specs
from dslc.backend.settings import DEFAULT_OPSET, OPSETS
from dslc.ir.dims import Dim
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
    PoolAttrs,
    ScalarAttrs,
    UpsampleAttrs,
)
from dslc.ir.shapes import conv_out
from dslc.passes import Analysis


@dataclass
class _Emitter:
    """Accumulates ONNX nodes and initializers while walking the IR."""

    analysis: Analysis
    weights: Drawn  # every learned tensor, given or initialised
    dtype: type[np.floating[Any]] = np.float32
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    arrays: list[tuple[str, np.ndarray]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)

    def const(self, name: str, value: np.ndarray) -> str:
        """A constant as a Constant node (kept out of the initializers, which are parameters)."""
        self.nodes.append(
            helper.make_node(
                "Constant", [], [name], name=name, value=numpy_helper.from_array(value, name)
            )
        )
        return name

    def values(self, node: Node) -> dict[str, np.ndarray]:
        """The node's parameter tensors by kind (weight, bias, ...), loaded or initialised."""
        return {s.kind: initial(node, s) if s.fixed else self.weights[s.name] for s in specs(node)}

    def params(self, node: Node, values: Mapping[str, np.ndarray] | None = None) -> list[str]:
        """Create the node's initializers (in the model's dtype); return their names."""
        values = self.values(node) if values is None else values
        out = []
        for kind, array in values.items():
            name = f"{node.name}.{kind}"
            self.arrays.append((name, np.ascontiguousarray(array, self.dtype)))
            out.append(name)
        return out

    def floats(self, value: Any) -> np.ndarray:
        """A floating-point constant in the model's dtype."""
        return np.asarray(value, self.dtype)

    def emit(self, op: str, node: Node, inputs: list[str], **attrs: Any) -> None:
        """Append one ONNX node computing `node`'s output."""
        self.nodes.append(
            helper.make_node(op, inputs, [self.names[node.id]], name=node.name, **attrs)
        )


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


def _avgpool(e: _Emitter, node: Node, a: PoolAttrs, x: str) -> None:
    """Average pooling. In ceil mode with count_include_pad, PyTorch divides by the window
    clipped to the padded input; zero-padding explicitly, then averaging over the valid
    cells with the overhang as extra (uncounted) padding, is exactly that."""
    shape = e.analysis.shapes[node.inputs[0]]
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
    e.nodes.append(
        helper.make_node("Pad", [x, pad], [f"{node.name}.padded"], name=f"{node.name}.padded")
    )
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


def _emit_node(e: _Emitter, node: Node) -> None:
    a = node.attrs
    xs = [e.names[i] for i in node.inputs]
    match node.op:
        case Op.INPUT:
            return
        case Op.CONV:
            assert isinstance(a, ConvAttrs)
            e.emit("Conv", node, xs + e.params(node), **_conv_attrs(a))
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
            e.emit(
                "MaxPool",
                node,
                xs,
                dilations=list(a.dilation),
                **_pool_attrs(a, e.analysis.shapes[node.inputs[0]], True),
            )
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
        case _:
            assert_never(node.op)


def _resize(e: _Emitter, node: Node, a: UpsampleAttrs, xs: list[str]) -> None:
    if a.mode == "nearest":
        attrs: dict[str, Any] = {
            "mode": "nearest",
            "coordinate_transformation_mode": "asymmetric",
            "nearest_mode": "floor",
        }
    else:
        attrs = {
            "mode": "linear",
            "coordinate_transformation_mode": "align_corners"
            if a.align_corners
            else "pytorch_half_pixel",
        }
    n = node.name
    if a.scale is not None and all(float(f).is_integer() for f in a.scale):
        scales = e.const(f"{n}.scales", np.array([1, 1, *a.scale], np.float32))
        e.emit("Resize", node, [xs[0], "", scales], **attrs)
        return
    e.nodes.append(helper.make_node("Shape", [xs[0]], [f"{n}.nc"], name=f"{n}.nc", end=2))
    if a.scale is not None:  # a fractional factor: the size is PyTorch's floor(H * factor)
        out = e.analysis.shapes[node.id]
        e.const(f"{n}.hw", np.array(out[2:], np.int64))
    else:
        e.nodes.append(helper.make_node("Shape", [xs[1]], [f"{n}.hw"], name=f"{n}.hw", start=2))
    e.nodes.append(
        helper.make_node(
            "Concat", [f"{n}.nc", f"{n}.hw"], [f"{n}.sizes"], name=f"{n}.sizes", axis=0
        )
    )
    e.emit("Resize", node, [xs[0], "", "", f"{n}.sizes"], **attrs)


def _adaptive(e: _Emitter, node: Node, a: AdaptivePoolAttrs, x: str) -> None:
    shape = e.analysis.shapes[node.inputs[0]]
    h, w = shape[2], shape[3]
    if (h, w) == a.size:
        e.emit("Identity", node, [x])
        return
    if isinstance(h, int) and isinstance(w, int) and h % a.size[0] == 0 and w % a.size[1] == 0:
        k = [h // a.size[0], w // a.size[1]]
        e.emit("AveragePool", node, [x], kernel_shape=k, strides=k)
        return
    assert isinstance(h, int) and isinstance(w, int)
    rows = e.const(f"{node.name}.rows", e.floats(_averaging(h, a.size[0])))
    cols = e.const(f"{node.name}.cols", e.floats(_averaging(w, a.size[1]).T.copy()))
    e.nodes.append(helper.make_node("MatMul", [rows, x], [f"{node.name}.r"], name=f"{node.name}.r"))
    e.emit("MatMul", node, [f"{node.name}.r", cols])


def _averaging(n: int, out: int) -> np.ndarray:
    """PyTorch's adaptive pooling windows as an out x n averaging matrix."""
    m = np.zeros((out, n), np.float32)
    for i in range(out):
        lo, hi = (i * n) // out, -(-(i + 1) * n // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


DTYPES: dict[str, type[np.floating[Any]]] = {"float32": np.float32, "float16": np.float16}
_ELEM: dict[type[np.floating[Any]], int] = {
    np.float32: TensorProto.FLOAT,
    np.float16: TensorProto.FLOAT16,
}


def _value_info(name: str, shape: tuple[Dim, ...], dtype: str = "float32") -> onnx.ValueInfoProto:
    dims = [d if isinstance(d, int) else str(d) for d in shape]
    return helper.make_tensor_value_info(name, _ELEM[DTYPES[dtype]], dims)


def build(
    analysis: Analysis,
    *,
    opset: int = DEFAULT_OPSET,
    seed: int = 0,
    init: str = "pytorch",
    weights: Mapping[str, np.ndarray] | None = None,
    optimize: bool = False,
    dtype: str = "float32",
    io_dtype: str | None = None,
) -> tuple[onnx.ModelProto, list[tuple[str, np.ndarray]]]:
    """The model without its initializers, and the initializers as named arrays.

    optimize: the inference graph — batch norm folded into the convolution before it,
    dropout and identities dropped; results differ from the plain graph by float rounding.
    dtype: the type of the weights and of the computation (float32 or float16); io_dtype:
    the type of the model's inputs and outputs (default: dtype), with Casts where they differ.
    """
    if opset not in OPSETS:
        raise ValueError(f"opset {opset} is not supported; use {OPSETS.start}-{OPSETS.stop - 1}")
    if dtype not in DTYPES or (io_dtype is not None and io_dtype not in DTYPES):
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")
    io_dtype = io_dtype or dtype
    g = analysis.graph
    e = _Emitter(analysis, Drawn(g.nodes, init, seed, weights), DTYPES[dtype])
    out_names = _output_names(analysis)
    cast = io_dtype != dtype
    for node in g.nodes:
        if node.op is Op.INPUT:  # an input keeps its name, even when it is also the output
            e.names[node.id] = f"{node.name}.{dtype}" if cast else node.name
        else:
            name = out_names.get(node.id, node.name)
            e.names[node.id] = f"{name}.{dtype}" if cast and node.id in out_names else name
    if cast:
        for i in g.inputs:
            e.nodes.append(
                helper.make_node(
                    "Cast", [g.node(i).name], [e.names[i]], name=e.names[i], to=_ELEM[DTYPES[dtype]]
                )
            )
    plan = _plan(analysis) if optimize else _Plan({}, {})
    for node in g.nodes:
        if node.id in plan.folded_into:
            continue  # emitted with the batch norm that follows it
        if node.id in plan.alias and node.id not in out_names:
            e.names[node.id] = e.names[node.inputs[0]]
            continue
        if node.id in plan.fold:
            _emit_folded(e, g.node(plan.fold[node.id]), node)
            continue
        if node.id in plan.alias:  # an output: keep its name
            e.nodes.append(
                helper.make_node(
                    "Identity", [e.names[node.inputs[0]]], [e.names[node.id]], name=node.name
                )
            )
            continue
        _emit_node(e, node)
    for i in g.outputs:
        if g.node(i).op is Op.INPUT or cast:
            # a network whose body vanished (relu * 0) passes its input through; with io_dtype
            # the output is cast back
            op = "Cast" if cast else "Identity"
            attrs: dict[str, Any] = {"to": _ELEM[DTYPES[io_dtype]]} if cast else {}
            e.nodes.append(
                helper.make_node(op, [e.names[i]], [out_names[i]], name=out_names[i], **attrs)
            )
    model = onnx.ModelProto()
    model.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    model.producer_name, model.producer_version = "dslc", __version__
    model.opset_import.append(helper.make_opsetid("", opset))
    graph = model.graph
    graph.name = g.name
    graph.node.extend(e.nodes)
    graph.input.extend(_value_info(g.node(i).name, analysis.shapes[i], io_dtype) for i in g.inputs)
    graph.output.extend(_value_info(out_names[i], analysis.shapes[i], io_dtype) for i in g.outputs)
    helper.set_model_props(
        model,
        {
            "dslc.version": __version__,
            "dslc.source": g.source_text,
            "dslc.network": g.name,
            "dslc.init": init,
            "dslc.seed": str(seed),
            "dslc.optimize": str(optimize).lower(),
            "dslc.dtype": dtype,
        },
    )
    return model, e.arrays


@dataclass(frozen=True, slots=True)
class _Plan:
    """What --optimize changes: batch norms folded into convs, nodes that pass through."""

    fold: dict[int, int]  # batch norm id -> conv id
    alias: dict[int, int]  # dropout / identity id -> its input's id
    folded_into: frozenset[int] = frozenset()  # the convs emitted with their batch norm


def _plan(analysis: Analysis) -> _Plan:
    g = analysis.graph
    consumers = g.consumers()
    outputs = set(g.outputs)
    fold: dict[int, int] = {}
    alias: dict[int, int] = {}
    for node in g.nodes:
        if node.op in (Op.DROPOUT, Op.IDENTITY) and len(node.inputs) == 1:
            alias[node.id] = node.inputs[0]
        elif node.op is Op.BATCHNORM:
            src = g.node(node.inputs[0])
            if (
                src.op is Op.CONV
                and consumers.get(src.id) == [node.id]
                and src.id not in outputs
                and len(analysis.shapes[src.id]) == 4
            ):
                fold[node.id] = src.id
    return _Plan(fold, alias, frozenset(fold.values()))


def _emit_folded(e: _Emitter, conv: Node, bn: Node) -> None:
    """conv -> bn as one conv: W' = W * s, b' = (b - mean) * s + beta, s = gamma/sqrt(var+eps)."""
    a, norm = conv.attrs, bn.attrs
    assert isinstance(a, ConvAttrs) and isinstance(norm, BatchNormAttrs)
    cv, bv = e.values(conv), e.values(bn)
    scale = bv["weight"].astype(np.float64) / np.sqrt(
        bv["running_var"].astype(np.float64) + norm.eps
    )
    # computed in float64 and rounded once to the model's dtype, as astype(float64) * scale
    # would, but a block at a time: no float64 copy of the whole weight (resnet50 0.44 -> 0.20 s);
    # a freshly drawn weight is overwritten rather than copied (no new pages to fault in)
    w = cv["weight"]
    mine = e.weights.mine(f"{conv.name}.weight")
    out = w if mine and w.dtype == e.dtype else np.empty(w.shape, e.dtype)
    weight = np.multiply(
        w, scale[:, None, None, None], dtype=np.float64, out=out, casting="same_kind"
    )
    bias = cv.get("bias", np.zeros(a.out_channels)).astype(np.float64)
    bias = (bias - bv["running_mean"]) * scale + bv["bias"]
    names = e.params(conv, {"weight": weight, "bias": bias})
    e.nodes.append(
        helper.make_node(
            "Conv",
            [e.names[conv.inputs[0]], *names],
            [e.names[bn.id]],
            name=conv.name,
            **_conv_attrs(a),
        )
    )


def _conv_attrs(a: ConvAttrs) -> dict[str, Any]:
    return {
        "kernel_shape": list(a.kernel),
        "strides": list(a.stride),
        "pads": list(a.pads),
        "dilations": list(a.dilation),
        "group": a.groups,
    }


def to_onnx(
    analysis: Analysis,
    *,
    opset: int = DEFAULT_OPSET,
    seed: int = 0,
    init: str = "pytorch",
    weights: Mapping[str, np.ndarray] | None = None,
    optimize: bool = False,
    dtype: str = "float32",
    io_dtype: str | None = None,
) -> onnx.ModelProto:
    """Build the ONNX model: hierarchical names, seeded weights, the source in metadata."""
    model, arrays = build(
        analysis,
        opset=opset,
        seed=seed,
        init=init,
        weights=weights,
        optimize=optimize,
        dtype=dtype,
        io_dtype=io_dtype,
    )
    model.graph.initializer.extend(numpy_helper.from_array(a, name) for name, a in arrays)
    return model


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(field_number: int, length: int) -> bytes:
    """The key and length prefix of a length-delimited protobuf field."""
    return _varint(field_number << 3 | 2) + _varint(length)


def write(model: onnx.ModelProto, arrays: list[tuple[str, np.ndarray]], out: BinaryIO) -> None:
    """Stream a model and its initializers as protobuf without copying the weights in memory.

    The graph field is written last and each tensor's raw bytes straight from numpy; protobuf
    readers accept fields in any order, and the bytes are deterministic.
    """
    head = onnx.ModelProto()
    head.CopyFrom(model)
    head.ClearField("graph")
    graph = model.graph.SerializeToString(deterministic=True)
    tensors = []
    for name, array in arrays:
        proto = onnx.TensorProto(name=name, dims=array.shape, data_type=_elem(array))
        header = proto.SerializeToString(deterministic=True) + _key(9, array.nbytes)
        tensors.append((header, array))
    sizes = [len(h) + a.nbytes for h, a in tensors]
    total = len(graph) + sum(len(_key(5, n)) + n for n in sizes)
    out.write(head.SerializeToString(deterministic=True))
    out.write(_key(7, total))
    out.write(graph)
    for (header, array), size in zip(tensors, sizes):
        out.write(_key(5, size))
        out.write(header)
        raw = _little(array)
        out.write(memoryview(raw).cast("B"))  # type: ignore[arg-type]


def write_external(
    model: onnx.ModelProto,
    arrays: list[tuple[str, np.ndarray]],
    out: BinaryIO,
    data: BinaryIO,
    location: str,
) -> None:
    """Write a model whose initializers live in a separate file (ONNX external data).

    `location` is the data file's name relative to the model, as ONNX Runtime resolves it.
    Each tensor starts at a multiple of 4096 bytes, so it can be memory-mapped.
    """
    model = _shallow_copy(model)
    offset = 0
    for name, array in arrays:
        pad = -offset % 4096
        data.write(b"\0" * pad)
        offset += pad
        raw = _little(array)
        data.write(memoryview(raw).cast("B"))  # type: ignore[arg-type]
        tensor = model.graph.initializer.add()
        tensor.name, tensor.data_type = name, _elem(array)
        tensor.dims.extend(array.shape)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (
            ("location", location),
            ("offset", str(offset)),
            ("length", str(raw.nbytes)),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        offset += raw.nbytes
    out.write(model.SerializeToString(deterministic=True))


def _elem(array: np.ndarray) -> int:
    """The ONNX element type of a float32 or float16 array."""
    return TensorProto.FLOAT16 if array.dtype == np.float16 else TensorProto.FLOAT


def _little(array: np.ndarray) -> np.ndarray:
    """The array's bytes in little-endian order, as ONNX's raw_data stores them."""
    return np.ascontiguousarray(array, array.dtype.newbyteorder("<"))


def _shallow_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _output_names(analysis: Analysis) -> dict[int, str]:
    g = analysis.graph
    if len(g.outputs) == 1 and not g.output_names:
        return {g.outputs[0]: "output"}
    return dict(zip(g.outputs, g.output_names, strict=True))


def serialize(model: onnx.ModelProto) -> bytes:
    """Deterministic bytes of a model."""
    data: bytes = model.SerializeToString(deterministic=True)
    return data
