"""Calibration samples for static quantization, shaped to a model's input: images from a
folder (read with Pillow), an `.npz` array `x`, or scikit-learn's bundled 8x8 digits.

Pixels become input values as torchvision's transforms make them: resized to cover H x W
(aspect kept) and centre-cropped, scaled to [0, 1], then (x - mean) / std per channel. An
input of an integer type (a model that preprocesses in its graph) gets the raw 0..255 pixels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import RunError
from .files import open_regular
from .specs import TensorSpec, format_shape

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_SUFFIXES",
    "CalibrationError",
    "Pixels",
    "Source",
    "describe_pixels",
    "digits",
    "input_size",
    "load_samples",
    "parse_source",
]

Array = np.ndarray[Any, Any]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MAX_FILES = 1_000_000  # a folder scan stops here (a mistyped `/`)


class CalibrationError(RunError):
    """The calibration source cannot give samples for this model's input."""


@dataclass(frozen=True)
class Source:
    """Where calibration samples come from: `folder:PATH`, `npz:PATH` or `digits`."""

    kind: Literal["folder", "npz", "digits"]
    path: str = ""

    def describe(self) -> str:
        """As the user writes it."""
        return self.kind if self.kind == "digits" else f"{self.kind}:{self.path}"


def parse_source(text: str) -> Source:
    """`folder:PATH`, `npz:PATH`, `digits`; a bare directory or `.npz` path is taken too."""
    kind, colon, path = text.partition(":")
    if text == "digits":
        return Source("digits")
    if colon and kind in ("folder", "npz") and path:
        return Source("folder" if kind == "folder" else "npz", path)
    if os.path.isdir(text):
        return Source("folder", text)
    if text.lower().endswith(".npz"):
        return Source("npz", text)
    raise CalibrationError(
        f"calibration source '{text}': write folder:PATH (a folder of images), npz:PATH (an "
        ".npz file with an array 'x', N x C x H x W) or digits (scikit-learn's 8x8 digits)"
    )


@dataclass(frozen=True)
class Pixels:
    """How pixels in [0, 1] become input values: (x - mean) / std per channel. None: ImageNet's
    mean and std for 3 channels, mean 0 and std 1 (the [0, 1] pixels) otherwise."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def stats(self, channels: int) -> tuple[Array, Array]:
        """Mean and std as (C, 1, 1) arrays; CalibrationError for a wrong count or a zero std."""
        imagenet = channels == 3
        mean = self.mean or (IMAGENET_MEAN if imagenet else (0.0,))
        std = self.std or (IMAGENET_STD if imagenet else (1.0,))
        out = []
        for name, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, channels):
                raise CalibrationError(
                    f"--{name} has {len(values)} values; the input has {channels} channels "
                    "(give one value, or one per channel)"
                )
            out.append(np.broadcast_to(np.asarray(values, np.float32), (channels,)))
        if not np.all(out[1] > 0):
            raise CalibrationError("--std values must be positive")
        return out[0].reshape(-1, 1, 1), out[1].reshape(-1, 1, 1)

    def apply(self, unit: Array, spec: TensorSpec) -> Array:
        """Pixels in [0, 1] (N, C, H, W) as the input's values and dtype."""
        if spec.dtype.kind in "iu":
            return np.clip(np.rint(unit * 255.0), 0, 255).astype(spec.dtype)
        mean, std = self.stats(unit.shape[1])
        return ((unit - mean) / std).astype(spec.dtype)


def input_size(spec: TensorSpec, sizes: Mapping[str, int]) -> tuple[int, int, int]:
    """(C, H, W) of an N x C x H x W input, symbolic sizes taken from `sizes`."""
    if spec.rank != 4:
        raise CalibrationError(
            f"input {spec.describe()} is not N x C x H x W: images cannot feed it; give the "
            "samples as npz:PATH with an array 'x' of the input's shape"
        )
    dims = []
    for axis, dim in enumerate(spec.shape[1:], start=1):
        value = sizes.get(dim) if isinstance(dim, str) else dim
        if not isinstance(value, int):
            name = dim if isinstance(dim, str) else f"axis {axis}"
            raise CalibrationError(
                f"input {spec.describe()} has no fixed size for {name}: give it with "
                f"--size {name}=... (e.g. --size H=224,W=224)"
            )
        dims.append(value)
    c, h, w = dims
    if c not in (1, 3) and spec.dtype.kind == "f":
        raise CalibrationError(
            f"input {spec.describe()} has {c} channels: images give 1 (grey) or 3 (RGB); "
            "give the samples as npz:PATH instead"
        )
    return c, h, w


def _pick(count: int, samples: int, seed: int) -> Array:
    """Indices of `samples` of `count` items, drawn with `seed`, in their original order."""
    if count <= samples:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, samples, replace=False))


def _image_files(folder: str) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise CalibrationError(f"calibration folder {folder} {what}")
    found: list[Path] = []
    for path in root.rglob("*"):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            found.append(path)
            if len(found) >= _MAX_FILES:
                break
    if not found:
        raise CalibrationError(
            f"calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}, "
            "sub-folders included)"
        )
    return sorted(found)


def _pillow() -> Any:
    """Pillow's Image module, or a CalibrationError saying how to install it."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise CalibrationError(
            f"calibration images are read with Pillow: pip install 'dslc[quantize]' ({exc})"
        ) from None
    return Image


def _read_image(path: Path, c: int, h: int, w: int) -> Array:
    """One image as (C, H, W) floats in [0, 1]: covers H x W with its aspect kept, centre-cropped."""
    Image = _pillow()

    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB" if c == 3 else "L")
    except Exception as exc:  # noqa: BLE001 - Pillow's errors share no useful base
        raise CalibrationError(f"cannot read image {path}: {exc}") from None
    scale = max(h / image.height, w / image.width)
    size = (max(w, round(image.width * scale)), max(h, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - w) // 2, (size[1] - h) // 2
    image = image.crop((left, top, left + w, top + h))
    array = np.asarray(image, dtype=np.float32) / 255.0
    return array.reshape(h, w, c).transpose(2, 0, 1)


def _folder(source: Source, shape: tuple[int, int, int], pick: Any) -> Array:
    files = _image_files(source.path)
    return np.stack([_read_image(files[i], *shape) for i in pick(len(files))])


def digits(c: int, h: int, w: int) -> tuple[Array, Array]:
    """scikit-learn's 1,797 bundled 8x8 digits (nothing is downloaded) as (N, C, H, W) pixels
    in [0, 1] (grey levels 0..16 / 16, resized bilinearly, grey repeated over C), and labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise CalibrationError(
            f"the digits source needs scikit-learn: pip install 'dslc[quantize]' ({exc})"
        ) from None
    Image = _pillow()
    data = load_digits()
    images = np.asarray(data.images, np.float32) / 16.0
    resized = [
        np.asarray(Image.fromarray(img, mode="F").resize((w, h), Image.Resampling.BILINEAR))
        for img in images
    ]
    unit = np.clip(np.stack(resized), 0.0, 1.0)[:, None, :, :]
    return np.repeat(unit, c, axis=1), np.asarray(data.target, np.int64)


def _npz(source: Source, spec: TensorSpec, sizes: Mapping[str, int], pick: Any) -> Array:
    try:
        with open_regular(source.path, "calibration file") as f, np.load(f) as archive:
            if "x" not in archive.files:
                found = ", ".join(archive.files) or "none"
                raise CalibrationError(
                    f"{source.path} has no array 'x' (its arrays: {found}); save the samples "
                    "with np.savez(path, x=samples)"
                )
            x = archive["x"]
    except CalibrationError:
        raise
    except RunError as exc:
        raise CalibrationError(str(exc)) from None
    except (OSError, ValueError, EOFError) as exc:
        raise CalibrationError(f"cannot read {source.path}: {exc}") from None
    if x.ndim == spec.rank - 1:
        x = x[None]
    _check_npz_shape(x, spec, sizes, source.path)
    if x.dtype.kind not in "biuf":
        raise CalibrationError(f"{source.path}: 'x' holds {x.dtype}, not numbers")
    chosen: Array = x[pick(x.shape[0])].astype(spec.dtype)
    if chosen.dtype.kind == "f" and not np.all(np.isfinite(chosen)):
        raise CalibrationError(f"{source.path}: 'x' holds NaN or infinite values")
    return chosen


def _check_npz_shape(x: Array, spec: TensorSpec, sizes: Mapping[str, int], path: str) -> None:
    wanted = [sizes.get(d) if isinstance(d, str) else d for d in spec.shape[1:]]
    fits = x.ndim == spec.rank and all(
        want is None or got == want for got, want in zip(x.shape[1:], wanted, strict=True)
    )
    if not fits or x.shape[0] == 0:
        raise CalibrationError(
            f"{path}: 'x' is {format_shape(x.shape)}; the model's input {spec.describe()} "
            f"needs N x {' x '.join('?' if d is None else str(d) for d in wanted)} samples"
        )


def load_samples(
    source: Source,
    spec: TensorSpec,
    samples: int,
    seed: int = 0,
    pixels: Pixels | None = None,
    sizes: Mapping[str, int] | None = None,
) -> Array:
    """Up to `samples` calibration inputs for `spec` (drawn with `seed` where the source has
    more), as one (N, …) array of the input's dtype."""
    sizes, pixels = sizes or {}, pixels or Pixels()
    if samples < 1:
        raise CalibrationError(f"--samples must be at least 1, got {samples}")

    def pick(count: int) -> Array:
        return _pick(count, samples, seed)

    if source.kind == "npz":
        return _npz(source, spec, sizes, pick)
    shape = input_size(spec, sizes)
    if source.kind == "digits":
        unit = digits(*shape)[0]
        unit = unit[pick(len(unit))]
    else:
        unit = _folder(source, shape, pick)
    return pixels.apply(unit, spec)


def describe_pixels(pixels: Pixels, spec: TensorSpec, channels: int) -> str:
    """One line: how pixels became the input's values."""
    if spec.dtype.kind in "iu":
        return f"raw pixels 0..255 as {spec.dtype} (the model preprocesses them itself)"
    mean, std = (", ".join(f"{v:g}" for v in a.ravel()) for a in pixels.stats(channels))
    return f"pixels in [0, 1], then (x - [{mean}]) / [{std}] per channel"
