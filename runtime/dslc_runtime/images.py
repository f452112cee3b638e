"""Photos in, class names out: read an image with Pillow, prepare it as the model's
`dslc.preprocess` metadata declares (nothing but the tensor's dtype and layout when the graph
does the preprocessing itself), and rank the classes with the `dslc.labels` names."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError, RunError
from .files import read_capped

__all__ = ["MAX_IMAGE_BYTES", "Pipeline", "labels_of", "pipeline_of", "ranked", "read_image"]

MAX_IMAGE_BYTES = 256 * 2**20  # a file; Pillow bounds the decoded pixels itself
INSTALL = "pip install 'dslc[image]'"
Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Pipeline:
    """One input's preprocessing, as the model's metadata records it."""

    input: str
    channels: int
    dtype: str
    layout: str
    resize: tuple[int, ...]
    interpolation: str
    crop: tuple[int, int] | None
    bgr: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_graph: bool

    def prepare(self, image: Array) -> Array:
        """A batch of one from a uint8 H x W x C image: the tensor the model takes."""
        x = image if self.in_graph else self._steps(image)
        if self.dtype == "float32":
            x = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x
        if self.layout == "chw" or not self.in_graph:
            x = np.ascontiguousarray(x.transpose(2, 0, 1))
        return x[None]

    def _steps(self, image: Array) -> Array:
        """torchvision's transforms on a PIL image, for a graph without them (opset 17)."""
        from PIL import Image

        pil = Image.fromarray(image.squeeze(-1) if self.channels == 1 else image)
        if self.resize:
            h, w = image.shape[:2]
            size = self.resize if len(self.resize) == 2 else _short_side(h, w, self.resize[0])
            mode = (
                Image.Resampling.BICUBIC
                if self.interpolation == "bicubic"
                else Image.Resampling.BILINEAR
            )
            pil = pil.resize((size[1], size[0]), mode)
        x: Array = np.asarray(pil, np.float32).reshape(pil.height, pil.width, self.channels)
        if self.crop:
            if x.shape[0] < self.crop[0] or x.shape[1] < self.crop[1]:
                raise InputError(
                    f"an image of {x.shape[0]}x{x.shape[1]} pixels (after the declared resize) "
                    f"is smaller than the model's centre crop {self.crop[0]}x{self.crop[1]}"
                )
            top = round((x.shape[0] - self.crop[0]) / 2)
            left = round((x.shape[1] - self.crop[1]) / 2)
            x = x[top : top + self.crop[0], left : left + self.crop[1]]
        x = x / np.float32(255)
        if self.bgr:
            x = x[:, :, ::-1]
        if self.mean:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # no numpy warning
                x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return x.astype(np.float32)


def _short_side(h: int, w: int, side: int) -> tuple[int, int]:
    short, long = (h, w) if h <= w else (w, h)
    new = (side, side * long // short)
    return new if h <= w else (new[1], new[0])


def pipeline_of(metadata: Mapping[str, str]) -> dict[str, Pipeline]:
    """Each input's pipeline from `dslc.preprocess`, by input name."""
    text = metadata.get("dslc.preprocess")
    if not text:
        return {}
    try:
        return {r["input"]: _pipeline(r) for r in json.loads(text)}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        why = "JSON nested too deep" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise RunError(
            f"the model's dslc.preprocess metadata is not the list of pipelines dslc writes: {why}"
        ) from None


def _pipeline(r: Mapping[str, Any]) -> Pipeline:
    crop = r["crop"]
    return Pipeline(
        str(r["input"]),
        int(r["channels"]),
        str(r["dtype"]),
        str(r["layout"]),
        tuple(int(v) for v in r["resize"]),
        str(r["interpolation"]),
        (int(crop[0]), int(crop[1])) if crop else None,
        bool(r["bgr"]),
        tuple(float(v) for v in r["mean"]),
        tuple(float(v) for v in r["std"]),
        bool(r["in_graph"]),
    )


def labels_of(metadata: Mapping[str, str]) -> list[str]:
    """The class names of `dslc.labels`, one a line ([] without them), as they can be shown
    on a terminal: control characters (escape sequences) escaped, at most 100 characters."""
    text = metadata.get("dslc.labels", "")
    return [_shown(line) for line in text.split("\n")] if text else []


def _shown(label: str) -> str:
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in label[:100])
    return out + ("..." if len(label) > 100 else "")


def read_image(path: str, channels: int) -> Array:
    """A photo as uint8 H x W x channels (RGB, or grey for 1), from a regular file."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise RunError(f"reading images needs Pillow: {INSTALL}") from None
    data = read_capped(path, "image", MAX_IMAGE_BYTES)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            img = _eight_bit(opened).convert("L" if channels == 1 else "RGB")
            return np.asarray(img, np.uint8).reshape(img.height, img.width, channels)
    except UnidentifiedImageError:
        raise InputError(f"cannot read image {path}: not an image format Pillow reads") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read image {path}: {exc}") from None


def _eight_bit(img: Any) -> Any:
    """16-bit, 32-bit integer and float grey images scaled to 8 bits (Pillow's own convert
    clips them at 255: a 16-bit photo would turn white); other modes as they are. Alpha is
    dropped by the conversion to RGB, as torchvision's loader does."""
    if img.mode not in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return img
    from PIL import Image

    a = np.asarray(img, np.float64)
    if img.mode == "F":
        top = max(float(np.nanmax(a)) if a.size else 0.0, 1e-12)
    else:
        top = 65535.0 if img.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
    grey = np.clip(np.nan_to_num(a / top) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey)  # uint8 H x W: mode L


def ranked(scores: Array, labels: list[str], k: int) -> tuple[list[tuple[int, str, float]], bool]:
    """The k best classes of one item's scores as (rank, label, probability), and whether a
    softmax was applied: scores that are already probabilities (each in [0, 1], summing to
    1 within 1e-3) are taken as they are, any others are logits."""
    flat = np.asarray(scores, np.float64).reshape(-1)
    probs = flat.min() >= 0 and flat.max() <= 1 and abs(flat.sum() - 1) <= 1e-3
    if not probs:
        e = np.exp(flat - flat.max())
        flat = e / e.sum()
    best = np.argsort(-flat, kind="stable")[:k]
    names = [labels[i] if i < len(labels) else str(i) for i in best]
    return [
        (r + 1, n, float(flat[i])) for r, (i, n) in enumerate(zip(best, names, strict=True))
    ], not probs
