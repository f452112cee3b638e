"""The emitter's state while the IR is walked: ONNX nodes, initializers, tensor names and the
shapes of the helper tensors a layer computes on the way (written as value_info)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from dslc.backend import proto
from dslc.backend.init import Drawn, Spec, initial, specs
from dslc.backend.settings import DEFAULT_OPSET
from dslc.ir.dims import Dim
from dslc.ir.graph import Node
from dslc.passes import Analysis

__all__ = ["DTYPES", "ELEM", "Emitter", "Lazy", "Shaped", "tensor_info", "value_info"]

Shaped = tuple[tuple[Dim, ...], int]  # a tensor's dims and ONNX element type


@dataclass
class Emitter:
    """Accumulates ONNX nodes and initializers while walking the IR."""

    analysis: Analysis
    weights: Drawn  # every learned tensor, given or initialised
    dtype: type[np.floating[Any]] = np.float32
    nodes: list[proto.Node] = field(default_factory=list)
    arrays: list[tuple[str, Lazy]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    opset: int = DEFAULT_OPSET
    shapes: dict[str, Shaped] = field(default_factory=dict)  # helper tensors, not layers

    def shaped(self, name: str, shape: tuple[Dim, ...], elem: int | None = None) -> str:
        """Record a helper tensor's shape (element type: the model's float unless given)."""
        self.shapes[name] = (shape, ELEM[self.dtype] if elem is None else elem)
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        """A constant as a Constant node (kept out of the initializers, which are parameters)."""
        self.shapes[name] = (value.shape, _NP_ELEM[value.dtype.type])
        self.nodes.append(
            proto.node("Constant", [], [name], name=name, value=proto.tensor(value, name))
        )
        return name

    def value(self, node: Node, spec: Spec) -> np.ndarray:
        """One parameter tensor of the node, loaded or initialised: asked for when written."""
        return initial(node, spec) if spec.fixed else self.weights[spec.name]

    def lazy(
        self, name: str, shape: tuple[int, ...], needs: tuple[str, ...], compute: Compute
    ) -> str:
        """An initializer whose values are computed when it is written."""
        self.arrays.append((name, Lazy(shape, np.dtype(self.dtype), needs, compute)))
        return name

    def params(self, node: Node, shapes: Mapping[str, tuple[int, ...]] | None = None) -> list[str]:
        """The node's initializers (in the model's dtype, reshaped where `shapes` says);
        return their names. A layer scale's tensor is named by its layer (torchvision's)."""
        shapes = shapes or {}
        return [
            self.lazy(s.name, shapes.get(s.kind, s.shape), (s.name,), partial(self.value, node, s))
            for s in specs(node)
        ]

    def floats(self, value: Any) -> np.ndarray:
        """A floating-point constant in the model's dtype."""
        return np.asarray(value, self.dtype)

    def emit(self, op: str, node: Node, inputs: list[str], **attrs: Any) -> None:
        """Append one ONNX node computing `node`'s output."""
        self.nodes.append(proto.node(op, inputs, [self.names[node.id]], name=node.name, **attrs))


Compute = Callable[[], np.ndarray]


@dataclass(frozen=True, slots=True)
class Lazy:
    """An initializer's shape and type now, its values when it is written: a model's weights
    are drawn (and batch norms folded) tensor by tensor as its file is written, never all
    held at once. `needs` names the weights `compute` asks for, in order (they are drawn
    ahead in that order); np.asarray(lazy) computes the values."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    needs: tuple[str, ...]
    compute: Compute

    @property
    def nbytes(self) -> int:
        """The size of the values in bytes."""
        return math.prod(self.shape) * self.dtype.itemsize

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        values = np.ascontiguousarray(self.compute(), self.dtype).reshape(self.shape)
        return values if dtype is None else values.astype(dtype, copy=False)


DTYPES: dict[str, type[np.floating[Any]]] = {"float32": np.float32, "float16": np.float16}


ELEM: dict[type[np.floating[Any]], int] = {
    np.float32: proto.ELEM_FLOAT,
    np.float16: proto.ELEM_FLOAT16,
}


_NP_ELEM: dict[type[np.generic], int] = {
    np.float32: proto.ELEM_FLOAT,
    np.float16: proto.ELEM_FLOAT16,
    np.int64: proto.ELEM_INT64,
    np.bool_: proto.ELEM_BOOL,
}


def value_info(name: str, shape: tuple[Dim, ...], dtype: str = "float32") -> bytes:
    """A float tensor's type and shape in the model's dtype."""
    return tensor_info(name, shape, ELEM[DTYPES[dtype]])


def tensor_info(name: str, shape: tuple[Dim, ...], elem: int) -> bytes:
    """A tensor's type and shape; a symbolic dim is written as its text (`H/8`, `N`)."""
    return proto.value_info(name, elem, [d if isinstance(d, int) else str(d) for d in shape])
