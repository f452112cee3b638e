"""Short human-readable fingerprints of arrays, for logs and comparisons."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["digest", "sha1_short"]


def _num(value: float) -> str:
    """Format a statistic with four significant digits."""
    return f"{value:.4g}"


def _stats(array: np.ndarray[Any, Any]) -> str:
    """mean/std/min/max of the finite values, plus a count of non-finite ones."""
    if array.size == 0:
        return "empty"
    if array.dtype.kind not in "biuf":
        return f"{array.size} values"
    values = array.astype(np.float64).ravel()
    finite = values[np.isfinite(values)]
    bad = values.size - finite.size
    if finite.size == 0:
        return f"nonfinite={bad}"
    text = (
        f"mean={_num(float(finite.mean()))} std={_num(float(finite.std()))} "
        f"min={_num(float(finite.min()))} max={_num(float(finite.max()))}"
    )
    return f"{text} nonfinite={bad}" if bad else text


def sha1_short(array: np.ndarray[Any, Any]) -> str:
    """First 8 hex chars of the SHA-1 of the array's C-ordered bytes."""
    data = (
        np.ascontiguousarray(array).tobytes()
        if array.dtype.kind != "O"
        else repr(array.tolist()).encode()
    )
    return hashlib.sha1(data).hexdigest()[:8]


def digest(array: np.ndarray[Any, Any]) -> str:
    """One-line summary: shape, dtype, mean/std/min/max and a short SHA-1 of the bytes."""
    array = np.asarray(array)
    return f"shape {tuple(array.shape)} {array.dtype} {_stats(array)} sha1={sha1_short(array)}"
