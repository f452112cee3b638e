"""The rules of the channel and block layers: chunk, channels, shuffle, space_to_depth,
depth_to_space and pad_channels. None has weights.

Channel indices follow Python: `channels(a, b)` is the half-open range a..b-1, and a negative
index counts from the end (`channels(-8)` is the last 8 channels, `chunk(2, -1)` the last
half). Unlike a Python slice, a range that reaches outside the input or selects nothing is an
error rather than silently clipped.
"""

from __future__ import annotations

from collections.abc import Callable

from dslc.diagnostics import DiagnosticError
from dslc.expand.args import Arg, Args, channels, integer
from dslc.expand.rules import Ctx
from dslc.ir.ops import (
    Attrs,
    BlockAttrs,
    ChannelSliceAttrs,
    Op,
    PadChannelsAttrs,
    ShuffleAttrs,
)

__all__ = ["block", "channel_range", "chunk", "pad_channels", "shuffle"]

Built = tuple[Op, Attrs, tuple[int, ...]]
_ANY = -(1 << 62)  # the lowest index integer() lets through: negative indices count from the end


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)


def _split(c: int, parts: Arg, what: str, into: str) -> int:
    """The number of equal parts `parts` asks for, checked to divide the c channels."""
    n = integer(parts, what)
    if c % n:
        raise DiagnosticError(
            "E0320",
            f"{c} channels do not split into {n} equal {into}",
            parts.span,
            f"{c} divides by: {_divisors(c)}",
        )
    return n


def chunk(a: Args, ctx: Ctx) -> Built:
    """chunk(n, i): the i-th of n equal channel chunks (torch.chunk(x, n, dim=1)[i])."""
    c = channels(ctx.shape, "chunk", ctx.span)
    n = integer(a["n"], "the number of chunks")
    i = integer(a["i"], "the chunk index", _ANY)
    if not -n <= i < n:
        raise DiagnosticError(
            "E0105",
            f"chunk index {i} is out of range for {n} chunks",
            a["i"].span,
            f"the chunks are numbered 0 to {n - 1} (-1 is the last)",
        )
    _split(c, a["n"], "the number of chunks", "chunks")
    size, i = c // n, i % n
    return Op.CHANNELS, ChannelSliceAttrs(i * size, (i + 1) * size), ()


def channel_range(a: Args, ctx: Ctx) -> Built:
    """channels(a, b = C): channels a..b-1, negative indices counting from the end."""
    c = channels(ctx.shape, "channels", ctx.span)
    start = integer(a["a"], "the first channel", _ANY)
    stop = c if a["b"].value is None else integer(a["b"], "the end of the range", _ANY)
    lo, hi = (v + c if v < 0 else v for v in (start, stop))
    written = f"channels({start}, {stop})" if a["b"].value is not None else f"channels({start})"
    if not (0 <= lo < c and 0 <= hi <= c):
        raise DiagnosticError(
            "E0321",
            f"{written} reaches outside the input's {c} channels",
            ctx.span,
            f"indices run from 0 to {c} (the end is excluded), or from -{c} counting from the end",
        )
    if lo >= hi:
        raise DiagnosticError(
            "E0321",
            f"{written} selects no channels: its end ({hi}) is not after its start ({lo})",
            ctx.span,
            "the second number is where the range ends, not a count: channels(a, a + n) "
            "takes n channels",
        )
    return Op.CHANNELS, ChannelSliceAttrs(lo, hi), ()


def shuffle(a: Args, ctx: Ctx) -> Built:
    """shuffle(groups): ShuffleNet's channel shuffle."""
    c = channels(ctx.shape, "shuffle", ctx.span)
    g = _split(c, a["groups"], "groups", "groups")
    return Op.SHUFFLE, ShuffleAttrs(g), ()


def block(op: Op) -> Callable[[Args, Ctx], Built]:
    """The builder of space_to_depth(b) or depth_to_space(b)."""

    def build(a: Args, ctx: Ctx) -> Built:
        b = integer(a["b"], "the block size")
        if op is Op.DEPTH_TO_SPACE:
            c = channels(ctx.shape, "depth_to_space", ctx.span)
            if c % (b * b):
                raise DiagnosticError(
                    "E0320",
                    f"{c} channels do not split into {b}*{b} = {b * b} block positions",
                    a["b"].span,
                    f"depth_to_space(b) needs channels that divide by b*b; {c} divides by: "
                    f"{_divisors(c)}",
                )
        return op, BlockAttrs(b), ()

    return build


def pad_channels(a: Args, ctx: Ctx) -> Built:
    """pad_channels(before, after = before): zero channels on both sides."""
    channels(ctx.shape, "pad_channels", ctx.span)
    before = integer(a["before"], "the channels before", 0)
    after = before if a["after"].value is None else integer(a["after"], "the channels after", 0)
    return Op.PAD_CHANNELS, PadChannelsAttrs(before, after), ()
