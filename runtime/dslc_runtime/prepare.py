"""How a calibration image becomes a model input: the plan (layout, resize, crop, scaling,
normalisation) chosen from the input's shape and dtype and the `dslc.preprocess` metadata a
dslc model may carry, and its application to one uint8 H x W x C image.

- A model whose graph preprocesses (`in_graph`, or an N x H x W x C input) gets the image as
  it is: raw 0..255 for an integer input, / 255 for a float one; resized only where the input
  has a fixed size.
- A float N x C x H x W input with a declared pipeline (compiled with --no-preprocess) gets
  that pipeline: resize (short side or H x W), centre crop, BGR, mean and std.
- Otherwise torchvision's usual steps: resized to cover H x W with the aspect kept, centre-
  cropped, scaled to [0, 1], (x - mean) / std (ImageNet's for 3 channels, 0 and 1 for 1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import RunError
from .specs import TensorSpec

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Pixels",
    "Plan",
    "PrepareError",
    "pillow",
    "plan_for",
    "prepare",
]

Array = np.ndarray[Any, Any]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Resize = tuple[Literal["short", "exact", "cover"], int, int]


class PrepareError(RunError):
    """Images cannot be made into this input."""


@dataclass(frozen=True)
class Pixels:
    """--mean and --std as given (None: the model's declaration or the default)."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Plan:
    """The steps from a uint8 H x W x C image to one input sample."""

    layout: Literal["nchw", "nhwc"]
    channels: int
    dtype: np.dtype[Any]
    resize: Resize | None
    crop: tuple[int, int] | None
    bicubic: bool = False
    bgr: bool = False
    unit: bool = True  # divide by 255
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    declared: bool = False  # from the model's dslc.preprocess

    def describe(self) -> str:
        """One line for people."""
        if self.resize is None:
            size = "at their own size"
        else:
            kind, h, w = self.resize
            size = {
                "short": f"short side resized to {h}",
                "exact": f"resized to {h}x{w}",
                "cover": f"resized to cover {h}x{w}",
            }[kind]
        cover = self.resize is not None and self.resize == ("cover", *(self.crop or (0, 0)))
        if cover:
            size += " and centre-cropped"
        elif self.crop:
            size += f", centre-cropped to {self.crop[0]}x{self.crop[1]}"
        steps = [size]
        steps += ["BGR"] if self.bgr else []
        steps.append("scaled to [0, 1]" if self.unit else f"raw 0..255 as {self.dtype}")
        if self.mean is not None and self.std is not None:
            steps.append(f"(x - [{_join(self.mean)}]) / [{_join(self.std)}]")
        return ", ".join(steps) + (" (the model's dslc.preprocess)" if self.declared else "")


def _join(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _declared(metadata: Mapping[str, str], name: str) -> dict[str, Any] | None:
    """This input's record in the model's `dslc.preprocess` metadata, if any."""
    try:
        records = json.loads(metadata.get("dslc.preprocess") or "[]")
        found = [r for r in records if isinstance(r, dict) and r.get("input") == name]
    except (ValueError, TypeError, AttributeError):
        raise PrepareError("the model's dslc.preprocess metadata is malformed") from None
    return found[0] if found else None


def _fixed(spec: TensorSpec, axes: tuple[int, ...], sizes: Mapping[str, int]) -> list[int | None]:
    out: list[int | None] = []
    for axis in axes:
        dim = spec.shape[axis]
        out.append(sizes.get(dim) if isinstance(dim, str) else dim)
    return out


def _stats(values: tuple[float, ...], channels: int, what: str) -> tuple[float, ...]:
    if len(values) not in (1, channels):
        raise PrepareError(
            f"--{what} has {len(values)} values; the input has {channels} channels "
            "(give one value, or one per channel)"
        )
    if what == "std" and min(values) <= 0:
        raise PrepareError("--std values must be positive")
    return tuple(values) * (channels // len(values))


def plan_for(
    spec: TensorSpec, metadata: Mapping[str, str], pixels: Pixels, sizes: Mapping[str, int]
) -> Plan:
    """The plan for this input; PrepareError where images cannot feed it."""
    declared = _declared(metadata, spec.name) or {}
    in_graph = bool(declared.get("in_graph"))
    hwc = (in_graph and declared.get("layout") == "hwc") or (
        spec.rank == 4 and spec.shape[3] in (1, 3) and spec.shape[1] not in (1, 3)
    )
    if spec.rank != 4 or (hwc and spec.shape[3] not in (1, 3)):
        raise PrepareError(
            f"input {spec.describe()} is not N x C x H x W (or N x H x W x C): images cannot "
            "feed it; give the samples as npz:PATH with an array 'x' of the input's shape"
        )
    if hwc or in_graph:
        return _graph_plan(spec, sizes)
    c, h, w = _fixed(spec, (1, 2, 3), sizes)
    if c not in (1, 3) or h is None or w is None:
        missing = [str(spec.shape[a]) for a, v in ((2, h), (3, w)) if v is None]
        raise PrepareError(
            f"input {spec.describe()}: "
            + (f"give its size with --size {'=...,'.join(missing)}=..." if missing else "")
            + (f"{c} channels; images give 1 (grey) or 3 (RGB)" if c not in (1, 3) else "")
        )
    if spec.dtype.kind in "iu":
        return Plan("nchw", c, spec.dtype, ("cover", h, w), (h, w), unit=False)
    return _float_plan(spec, c, (h, w), declared, pixels)


def _graph_plan(spec: TensorSpec, sizes: Mapping[str, int]) -> Plan:
    """An input the graph preprocesses: the image as it is (resized only to a fixed size)."""
    nhwc = spec.shape[3] in (1, 3)
    c = int(spec.shape[3] if nhwc else spec.shape[1])  # type: ignore[arg-type]
    h, w = _fixed(spec, (1, 2) if nhwc else (2, 3), sizes)
    resize: Resize | None = ("cover", h, w) if h and w else None
    crop = (h, w) if h and w else None
    layout: Literal["nchw", "nhwc"] = "nhwc" if nhwc else "nchw"
    return Plan(layout, c, spec.dtype, resize, crop, unit=spec.dtype.kind == "f")


def _float_plan(
    spec: TensorSpec, c: int, size: tuple[int, int], declared: Mapping[str, Any], pixels: Pixels
) -> Plan:
    mean = pixels.mean or tuple(declared.get("mean") or ()) or (IMAGENET_MEAN if c == 3 else (0.0,))
    std = pixels.std or tuple(declared.get("std") or ()) or (IMAGENET_STD if c == 3 else (1.0,))
    mean, std = _stats(mean, c, "mean"), _stats(std, c, "std")
    if not declared:
        return Plan("nchw", c, spec.dtype, ("cover", *size), size, mean=mean, std=std)
    given = [int(v) for v in declared.get("resize") or ()]
    crop = declared.get("crop")
    resize: Resize = (
        ("short", given[0], 0) if len(given) == 1
        else ("exact", given[0], given[1]) if len(given) == 2
        else ("cover", *size)
    )  # fmt: skip
    return Plan(
        "nchw", c, spec.dtype, resize, (int(crop[0]), int(crop[1])) if crop else size,
        bicubic=declared.get("interpolation") == "bicubic", bgr=bool(declared.get("bgr")),
        mean=mean, std=std, declared=True,
    )  # fmt: skip


def pillow() -> Any:
    """Pillow's Image module, or a PrepareError saying how to install it."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise PrepareError(
            f"calibration images are read with Pillow: pip install 'dslc[quantize]' ({exc})"
        ) from None
    return Image


def _resized(image: Any, resize: Resize, bicubic: bool) -> Any:
    Image = pillow()
    kind, h, w = resize
    if kind == "short":
        scale = h / min(image.height, image.width)
    elif kind == "cover":
        scale = max(h / image.height, w / image.width)
    if kind != "exact":
        h, w = max(1, round(image.height * scale)), max(1, round(image.width * scale))
    mode = Image.Resampling.BICUBIC if bicubic else Image.Resampling.BILINEAR
    return image.resize((w, h), mode)


def prepare(image: Array, plan: Plan) -> Array:
    """One uint8 H x W x C image as a batch of one for the input."""
    Image = pillow()
    pil = Image.fromarray(image[:, :, 0] if plan.channels == 1 else image)
    if plan.resize is not None:
        pil = _resized(pil, plan.resize, plan.bicubic)
    if plan.crop is not None:
        ch, cw = plan.crop
        if pil.height < ch or pil.width < cw:  # a declared resize smaller than the crop
            pil = _resized(pil, ("cover", ch, cw), plan.bicubic)
        top, left = round((pil.height - ch) / 2), round((pil.width - cw) / 2)
        pil = pil.crop((left, top, left + cw, top + ch))
    x: Array = np.asarray(pil, np.float32).reshape(pil.height, pil.width, plan.channels)
    if plan.bgr:
        x = x[:, :, ::-1]
    if plan.unit:
        x = x / np.float32(255)
    if plan.mean is not None and plan.std is not None:
        x = (x - np.asarray(plan.mean, np.float32)) / np.asarray(plan.std, np.float32)
    if plan.layout == "nchw":
        x = x.transpose(2, 0, 1)
    if plan.dtype.kind in "iu":
        x = np.clip(np.rint(x), 0, 255).astype(np.float32)
    return np.ascontiguousarray(x[None]).astype(plan.dtype)
