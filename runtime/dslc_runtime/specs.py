"""Tensor descriptions and forgiving input adapters (rank and dtype fixes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "Dim",
    "NodeArgLike",
    "TensorSpec",
    "coerce_dtype",
    "dtype_from_ort",
    "fit_rank",
    "format_shape",
    "spec_from_node_arg",
]

Dim = int | str | None

_ORT_TYPES: dict[str, str] = {
    "float": "float32",
    "float16": "float16",
    "double": "float64",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "bool": "bool",
    "string": "object",
}


class NodeArgLike(Protocol):
    """The subset of onnxruntime.NodeArg that TensorSpec needs."""

    @property
    def name(self) -> str:
        """The tensor's name."""

    @property
    def shape(self) -> Sequence[Any]:
        """The tensor's dims: ints, symbolic strings or None."""

    @property
    def type(self) -> str:
        """The ONNX type string, e.g. 'tensor(float)'."""


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (ints, symbolic names, None for unknown) and dtype of a model tensor."""

    name: str
    shape: tuple[Dim, ...]
    dtype: np.dtype[Any]

    @property
    def rank(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def shape_text(self) -> str:
        """The shape written like a tuple, symbolic dims bare, unknown ones as '?'."""
        return format_shape(self.shape)

    def describe(self) -> str:
        """One-line description, e.g. "'image' (N, 3, 224, 224) float32"."""
        return f"'{self.name}' {self.shape_text} {self.dtype}"


def format_shape(shape: Sequence[Dim]) -> str:
    """Format a shape like a Python tuple, with symbolic dims unquoted and None as '?'."""
    parts = ["?" if d is None else str(d) for d in shape]
    if len(parts) == 1:
        return f"({parts[0]},)"
    return "(" + ", ".join(parts) + ")"


def dtype_from_ort(type_str: str) -> np.dtype[Any]:
    """Map an onnxruntime type string such as 'tensor(float)' to a numpy dtype."""
    inner = type_str[len("tensor(") : -1] if type_str.startswith("tensor(") else ""
    return np.dtype(_ORT_TYPES.get(inner, "object"))


def _dim(value: Any) -> Dim:
    """Normalise one onnxruntime dim to int, symbolic name or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    text = str(value)
    return text if text else None


def spec_from_node_arg(arg: NodeArgLike) -> TensorSpec:
    """Build a TensorSpec from an onnxruntime NodeArg."""
    shape = tuple(_dim(d) for d in (arg.shape or ()))
    return TensorSpec(name=arg.name, shape=shape, dtype=dtype_from_ort(arg.type))


def fit_rank(
    array: np.ndarray[Any, Any], spec: TensorSpec
) -> tuple[np.ndarray[Any, Any], str | None]:
    """Prepend size-1 axes when `array` has fewer dims than `spec`; return a note if done."""
    missing = spec.rank - array.ndim
    if missing <= 0:
        return array, None
    fitted = array.reshape((1,) * missing + array.shape)
    axes = "axis" if missing == 1 else "axes"
    note = (
        f"input '{spec.name}': reshaped {format_shape(array.shape)} to "
        f"{format_shape(fitted.shape)} by adding {missing} leading size-1 {axes} "
        f"to match the expected shape {spec.shape_text}"
    )
    return fitted, note


def coerce_dtype(
    array: np.ndarray[Any, Any], spec: TensorSpec
) -> tuple[np.ndarray[Any, Any], str | None]:
    """Convert bool/integer/other-float arrays to float32 for float32 inputs; note if done."""
    if spec.dtype != np.dtype(np.float32) or array.dtype == spec.dtype:
        return array, None
    if array.dtype.kind not in "biuf":
        return array, None
    with np.errstate(over="ignore"):  # values beyond float32 become inf: refused after this
        converted = array.astype(np.float32)
    note = f"input '{spec.name}': converted {array.dtype} to float32"
    return converted, note
