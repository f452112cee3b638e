"""Receptive fields per node and axis: size, jump and start (Araujo et al., 2019).

Coordinates are input pixel indices; `start` is the input coordinate of the centre of the
first output unit's field. Where paths merge, the field is the union of the paths' fields
(which is the largest path's field when the paths are aligned); paths that disagree on jump or
centre are reported by `alignment_warnings` rather than silently reconciled. A product's field
is that of its full-size inputs: an N x C x 1 x 1 gate (squeeze-and-excitation) only rescales
channels, and is left out (it would otherwise make every field the whole input).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import assert_never

from dslc.diagnostics import Diagnostic
from dslc.ir import dims
from dslc.ir.graph import Graph, Node
from dslc.ir.ops import (
    AdaptivePoolAttrs,
    BlockAttrs,
    ConvAttrs,
    DeconvAttrs,
    Op,
    PoolAttrs,
    UpsampleAttrs,
)
from dslc.ir.shapes import Shape, Shapes, is_spatial

__all__ = ["RF", "Axis", "Num", "RFs", "alignment_warnings", "node_rf", "receptive_fields"]

F = Fraction
Num = int | Fraction  # kept an int while it is whole: Fraction arithmetic is slow


def _div(a: Num, b: Num) -> Num:
    """a / b, exact; an int when it divides."""
    if type(a) is int and type(b) is int and a % b == 0:
        return a // b
    return F(a) / b


@dataclass(frozen=True, slots=True)
class Axis:
    """The field along one axis."""

    size: Num
    jump: Num
    start: Num

    def window(self, k: int, stride: Num, dilation: int, pad_begin: int) -> Axis:
        """After a sliding window of k taps."""
        span = dilation * (k - 1) + 1
        return Axis(
            self.size + (span - 1) * self.jump,
            self.jump * stride,
            self.start + (_div(span - 1, 2) - pad_begin) * self.jump,
        )


@dataclass(frozen=True, slots=True)
class RF:
    """The field of one node: (height axis, width axis)."""

    h: Axis
    w: Axis

    def as_json(self) -> dict[str, list[int | float]]:
        """`{"size": [h, w], "jump": [h, w], "start": [h, w]}`."""
        return {
            key: [_num(getattr(self.h, key)), _num(getattr(self.w, key))]
            for key in ("size", "jump", "start")
        }


RFs = dict[int, RF | None]


def _num(x: Num) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def _windows(
    rf: RF,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pads: tuple[int, int, int, int],
) -> RF:
    return RF(
        rf.h.window(kernel[0], stride[0], dilation[0], pads[0]),
        rf.w.window(kernel[1], stride[1], dilation[1], pads[1]),
    )


def _deconv(rf: RF, a: DeconvAttrs) -> RF:
    def axis(x: Axis, k: int, s: int, d: int, pb: int) -> Axis:
        span = d * (k - 1) + 1
        taps = -(-span // s)
        return Axis(
            x.size + (taps - 1) * x.jump,
            _div(x.jump, s),
            x.start + _div((pb - _div(span - 1, 2)) * x.jump, s),
        )

    return RF(
        axis(rf.h, a.kernel[0], a.stride[0], a.dilation[0], a.pads[0]),
        axis(rf.w, a.kernel[1], a.stride[1], a.dilation[1], a.pads[1]),
    )


def _adaptive(rf: RF, size: tuple[int, int], x: Shape) -> RF | None:
    if not (isinstance(x[2], int) and isinstance(x[3], int)):
        return None
    axes = []
    for ax, n, out in ((rf.h, x[2], size[0]), (rf.w, x[3], size[1])):
        k = max(-(-(i + 1) * n // out) - (i * n // out) for i in range(out))
        axes.append(ax.window(k, _div(n, out), 1, 0))
    return RF(axes[0], axes[1])


def _upsample(rf: RF, a: UpsampleAttrs, x: Shape, out: Shape) -> RF | None:
    axes = []
    for ax, n_in, n_out in ((rf.h, x[2], out[2]), (rf.w, x[3], out[3])):
        f = dims.ratio(n_out, n_in)
        if f is None:
            return None
        if a.mode == "nearest":
            axes.append(Axis(ax.size, ax.jump / f, ax.start))
        elif a.align_corners and isinstance(n_in, int) and isinstance(n_out, int) and n_out > 1:
            axes.append(Axis(ax.size + ax.jump, ax.jump * F(n_in - 1, n_out - 1), ax.start))
        else:
            axes.append(
                Axis(ax.size + ax.jump, ax.jump / f, ax.start + (F(1, 2) / f - F(1, 2)) * ax.jump)
            )
    return RF(axes[0], axes[1])


def _depth_to_space(rf: RF, b: int) -> RF:
    """Output pixel (y, x) holds the input unit (y // b, x // b) (one of its b*b channels):
    over all channels, the field of a nearest upsampling by b."""
    return RF(
        Axis(rf.h.size, _div(rf.h.jump, b), rf.h.start),
        Axis(rf.w.size, _div(rf.w.jump, b), rf.w.start),
    )


def _union(fields: list[RF]) -> RF:
    def axis(xs: list[Axis]) -> Axis:
        left = min(a.start - _div(a.size - 1, 2) for a in xs)
        right = max(a.start + _div(a.size - 1, 2) for a in xs)
        return Axis(right - left + 1, max(a.jump for a in xs), _div(left + right, 2))

    return RF(axis([f.h for f in fields]), axis([f.w for f in fields]))


def node_rf(node: Node, ins: list[RF | None], in_shapes: list[Shape], out: Shape) -> RF | None:
    """The field of one node from its inputs' fields; None when not spatial or not known."""
    if not is_spatial(out):
        return None
    if node.op is Op.INPUT:
        unit = Axis(1, 1, 0)
        return RF(unit, unit)
    if node.op is Op.MUL:  # a gate's N x C x 1 x 1 input only rescales channels
        ins = [f for f, s in zip(ins, in_shapes) if s == out] or ins
    if any(f is None for f in ins):
        return None
    fields = [f for f in ins if f is not None]
    rf, x, a = fields[0], in_shapes[0], node.attrs
    match node.op:
        case Op.INPUT:
            return None
        case Op.CONV:
            assert isinstance(a, ConvAttrs)
            return _windows(rf, a.kernel, a.stride, a.dilation, a.pads)
        case Op.MAXPOOL | Op.AVGPOOL:
            assert isinstance(a, PoolAttrs)
            return _windows(rf, a.kernel, a.stride, a.dilation, a.pads)
        case Op.DECONV:
            assert isinstance(a, DeconvAttrs)
            return _deconv(rf, a)
        case Op.GLOBAL_AVGPOOL | Op.GLOBAL_MAXPOOL:
            return _adaptive(rf, (1, 1), x)
        case Op.ADAPTIVE_AVGPOOL:
            assert isinstance(a, AdaptivePoolAttrs)
            return _adaptive(rf, a.size, x)
        case Op.UPSAMPLE:
            assert isinstance(a, UpsampleAttrs)
            return _upsample(rf, a, x, out)
        case Op.ADD | Op.CONCAT:
            return _union(fields)
        case (
            Op.BATCHNORM
            | Op.LRN
            | Op.DROPOUT
            | Op.RELU
            | Op.LEAKY_RELU
            | Op.RELU6
            | Op.SIGMOID
            | Op.TANH
            | Op.ELU
            | Op.SOFTMAX
            | Op.IDENTITY
            | Op.FLATTEN
            | Op.DENSE
        ):
            return rf
        case Op.CHANNELS | Op.SHUFFLE | Op.PAD_CHANNELS:
            return rf  # channels chosen, reordered or added: every position sees the same
        case Op.SPACE_TO_DEPTH:
            assert isinstance(a, BlockAttrs)
            return _windows(rf, (a.block, a.block), (a.block, a.block), (1, 1), (0, 0, 0, 0))
        case Op.DEPTH_TO_SPACE:
            assert isinstance(a, BlockAttrs)
            return _depth_to_space(rf, a.block)
        case Op.MUL:
            return _union(fields)
        case (
            Op.SILU
            | Op.HARDSWISH
            | Op.HARDSIGMOID
            | Op.GELU
            | Op.PRELU
            | Op.LAYERNORM
            | Op.LINEAR
            | Op.SCALE
            | Op.STOCHASTIC_DEPTH
        ):
            return rf
        case Op.OPAQUE:
            return None  # what an op dslc does not understand sees is not known
        case _:
            assert_never(node.op)


def receptive_fields(graph: Graph, shapes: Shapes) -> RFs:
    """Every node's receptive field (None once the output is no longer an N x C x H x W map)."""
    out: RFs = {}
    for node in graph.nodes:
        if node.op is Op.UPSAMPLE and len(node.inputs) > 1:
            ins = [out[node.inputs[0]]]
        else:
            ins = [out[i] for i in node.inputs]
        in_shapes = [shapes[i] for i in node.inputs]
        out[node.id] = node_rf(node, ins, in_shapes, shapes[node.id])
    return out


def _fmt(x: Num) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{float(x):g}"


def _misaligned_axes(fields: list[RF]) -> list[str]:
    out = []
    for name, axes in (("height", [f.h for f in fields]), ("width", [f.w for f in fields])):
        if len({a.jump for a in axes}) > 1 or len({a.start for a in axes}) > 1:
            out.append(name)
    return out


def alignment_warnings(graph: Graph, rfs: RFs) -> list[Diagnostic]:
    """A warning (W0701) for every add or concat whose branches' fields are not aligned."""
    out = []
    for node in graph.nodes:
        if node.op not in (Op.ADD, Op.CONCAT) or len(node.inputs) < 2:
            continue
        fields = [rfs[i] for i in node.inputs]
        known = [f for f in fields if f is not None]
        if (
            len(known) != len(fields)
            or not _misaligned_axes(known)
            or (merged := rfs[node.id]) is None
        ):
            continue
        hints = []
        for k, (i, f) in enumerate(zip(node.inputs, known), 1):
            src = graph.node(i)
            hints.append(
                f"branch {k} ends at '{src.name}' ({src.span}): centre of the first "
                f"unit at ({_fmt(f.h.start)}, {_fmt(f.w.start)}) px, jump "
                f"({_fmt(f.h.jump)}, {_fmt(f.w.jump)}), size "
                f"{_fmt(f.h.size)}x{_fmt(f.w.size)}"
            )
        offsets = ", ".join(
            f"{ax} by {_fmt(max(vals) - min(vals))} px"
            for ax, vals in (
                ("height", [f.h.start for f in known]),
                ("width", [f.w.start for f in known]),
            )
            if len(set(vals)) > 1
        )
        jumps = [
            ax
            for ax, js in (
                ("height", {f.h.jump for f in known}),
                ("width", {f.w.jump for f in known}),
            )
            if len(js) > 1
        ]
        what = []
        if offsets:
            what.append(f"their centres differ along the {offsets}")
        if jumps:
            what.append(f"their jumps differ along the {' and '.join(jumps)}")
        hints.append(
            f"the merged field is their union, {_fmt(merged.h.size)}x"
            f"{_fmt(merged.w.size)}; pad the branches alike (odd kernels with half "
            "padding keep centres) to align them"
        )
        out.append(
            Diagnostic(
                "W0701",
                f"the branches merged by '{node.name}' are misaligned: " + "; ".join(what),
                node.span,
                tuple(hints),
            )
        )
    return out
