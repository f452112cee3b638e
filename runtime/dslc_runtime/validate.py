"""Strict checking of input feeds against a model's input specs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError
from .specs import TensorSpec, format_shape

__all__ = ["Bindings", "validate_feeds"]

Bindings = dict[str, tuple[int, str]]


def _names(specs: Sequence[TensorSpec]) -> str:
    """Quoted, comma-separated input names."""
    return ", ".join(f"'{s.name}'" for s in specs) or "(none)"


def _check_names(specs: Sequence[TensorSpec], feeds: Mapping[str, Any]) -> None:
    """Reject unknown and missing input names."""
    expected = {s.name for s in specs}
    for name in feeds:
        if name not in expected:
            raise InputError(f"unknown input '{name}'; the model expects inputs: {_names(specs)}")
    for spec in specs:
        if spec.name not in feeds:
            raise InputError(
                f"missing input '{spec.name}' (expects {spec.shape_text} {spec.dtype}); "
                f"the model expects inputs: {_names(specs)}"
            )


def _check_type(spec: TensorSpec, value: Any) -> np.ndarray[Any, Any]:
    """Require a numpy array."""
    if not isinstance(value, np.ndarray):
        raise InputError(
            f"input '{spec.name}' must be a numpy array, got {type(value).__name__}; "
            f"wrap it with np.asarray(x, dtype=np.{spec.dtype})"
        )
    return value


def _check_rank(spec: TensorSpec, array: np.ndarray[Any, Any]) -> None:
    """Require the expected number of dimensions (unranked specs report rank 0: skipped)."""
    if spec.rank == 0 or array.ndim == spec.rank:
        return
    hint = ""
    if array.ndim < spec.rank:
        missing = spec.rank - array.ndim
        axes = "a leading size-1 axis" if missing == 1 else f"{missing} leading size-1 axes"
        hint = f"; add {axes}, e.g. x.reshape({_reshape_hint(array, missing)})"
    raise InputError(
        f"input '{spec.name}' expects shape {spec.shape_text} (rank {spec.rank}); "
        f"got {format_shape(array.shape)} (rank {array.ndim}){hint}"
    )


def _reshape_hint(array: np.ndarray[Any, Any], missing: int) -> str:
    """Text of the reshape target that adds `missing` leading axes."""
    return ", ".join(str(d) for d in (1,) * missing + array.shape)


def _check_dims(spec: TensorSpec, array: np.ndarray[Any, Any], bound: Bindings) -> None:
    """Check fixed dims and keep symbolic dims consistent across the call."""
    for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=False)):
        if isinstance(want, int) and want != got:
            raise InputError(
                f"input '{spec.name}' expects shape {spec.shape_text}; "
                f"got {format_shape(array.shape)}: dimension {axis} is {got}, expected {want}"
            )
        if isinstance(want, str):
            _bind(spec, axis, want, got, bound)


def _bind(spec: TensorSpec, axis: int, symbol: str, size: int, bound: Bindings) -> None:
    """Record symbol=size, or fail if the symbol already has another size."""
    where = f"input '{spec.name}' dimension {axis}"
    if symbol not in bound:
        bound[symbol] = (size, where)
        return
    previous, first = bound[symbol]
    if previous != size:
        raise InputError(
            f"{where} ('{symbol}') is {size}, but {first} already set '{symbol}' "
            f"to {previous} in the same call; every '{symbol}' must have the same size"
        )


def _check_dtype(spec: TensorSpec, array: np.ndarray[Any, Any]) -> None:
    """Require the exact dtype (string/unsupported specs are left to onnxruntime)."""
    if spec.dtype.kind == "O" or array.dtype == spec.dtype:
        return
    raise InputError(
        f"input '{spec.name}' expects {spec.dtype}, got {array.dtype}; "
        f"convert with x.astype(np.{spec.dtype})"
    )


def validate_feeds(specs: Sequence[TensorSpec], feeds: Mapping[str, Any]) -> None:
    """Raise InputError unless `feeds` matches `specs` exactly in names, shapes and dtypes."""
    if not isinstance(feeds, Mapping):
        raise InputError(
            f"inputs must be a mapping of name to numpy array, got {type(feeds).__name__}; "
            f"the model expects inputs: {_names(specs)}"
        )
    _check_names(specs, feeds)
    bound: Bindings = {}
    for spec in specs:
        array = _check_type(spec, feeds[spec.name])
        _check_rank(spec, array)
        _check_dims(spec, array, bound)
        _check_dtype(spec, array)
