"""What every picture shares: the optional plotting packages, output formats, saving a figure
deterministically, and reading an image of any kind into an array.

matplotlib (Agg, no pyplot and so no global figure state) and Pillow are the `plot` extra;
`need_plotting()` names it when they are missing, before any work is done.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FORMATS",
    "MissingExtra",
    "PictureError",
    "format_of",
    "need_plotting",
    "new_figure",
    "read_image",
    "save",
    "style",
]

FORMATS = ("png", "svg", "pdf")
RC: Any = {
    "svg.fonttype": "none",  # text stays text: small files, searchable labels
    "svg.hashsalt": "dslc",  # element ids the same on every run
    "font.size": 10,
    "font.family": "DejaVu Sans",
}


class PictureError(Exception):
    """A picture that cannot be drawn, or an image that cannot be read (the message says why)."""


class MissingExtra(Exception):
    """matplotlib or Pillow is not installed."""


def need_plotting() -> None:
    """Raise MissingExtra naming the package and the extra when one is missing."""
    for name in ("matplotlib", "PIL"):
        if importlib.util.find_spec(name) is None:
            package = "Pillow" if name == "PIL" else name
            raise MissingExtra(f"needs {package}: pip install 'dslc[plot]'")


def format_of(path: str | Path) -> str:
    """The picture format chosen by the output's suffix; ValueError for any other suffix."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        got = f"'.{suffix}'" if suffix else "no suffix"
        raise ValueError(f"{Path(path).name} has {got}; choose a name ending in .png, .svg or .pdf")
    return suffix


@contextmanager
def style() -> Iterator[None]:
    """dslc's settings for drawing and saving (fonts, text kept as text in SVG, fixed ids)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def new_figure(width_in: float, height_in: float, dpi: float = 100) -> Figure:
    """A figure of this size drawn by Agg, with no global (pyplot) state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, fmt: str, dpi: float | None = None) -> bytes:
    """The figure as PNG, SVG or PDF bytes, the same bytes for the same figure (no dates)."""
    metadata: dict[str, Any] = {
        "png": {"Software": None},
        "svg": {"Date": None},
        "pdf": {"CreationDate": None, "ModDate": None},
    }[fmt]
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format=fmt, dpi=dpi or fig.dpi, metadata=metadata)
    return buf.getvalue()


def read_image(path: Path) -> np.ndarray:
    """An image as H x W x 3 float values in 0..1: any format Pillow reads (PNG, JPEG, ...;
    palette, grey with alpha, CMYK, 16-bit), or a .npy array (H x W or H x W x 3, scaled to
    its own range)."""
    data = _regular_bytes(path)
    if path.suffix.lower() == ".npy":
        return _from_npy(path, data)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return _to_rgb(img)
    except UnidentifiedImageError:
        raise PictureError(f"cannot read {path}: not an image Pillow knows") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PictureError(f"cannot read {path}: {exc}") from None


def _to_rgb(img: Any) -> np.ndarray:
    """Pillow image of any mode → H x W x 3 floats in 0..1 (alpha over white)."""
    mode = img.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16-bit or float grey
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        grey = np.clip(a / (top if mode != "F" else max(float(a.max()), 1e-12)), 0, 1)
        return np.repeat(grey[:, :, None], 3, axis=2)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
    alpha = rgba[:, :, 3:4]
    return rgba[:, :, :3] * alpha + (1 - alpha)


def _regular_bytes(path: Path) -> bytes:
    """The file's bytes: a regular file only (a FIFO or device is refused without blocking),
    at most dslc_runtime's image size cap."""
    from dslc_runtime.errors import RunError
    from dslc_runtime.files import read_capped
    from dslc_runtime.images import MAX_IMAGE_BYTES

    try:
        return read_capped(str(path), "image", MAX_IMAGE_BYTES)
    except RunError as exc:
        raise PictureError(str(exc)) from None


def _from_npy(path: Path, data: bytes) -> np.ndarray:
    try:
        a = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PictureError(f"cannot read {path}: {exc}") from None
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
        a = np.moveaxis(a, 0, 2)  # C x H x W
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.size == 0:
        raise PictureError(f"{path}: expected an H x W or H x W x 3 array, got {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise PictureError(f"{path}: expected numbers, got {a.dtype}")
    a = a.astype(np.float64)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    a = np.nan_to_num((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a))
    return a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2)
