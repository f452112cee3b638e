"""An input's preprocessing as ONNX nodes in front of the network, as torchvision.transforms
computes it on a PIL image: resize with antialiasing (PIL's filters), rounded back to 8 bits
for a uint8 image, centre crop (top-left rounded half to even, as Python's round), scale to
0-1, channel order, (x - mean) / std. The model's input is then the image tensor itself:
uint8 (or float32) N x H x W x C (or N x C x H x W) of any size."""

from __future__ import annotations

import numpy as np

from dslc.backend import proto
from dslc.backend.emitter import Emitter
from dslc.ir.dims import Dim
from dslc.ir.preprocess import Preprocess

__all__ = ["IN_GRAPH_OPSET", "emit_preprocess", "raw_input"]

IN_GRAPH_OPSET = 18  # Resize's antialias attribute
_ELEM_UINT8 = 2


def raw_input(p: Preprocess, name: str, shape: tuple[Dim, ...]) -> bytes:
    """The value_info of the image tensor the model takes: sizes of its own when resized."""
    h, w = ("height", "width") if p.resize else (shape[-2], shape[-1])
    dims = ["N", h, w, p.channels] if p.layout == "hwc" else ["N", p.channels, h, w]
    elem = _ELEM_UINT8 if p.dtype == "uint8" else proto.ELEM_FLOAT
    return proto.value_info(name, elem, [d if isinstance(d, int | str) else str(d) for d in dims])


class _Steps:
    """Appends the pipeline's nodes, each output named `{input}.pre.{step}`."""

    def __init__(self, e: Emitter, prefix: str) -> None:
        self.e, self.prefix, self.count = e, prefix, 0

    def add(self, op: str, inputs: list[str], step: str, **attrs: object) -> str:
        out = f"{self.prefix}.pre.{step}"
        self.e.nodes.append(proto.node(op, inputs, [out], name=out, **attrs))
        return out

    def const(self, step: str, value: np.ndarray) -> str:
        return self.e.const(f"{self.prefix}.pre.{step}", value)


def emit_preprocess(e: Emitter, p: Preprocess, raw: str, out: str, elem: int) -> None:
    """Nodes from the image tensor `raw` to the network's input `out` (element type elem)."""
    s = _Steps(e, raw)
    x = s.add("Cast", [raw], "float", to=proto.ELEM_FLOAT) if p.dtype == "uint8" else raw
    if p.layout == "hwc":
        x = s.add("Transpose", [x], "chw", perm=[0, 3, 1, 2])
    if p.resize:
        x = _resize(s, p, x)
    if p.crop:
        x = _crop(s, p.crop, x)
    if p.dtype == "uint8":
        x = s.add("Div", [x, s.const("255", np.asarray(255.0, np.float32))], "scaled")
    if p.bgr:
        order = np.arange(p.channels - 1, -1, -1, dtype=np.int64)
        x = s.add("Gather", [x, s.const("order", order)], "bgr", axis=1)
    if p.mean:
        per = (1, p.channels, 1, 1)
        mean = s.const("mean", np.asarray(p.mean, np.float32).reshape(per))
        std = s.const("std", np.asarray(p.std, np.float32).reshape(per))
        x = s.add("Div", [s.add("Sub", [x, mean], "centred"), std], "normalized")
    if elem != proto.ELEM_FLOAT:
        x = s.add("Cast", [x], "cast", to=elem)
    e.nodes.append(proto.node("Identity", [x], [out], name=out))


def _resize(s: _Steps, p: Preprocess, x: str) -> str:
    """Resize to (h, w), or the shorter side to `size` and the longer to
    floor(size * long / short) as torchvision does, with PIL's antialiased filters."""
    shape = s.add("Shape", [x], "shape")
    lead = s.add("Slice", [shape, _i64(s, "0", [0]), _i64(s, "2", [2])], "nc")
    if len(p.resize) == 2:
        hw = _i64(s, "size", list(p.resize))
    else:
        have = s.add("Slice", [shape, _i64(s, "2", [2]), _i64(s, "4", [4])], "hw")
        short = s.add("ReduceMin", [have], "short", keepdims=1)
        scaled = s.add("Mul", [have, _i64(s, "side", [p.resize[0]])], "scaled_hw")
        hw = s.add("Div", [scaled, short], "resized_hw")
    sizes = s.add("Concat", [lead, hw], "sizes", axis=0)
    cubic = p.interpolation == "bicubic"
    x = s.add(
        "Resize",
        [x, "", "", sizes],
        "resized",
        mode="cubic" if cubic else "linear",
        antialias=1,
        coordinate_transformation_mode="half_pixel",
        cubic_coeff_a=-0.5 if cubic else None,  # PIL's bicubic, not PyTorch's -0.75
        exclude_outside=1 if cubic else None,
    )
    if p.dtype != "uint8":
        return x
    rounded = s.add("Round", [x], "rounded")  # PIL resizes 8-bit images to 8 bits
    low = s.const("low", np.asarray(0.0, np.float32))
    high = s.const("high", np.asarray(255.0, np.float32))
    return s.add("Clip", [rounded, low, high], "clipped")


def _crop(s: _Steps, crop: tuple[int, int], x: str) -> str:
    """torchvision's center_crop: top-left at round((size - crop) / 2), half to even."""
    shape = s.add("Shape", [x], "crop_shape")
    hw = s.add("Slice", [shape, _i64(s, "2", [2]), _i64(s, "4", [4])], "crop_hw")
    size = _i64(s, "crop", list(crop))
    room = s.add("Cast", [s.add("Sub", [hw, size], "room")], "room_f", to=proto.ELEM_FLOAT)
    half = s.add("Div", [room, s.const("2f", np.asarray(2.0, np.float32))], "half_room")
    start = s.add("Cast", [s.add("Round", [half], "start_f")], "start", to=proto.ELEM_INT64)
    end = s.add("Add", [start, size], "end")
    return s.add("Slice", [x, start, end, _i64(s, "axes", [2, 3])], "cropped")


def _i64(s: _Steps, step: str, values: list[int]) -> str:
    name = f"{s.prefix}.pre.{step}"
    if name in s.e.shapes:  # the same constant, made once
        return name
    return s.const(step, np.asarray(values, np.int64))
