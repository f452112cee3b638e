"""How a calibration image becomes a model input: the plan (layout, resize, crop, scaling,
normalisation) chosen from the input's shape and dtype and the `dslc.preprocess` metadata a
dslc model may carry, and its application to one uint8 H x W x C image.

- A model whose graph preprocesses (`in_graph`, or an N x H x W x C input) gets the image as
  it is: raw 0..255 for an integer input, / 255 for a float one; resized only where the input
  has a fixed size.
- A float N x C x H x W input with a declared pipeline (compiled with --no-preprocess) gets
  that pipeline, by the same code as `dslc run --image` (images.Pipeline: torchvision's
  resize of the short side or to H x W, centre crop, BGR, mean and std).
- Otherwise torchvision's usual steps: resized to cover H x W with the aspect kept, centre-
  cropped, scaled to [0, 1], (x - mean) / std (ImageNet's for 3 channels, 0 and 1 for 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from .errors import RunError
from .images import Pipeline, pipeline_of
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
Cover = tuple[int, int]  # resized to cover H x W, the aspect kept


class PrepareError(RunError):
    """Images cannot be made into this input."""


@dataclass(frozen=True)
class Pixels:
    """--mean and --std as given (None: the model's declaration or the default)."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Plan:
    """The steps from a uint8 H x W x C image to one input sample: the model's declared
    pipeline, or resized to cover H x W (if given) and centre-cropped, scaled, normalised."""

    layout: Literal["nchw", "nhwc"]
    channels: int
    dtype: np.dtype[Any]
    cover: Cover | None
    unit: bool = True  # divide by 255
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    pipeline: Pipeline | None = None  # the model's dslc.preprocess, followed as declared

    @property
    def declared(self) -> bool:
        """Whether the steps are the model's own (dslc.preprocess)."""
        return self.pipeline is not None

    def describe(self) -> str:
        """One line for people."""
        p = self.pipeline
        if p is not None:
            size = {0: "at their own size", 1: "short side resized to {}"}.get(
                len(p.resize), "resized to {}x{}"
            )
            steps = [
                size.format(*p.resize) + (" (bicubic)" if p.interpolation == "bicubic" else "")
            ]
            steps[0] += f", centre-cropped to {p.crop[0]}x{p.crop[1]}" if p.crop else ""
            steps += ["BGR"] if p.bgr else []
            steps += ["scaled to [0, 1]", f"(x - [{_join(p.mean)}]) / [{_join(p.std)}]"]
            return ", ".join(steps) + " (the model's dslc.preprocess)"
        steps = [
            "at their own size"
            if self.cover is None
            else f"resized to cover {self.cover[0]}x{self.cover[1]} and centre-cropped"
        ]
        steps.append("scaled to [0, 1]" if self.unit else f"raw 0..255 as {self.dtype}")
        if self.mean is not None and self.std is not None:
            steps.append(f"(x - [{_join(self.mean)}]) / [{_join(self.std)}]")
        return ", ".join(steps)


def _join(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _declared(metadata: Mapping[str, str], name: str) -> Pipeline | None:
    """This input's pipeline in the model's `dslc.preprocess` metadata, if any."""
    try:
        return pipeline_of(metadata).get(name)
    except RunError as exc:
        raise PrepareError(str(exc)) from None


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
    declared = _declared(metadata, spec.name)
    in_graph = declared is not None and declared.in_graph
    hwc = (in_graph and declared is not None and declared.layout == "hwc") or (
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
    unnamed = [a for a, v in ((2, h), (3, w)) if v is None and not isinstance(spec.shape[a], str)]
    if unnamed:  # a dim the model leaves unknown (or declares 0 or less): no --size names it
        raise PrepareError(
            f"input {spec.describe()}: its height or width has no size and no name to give one "
            "(--size); give the samples as npz:PATH with an array 'x' of the input's shape"
        )
    if c not in (1, 3) or h is None or w is None:
        missing = [str(spec.shape[a]) for a, v in ((2, h), (3, w)) if v is None]
        raise PrepareError(
            f"input {spec.describe()}: "
            + (f"give its size with --size {'=...,'.join(missing)}=..." if missing else "")
            + (f"{c} channels; images give 1 (grey) or 3 (RGB)" if c not in (1, 3) else "")
        )
    if spec.dtype.kind in "iu":
        return Plan("nchw", c, spec.dtype, (h, w), unit=False)
    return _float_plan(spec, c, (h, w), declared, pixels)


def _graph_plan(spec: TensorSpec, sizes: Mapping[str, int]) -> Plan:
    """An input the graph preprocesses: the image as it is (resized only to a fixed size)."""
    nhwc = spec.shape[3] in (1, 3)
    c = int(spec.shape[3] if nhwc else spec.shape[1])  # type: ignore[arg-type]
    h, w = _fixed(spec, (1, 2) if nhwc else (2, 3), sizes)
    layout: Literal["nchw", "nhwc"] = "nhwc" if nhwc else "nchw"
    return Plan(layout, c, spec.dtype, (h, w) if h and w else None, unit=spec.dtype.kind == "f")


def _float_plan(
    spec: TensorSpec, c: int, size: tuple[int, int], declared: Pipeline | None, pixels: Pixels
) -> Plan:
    mean = (
        pixels.mean or (declared.mean if declared else ()) or (IMAGENET_MEAN if c == 3 else (0.0,))
    )
    std = pixels.std or (declared.std if declared else ()) or (IMAGENET_STD if c == 3 else (1.0,))
    mean, std = _stats(mean, c, "mean"), _stats(std, c, "std")
    if declared is None:
        return Plan("nchw", c, spec.dtype, size, mean=mean, std=std)
    if declared.channels != c:
        raise PrepareError(
            f"input {spec.describe()}: the model's dslc.preprocess declares "
            f"{declared.channels} channels"
        )
    pipeline = replace(declared, mean=mean, std=std)
    return Plan("nchw", c, spec.dtype, None, mean=mean, std=std, pipeline=pipeline)


def pillow() -> Any:
    """Pillow's Image module, or a PrepareError saying how to install it."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise PrepareError(
            f"calibration images are read with Pillow: pip install 'dslc[quantize]' ({exc})"
        ) from None
    return Image


def _covering(image: Any, cover: Cover) -> Any:
    """Resized (bilinear) so that it covers H x W with its aspect kept."""
    h, w = cover
    if h < 1 or w < 1 or h * w > 1 << 28:
        raise PrepareError(f"the input's {h} x {w} is no size to prepare images for")
    scale = max(h / image.height, w / image.width)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, pillow().Resampling.BILINEAR)


def prepare(image: Array, plan: Plan) -> Array:
    """One uint8 H x W x C image as a batch of one for the input."""
    if plan.pipeline is not None:
        return plan.pipeline.prepare(image).astype(plan.dtype)
    Image = pillow()
    pil = Image.fromarray(image[:, :, 0] if plan.channels == 1 else image)
    if plan.cover is not None:
        ch, cw = plan.cover
        pil = _covering(pil, plan.cover)
        top, left = round((pil.height - ch) / 2), round((pil.width - cw) / 2)
        pil = pil.crop((left, top, left + cw, top + ch))
    x: Array = np.asarray(pil, np.float32).reshape(pil.height, pil.width, plan.channels)
    if plan.unit:
        x = x / np.float32(255)
    if plan.mean is not None and plan.std is not None:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # checked after
            x = (x - np.asarray(plan.mean, np.float32)) / np.asarray(plan.std, np.float32)
    if plan.layout == "nchw":
        x = x.transpose(2, 0, 1)
    if plan.dtype.kind in "iu":
        x = np.clip(np.rint(x), 0, 255).astype(np.float32)
    return np.ascontiguousarray(x[None]).astype(plan.dtype)
