"""Reading input arrays from files that may be hostile: regular files only (a FIFO or a
device never blocks), .npy without pickle and with its declared size checked against the
file before anything is allocated, and a check for values a network cannot use."""

from __future__ import annotations

import math
import os
import stat
from typing import Any, BinaryIO

import numpy as np

from .errors import InputError
from .specs import TensorSpec, format_shape

__all__ = ["check_values", "open_regular", "read_array", "read_capped"]

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def open_regular(path: str, what: str = "input") -> BinaryIO:
    """Open `path` for reading, refusing anything but a regular file without blocking on it
    (a FIFO is opened non-blocking, then refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO, device or socket"
        raise InputError(f"cannot read {what} {path}: not a regular file ({kind})")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_capped(path: str, what: str, max_bytes: int) -> bytes:
    """A regular file's bytes (as open_regular opens it), refused past `max_bytes`."""
    try:
        with open_regular(path, what) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise InputError(f"cannot read {what} {path}: larger than {max_bytes >> 20} MiB")
    return data


def read_array(path: str) -> np.ndarray[Any, Any]:
    """A .npy (never unpickled) or a .txt/.csv matrix from a regular file."""
    lower = path.lower()
    if not lower.endswith((".npy", ".txt", ".csv")):
        raise InputError(f"--input {path}: use a .npy file (or .txt/.csv for a plain matrix)")
    with open_regular(path) as f:
        try:
            if lower.endswith(".npy"):
                return _read_npy(f, path)
            array: np.ndarray[Any, Any] = np.loadtxt(
                f, delimiter="," if lower.endswith(".csv") else None, ndmin=1
            )
            return array
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"cannot read input {path}: {exc}") from None


def _read_npy(f: BinaryIO, path: str) -> np.ndarray[Any, Any]:
    head = f.read(6)
    if head[:4] in _ZIP_MAGIC:
        raise InputError(
            f"cannot read input {path}: it is a zip archive (an .npz?), not a .npy array; "
            "save the one array with np.save"
        )
    if head != _NPY_MAGIC:
        raise InputError(
            f"cannot read input {path}: not a .npy file (no NumPy header; pickles are not read)"
        )
    f.seek(0)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    if dtype.hasobject:
        raise InputError(
            f"cannot read input {path}: it holds Python objects, which would need pickle; "
            "only numeric arrays are read"
        )
    need = math.prod(shape) * dtype.itemsize
    have = os.fstat(f.fileno()).st_size - f.tell()
    if need != have:
        raise InputError(
            f"cannot read input {path}: its header declares {format_shape(shape)} {dtype} "
            f"({need:,} bytes) but {have:,} bytes follow (truncated or corrupt)"
        )
    f.seek(0)
    array: np.ndarray[Any, Any] = np.lib.format.read_array(f, allow_pickle=False)
    return array


def check_values(array: np.ndarray[Any, Any], spec: TensorSpec, before: Any = None) -> None:
    """Refuse an empty array and NaN or infinite floats; `before` is the array as read, to
    tell values beyond float32's range (finite before the conversion) from NaN and inf."""
    if array.size == 0:
        raise InputError(f"input '{spec.name}' holds no values (shape {format_shape(array.shape)})")
    if array.dtype.kind != "f":
        return
    bad = ~np.isfinite(array)
    count = int(bad.sum())
    if not count:
        return
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    values = f"{count} value{'s' if count != 1 else ''}"
    finite_before = isinstance(before, np.ndarray) and before.dtype.kind == "f"
    if finite_before and bool(np.isfinite(before).all()):
        raise InputError(
            f"input '{spec.name}': {values} beyond float32's range (about ±3.4e38), "
            f"first at index {where}; scale the input"
        )
    raise InputError(
        f"input '{spec.name}': {values} not finite (NaN or infinite), first at index {where}; "
        "the outputs would be meaningless"
    )
