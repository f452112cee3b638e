"""The importer's working state: the IR built so far, the ONNX tensors it stands for, the
constants known, and the views exporters build on the way to one layer (a channel shuffle's
5-D view, a channels-last view around a LayerNorm or Linear)."""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dslc.diagnostics import DiagnosticError, Sink
from dslc.importer.consts import Value, decode
from dslc.importer.names import module_path, weight_owner
from dslc.importer.wire import Node, Tensor, ValueInfo
from dslc.ir.dims import Dim
from dslc.ir.graph import Node as IRNode
from dslc.ir.ops import Attrs, Op
from dslc.ir.shapes import Shape, node_shape
from dslc.source import SourceFile, Span

__all__ = ["State", "Unsupported"]


class Unsupported(Exception):
    """A node the importer cannot express in the IR; the message says why."""


@dataclass
class State:
    """What the importer knows after each ONNX node."""

    source: SourceFile
    folder: Path | None
    sink: Sink
    inits: dict[str, Tensor]
    values: dict[str, Value] = field(default_factory=dict)
    tensors: dict[str, int] = field(default_factory=dict)  # ONNX tensor -> IR node id
    nodes: list[IRNode] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    containers: set[str] = field(default_factory=set)  # module paths that hold others
    counts: dict[str, int] = field(default_factory=dict)
    views: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # kind, node id, n
    pads: dict[str, tuple[int, tuple[int, int, int, int]]] = field(default_factory=dict)
    sequences: dict[str, tuple[int, list[tuple[int, int]]]] = field(default_factory=dict)
    absorbed: set[int] = field(default_factory=set)  # layers a later pattern took in (SiLU's gate)
    # IR node -> its tensors: (suffix, ONNX tensor, transposed), for `dslc weights --save`
    sources: dict[int, list[tuple[str, str, bool]]] = field(default_factory=dict)
    weight_names: dict[str, tuple[str, bool]] = field(default_factory=dict)  # final names
    raw: bytes | mmap.mmap = b""  # the model's bytes, for ONNX shape inference of an opaque node
    inferred: dict[str, ValueInfo] | None = None
    unknown: dict[str, str] = field(default_factory=dict)  # tensor -> the opaque output behind it
    left_out: dict[str, int] = field(default_factory=dict)  # opaque output -> nodes left out
    opaque_diags: list[tuple[str, str, Span, str]] = field(default_factory=list)

    # values -----------------------------------------------------------------------------
    def value(self, name: str) -> Value | None:
        """The constant value of a tensor, or None when it is computed at run time."""
        if name in self.values:
            return self.values[name]
        t = self.inits.get(name)
        if t is None:
            return None
        v = decode(t, self.folder)
        if v is not None:
            self.values[name] = v
        return v

    def is_const(self, name: str) -> bool:
        return name in self.values or name in self.inits

    def const_dims(self, name: str) -> tuple[int, ...]:
        """The dims of a constant input (a weight); Unsupported when it is computed."""
        if name in self.inits:
            return self.inits[name].dims
        v = self.values.get(name)
        if isinstance(v, np.ndarray):
            return tuple(v.shape)
        raise Unsupported(f"its input '{name}' is computed, not a stored tensor")

    def ints(self, name: str) -> list[int]:
        v = self.value(name)
        if not isinstance(v, np.ndarray) or v.dtype.kind not in "iu":
            raise Unsupported(f"its input '{name}' is not a constant list of integers")
        return [int(x) for x in v.reshape(-1)]

    def floats(self, name: str) -> list[float]:
        v = self.value(name)
        if not isinstance(v, np.ndarray):
            raise Unsupported(f"its input '{name}' is not a constant")
        return [float(x) for x in v.reshape(-1)]

    # tensors ----------------------------------------------------------------------------
    def node_of(self, name: str) -> int:
        """The IR node computing an ONNX tensor."""
        if name in self.views or name in self.pads:
            raise Unsupported(f"its input '{name}' is an intermediate view dslc cannot express")
        if name not in self.tensors:
            raise Unsupported(f"its input '{name}' is not computed by anything dslc understood")
        return self.tensors[name]

    def shape_of(self, name: str) -> Shape:
        return self.shapes[self.node_of(name)]

    def alias(self, onnx_out: str, node_id: int) -> None:
        self.tensors[onnx_out] = node_id

    # emitting ---------------------------------------------------------------------------
    def emit(
        self,
        op: Op,
        attrs: Attrs,
        inputs: list[int],
        node: Node,
        span: Span,
        weight: str = "",
        out: str | None = None,
    ) -> int:
        """Add an IR node for an ONNX node (`out`: the ONNX tensor it computes, by default
        the node's first output); its shape follows from dslc's rules. Unsupported when
        those refuse it."""
        ir = IRNode(
            len(self.nodes), self.name_for(node, op, weight), op, tuple(inputs), attrs, span
        )
        try:
            shape = node_shape(ir, [self.shapes[i] for i in inputs])
        except DiagnosticError as exc:
            raise Unsupported(f"as dslc's {op.value} it does not fit: {exc.message}") from None
        self.nodes.append(ir)
        self.shapes.append(shape)
        found = _sources(op, node, weight)
        if getattr(attrs, "bias", True) is False:  # an exporter's zeros: no bias
            found = [s for s in found if s[0] != "bias"]
        self.sources[ir.id] = found
        if out != "":  # "": a channels-last view stands for it, not the ONNX tensor
            self.tensors[out if out is not None else node.outputs[0]] = ir.id
        return ir.id

    def replace(self, node_id: int, attrs: Attrs, extra: IRNode | None = None) -> None:
        """Change the attributes of a node already emitted (a MatMul's bias found later)."""
        old = self.nodes[node_id]
        self.nodes[node_id] = IRNode(old.id, old.name, old.op, old.inputs, attrs, old.span)
        self.shapes[node_id] = node_shape(self.nodes[node_id], [self.shapes[i] for i in old.inputs])

    def name_for(self, node: Node, op: Op, weight: str) -> str:
        """The layer's hierarchical name (made unique later)."""
        if op is Op.SCALE and weight and "::" not in weight:
            return weight  # torchvision's layer_scale: the tensor is the layer
        owner = weight_owner(weight) if weight else None
        if owner:
            return owner
        found = module_path(node)
        if found is not None:
            path, tail = found
            if path and path not in self.containers:
                return path
            return f"{path}.{tail}" if path else tail
        if node.name and re.fullmatch(r"[A-Za-z_][\w.-]*", node.name):
            return node.name  # a model dslc compiled: its nodes carry the layers' names
        kind = re.sub(r"\W", "_", node.op_type.lower()) if op is Op.OPAQUE else op.value
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        return f"{kind}{n}"


_SUFFIXES = {
    Op.CONV: ("weight", "bias"),
    Op.DECONV: ("weight", "bias"),
    Op.BATCHNORM: ("weight", "bias", "running_mean", "running_var"),
    Op.DENSE: ("weight", "bias"),
    Op.LINEAR: ("weight",),
    Op.LAYERNORM: ("weight", "bias"),
    Op.PRELU: ("weight",),
}


def _sources(op: Op, node: Node, weight: str) -> list[tuple[str, str, bool]]:
    """Where a layer's tensors lie in the ONNX model (MatMul weights are stored in x out)."""
    if op is Op.SCALE:
        return [("", weight, False)]
    names = _SUFFIXES.get(op, ())
    if not names or not weight:
        return []
    at = node.inputs.index(weight)
    transposed = node.op_type == "MatMul" or (
        node.op_type == "Gemm" and not (node.attrs["transB"].i if "transB" in node.attrs else 0)
    )
    out = []
    for k, suffix in enumerate(names):
        if at + k < len(node.inputs) and node.inputs[at + k]:
            out.append((suffix, node.inputs[at + k], transposed and suffix == "weight"))
    return out


def batch_first(dims_: tuple[Dim, ...]) -> bool:
    """True for a shape of rank 2 or more (the batch comes first)."""
    return len(dims_) >= 2
