"""Ceil-mode pooling over an input whose sizes are part fixed, part symbolic (3 x H x 12).

ceil_mode is one attribute for both axes: the symbolic one needs it, and on the fixed one
ONNX's shape inference before opset 22 keeps a last window that would start past the input,
which PyTorch and ONNX Runtime drop (W 12, window 2, stride 3: 5 by ONNX, 4 run). So on a
fixed axis the input is cut, or the end padding trimmed, until the kept windows tile it
exactly: every reader then counts alike, and no kept window sees anything else."""

from __future__ import annotations

import dataclasses

import numpy as np

from dslc.backend import proto
from dslc.backend.emitter import Emitter
from dslc.ir.dims import Dim
from dslc.ir.graph import Node
from dslc.ir.ops import PoolAttrs
from dslc.ir.shapes import conv_out

__all__ = ["fit_ceil"]


def fit_ceil(
    e: Emitter, node: Node, a: PoolAttrs, x: str, shape: tuple[Dim, ...]
) -> tuple[PoolAttrs, str, tuple[Dim, ...]]:
    """The pooling's attributes, input and input shape with every fixed axis cut or its end
    padding trimmed to what the kept windows span (for mixed sizes in ceil mode)."""
    sizes = shape[2:]
    if (
        not a.ceil
        or all(isinstance(d, int) for d in sizes)
        or not any(isinstance(d, int) for d in sizes)
    ):
        return a, x, shape
    pads, cut = list(a.pads), list(sizes)
    for axis, n in enumerate(sizes):
        if not isinstance(n, int):
            continue
        k, s, d, pb = a.kernel[axis], a.stride[axis], a.dilation[axis], a.pads[axis]
        out = conv_out(n, k, s, d, pb, a.pads[axis + 2], ceil=True)
        assert isinstance(out, int)
        end = (out - 1) * s + d * (k - 1) + 1 - n - pb  # the last window's end past the input
        if end < 0:
            cut[axis], pads[axis + 2] = n + end, 0
        elif end <= pads[axis + 2]:
            pads[axis + 2] = end
    if cut != list(sizes):
        x = _cut(e, node, x, shape, cut)
        shape = (*shape[:2], *cut)
    return dataclasses.replace(a, pads=(pads[0], pads[1], pads[2], pads[3])), x, shape


def _cut(e: Emitter, node: Node, x: str, shape: tuple[Dim, ...], cut: list[Dim]) -> str:
    """x[:, :, :h, :w] where h, w are fixed (a symbolic axis is kept whole)."""
    n = node.name
    axes = [i + 2 for i, d in enumerate(cut) if isinstance(d, int)]
    ends = [d for d in cut if isinstance(d, int)]
    starts = e.const(f"{n}.cut_starts", np.zeros(len(axes), np.int64))
    stops = e.const(f"{n}.cut_ends", np.array(ends, np.int64))
    where = e.const(f"{n}.cut_axes", np.array(axes, np.int64))
    out = e.shaped(f"{n}.cut", (*shape[:2], *cut))
    e.nodes.append(proto.node("Slice", [x, starts, stops, where], [out], name=out))
    return out
