"""The rules of the built-in layers: each checks its arguments against the incoming shape and
gives the op, its attributes and the output channels."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from dslc.diagnostics import DiagnosticError
from dslc.expand.args import (
    Arg,
    Args,
    Default,
    Shape,
    Signature,
    channels,
    flag,
    integer,
    number,
    pads,
    pair,
    word,
)
from dslc.expand.evaluate import Word, describe
from dslc.ir.ops import (
    Attrs,
    BatchNormAttrs,
    ConvAttrs,
    DeconvAttrs,
    DenseAttrs,
    NoAttrs,
    Op,
    Pair,
    PoolAttrs,
    ScalarAttrs,
    UpsampleAttrs,
)
from dslc.source import Span

__all__ = [
    "CONV_SIG",
    "POOL",
    "Ctx",
    "Layer",
    "bn",
    "conv",
    "deconv",
    "dense",
    "dropout",
    "odd",
    "pool",
    "sig",
    "simple",
    "split_name",
    "upsample",
]

_SIZED = re.compile(r"^(conv|deconv|maxpool|avgpool)(\d+)(?:x(\d+))?$")


def split_name(name: str) -> tuple[str, Pair | None]:
    """`conv3x3` -> ('conv', (3, 3)); `maxpool2` -> ('maxpool', (2, 2)); `relu` -> ('relu', None)."""
    m = _SIZED.match(name)
    if not m:
        return name, None
    h = int(m.group(2))
    return m.group(1), (h, int(m.group(3)) if m.group(3) else h)


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a layer builder may look at: the incoming shape, the call, and named tensors."""

    shape: Shape
    span: Span
    sized: Pair | None
    tap: Callable[[Word], tuple[int, Shape]]


@dataclass(frozen=True, slots=True)
class Layer:
    """A built-in layer: its signature and how to build its attributes."""

    sig: Signature
    build: Callable[[Args, Ctx], tuple[Op, Attrs, tuple[int, ...]]]
    sized: bool = False  # takes a kernel size in its name


def _kernel(a: Args, ctx: Ctx, what: str) -> Pair:
    given = a["k"].value is not None
    if ctx.sized is not None and given:
        raise DiagnosticError(
            "E0107",
            f"the kernel size is already in the name '{what}'",
            a["k"].whole or a["k"].span,
            "drop k=, or use the generic form",
        )
    if ctx.sized is not None:
        if min(ctx.sized) < 1:
            raise DiagnosticError(
                "E0203",
                f"a kernel size must be at least 1 ('{what}{ctx.sized[0]}x{ctx.sized[1]}')",
                ctx.span,
            )
        return ctx.sized
    if not given:
        raise DiagnosticError(
            "E0104",
            f"{what} needs a kernel size",
            ctx.span,
            f"write it in the name ({what}3x3) or as k=3 / k=(1, 7)",
        )
    return pair(a["k"], "kernel size k")


def _groups(a: Args, cin: int, cout: int) -> int:
    g = integer(a["groups"], "groups")
    if cin % g or cout % g:
        raise DiagnosticError(
            "E0304",
            f"groups={g} must divide both the input channels ({cin}) and "
            f"the output channels ({cout})",
            a["groups"].span,
            f"input channels {cin} divide by: "
            + ", ".join(str(d) for d in range(1, cin + 1) if cin % d == 0 and cout % d == 0),
        )
    return g


def conv(a: Args, ctx: Ctx) -> tuple[Op, Attrs, tuple[int, ...]]:
    cin = channels(ctx.shape, "conv", ctx.span)
    if a["kernel"].value is not None:
        return Op.CONV, _fixed_conv(a, ctx, cin), ()
    if a["c"].value is None:
        raise DiagnosticError(
            "E0104", "conv needs the number of output channels", ctx.span, "e.g. conv3x3(64)"
        )
    cout = integer(a["c"], "the number of output channels")
    k = _kernel(a, ctx, "conv")
    stride, dil = pair(a["stride"], "stride"), pair(a["dilation"], "dilation")
    g = _groups(a, cin, cout)
    p = pads(a["pad"], k, dil, stride, ctx.shape)
    return Op.CONV, ConvAttrs(cout, cin, k, stride, p, dil, g, flag(a["bias"], "bias")), ()


def _depth(v: object) -> int:
    return 1 + _depth(v[0]) if isinstance(v, list) and v else 0


def _fixed_conv(a: Args, ctx: Ctx, cin: int) -> ConvAttrs:
    v, span = a["kernel"].value, a["kernel"].span
    depth = _depth(v)
    if depth not in (2, 4):
        raise DiagnosticError(
            "E0105", "kernel= takes a 2-D matrix [[...], ...] or a 4-D [out][in][h][w] list", span
        )
    flat: list[float] = []
    shape = _flatten(v, flat, span)
    if depth == 2:  # the same filter on every input channel
        cout, groups, k = cin, cin, (shape[0], shape[1])
        flat = flat * cin
    else:
        cout, k = shape[0], (shape[2], shape[3])
        groups = cin // shape[1] if shape[1] and cin % shape[1] == 0 else 0
        if not groups or cout % groups:
            raise DiagnosticError(
                "E0308",
                f"kernel has {shape[1]} input channels per filter; the input has {cin}",
                span,
            )
    if ctx.sized is not None and ctx.sized != k:
        raise DiagnosticError(
            "E0107",
            f"the name says {ctx.sized[0]}x{ctx.sized[1]} but the kernel is {k[0]}x{k[1]}",
            span,
            "write plain 'conv(kernel=...)'",
        )
    if a["c"].value is not None and integer(a["c"], "channels") != cout:
        raise DiagnosticError(
            "E0105",
            f"the kernel makes {cout} output channels, not {a['c'].value}",
            a["c"].span,
            "drop the channel count; the kernel decides it",
        )
    b = a["bias"].value
    if b is True:
        raise DiagnosticError(
            "E0105",
            "a hand-written kernel takes a fixed bias (bias=0) or none (bias=false)",
            a["bias"].span,
        )
    fixed_bias = None if b is False else number(a["bias"], "bias")
    stride, dil = pair(a["stride"], "stride"), pair(a["dilation"], "dilation")
    p = pads(a["pad"], k, dil, stride, ctx.shape)
    return ConvAttrs(
        cout, cin, k, stride, p, dil, groups, fixed_bias is not None, tuple(flat), fixed_bias
    )


def _flatten(v: object, out: list[float], span: Span) -> tuple[int, ...]:
    if not isinstance(v, list):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise DiagnosticError(
                "E0105", f"kernel entries must be numbers, got {describe(v)}", span
            )
        try:
            out.append(float(v))
        except OverflowError:
            raise DiagnosticError(
                "E0105", f"kernel entry {str(v)[:12]}... is too large", span
            ) from None
        return ()
    shapes = {_flatten(x, out, span) for x in v}
    if len(shapes) != 1:
        raise DiagnosticError("E0105", "kernel rows must all have the same length", span)
    return (len(v), *shapes.pop())


def deconv(a: Args, ctx: Ctx) -> tuple[Op, Attrs, tuple[int, ...]]:
    cin = channels(ctx.shape, "deconv", ctx.span)
    cout = integer(a["c"], "the number of output channels")
    k = _kernel(a, ctx, "deconv")
    stride, dil = pair(a["stride"], "stride"), pair(a["dilation"], "dilation")
    g = _groups(a, cin, cout)
    p = pads(a["pad"], k, dil, stride, ctx.shape)
    op = pair(a["output_pad"], "output_pad", 0)
    for i in (0, 1):
        if op[i] >= stride[i]:
            raise DiagnosticError(
                "E0105",
                f"output_pad {op[i]} must be smaller than the stride ({stride[i]})",
                a["output_pad"].span,
                "output_pad only picks among the sizes a stride can round to "
                "(ONNX Runtime allows it only below the stride)",
            )
    return Op.DECONV, DeconvAttrs(cout, cin, k, stride, p, op, dil, g, flag(a["bias"], "bias")), ()


def pool(kind: Op) -> Callable[[Args, Ctx], tuple[Op, Attrs, tuple[int, ...]]]:
    def build(a: Args, ctx: Ctx) -> tuple[Op, Attrs, tuple[int, ...]]:
        k = _kernel(a, ctx, kind.value)
        stride = k if a["stride"].value is None else pair(a["stride"], "stride")
        dil = pair(a["dilation"], "dilation") if "dilation" in a else (1, 1)
        p = pads(a["pad"], k, dil, stride, ctx.shape)
        if max(p) * 2 > max(k):
            raise DiagnosticError(
                "E0105",
                f"pad {max(p)} is more than half the window {k[0]}x{k[1]}",
                a["pad"].span,
                "pooling pads at most half the kernel size",
            )
        cip = (
            flag(a["count_include_pad"], "count_include_pad") if "count_include_pad" in a else True
        )
        return kind, PoolAttrs(k, stride, p, flag(a["ceil"], "ceil"), dil, cip), ()

    return build


def simple(
    op: Op, attrs: Callable[[Args], Attrs] = lambda a: NoAttrs()
) -> Callable[[Args, Ctx], tuple[Op, Attrs, tuple[int, ...]]]:
    return lambda a, ctx: (op, attrs(a), ())


def bn(a: Args, ctx: Ctx) -> tuple[Op, Attrs, tuple[int, ...]]:
    c = channels(ctx.shape, "bn", ctx.span)
    return (
        Op.BATCHNORM,
        BatchNormAttrs(c, number(a["eps"], "eps"), number(a["momentum"], "momentum")),
        (),
    )


def dense(a: Args, ctx: Ctx) -> tuple[Op, Attrs, tuple[int, ...]]:
    n = integer(a["n"], "the number of outputs")
    if len(ctx.shape) != 2:
        shown = " x ".join(str(d) for d in ctx.shape)
        raise DiagnosticError(
            "E0306",
            f"dense needs a flat (N, features) input, got {shown}",
            ctx.span,
            "insert 'flatten' before it (or 'gap -> flatten' to pool first)",
        )
    feats = ctx.shape[1]
    if not isinstance(feats, int):
        raise DiagnosticError(
            "E0105",
            f"dense needs a fixed number of input features, got {feats}",
            ctx.span,
            "pool to a fixed size first (gap, or adaptive_avgpool)",
        )
    return Op.DENSE, DenseAttrs(n, feats, flag(a["bias"], "bias")), ()


def dropout(a: Args) -> Attrs:
    p = number(a["p"], "p")
    if not 0 <= p < 1:
        raise DiagnosticError(
            "E0105", f"dropout probability must be in [0, 1), got {p}", a["p"].span
        )
    return ScalarAttrs(p)


def upsample(a: Args, ctx: Ctx) -> tuple[Op, Attrs, tuple[int, ...]]:
    mode = word(a["mode"], "mode", ("nearest", "bilinear"))
    corners = flag(a["align_corners"], "align_corners")
    if (a["factor"].value is None) == (a["to"].value is None):
        raise DiagnosticError(
            "E0104",
            "upsample takes a factor or to=NAME (one of the two)",
            ctx.span,
            "e.g. upsample(2) or upsample(to=image)",
        )
    if a["to"].value is not None:
        target = a["to"].value
        if not isinstance(target, Word):
            raise DiagnosticError(
                "E0105", "to= takes the name of a tensor (an input or a @tap)", a["to"].span
            )
        node, shape = ctx.tap(target)
        if len(shape) != 4:
            raise DiagnosticError(
                "E0307", f"'{target.text}' is not an N x C x H x W map", target.span
            )
        return Op.UPSAMPLE, UpsampleAttrs(mode, None, node, corners), (node,)
    f = a["factor"].value
    factors = f if isinstance(f, tuple) and len(f) == 2 else (f, f)
    scale = tuple(number(Arg(x, a["factor"].span), "factor") for x in factors)
    if min(scale) <= 0:
        raise DiagnosticError("E0203", "upsample factor must be positive", a["factor"].span)
    return Op.UPSAMPLE, UpsampleAttrs(mode, (scale[0], scale[1]), None, corners), ()


def odd(a: Arg, what: str) -> int:
    n = integer(a, what)
    if n % 2 == 0:
        raise DiagnosticError(
            "E0105",
            f"lrn {what} must be odd, got {n}",
            a.span,
            "ONNX Runtime implements only odd window sizes",
        )
    return n


def sig(*params: tuple[str, Default], positional: int = 0) -> Signature:
    return Signature(tuple(params), positional)


CONV_SIG = sig(
    ("c", None),
    ("k", None),
    ("stride", 1),
    ("pad", None),
    ("dilation", 1),
    ("groups", 1),
    ("bias", True),
    ("kernel", None),
    positional=1,
)
POOL = (("k", None), ("stride", None), ("pad", 0), ("ceil", False))
