"""Training data for `dslc train`: `digits`, `folder:PATH` or `npz:PATH`, as float32 arrays of
the network's input shape, and a seeded train/validation split. Errors are DataError, one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DATA_HELP", "DataError", "Dataset", "load", "split"]

DATA_HELP = (
    "digits (scikit-learn's 1,797 8x8 handwritten digits, bundled), folder:PATH (one "
    "sub-folder of images per class, as torchvision's ImageFolder) or npz:PATH (arrays x and y)"
)
MAX_CLASSES = 1_000_000  # labels of npz data without a network to check them against
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class DataError(Exception):
    """The data cannot be used: a bad spec, a missing file, arrays of the wrong form."""


@dataclass(frozen=True)
class Dataset:
    """Images (N, C, H, W) float32 in [0, 1] (npz: as given) and labels (N,) int64."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]  # class names, index = label
    source: str
    note: str  # how the images were brought to the network's input


def load(spec: str, shape: tuple[int, int, int], classes: int | None = None) -> Dataset:
    """The data named by `spec`, brought to the network's input `shape` (C, H, W); with
    `classes`, labels must run from 0 to classes - 1."""
    kind, colon, rest = spec.partition(":")
    if kind == "digits" and not colon:
        return _digits(shape)
    if kind == "folder" and rest:
        return _folder(Path(rest), shape)
    if kind == "npz" and rest:
        return _npz(Path(rest), shape, classes)
    raise DataError(f"--data {spec}: not a data source; use {DATA_HELP}")


def split(data: Dataset, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A seeded random split: the same seed and data give the same two parts."""
    import numpy as np

    n = len(data.y)
    n_val = round(n * val_fraction)
    if n_val < 1 or n - n_val < 1:
        raise DataError(
            f"--val-fraction {val_fraction}: {n} sample{'s leave' if n > 1 else ' leaves'} "
            f"{n - n_val} for training and {n_val} for validation; both need at least one"
        )
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:n_val], order[n_val:]
    parts = (data.x[train], data.y[train]), (data.x[val], data.y[val])
    return tuple(  # type: ignore[return-value]
        Dataset(x, y, data.classes, data.source, data.note) for x, y in parts
    )


def _fit(x: np.ndarray, shape: tuple[int, int, int], what: str) -> tuple[np.ndarray, str]:
    """(N, c, h, w) images to (N, C, H, W): bilinear resize, one channel copied to C."""
    import numpy as np

    c, h, w = shape
    notes = []
    if x.shape[1] != c:
        if x.shape[1] != 1:
            raise DataError(
                f"{what} has {x.shape[1]} channels; the network takes {c} "
                "(only 1 channel can be copied to several)"
            )
        x = np.repeat(x, c, axis=1)
        notes.append(f"channel copied to {c}")
    if x.shape[2:] != (h, w):
        import torch
        import torch.nn.functional as F

        notes.append(f"resized bilinearly from {x.shape[2]}x{x.shape[3]} to {h}x{w}")
        t = F.interpolate(torch.from_numpy(x), size=(h, w), mode="bilinear", align_corners=False)
        x = t.numpy()
    return np.ascontiguousarray(x, dtype=np.float32), ", ".join(notes)


def _digits(shape: tuple[int, int, int]) -> Dataset:
    import numpy as np

    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("--data digits needs scikit-learn: pip install 'dslc[train]'") from None
    bunch = load_digits()
    _memory(len(bunch.target), shape, "--data digits")
    x = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[:, None]  # values 0..16
    x, note = _fit(x, shape, "digits")
    names = tuple(str(t) for t in bunch.target_names)
    return Dataset(x, np.asarray(bunch.target, dtype=np.int64), names, "digits", note)


def _folder(root: Path, shape: tuple[int, int, int]) -> Dataset:
    """An ImageFolder tree: root/CLASS/IMAGE, classes in sorted order; read with Pillow."""
    import numpy as np

    if not root.is_dir():
        raise DataError(f"--data folder:{root}: no such folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"--data folder:{root}: no class sub-folders (want {root}/CLASS/IMAGE)")
    try:
        from PIL import Image
    except ImportError:
        raise DataError("--data folder: needs Pillow: pip install pillow") from None
    from dslc_runtime.errors import RunError
    from dslc_runtime.images import read_image

    c, h, w = shape
    mode = "L" if c == 1 else "RGB"
    if c not in (1, 3):
        raise DataError(f"--data folder: images have 1 or 3 channels; the network takes {c}")
    files = _image_files(root, classes)
    _memory(len(files), shape, f"--data folder:{root}")  # before reading a single image
    images: list[np.ndarray] = []
    for path, _ in files:
        try:  # regular files only (a FIFO never blocks), size-capped, 16-bit scaled
            pixels = read_image(str(path), c)
        except RunError as exc:
            text = str(exc).replace("\n", "\\n")  # a newline in a file name: still one line
            raise DataError(f"--data folder: {text}") from None
        im = Image.fromarray(pixels[:, :, 0] if c == 1 else pixels)
        small = im.resize((w, h), Image.Resampling.BILINEAR)
        images.append(np.asarray(small, dtype=np.float32) / 255.0)
    labels = [label for _, label in files]
    x = np.stack(images)
    x = x[:, None] if c == 1 else x.transpose(0, 3, 1, 2)
    note = f"images converted to {mode} and resized bilinearly to {h}x{w}, scaled to [0, 1]"
    y = np.asarray(labels, dtype=np.int64)
    return Dataset(np.ascontiguousarray(x), y, tuple(classes), f"folder:{root}", note)


def _image_files(root: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """(image file, label) of each class folder in turn; a class without images is refused."""
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        found = len(files)
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
                files.append((path, label))  # hidden files skipped: macOS's ._x.png
        if len(files) == found:  # a class never seen would be trained as never right
            raise DataError(
                f"--data folder:{root}: class folder {name!r} holds no images "
                f"({', '.join(IMAGE_SUFFIXES)}); remove it or add images"
            )
    return files


def _npz(path: Path, shape: tuple[int, int, int], classes: int | None) -> Dataset:
    """Arrays x (N, H, W) or (N, C, H, W), uint8 scaled to [0, 1], and y (N,) integers."""
    import numpy as np
    from dslc_runtime.errors import RunError
    from dslc_runtime.npz import read_npz_arrays

    what = f"--data npz:{path}"
    if not path.is_file():
        raise DataError(f"{what}: {'not a regular file' if path.exists() else 'no such file'}")
    try:  # regular files only, never unpickled, declared sizes checked before inflating
        arrays = read_npz_arrays(str(path), ("x", "y"), what)
    except RunError as exc:
        raise DataError(str(exc)) from None
    x, y = arrays["x"], arrays["y"]
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y) or len(y) == 0 or 0 in x.shape:
        raise DataError(
            f"{what}: want x of shape (N, H, W) or (N, C, H, W) and y of shape (N,), "
            f"none of them 0, got x {x.shape} and y {y.shape}"
        )
    if y.dtype.kind not in "iu":
        raise DataError(f"{what}: labels y must be integers, not {y.dtype}")
    if x.dtype.kind not in "iuf":
        raise DataError(f"{what}: images x must be real numbers, not {x.dtype}")
    _labels(y, classes, what)
    _memory(len(x), shape, what)
    scaled, dtype = x.dtype == np.uint8, x.dtype
    with np.errstate(over="ignore", invalid="ignore"):
        x = x.astype(np.float32) / (255.0 if scaled else 1.0)
    if not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1)))
        raise DataError(
            f"{what}: {bad} of {len(x)} images hold NaN or infinite values (or values beyond "
            "float32's range); training on them gives NaN weights"
        )
    x, note = _fit(x, shape, f"npz:{path}")
    given = f"{dtype} values as given, {x.min():.4g} to {x.max():.4g}"  # 0..255 floats show
    note = ", ".join(n for n in ("uint8 scaled to [0, 1]" if scaled else given, note) if n)
    n_classes = classes if classes is not None else int(y.max()) + 1
    names = tuple(str(i) for i in range(n_classes))
    return Dataset(x, y.astype(np.int64), names, f"npz:{path}", note)


def _labels(y: np.ndarray, classes: int | None, what: str) -> None:
    """Labels 0 to classes - 1 (checked in y's own dtype: a uint64 never wraps negative)."""
    low, high = int(y.min()), int(y.max())
    limit = classes if classes is not None else MAX_CLASSES
    if low < 0 or high >= limit:
        raise DataError(
            f"{what}: labels run from {low} to {high}, but the network has {limit} output "
            f"classes (labels 0 to {limit - 1})"
        )


def _memory(n: int, shape: tuple[int, int, int], what: str) -> None:
    """The images as float32 at the network's input size must fit in memory (twice: the
    split copies them)."""
    from dslc_runtime.npz import memory_bytes

    need = 2 * 4 * n * shape[0] * shape[1] * shape[2]
    if need > memory_bytes():
        raise DataError(
            f"{what}: {n:,} images of {'x'.join(map(str, shape))} as float32 need "
            f"{need / 2**30:,.1f} GiB, more than this machine's {memory_bytes() / 2**30:,.1f} GiB"
        )
