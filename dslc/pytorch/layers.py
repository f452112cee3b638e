"""Each IR op as PyTorch code: a module to construct (`nn.Conv2d(3, 64, 7, ...)`), or an
expression in forward for the ops that merge tensors or hold a bare parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from dslc.diagnostics import CompileError, Diagnostic
from dslc.ir.dims import Dim
from dslc.ir.graph import Node
from dslc.ir.ops import (
    AdaptivePoolAttrs,
    AxisAttrs,
    BatchNormAttrs,
    BlockAttrs,
    ChannelSliceAttrs,
    ConvAttrs,
    DeconvAttrs,
    DenseAttrs,
    GeluAttrs,
    LayerNormAttrs,
    LrnAttrs,
    Op,
    PadChannelsAttrs,
    PoolAttrs,
    PreluAttrs,
    ScalarAttrs,
    ScaleAttrs,
    ShuffleAttrs,
    StochasticDepthAttrs,
    UpsampleAttrs,
)

__all__ = ["Code", "Shapes", "code_of", "num"]

Shapes = dict[int, tuple[Dim, ...]]


@dataclass(frozen=True, slots=True)
class Code:
    """A layer as code: `module` is a constructor (called in forward as self.NAME(x)), or
    `expr` a forward expression with {0}, {1}, ... for the inputs ({p} for the parameter).
    `helpers` name the classes of dslc.pytorch.helpers it needs."""

    module: str | None = None
    expr: str | None = None
    helpers: tuple[str, ...] = ()
    param: str | None = None  # a bare parameter's constructor (scale)


def num(v: float) -> str:
    """A number as Python writes it back exactly (the repr of a float round-trips)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return repr(float(v))


def _pair(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"({p[0]}, {p[1]})"


def _kw(**kw: str | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in kw.items() if v is not None)


def _args(*pos: str, **kw: str | None) -> str:
    return ", ".join([*pos, *([_kw(**kw)] if _kw(**kw) else [])])


def _sym(pads: tuple[int, int, int, int]) -> bool:
    return pads[0] == pads[2] and pads[1] == pads[3]


def code_of(node: Node, shapes: Shapes) -> Code:
    """The code of one node (not INPUT)."""
    a = node.attrs
    rank = len(shapes[node.inputs[0]]) if node.inputs else 4
    match node.op:
        case Op.INPUT:
            raise ValueError("an input has no code")
        case Op.CONV:
            assert isinstance(a, ConvAttrs)
            return _conv(a)
        case Op.DECONV:
            assert isinstance(a, DeconvAttrs)
            return _deconv(a)
        case Op.MAXPOOL | Op.AVGPOOL:
            assert isinstance(a, PoolAttrs)
            return _pool(node.op, a)
        case Op.GLOBAL_AVGPOOL:
            return Code("nn.AdaptiveAvgPool2d(1)")
        case Op.GLOBAL_MAXPOOL:
            return Code("nn.AdaptiveMaxPool2d(1)")
        case Op.ADAPTIVE_AVGPOOL:
            assert isinstance(a, AdaptivePoolAttrs)
            return Code(f"nn.AdaptiveAvgPool2d({_pair(a.size)})")
        case Op.BATCHNORM:
            assert isinstance(a, BatchNormAttrs)
            kind = "BatchNorm1d" if rank == 2 else "BatchNorm2d"
            args = _args(str(a.channels), eps=num(a.eps), momentum=num(a.momentum))
            return Code(f"{kind}({args})", helpers=(kind,))
        case Op.LRN:
            assert isinstance(a, LrnAttrs)
            args = _args(str(a.size), alpha=num(a.alpha), beta=num(a.beta), k=num(a.k))
            return Code(f"nn.LocalResponseNorm({args})")
        case Op.DROPOUT:
            assert isinstance(a, ScalarAttrs)
            return Code(f"nn.Dropout(p={num(a.value)})")
        case Op.RELU | Op.RELU6 | Op.SIGMOID | Op.TANH | Op.IDENTITY:
            return Code(f"nn.{_PLAIN[node.op]}()")
        case Op.SILU | Op.HARDSWISH | Op.HARDSIGMOID:
            return Code(f"nn.{_PLAIN[node.op]}()")
        case Op.LEAKY_RELU:
            assert isinstance(a, ScalarAttrs)
            return Code(f"nn.LeakyReLU({num(a.value)})")
        case Op.ELU:
            assert isinstance(a, ScalarAttrs)
            return Code(f"nn.ELU({num(a.value)})")
        case Op.SOFTMAX:
            assert isinstance(a, AxisAttrs)
            return Code(f"nn.Softmax(dim={a.axis})")
        case Op.FLATTEN:
            assert isinstance(a, AxisAttrs)
            return Code("nn.Flatten()" if a.axis == 1 else f"nn.Flatten({a.axis})")
        case Op.DENSE:
            assert isinstance(a, DenseAttrs)
            bias = None if a.bias else "False"
            return Code(f"nn.Linear({_args(str(a.in_features), str(a.out_features), bias=bias)})")
        case Op.UPSAMPLE:
            assert isinstance(a, UpsampleAttrs)
            return _upsample(a, shapes[node.id])
        case Op.ADD:
            return Code(expr=" + ".join(f"{{{k}}}" for k in range(len(node.inputs))))
        case Op.MUL:
            return Code(expr=" * ".join(f"{{{k}}}" for k in range(len(node.inputs))))
        case Op.CONCAT:
            assert isinstance(a, AxisAttrs)
            items = ", ".join(f"{{{k}}}" for k in range(len(node.inputs)))
            return Code(expr=f"torch.cat([{items}], dim={a.axis})")
        case Op.CHANNELS:
            assert isinstance(a, ChannelSliceAttrs)
            return Code(f"Channels({a.start}, {a.stop})", helpers=("Channels",))
        case Op.SHUFFLE:
            assert isinstance(a, ShuffleAttrs)
            return Code(f"ChannelShuffle({a.groups})", helpers=("ChannelShuffle",))
        case Op.SPACE_TO_DEPTH:
            assert isinstance(a, BlockAttrs)
            return Code(f"nn.PixelUnshuffle({a.block})")
        case Op.DEPTH_TO_SPACE:
            assert isinstance(a, BlockAttrs)
            return Code(f"nn.PixelShuffle({a.block})")
        case Op.PAD_CHANNELS:
            assert isinstance(a, PadChannelsAttrs)
            return Code(f"PadChannels({a.before}, {a.after})", helpers=("PadChannels",))
        case Op.GELU:
            assert isinstance(a, GeluAttrs)
            return Code('nn.GELU(approximate="tanh")' if a.tanh else "nn.GELU()")
        case Op.PRELU:
            assert isinstance(a, PreluAttrs)
            return Code("nn.PReLU()" if a.slopes == 1 else f"nn.PReLU({a.slopes})")
        case Op.LAYERNORM:
            assert isinstance(a, LayerNormAttrs)
            kind = "nn.LayerNorm" if rank == 2 else "LayerNorm2d"
            helpers = () if rank == 2 else ("LayerNorm2d",)
            return Code(f"{kind}({a.channels}, eps={num(a.eps)})", helpers=helpers)
        case Op.LINEAR:
            assert isinstance(a, DenseAttrs)
            kind = "nn.Linear" if rank == 2 else "ChannelLinear"
            helpers = () if rank == 2 else ("ChannelLinear",)
            bias = None if a.bias else "False"
            args = _args(str(a.in_features), str(a.out_features), bias=bias)
            return Code(f"{kind}({args})", helpers=helpers)
        case Op.SCALE:
            assert isinstance(a, ScaleAttrs)
            shape = ", ".join(str(d) for d in a.shape) + ("," if len(a.shape) == 1 else "")
            init = f"nn.Parameter(torch.full(({shape}), {num(a.init)}))"
            return Code(expr="{0} * {p}", param=init)
        case Op.STOCHASTIC_DEPTH:
            assert isinstance(a, StochasticDepthAttrs)
            return Code(f'StochasticDepth({num(a.p)}, "{a.mode}")', helpers=("StochasticDepth",))
        case Op.OPAQUE:  # an imported ONNX op dslc has no layer for: no module to write
            message = f"'{node.name}' is an ONNX op dslc has no layer for: it has no module"
            raise CompileError([Diagnostic("E0802", message, node.span)])
        case _:
            assert_never(node.op)


_PLAIN = {
    Op.RELU: "ReLU",
    Op.RELU6: "ReLU6",
    Op.SIGMOID: "Sigmoid",
    Op.TANH: "Tanh",
    Op.IDENTITY: "Identity",
    Op.SILU: "SiLU",
    Op.HARDSWISH: "Hardswish",
    Op.HARDSIGMOID: "Hardsigmoid",
}


def _conv(a: ConvAttrs) -> Code:
    kind: str = "nn.Conv2d"
    helpers: tuple[str, ...] = ()
    pad: str | None = _pair((a.pads[0], a.pads[1]))
    pads: str | None = None
    if not _sym(a.pads):
        kind, helpers, pad, pads = "PadConv2d", ("PadConv2d",), None, str(a.pads)
    if a.fixed_weight is not None:
        kind, helpers = "FixedConv2d", ("FixedConv2d",)
        bias = "None" if a.fixed_bias is None else num(a.fixed_bias)
        weight = "[" + ", ".join(num(v) for v in a.fixed_weight) + "]"
        args = _args(
            str(a.in_channels),
            str(a.out_channels),
            _pair(a.kernel),
            stride=_pair(a.stride) if a.stride != (1, 1) else None,
            padding=str(a.pads),
            dilation=_pair(a.dilation) if a.dilation != (1, 1) else None,
            groups=str(a.groups) if a.groups != 1 else None,
            weight=weight,
            bias=bias,
        )
        return Code(f"{kind}({args})", helpers=helpers)
    args = _args(
        str(a.in_channels),
        str(a.out_channels),
        _pair(a.kernel),
        stride=_pair(a.stride) if a.stride != (1, 1) else None,
        padding=pad if pad != "0" else None,
        pads=pads,
        dilation=_pair(a.dilation) if a.dilation != (1, 1) else None,
        groups=str(a.groups) if a.groups != 1 else None,
        bias=None if a.bias else "False",
    )
    return Code(f"{kind}({args})", helpers=helpers)


def _deconv(a: DeconvAttrs) -> Code:
    kind: str = "nn.ConvTranspose2d"
    helpers: tuple[str, ...] = ()
    pad: str | None = _pair((a.pads[0], a.pads[1]))
    pads: str | None = None
    if not _sym(a.pads):
        kind, helpers, pad, pads = "PadConvTranspose2d", ("PadConvTranspose2d",), None, str(a.pads)
    args = _args(
        str(a.in_channels),
        str(a.out_channels),
        _pair(a.kernel),
        stride=_pair(a.stride) if a.stride != (1, 1) else None,
        padding=pad if pad != "0" else None,
        pads=pads,
        output_padding=_pair(a.output_padding) if a.output_padding != (0, 0) else None,
        groups=str(a.groups) if a.groups != 1 else None,
        bias=None if a.bias else "False",
        dilation=_pair(a.dilation) if a.dilation != (1, 1) else None,
    )
    return Code(f"{kind}({args})", helpers=helpers)


def _pool(op: Op, a: PoolAttrs) -> Code:
    is_max = op is Op.MAXPOOL
    stride = None if a.stride == a.kernel else _pair(a.stride)
    common = {
        "stride": stride,
        "padding": None if a.pads == (0, 0, 0, 0) else _pair((a.pads[0], a.pads[1])),
    }
    if is_max:
        extra = {"dilation": _pair(a.dilation) if a.dilation != (1, 1) else None}
    else:
        extra = {"count_include_pad": None if a.count_include_pad else "False"}
    extra["ceil_mode"] = "True" if a.ceil else None
    if _sym(a.pads):
        kind = "nn.MaxPool2d" if is_max else "nn.AvgPool2d"
        return Code(f"{kind}({_args(_pair(a.kernel), **common, **extra)})")
    kind = "PadMaxPool2d" if is_max else "PadAvgPool2d"
    common["padding"] = None
    args = _args(_pair(a.kernel), **common, pads=str(a.pads), **extra)
    return Code(f"{kind}({args})", helpers=(kind,))


def _upsample(a: UpsampleAttrs, out: tuple[Dim, ...]) -> Code:
    mode = f'mode="{a.mode}"'
    corners = ", align_corners=True" if a.align_corners else ""
    if a.mode == "bilinear" and not a.align_corners:
        corners = ", align_corners=False"
    if a.to is not None and a.mode == "nearest":
        return Code(expr="resize_nearest({0}, {1}.shape[-2:])", helpers=("resize_nearest",))
    if a.to is not None:
        return Code(expr=f"F.interpolate({{0}}, size={{1}}.shape[-2:], {mode}{corners})")
    assert a.scale is not None
    # nearest by a factor whose inverse float32 rounds (41: row 41 from row 0) goes through
    # resize_nearest, ONNX Runtime's rows; by powers of two nn.Upsample's rows are the same
    whole = all(float(f).is_integer() for f in a.scale)
    exact = all(float(f).is_integer() and int(f) & (int(f) - 1) == 0 for f in a.scale)
    if whole and (a.mode != "nearest" or exact):
        factor = _pair((int(a.scale[0]), int(a.scale[1])))
        factor = factor if "(" in factor else f"{factor}.0"
        if "(" in factor:
            factor = f"({float(a.scale[0])}, {float(a.scale[1])})"
        return Code(f"nn.Upsample(scale_factor={factor}, {mode}{corners})")
    # a fractional factor: the size is floor(H * factor), PyTorch's (and ONNX's) windows;
    # nearest rows as ONNX Runtime takes them (resize_nearest)
    factors = f"({num(a.scale[0])}, {num(a.scale[1])})"
    return Code(f"Resize({factors}, {mode}{corners})", helpers=("resize_nearest", "Resize"))
