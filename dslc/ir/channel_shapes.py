"""Shape rules of the channel and block rearrangements: channel slices, shuffle, pixel
(un)shuffle and zero channels. Kept apart from dslc.ir.shapes, whose `match` calls them."""

from __future__ import annotations

from fractions import Fraction

from dslc.diagnostics import DiagnosticError
from dslc.ir import dims
from dslc.ir.dims import Dim
from dslc.ir.ops import BlockAttrs, ChannelSliceAttrs, Op, PadChannelsAttrs, ShuffleAttrs

__all__ = [
    "channel_slice",
    "depth_to_space",
    "pad_channels",
    "shuffle",
    "space_to_depth",
]

Shape = tuple[Dim, ...]


def _show(shape: Shape) -> str:
    return " x ".join(dims.show(d) for d in shape)


def _channels(op: Op, x: Shape) -> int:
    if len(x) not in (2, 4) or not isinstance(x[1], int):
        raise DiagnosticError(
            "E0307", f"{op.value} needs an N x C x H x W or an N x C input, got {_show(x)}"
        )
    return x[1]


def _map(op: Op, x: Shape) -> int:
    if len(x) != 4:
        raise DiagnosticError(
            "E0307",
            f"{op.value} needs an N x C x H x W input, got {_show(x)}",
            None,
            "spatial layers must come before 'flatten'",
        )
    return _channels(op, x)


def channel_slice(a: ChannelSliceAttrs, x: Shape) -> Shape:
    """Channels start..stop-1."""
    c = _channels(Op.CHANNELS, x)
    if not 0 <= a.start < a.stop <= c:
        raise DiagnosticError(
            "E0321", f"channels {a.start}..{a.stop - 1} are not all among the input's {c}"
        )
    return (x[0], a.stop - a.start, *x[2:])


def shuffle(a: ShuffleAttrs, x: Shape) -> Shape:
    """The same shape; the channels must split into the groups."""
    c = _channels(Op.SHUFFLE, x)
    if c % a.groups:
        raise DiagnosticError("E0320", f"shuffle: {c} channels do not split into {a.groups} groups")
    return x


def _blocks(size: Dim, b: int) -> Dim:
    """size / b, exact: a fixed size is checked first; a symbolic one's valid values are
    worked out by dslc.passes.sizes, which runs this rule on fixed sizes."""
    return size // b if isinstance(size, int) else dims.mul(size, Fraction(1, b))


def space_to_depth(a: BlockAttrs, x: Shape) -> Shape:
    """N x C x H x W -> N x C*b*b x H/b x W/b."""
    c, b = _map(Op.SPACE_TO_DEPTH, x), a.block
    bad = [(axis, d) for axis, d in zip(("height", "width"), x[2:]) if isinstance(d, int) and d % b]
    if bad:
        axes = " and ".join(axis for axis, _ in bad)
        raise DiagnosticError(
            "E0322",
            f"space_to_depth({b}) needs a {axes} that divide{'s' if len(bad) == 1 else ''} by "
            f"{b}, got {_show(x[2:])}",
            None,
            f"make the {axes} {'a multiple' if len(bad) == 1 else 'multiples'} of {b} "
            "(pad or crop before this layer)",
        )
    return (x[0], c * b * b, _blocks(x[2], b), _blocks(x[3], b))


def depth_to_space(a: BlockAttrs, x: Shape) -> Shape:
    """N x C x H x W -> N x C/(b*b) x H*b x W*b."""
    c, b = _map(Op.DEPTH_TO_SPACE, x), a.block
    if c % (b * b):
        raise DiagnosticError(
            "E0320", f"depth_to_space({b}): {c} channels do not divide by {b}*{b} = {b * b}"
        )
    return (x[0], c // (b * b), dims.mul(x[2], b), dims.mul(x[3], b))


def pad_channels(a: PadChannelsAttrs, x: Shape) -> Shape:
    """before + C + after channels."""
    c = _channels(Op.PAD_CHANNELS, x)
    return (x[0], a.before + c + a.after, *x[2:])
