"""The channel and block rearrangements as ONNX nodes. Every form here works for a symbolic
batch and symbolic H, W (reshapes copy those dims with 0 or infer them with -1), and computes
exactly PyTorch's element order:

- chunk / channels: Slice on axis 1.
- shuffle(g): torchvision's channel_shuffle: Reshape to N x g x C/g x (H*W), Transpose the two
  channel axes, Reshape back to the input's shape.
- space_to_depth(b) = pixel_unshuffle(b). ONNX's SpaceToDepth orders the output channels block
  position first (channel (i*b + j)*C + c), PyTorch channel first (c*b*b + i*b + j); the two
  agree for one channel, so each channel is made a sample of its own: Reshape to
  (N*C) x 1 x H x W, SpaceToDepth, Reshape to N x C*b*b x H/b x W/b.
- depth_to_space(b) = pixel_shuffle(b): DepthToSpace in mode CRD.
- pad_channels: Pad with zeros on axis 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dslc.backend import proto
from dslc.backend.emitter import Emitter
from dslc.ir.dims import Dim, mul
from dslc.ir.graph import Node
from dslc.ir.ops import BlockAttrs, ChannelSliceAttrs, Op, PadChannelsAttrs, ShuffleAttrs

__all__ = ["emit_channel_node"]


def _ints(e: Emitter, name: str, values: list[int]) -> str:
    return e.const(name, np.array(values, np.int64))


def _step(
    e: Emitter, op: str, inputs: list[str], name: str, shape: tuple[Dim, ...], **attrs: Any
) -> str:
    e.nodes.append(proto.node(op, inputs, [name], name=name, **attrs))
    return e.shaped(name, shape, proto.ELEM_INT64 if op == "Shape" else None)


def _channels_of(e: Emitter, node: Node) -> int:
    c = e.analysis.shapes[node.inputs[0]][1]
    assert isinstance(c, int)
    return c


def emit_channel_node(e: Emitter, node: Node, x: str) -> None:
    """Emit one of the rearrangement ops (Op.CHANNELS ... Op.PAD_CHANNELS)."""
    a, n = node.attrs, node.name
    x_shape, y_shape = e.analysis.shapes[node.inputs[0]], e.analysis.shapes[node.id]
    if isinstance(a, ChannelSliceAttrs):
        starts, ends = _ints(e, f"{n}.starts", [a.start]), _ints(e, f"{n}.ends", [a.stop])
        e.emit("Slice", node, [x, starts, ends, _ints(e, f"{n}.axes", [1])])
    elif isinstance(a, ShuffleAttrs):
        c = _channels_of(e, node)
        g, per, rest = a.groups, c // a.groups, _product(x_shape[2:])
        shape = _step(e, "Shape", [x], f"{n}.shape", (len(x_shape),))
        grouped = _ints(e, f"{n}.grouped", [0, g, per, -1])
        y = _step(e, "Reshape", [x, grouped], f"{n}.groups", (x_shape[0], g, per, rest))
        t = _step(
            e, "Transpose", [y], f"{n}.swapped", (x_shape[0], per, g, rest), perm=[0, 2, 1, 3]
        )
        e.emit("Reshape", node, [t, shape])
    elif isinstance(a, BlockAttrs) and node.op is Op.SPACE_TO_DEPTH:
        c, b = _channels_of(e, node), a.block
        split = _ints(e, f"{n}.split", [-1, 1, 0, 0])
        one = _step(
            e, "Reshape", [x, split], f"{n}.per_channel", (mul(x_shape[0], c), 1, *x_shape[2:])
        )
        blocks = _step(
            e,
            "SpaceToDepth",
            [one],
            f"{n}.blocks",
            (mul(x_shape[0], c), b * b, *y_shape[2:]),
            blocksize=b,
        )
        e.emit("Reshape", node, [blocks, _ints(e, f"{n}.joined", [-1, c * b * b, 0, 0])])
    elif isinstance(a, BlockAttrs):
        e.emit("DepthToSpace", node, [x], blocksize=a.block, mode="CRD")
    else:
        assert isinstance(a, PadChannelsAttrs)
        rank = len(e.analysis.shapes[node.inputs[0]])
        pads = [0] * (2 * rank)
        pads[1], pads[rank + 1] = a.before, a.after
        e.emit("Pad", node, [x, _ints(e, f"{n}.pads", pads)])


def _product(dims: tuple[Dim, ...]) -> Dim:
    out: Dim = 1
    for d in dims:
        out = mul(out, d)
    return out
