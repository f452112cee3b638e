"""The rules of the layers of modern networks (EfficientNet, MobileNetV3, ConvNeXt): GELU,
PReLU, layer norm, per-position linear layers, layer scale and stochastic depth."""

from __future__ import annotations

from dslc.diagnostics import DiagnosticError
from dslc.expand.args import Args, channels, flag, integer, number, word
from dslc.expand.rules import Ctx
from dslc.ir.ops import (
    Attrs,
    DenseAttrs,
    GeluAttrs,
    LayerNormAttrs,
    Op,
    PreluAttrs,
    ScaleAttrs,
    StochasticDepthAttrs,
)

__all__ = ["gelu", "layernorm", "linear", "prelu", "scale", "stochastic_depth"]

Built = tuple[Op, Attrs, tuple[int, ...]]


def _rank(ctx: Ctx, what: str) -> int:
    """The incoming channels (or features), for an N x C x H x W or a flat N x F input."""
    c = channels(ctx.shape, what, ctx.span)
    if len(ctx.shape) not in (2, 4):
        raise DiagnosticError(
            "E0307",
            f"{what} needs an N x C x H x W or a flat N x F input, got a rank-{len(ctx.shape)} "
            "tensor",
            ctx.span,
        )
    return c


def gelu(a: Args, ctx: Ctx) -> Built:
    mode = word(a["approximate"], "approximate", ("none", "tanh"))
    return Op.GELU, GeluAttrs(mode == "tanh"), ()


def prelu(a: Args, ctx: Ctx) -> Built:
    c = _rank(ctx, "prelu")
    return Op.PRELU, PreluAttrs(1 if flag(a["shared"], "shared") else c), ()


def layernorm(a: Args, ctx: Ctx) -> Built:
    eps = number(a["eps"], "eps")
    if eps <= 0:
        raise DiagnosticError("E0105", f"eps must be positive, got {eps}", a["eps"].span)
    return Op.LAYERNORM, LayerNormAttrs(_rank(ctx, "layernorm"), eps), ()


def linear(a: Args, ctx: Ctx) -> Built:
    n = integer(a["n"], "the number of outputs")
    c = _rank(ctx, "linear")
    return Op.LINEAR, DenseAttrs(n, c, flag(a["bias"], "bias")), ()


def scale(a: Args, ctx: Ctx) -> Built:
    c = _rank(ctx, "scale")
    shape = (c, 1, 1) if len(ctx.shape) == 4 else (c,)
    return Op.SCALE, ScaleAttrs(shape, number(a["init"], "init")), ()


def stochastic_depth(a: Args, ctx: Ctx) -> Built:
    p = number(a["p"], "p")
    if not 0 <= p <= 1:
        raise DiagnosticError(
            "E0105", f"stochastic depth probability must be in [0, 1], got {p}", a["p"].span
        )
    mode = word(a["mode"], "mode", ("row", "batch"))
    return Op.STOCHASTIC_DEPTH, StochasticDepthAttrs(p, mode), ()
