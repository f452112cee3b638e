"""Calibration samples for static quantization, made for a model's input: images from a
folder (read with Pillow), an `.npz` array `x`, or scikit-learn's bundled 8x8 digits. Images
are prepared as `prepare.plan_for` decides from the input and the model's metadata."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import InputError, RunError
from .images import read_image
from .npz import read_npz_arrays
from .prepare import Pixels, Plan, PrepareError, pillow, plan_for, prepare
from .specs import TensorSpec, format_shape

__all__ = [
    "IMAGE_SUFFIXES",
    "CalibrationError",
    "Pixels",
    "Source",
    "digits",
    "load_samples",
    "parse_source",
    "plan_for",
]

Array = np.ndarray[Any, Any]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
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


def _read_image(path: Path, channels: int) -> Array:
    """An image file as uint8 H x W x C (grey for 1 channel, RGB for 3), read as `dslc run
    --image` reads photos (regular files only, size-capped); its errors as CalibrationError."""
    try:
        return read_image(str(path), channels)
    except InputError as exc:
        raise CalibrationError(str(exc)) from None


def digits(c: int, h: int, w: int) -> tuple[Array, Array]:
    """scikit-learn's 1,797 bundled 8x8 digits (nothing is downloaded) as (N, C, H, W) pixels
    in [0, 1] (grey levels 0..16 / 16, resized bilinearly, grey repeated over C), and labels."""
    images, labels = _digit_images()
    Image = pillow()
    resized = [
        np.asarray(Image.fromarray(img, mode="F").resize((w, h), Image.Resampling.BILINEAR))
        for img in images
    ]
    unit = np.clip(np.stack(resized), 0.0, 1.0)[:, None, :, :]
    return np.repeat(unit, c, axis=1), labels


def _digit_images() -> tuple[Array, Array]:
    """The digits as 8x8 float32 images in [0, 1], and their labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise CalibrationError(
            f"the digits source needs scikit-learn: pip install 'dslc[quantize]' ({exc})"
        ) from None
    data = load_digits()
    return np.asarray(data.images, np.float32) / 16.0, np.asarray(data.target, np.int64)


def _npz(source: Source, spec: TensorSpec, sizes: Mapping[str, int], pick: Any) -> list[Array]:
    try:  # regular files only, never unpickled, declared sizes checked before inflating
        x = read_npz_arrays(source.path, ("x",), f"calibration file {source.path}")["x"]
    except RunError as exc:
        raise CalibrationError(str(exc)) from None
    if x.ndim == spec.rank - 1:
        x = x[None]
    _check_npz_shape(x, spec, sizes, source.path)
    if x.dtype.kind not in "biuf":
        raise CalibrationError(f"{source.path}: 'x' holds {x.dtype}, not numbers")
    chosen: Array = x[pick(x.shape[0])].astype(spec.dtype)
    if chosen.dtype.kind == "f" and not np.all(np.isfinite(chosen)):
        raise CalibrationError(f"{source.path}: 'x' holds NaN or infinite values")
    return [chosen[i : i + 1] for i in range(len(chosen))]


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
    metadata: Mapping[str, str] | None = None,
) -> tuple[list[Array], Plan | None]:
    """Up to `samples` calibration inputs for `spec`, each a batch of one (images a graph
    resizes itself keep their own sizes), drawn with `seed` where the source has more; and
    the plan images were prepared with (None for npz)."""
    sizes = sizes or {}
    if samples < 1:
        raise CalibrationError(f"--samples must be at least 1, got {samples}")

    def pick(count: int) -> Array:
        return _pick(count, samples, seed)

    if source.kind == "npz":
        return _npz(source, spec, sizes, pick), None
    try:
        plan = plan_for(spec, metadata or {}, pixels or Pixels(), sizes)
    except PrepareError as exc:
        raise CalibrationError(str(exc)) from None
    read: Callable[[int], Array]
    if source.kind == "digits":
        grey = np.rint(_digit_images()[0] * 255).astype(np.uint8)[:, :, :, None]
        count = len(grey)

        def read(i: int) -> Array:
            return np.repeat(grey[i], plan.channels, axis=2)

    else:
        files = _image_files(source.path)
        count = len(files)

        def read(i: int) -> Array:
            return _read_image(files[i], plan.channels)

    prepared = [prepare(read(int(i)), plan) for i in pick(count)]
    if not all(np.isfinite(p).all() for p in prepared):  # a mean or std past float32's range
        raise CalibrationError(
            "the prepared samples hold NaN or infinite values: the --mean or --std given "
            "takes pixels past float32's range"
        )
    return prepared, plan
