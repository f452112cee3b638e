"""An input's preprocessing as ONNX nodes in front of the network, as torchvision.transforms
computes it on a PIL image: resize with antialiasing (PIL's filters), rounded back to 8 bits
for a uint8 image, centre crop (top-left rounded half to even, as Python's round), scale to
0-1, channel order, (x - mean) / std. The model's input is then the image tensor itself:
uint8 (or float32) N x H x W x C (or N x C x H x W) of any size."""

from __future__ import annotations

import numpy as np

from dslc.backend import proto
from dslc.backend.emitter import Emitter
from dslc.ir.dims import Dim, sym
from dslc.ir.preprocess import Preprocess

__all__ = ["IN_GRAPH_OPSET", "emit_preprocess", "raw_input"]

IN_GRAPH_OPSET = 18  # Resize's antialias attribute
_ELEM_UINT8 = 2


def raw_input(p: Preprocess, name: str, shape: tuple[Dim, ...]) -> bytes:
    """The value_info of the image tensor the model takes: sizes of its own when resized."""
    n, c = shape[0], p.channels
    h, w = (sym("height"), sym("width")) if p.resize else (shape[-2], shape[-1])
    dims = (n, h, w, c) if p.layout == "hwc" else (n, c, h, w)
    elem = _ELEM_UINT8 if p.dtype == "uint8" else proto.ELEM_FLOAT
    return proto.value_info(name, elem, [d if isinstance(d, int | str) else str(d) for d in dims])


class _Steps:
    """Appends the pipeline's nodes, each output named `{input}.pre.{step}` with its shape
    recorded (value_info): `image` is the image tensor's shape as the steps change it."""

    def __init__(self, e: Emitter, prefix: str, image: tuple[Dim, ...]) -> None:
        self.e, self.prefix, self.image = e, prefix, image

    def add(
        self,
        op: str,
        inputs: list[str],
        step: str,
        shape: tuple[Dim, ...],
        elem: int,
        **attrs: object,
    ) -> str:
        out = self.e.shaped(f"{self.prefix}.pre.{step}", shape, elem)
        self.e.nodes.append(proto.node(op, inputs, [out], name=out, **attrs))
        return out

    def img(self, op: str, inputs: list[str], step: str, **attrs: object) -> str:
        """A step whose output is the image (float, of the current shape)."""
        return self.add(op, inputs, step, self.image, proto.ELEM_FLOAT, **attrs)

    def ints(self, op: str, inputs: list[str], step: str, n: int, **attrs: object) -> str:
        """A step whose output is n int64 values (sizes and offsets)."""
        return self.add(op, inputs, step, (n,), proto.ELEM_INT64, **attrs)

    def const(self, step: str, value: np.ndarray) -> str:
        name = f"{self.prefix}.pre.{step}"
        return name if name in self.e.shapes else self.e.const(name, value)


def emit_preprocess(
    e: Emitter, p: Preprocess, raw: str, out: str, elem: int, shape: tuple[Dim, ...]
) -> None:
    """Nodes from the image tensor `raw` to the network's input `out` (element type elem,
    `shape` N x C x H x W)."""
    n, c = shape[0], p.channels
    h, w = (sym("height"), sym("width")) if p.resize else (shape[-2], shape[-1])
    s = _Steps(e, raw, (n, h, w, c) if p.layout == "hwc" else (n, c, h, w))
    x = s.img("Cast", [raw], "float", to=proto.ELEM_FLOAT) if p.dtype == "uint8" else raw
    s.image = (n, c, h, w)
    if p.layout == "hwc":
        x = s.img("Transpose", [x], "chw", perm=[0, 3, 1, 2])
    if p.resize:
        x = _resize(s, p, x)
    if p.crop:
        x = _crop(s, p.crop, x)
    if p.dtype == "uint8":
        x = s.img("Div", [x, s.const("255", np.asarray(255.0, np.float32))], "scaled")
    if p.bgr:
        order = np.arange(c - 1, -1, -1, dtype=np.int64)
        x = s.img("Gather", [x, s.const("order", order)], "bgr", axis=1)
    if p.mean:
        mean = s.const("mean", np.asarray(p.mean, np.float32).reshape(1, c, 1, 1))
        std = s.const("std", np.asarray(p.std, np.float32).reshape(1, c, 1, 1))
        x = s.img("Div", [s.img("Sub", [x, mean], "centred"), std], "normalized")
    if elem != proto.ELEM_FLOAT:
        x = s.add("Cast", [x], "cast", s.image, elem, to=elem)
    e.nodes.append(proto.node("Identity", [x], [out], name=out))


def _resize(s: _Steps, p: Preprocess, x: str) -> str:
    """Resize to (h, w), or the shorter side to `size` and the longer to
    floor(size * long / short) as torchvision does, with PIL's antialiased filters."""
    shape = s.ints("Shape", [x], "shape", 4)
    lead = s.ints("Slice", [shape, _i64(s, "0", [0]), _i64(s, "2", [2])], "nc", 2)
    if len(p.resize) == 2:
        hw = _i64(s, "size", list(p.resize))
        size: tuple[Dim, Dim] = (p.resize[0], p.resize[1])
    else:
        have = s.ints("Slice", [shape, _i64(s, "2", [2]), _i64(s, "4", [4])], "hw", 2)
        short = s.ints("ReduceMin", [have], "short", 1, keepdims=1)
        scaled = s.ints("Mul", [have, _i64(s, "side", [p.resize[0]])], "scaled_hw", 2)
        hw = s.ints("Div", [scaled, short], "resized_hw", 2)
        size = (sym("resized_height"), sym("resized_width"))
    sizes = s.ints("Concat", [lead, hw], "sizes", 4, axis=0)
    s.image = (*s.image[:2], *size)
    cubic = p.interpolation == "bicubic"
    x = s.img(
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
    rounded = s.img("Round", [x], "rounded")  # PIL resizes 8-bit images to 8 bits
    low = s.const("low", np.asarray(0.0, np.float32))
    high = s.const("high", np.asarray(255.0, np.float32))
    return s.img("Clip", [rounded, low, high], "clipped")


def _crop(s: _Steps, crop: tuple[int, int], x: str) -> str:
    """torchvision's center_crop: top-left at round((size - crop) / 2), half to even."""
    shape = s.ints("Shape", [x], "crop_shape", 4)
    hw = s.ints("Slice", [shape, _i64(s, "2", [2]), _i64(s, "4", [4])], "crop_hw", 2)
    size = _i64(s, "crop", list(crop))
    room = s.ints("Sub", [hw, size], "room", 2)
    room_f = s.add("Cast", [room], "room_f", (2,), proto.ELEM_FLOAT, to=proto.ELEM_FLOAT)
    two = s.const("2f", np.asarray(2.0, np.float32))
    half = s.add("Div", [room_f, two], "half_room", (2,), proto.ELEM_FLOAT)
    start_f = s.add("Round", [half], "start_f", (2,), proto.ELEM_FLOAT)
    start = s.ints("Cast", [start_f], "start", 2, to=proto.ELEM_INT64)
    end = s.ints("Add", [start, size], "end", 2)
    s.image = (*s.image[:2], *crop)
    return s.img("Slice", [x, start, end, _i64(s, "axes", [2, 3])], "cropped")


def _i64(s: _Steps, step: str, values: list[int]) -> str:
    return s.const(step, np.asarray(values, np.int64))
