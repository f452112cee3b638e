"""Random input generation for models with fixed and symbolic dims."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError
from .sizes import check_size_names
from .specs import TensorSpec, format_shape

__all__ = ["MAX_SAMPLE_ELEMENTS", "random_inputs", "random_kind"]

MAX_SAMPLE_ELEMENTS = 2**31 - 1  # one sample of one input, as the compiler's tensor limit


def _check_size(what: str, value: Any) -> int:
    """Require a positive int size."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _bindings(specs: Sequence[TensorSpec], batch: int, sizes: Mapping[str, int]) -> dict[str, int]:
    """Symbol sizes: explicit `sizes`, then first-dim symbols bound to `batch`."""
    bound = {name: _check_size(f"sizes[{name!r}]", v) for name, v in sizes.items()}
    check_size_names(specs, bound)
    for spec in specs:
        if spec.shape and isinstance(spec.shape[0], str):
            bound.setdefault(spec.shape[0], batch)
    return bound


def _resolve(
    spec: TensorSpec,
    axis: int,
    dim: int | str | None,
    bound: Mapping[str, int],
    batch: int,
) -> int:
    """Concrete size for one dim of one input."""
    if isinstance(dim, int):
        return dim
    if dim is None:
        if axis == 0:
            return batch
        raise InputError(
            f"input '{spec.name}' dimension {axis} of {spec.shape_text} has no fixed size "
            "and no symbolic name, so no random input can be made for it"
        )
    if dim in bound:
        return bound[dim]
    raise InputError(
        f"input '{spec.name}' has symbolic dimension '{dim}' (axis {axis} of {spec.shape_text}) "
        f"with no size; pass it, e.g. sizes={{'{dim}': 224}}"
    )


def _fill(
    spec: TensorSpec, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray[Any, Any]:
    """Random data of the spec's dtype: normal floats, uint8 pixels over their whole range,
    small ints, or bools."""
    kind = spec.dtype.kind
    if kind == "f":
        return rng.standard_normal(shape, dtype=np.float64).astype(spec.dtype)
    if spec.dtype == np.uint8:  # an image input: pixels 0-255
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    if kind in "iu":
        return rng.integers(0, 10, size=shape).astype(spec.dtype)
    if kind == "b":
        return rng.random(shape) < 0.5
    raise InputError(f"cannot make random data for input {spec.describe()}")


def random_kind(dtype: np.dtype[Any]) -> str:
    """What random_inputs() draws for a dtype, in words."""
    if dtype.kind == "f":
        return "random normal"
    if dtype == np.uint8:
        return "random uint8 pixels 0-255"
    return "random integers 0-9" if dtype.kind in "iu" else "random booleans"


def random_inputs(
    specs: Sequence[TensorSpec],
    batch: int = 1,
    seed: int = 0,
    sizes: Mapping[str, int] | None = None,
) -> dict[str, np.ndarray[Any, Any]]:
    """Random feeds for `specs`; the first dim is `batch`, other symbols come from `sizes`."""
    batch = _check_size("batch", batch)
    bound = _bindings(specs, batch, sizes or {})
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    for spec in specs:
        shape = tuple(_resolve(spec, i, d, bound, batch) for i, d in enumerate(spec.shape))
        per_sample = math.prod(shape[1:])
        if per_sample > MAX_SAMPLE_ELEMENTS:
            raise InputError(
                f"input {spec.name}: {format_shape(shape)} makes {per_sample:,} elements per "
                f"sample, over the limit of {MAX_SAMPLE_ELEMENTS:,} (dslc's --limit tensor "
                "default): too large for random data; give smaller sizes"
            )
        feeds[spec.name] = _fill(spec, shape, rng)
    return feeds
