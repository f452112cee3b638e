"""Shape inference: one small rule per op family, batch and H/W possibly symbolic."""

from __future__ import annotations

from typing import assert_never

from dslc.diagnostics import DiagnosticError
from dslc.ir import channel_shapes, dims
from dslc.ir.dims import Dim
from dslc.ir.graph import (
    Graph,
    Node,
)
from dslc.ir.ops import (
    AdaptivePoolAttrs,
    AxisAttrs,
    BatchNormAttrs,
    BlockAttrs,
    ChannelSliceAttrs,
    ConvAttrs,
    DeconvAttrs,
    DenseAttrs,
    InputAttrs,
    LayerNormAttrs,
    Op,
    OpaqueAttrs,
    PadChannelsAttrs,
    PoolAttrs,
    PreluAttrs,
    ScaleAttrs,
    ShuffleAttrs,
    UpsampleAttrs,
)

__all__ = [
    "Shape",
    "Shapes",
    "conv_out",
    "deconv_out",
    "infer_shapes",
    "is_spatial",
    "node_shape",
    "show",
]

Shape = tuple[Dim, ...]
Shapes = dict[int, Shape]


def show(shape: Shape) -> str:
    """A shape as `N x 64 x 56 x 56`."""
    return " x ".join(dims.show(d) for d in shape)


def conv_out(
    size: Dim, k: int, stride: int, dilation: int, pad_begin: int, pad_end: int, ceil: bool = False
) -> Dim:
    """Output size of a convolution or pooling window along one axis (PyTorch's rule)."""
    span = dilation * (k - 1) + 1
    room = dims.add(size, pad_begin + pad_end - span)
    out = dims.add(dims.ceildiv(room, stride) if ceil else dims.floordiv(room, stride), 1)
    # PyTorch's ceil mode: the last window must start inside the input (or its left padding);
    # on a symbolic size (divisible, as above) the symbols cancel and the test is as exact
    if ceil:
        past = dims.sub(dims.mul(dims.add(out, -1), stride), dims.add(size, pad_begin))
        if isinstance(past, int) and past >= 0:
            out = dims.add(out, -1)
    return out


def deconv_out(
    size: Dim, k: int, stride: int, dilation: int, pad_begin: int, pad_end: int, output_padding: int
) -> Dim:
    """Output size of a transposed convolution along one axis."""
    grown = dims.mul(dims.sub(size, 1), stride)
    return dims.add(grown, dilation * (k - 1) + output_padding + 1 - pad_begin - pad_end)


def _spatial(node: Node, x: Shape) -> None:
    if len(x) != 4:
        what = "a flat (N, features) tensor" if len(x) == 2 else f"a rank-{len(x)} tensor"
        raise DiagnosticError(
            "E0307",
            f"{node.op.value} needs an N x C x H x W input, got {what} ({show(x)})",
            None,
            "spatial layers must come before 'flatten'",
        )


def _check_size(node: Node, x: Shape, out: Shape) -> Shape:
    for axis, d in zip(("height", "width"), out[2:]):
        if isinstance(d, int) and d <= 0:
            raise DiagnosticError(
                "E0305",
                f"{node.op.value} '{node.name}' shrinks the {axis} to {d}: its input is "
                f"{show(x[2:])}, too small for this "
                + ("factor" if node.op is Op.UPSAMPLE else "window"),
                None,
                "use a larger input, or more padding / a smaller kernel or stride earlier",
            )
    return out


def _conv(node: Node, a: ConvAttrs, x: Shape) -> Shape:
    _spatial(node, x)
    if x[1] != a.in_channels:
        raise DiagnosticError("E0308", f"conv expects {a.in_channels} input channels, got {x[1]}")
    t, l, b, r = a.pads
    h = conv_out(x[2], a.kernel[0], a.stride[0], a.dilation[0], t, b)
    w = conv_out(x[3], a.kernel[1], a.stride[1], a.dilation[1], l, r)
    return _check_size(node, x, (x[0], a.out_channels, h, w))


def _deconv(node: Node, a: DeconvAttrs, x: Shape) -> Shape:
    _spatial(node, x)
    t, l, b, r = a.pads
    h = deconv_out(x[2], a.kernel[0], a.stride[0], a.dilation[0], t, b, a.output_padding[0])
    w = deconv_out(x[3], a.kernel[1], a.stride[1], a.dilation[1], l, r, a.output_padding[1])
    return _check_size(node, x, (x[0], a.out_channels, h, w))


def _pool(node: Node, a: PoolAttrs, x: Shape) -> Shape:
    _spatial(node, x)
    t, l, b, r = a.pads
    h = conv_out(x[2], a.kernel[0], a.stride[0], a.dilation[0], t, b, a.ceil)
    w = conv_out(x[3], a.kernel[1], a.stride[1], a.dilation[1], l, r, a.ceil)
    return _check_size(node, x, (x[0], x[1], h, w))


def _dense(a: DenseAttrs, x: Shape) -> Shape:
    if len(x) != 2:
        raise DiagnosticError(
            "E0306",
            f"dense needs a flat (N, features) input, got {show(x)}",
            None,
            "insert 'flatten' before it (or 'gap -> flatten' to pool first)",
        )
    if x[1] != a.in_features:
        raise DiagnosticError("E0308", f"dense expects {a.in_features} features, got {x[1]}")
    return (x[0], a.out_features)


def _flatten(x: Shape) -> Shape:
    size: Dim = 1
    for d in x[1:]:
        size = dims.mul(size, d)
    return (x[0], size)


def _upsample(node: Node, a: UpsampleAttrs, x: Shape, ins: list[Shape]) -> Shape:
    _spatial(node, x)
    if a.to is not None:
        target = ins[1]
        return (x[0], x[1], target[2], target[3])
    assert a.scale is not None
    out = (x[0], x[1], _scaled(x[2], a.scale[0]), _scaled(x[3], a.scale[1]))
    return _check_size(node, x, out)


def _scaled(d: Dim, factor: float) -> Dim:
    if float(factor).is_integer():
        return dims.mul(d, int(factor))
    if isinstance(d, int):
        return int(d * factor)
    raise DiagnosticError(
        "E0309",
        f"a symbolic size {d} can only be scaled by a whole factor",
        None,
        "use a whole factor, or upsample(to=NAME) to match a named tensor",
    )


def _merge(node: Node, ins: list[Shape]) -> Shape:
    first = ins[0]
    if node.op is Op.ADD:
        for i, s in enumerate(ins[1:], 2):
            if s != first:
                raise DiagnosticError(
                    "E0302",
                    f"branches of '{node.name}' disagree: branch 1 gives "
                    f"{show(first)}, branch {i} gives {show(s)}",
                )
        return first
    for i, s in enumerate(ins[1:], 2):
        if len(s) != len(first) or s[:1] + s[2:] != first[:1] + first[2:]:
            raise DiagnosticError(
                "E0303",
                f"concat '{node.name}' needs equal spatial sizes: branch 1 gives "
                f"{show(first)}, branch {i} gives {show(s)}",
                None,
                "pad or pool the branches so their H x W agree",
            )
    channels: Dim = 0
    for s in ins:
        channels = dims.add(channels, s[1])
    return (first[0], channels, *first[2:])


def _is_gate(s: Shape) -> bool:
    return len(s) == 4 and s[2:] == (1, 1)


def _broadcast(node: Node, ins: list[Shape]) -> Shape:
    """mul: equal shapes, or N x C x H x W maps times N x C x 1 x 1 ones (a gate)."""
    full = [s for s in ins if not _is_gate(s)] or ins
    out = full[0]
    for i, s in enumerate(ins, 1):
        if s != out and not (_is_gate(s) and len(out) == 4 and s[:2] == out[:2]):
            raise DiagnosticError(
                "E0302",
                f"branches of '{node.name}' do not multiply: branch {ins.index(out) + 1} "
                f"gives {show(out)}, branch {i} gives {show(s)}",
                None,
                "mul<...> multiplies equal shapes, or an N x C x H x W map by an "
                "N x C x 1 x 1 one (e.g. gate<gap -> conv1x1(C) -> sigmoid>)",
            )
    return out


def _per_channel(node: Node, x: Shape, channels: int, what: str) -> Shape:
    """Layers with one value per channel (or per feature of a flat tensor)."""
    if len(x) not in (2, 4):
        raise DiagnosticError(
            "E0307", f"{node.op.value} needs an N x C x H x W or a flat N x F input, got {show(x)}"
        )
    if x[1] != channels:
        raise DiagnosticError("E0308", f"{node.op.value} expects {channels} {what}, got {show(x)}")
    return x


def _new_op_shape(node: Node, x: Shape, ins: list[Shape]) -> Shape:
    """The shape rules of the ops added with issue 12."""
    a = node.attrs
    match node.op:
        case Op.MUL:
            return _broadcast(node, ins)
        case Op.PRELU:
            assert isinstance(a, PreluAttrs)
            return x if a.slopes == 1 else _per_channel(node, x, a.slopes, "channels")
        case Op.LAYERNORM:
            assert isinstance(a, LayerNormAttrs)
            return _per_channel(node, x, a.channels, "channels")
        case Op.LINEAR:
            assert isinstance(a, DenseAttrs)
            _per_channel(node, x, a.in_features, "channels")
            return (x[0], a.out_features, *x[2:])
        case Op.SCALE:
            assert isinstance(a, ScaleAttrs)
            _per_channel(node, x, a.shape[0], "channels")
            if len(a.shape) != len(x) - 1:
                raise DiagnosticError("E0308", f"scale of shape {a.shape} does not fit {show(x)}")
            return x
        case _:  # silu, hardswish, hardsigmoid, gelu, stochastic depth
            return x


def node_shape(node: Node, ins: list[Shape]) -> Shape:
    """The output shape of `node` given its inputs' shapes.

    Raises DiagnosticError without a span: the caller knows where the node was written."""
    a = node.attrs
    x = ins[0] if ins else ()
    match node.op:
        case Op.INPUT:
            assert isinstance(a, InputAttrs)
            return a.shape
        case Op.CONV:
            assert isinstance(a, ConvAttrs)
            return _conv(node, a, x)
        case Op.DECONV:
            assert isinstance(a, DeconvAttrs)
            return _deconv(node, a, x)
        case Op.MAXPOOL | Op.AVGPOOL:
            assert isinstance(a, PoolAttrs)
            return _pool(node, a, x)
        case Op.GLOBAL_AVGPOOL | Op.GLOBAL_MAXPOOL:
            _spatial(node, x)
            return (x[0], x[1], 1, 1)
        case Op.ADAPTIVE_AVGPOOL:
            assert isinstance(a, AdaptivePoolAttrs)
            _spatial(node, x)
            return (x[0], x[1], *a.size)
        case Op.BATCHNORM:
            assert isinstance(a, BatchNormAttrs)
            if len(x) < 2 or x[1] != a.channels:
                raise DiagnosticError("E0308", f"bn expects {a.channels} channels, got {show(x)}")
            return x
        case Op.LRN:
            _spatial(node, x)
            return x
        case (
            Op.DROPOUT
            | Op.RELU
            | Op.LEAKY_RELU
            | Op.RELU6
            | Op.SIGMOID
            | Op.TANH
            | Op.ELU
            | Op.SOFTMAX
            | Op.IDENTITY
        ):
            return x
        case Op.FLATTEN:
            assert isinstance(a, AxisAttrs)
            return _flatten(x)
        case Op.DENSE:
            assert isinstance(a, DenseAttrs)
            return _dense(a, x)
        case Op.UPSAMPLE:
            assert isinstance(a, UpsampleAttrs)
            return _upsample(node, a, x, ins)
        case Op.ADD | Op.CONCAT:
            return _merge(node, ins)
        case Op.CHANNELS:
            assert isinstance(a, ChannelSliceAttrs)
            return channel_shapes.channel_slice(a, x)
        case Op.SHUFFLE:
            assert isinstance(a, ShuffleAttrs)
            return channel_shapes.shuffle(a, x)
        case Op.SPACE_TO_DEPTH:
            assert isinstance(a, BlockAttrs)
            return channel_shapes.space_to_depth(a, x)
        case Op.DEPTH_TO_SPACE:
            assert isinstance(a, BlockAttrs)
            return channel_shapes.depth_to_space(a, x)
        case Op.PAD_CHANNELS:
            assert isinstance(a, PadChannelsAttrs)
            return channel_shapes.pad_channels(a, x)
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
            return _new_op_shape(node, x, ins)
        case Op.OPAQUE:
            assert isinstance(a, OpaqueAttrs)
            return a.shape
        case _:
            assert_never(node.op)


def infer_shapes(graph: Graph) -> Shapes:
    """Every node's output shape. The graph must have come out of expansion without errors."""
    shapes: Shapes = {}
    for node in graph.nodes:
        shapes[node.id] = node_shape(node, [shapes[i] for i in node.inputs])
    return shapes


def is_spatial(shape: Shape) -> bool:
    """True for an N x C x H x W map."""
    return len(shape) == 4
