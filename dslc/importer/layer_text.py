"""One IR layer as the .xnet call that builds it again: `conv3x3(64, stride=2, bias=false)`,
`maxpool3(stride=2, pad=1)`, `bn(eps=0.001)`; defaults are left out."""

from __future__ import annotations

import struct
from collections.abc import Callable

from dslc.ir.graph import Node
from dslc.ir.ops import (
    AdaptivePoolAttrs,
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
    ShuffleAttrs,
    StochasticDepthAttrs,
    UpsampleAttrs,
)

__all__ = ["Inexpressible", "layer_call"]

_PLAIN = {
    Op.GLOBAL_AVGPOOL,
    Op.GLOBAL_MAXPOOL,
    Op.RELU,
    Op.RELU6,
    Op.SIGMOID,
    Op.TANH,
    Op.SOFTMAX,
    Op.FLATTEN,
    Op.IDENTITY,
    Op.SILU,
    Op.HARDSWISH,
    Op.HARDSIGMOID,
}


class Inexpressible(Exception):
    """A layer (or a way layers are wired) the language has no words for."""

    def __init__(self, node: Node, why: str) -> None:
        super().__init__(f"{node.name} ({node.op.value}): {why}")
        self.node = node


def _num(v: float) -> str:
    """The shortest text of `v` as float32 holds it (ONNX stores 0.001 as 0.0010000000474...)."""
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    for digits in range(1, 18):
        text = f"{v:.{digits}g}"
        if struct.pack("<f", float(text)) == struct.pack("<f", v):
            return text
    return repr(float(v))


def _pair(p: tuple[int, int] | tuple[float, float]) -> str:
    return _num(p[0]) if p[0] == p[1] else f"({_num(p[0])}, {_num(p[1])})"


def _pads(p: tuple[int, int, int, int]) -> str:
    t, left, b, r = p
    if (t, left) == (b, r):
        return _pair((t, left))
    return f"({t}, {left}, {b}, {r})"


def _call(name: str, *args: str, **kw: str | None) -> str:
    parts = [*args, *(f"{k}={v}" for k, v in kw.items() if v is not None)]
    return f"{name}({', '.join(parts)})" if parts else name


def _sized(base: str, k: tuple[int, int]) -> str:
    return f"{base}{k[0]}x{k[1]}"


def _conv(n: Node) -> str:
    a = n.attrs
    assert isinstance(a, ConvAttrs)
    if a.fixed_weight is not None:
        raise Inexpressible(n, "a hand-written kernel is not read back")
    half = tuple(a.dilation[i] * (a.kernel[i] - 1) // 2 for i in (0, 1))
    return _call(
        _sized("conv", a.kernel),
        str(a.out_channels),
        stride=None if a.stride == (1, 1) else _pair(a.stride),
        pad=None if a.pads == (*half, *half) else _pads(a.pads),
        dilation=None if a.dilation == (1, 1) else _pair(a.dilation),
        groups=None if a.groups == 1 else str(a.groups),
        bias=None if a.bias else "false",
    )


def _deconv(n: Node) -> str:
    a = n.attrs
    assert isinstance(a, DeconvAttrs)
    return _call(
        _sized("deconv", a.kernel),
        str(a.out_channels),
        stride=None if a.stride == (1, 1) else _pair(a.stride),
        pad=None if a.pads == (0, 0, 0, 0) else _pads(a.pads),
        output_pad=None if a.output_padding == (0, 0) else _pair(a.output_padding),
        dilation=None if a.dilation == (1, 1) else _pair(a.dilation),
        groups=None if a.groups == 1 else str(a.groups),
        bias=None if a.bias else "false",
    )


def _pool(n: Node) -> str:
    a = n.attrs
    assert isinstance(a, PoolAttrs)
    base = "maxpool" if n.op is Op.MAXPOOL else "avgpool"
    k = a.kernel
    name = f"{base}{k[0]}" if k[0] == k[1] else _sized(base, k)
    if n.op is Op.AVGPOOL and a.dilation != (1, 1):
        raise Inexpressible(n, "a dilated average pool")
    return _call(
        name,
        stride=None if a.stride == a.kernel else _pair(a.stride),
        pad=None if a.pads == (0, 0, 0, 0) else _pads(a.pads),
        ceil="true" if a.ceil else None,
        dilation=None if a.dilation == (1, 1) else _pair(a.dilation),
        count_include_pad=(
            "false" if n.op is Op.AVGPOOL and not a.count_include_pad and any(a.pads) else None
        ),
    )


def _bn(n: Node) -> str:
    a = n.attrs
    assert isinstance(a, BatchNormAttrs)
    return _call("bn", eps=None if abs(a.eps - 1e-5) < 1e-12 else _num(a.eps))


def _dense(n: Node) -> str:
    a = n.attrs
    assert isinstance(a, DenseAttrs)
    name = "dense" if n.op is Op.DENSE else "linear"
    return _call(name, str(a.out_features), bias=None if a.bias else "false")


def _scalar(name: str, default: float) -> Callable[[Node], str]:
    def text(n: Node) -> str:
        a = n.attrs
        assert isinstance(a, ScalarAttrs)
        return name if abs(a.value - default) < 1e-12 else _call(name, _num(a.value))

    return text


def _upsample(n: Node, tap: Callable[[int], str]) -> str:
    a = n.attrs
    assert isinstance(a, UpsampleAttrs)
    mode = None if a.mode == "nearest" else a.mode
    corners = "true" if a.align_corners else None
    if a.to is not None:
        return _call("upsample", to=tap(a.to), mode=mode, align_corners=corners)
    assert a.scale is not None
    return _call("upsample", _pair(a.scale), mode=mode, align_corners=corners)


def _other(n: Node) -> str:
    a = n.attrs
    if isinstance(a, AdaptivePoolAttrs):
        return _call("adaptive_avgpool", _pair(a.size))
    if isinstance(a, LrnAttrs):
        kw = {"alpha": _num(a.alpha), "beta": _num(a.beta), "k": _num(a.k)}
        return _call("lrn", str(a.size), **kw)
    if isinstance(a, ChannelSliceAttrs):
        return _call("channels", str(a.start), str(a.stop))
    if isinstance(a, ShuffleAttrs):
        return _call("shuffle", str(a.groups))
    if isinstance(a, BlockAttrs):
        return _call(n.op.value, str(a.block))
    if isinstance(a, PadChannelsAttrs):
        return _call("pad_channels", str(a.before), str(a.after))
    if isinstance(a, GeluAttrs):
        return _call("gelu", approximate="tanh" if a.tanh else None)
    if isinstance(a, PreluAttrs):
        return _call("prelu", shared="true" if a.slopes == 1 else None)
    if isinstance(a, LayerNormAttrs):
        return _call("layernorm", eps=_num(a.eps))
    if isinstance(a, StochasticDepthAttrs):
        return _call("stochastic_depth", _num(a.p), mode=None if a.mode == "row" else a.mode)
    if n.op is Op.SCALE:
        return "scale"
    raise Inexpressible(n, "the .xnet language has no layer for it")


def layer_call(n: Node, tap: Callable[[int], str]) -> str:
    """The call that makes `n` (`tap` names the tensor of a node used by name, as `to=`)."""
    if n.op in _PLAIN:
        return n.op.value
    handlers: dict[Op, Callable[[Node], str]] = {
        Op.CONV: _conv,
        Op.DECONV: _deconv,
        Op.MAXPOOL: _pool,
        Op.AVGPOOL: _pool,
        Op.BATCHNORM: _bn,
        Op.DENSE: _dense,
        Op.LINEAR: _dense,
        Op.DROPOUT: _scalar("dropout", 0.5),
        Op.LEAKY_RELU: _scalar("leakyrelu", 0.01),
        Op.ELU: _scalar("elu", 1.0),
    }
    if n.op is Op.UPSAMPLE:
        return _upsample(n, tap)
    if n.op is Op.OPAQUE:
        raise Inexpressible(n, "an ONNX op dslc has no layer for (see `dslc explain E0802`)")
    handler = handlers.get(n.op)
    return handler(n) if handler else _other(n)
