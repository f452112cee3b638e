"""The channel and block rearrangements in the one-channel reachability network of
dslc.backend.rf_measure.

There one channel stands for all (every channel of a layer is reached by the same input
pixels), so a rearrangement of channels is an identity, and a block rearrangement is what it
does to positions over all channels together:
- Slice on the channel axis (chunk, channels) and Pad of the channel axis only
  (pad_channels) become identities;
- a Reshape to a constant shape keeps its 0 (copy) and -1 (infer) entries and sets every
  other entry, a count of channels in the shapes dslc emits (shuffle, space_to_depth), to 1;
- SpaceToDepth(b) becomes a b x b window with stride b (AveragePool, a mixing op);
- DepthToSpace(b) becomes a nearest upsampling by b (output pixel (y, x) holds input unit
  (y // b, x // b)), a Resize.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["REARRANGING", "constants", "one_channel"]

REARRANGING = {"Slice", "Pad", "Reshape", "SpaceToDepth", "DepthToSpace"}


def constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The values of the model's Constant nodes, by output name."""
    out = {}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            out[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return out


def _attr(n: onnx.NodeProto, name: str) -> int:
    return int(next(a.i for a in n.attribute if a.name == name))


def _identity(n: onnx.NodeProto) -> None:
    del n.input[1:], n.attribute[:]
    n.op_type = "Identity"


def one_channel(n: onnx.NodeProto, consts: dict[str, np.ndarray], out: onnx.ModelProto) -> None:
    """Rewrite one node of REARRANGING in place for the one-channel network (constants it
    needs are added to `out`'s initializers)."""
    given = [consts.get(i) for i in n.input]
    if n.op_type == "Slice" and len(given) > 3 and given[3] is not None:
        if [int(v) for v in given[3]] == [1]:
            _identity(n)
    elif n.op_type == "Pad" and len(given) > 1 and given[1] is not None:
        pads = [int(v) for v in given[1]]
        rank = len(pads) // 2
        if all(v == 0 for k, v in enumerate(pads) if k % rank != 1):
            _identity(n)
    elif n.op_type == "Reshape" and given[1] is not None:
        shape = np.array([v if v in (0, -1) else 1 for v in given[1]], np.int64)
        out.graph.initializer.append(numpy_helper.from_array(shape, f"{n.name}.one_channel"))
        n.input[1] = f"{n.name}.one_channel"
    elif n.op_type == "SpaceToDepth":
        b = _attr(n, "blocksize")
        del n.attribute[:]
        n.op_type = "AveragePool"
        n.attribute.extend(
            [
                helper.make_attribute("kernel_shape", [b, b]),
                helper.make_attribute("strides", [b, b]),
            ]
        )
    elif n.op_type == "DepthToSpace":
        b = _attr(n, "blocksize")
        scales = f"{n.name}.scales"
        out.graph.initializer.append(
            numpy_helper.from_array(np.array([1, 1, b, b], np.float32), scales)
        )
        del n.attribute[:], n.input[1:]
        n.op_type = "Resize"
        n.input.extend(["", scales])
        n.attribute.extend(
            [
                helper.make_attribute("mode", "nearest"),
                helper.make_attribute("coordinate_transformation_mode", "asymmetric"),
                helper.make_attribute("nearest_mode", "floor"),
            ]
        )
