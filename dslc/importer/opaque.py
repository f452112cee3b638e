"""ONNX nodes dslc has no layer for, and the graph's final form.

An op that cannot be expressed is kept as an opaque layer: its stored tensors count as its
parameters and its output shape comes from the file's value_info or ONNX shape inference
(onnx imported only then). Where no shape can be had, the layers computed from it are left
out, with one diagnostic that says how many.
"""

from __future__ import annotations

import dataclasses
import re

from dslc.importer.state import State
from dslc.importer.wellformed import printable
from dslc.importer.wire import Model, Node, ValueInfo
from dslc.ir.dims import Dim, sym
from dslc.ir.graph import Graph
from dslc.ir.graph import Node as IRNode
from dslc.ir.ops import Attrs, Op, OpaqueAttrs, UpsampleAttrs
from dslc.ir.shapes import Shapes
from dslc.source import Span

__all__ = ["opaque", "prune"]


def opaque(st: State, model: Model, node: Node, span: Span, reason: str) -> None:
    """Keep `node` as an opaque layer, with an E0802 saying why (or, below an unknown
    tensor, count it as left out)."""
    ins = [n for n in node.inputs if n]
    blocked = next((st.unknown[n] for n in ins if n in st.unknown), None)
    if blocked is not None:
        for out in node.outputs:
            st.unknown[out] = blocked
        st.left_out[blocked] = st.left_out.get(blocked, 0) + 1
        return
    domain = node.domain or "ai.onnx"
    what = printable(f"'{node.name or node.outputs[0]}' ({domain} {node.op_type})", 120)
    params = sum(st.inits[n].size for n in ins if n in st.inits)
    shape = _inferred(st, model, node.outputs[0])
    st.opaque_diags.append((what, reason, span, node.outputs[0]))
    srcs = [st.tensors[n] for n in ins if n in st.tensors]
    if shape is None or not srcs:  # no input tensor: a subgraph's, read from the outer scope
        for out in node.outputs:
            st.unknown[out] = node.outputs[0]
        st.left_out.setdefault(node.outputs[0], 0)
        return
    attrs = OpaqueAttrs(node.op_type, domain, shape, params)
    ir = IRNode(
        len(st.nodes), st.name_for(node, Op.OPAQUE, ""), Op.OPAQUE, tuple(srcs), attrs, span
    )
    st.nodes.append(ir)
    st.shapes.append(shape)
    st.tensors[node.outputs[0]] = ir.id
    for out in node.outputs[1:]:
        st.unknown[out] = node.outputs[0]


def _inferred(st: State, model: Model, name: str) -> tuple[Dim, ...] | None:
    """The tensor's shape from the file's value_info, else from ONNX shape inference."""
    infos = {vi.name: vi for vi in (*model.graph.value_info, *model.graph.outputs)}
    if name not in infos or infos[name].dims is None:
        infos.update(_inference(st, model))
    vi = infos.get(name)
    inits = set(st.inits)
    batch = {i.dims[0] for i in model.graph.inputs if i.name not in inits and i.dims}
    return None if vi is None else _dims(vi, batch)


def _inference(st: State, model: Model) -> dict[str, ValueInfo]:
    if st.inferred is None:
        st.inferred = {}
        try:
            import onnx

            proto = onnx.ModelProto()
            proto.ParseFromString(bytes(st.raw))
            inferred = onnx.shape_inference.infer_shapes(proto)
        except Exception:  # noqa: BLE001 - inference is a best effort: no shape, then
            return st.inferred
        for vi in (*inferred.graph.value_info, *inferred.graph.output):
            t = vi.type.tensor_type
            if not t.HasField("shape"):
                continue
            dims = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in t.shape.dim
            )
            st.inferred[vi.name] = ValueInfo(vi.name, t.elem_type, dims)
    return st.inferred


def _dims(vi: ValueInfo, batch: set[int | str | None]) -> tuple[Dim, ...] | None:
    """The shape, its first dim the batch N; None unless that dim is the inputs' batch (a
    Flatten(axis=2) makes N*C x H*W, whose first dim is not N)."""
    if vi.dims is None or not vi.dims or vi.dims[0] is None or vi.dims[0] not in batch:
        return None
    out: list[Dim] = [sym("N")]
    for d in vi.dims[1:]:
        if isinstance(d, int) and d > 0:
            out.append(d)
        elif isinstance(d, str) and re.fullmatch(r"[A-Za-z_]\w*", d):
            out.append(sym(d))
        else:
            return None
    return tuple(out)


def prune(st: State, model: Model, name: str) -> tuple[Graph, Shapes]:
    """The graph of the layers the outputs need, renumbered, with unique names; the
    diagnostics of opaque nodes go to the sink."""
    for what, reason, span, out in st.opaque_diags:
        tail = ""
        if out in st.left_out:
            count = st.left_out[out]
            tail = (
                f"; its output's shape is unknown, so the {count} node"
                f"{'s' if count != 1 else ''} computed from it "
                + ("are" if count != 1 else "is")
                + " not analysed"
            )
        st.sink.error(
            "E0802",
            f"{what} is not analysed: {reason}{tail}",
            span,
            "its stored tensors count as its parameters; receptive fields past it are unknown",
        )
    outs = [st.tensors[vi.name] for vi in model.graph.outputs if vi.name in st.tensors]
    live = set(outs)
    for n in reversed(st.nodes):
        if n.id in live:
            live.update(n.inputs)
    # every layer stays, even one nothing reads, but a gate a SiLU took in
    keep = {n.id for n in st.nodes if n.id in live or n.id not in st.absorbed}
    new_id = {old: k for k, old in enumerate(sorted(keep))}
    used: dict[str, int] = {}
    nodes: list[IRNode] = []
    shapes: Shapes = {}
    for old in sorted(keep):
        n = st.nodes[old]
        unique = _unique(n.name, used)
        for suffix, tensor, transposed in st.sources.get(old, []):
            st.weight_names[f"{unique}.{suffix}" if suffix else unique] = (tensor, transposed)
        nodes.append(
            dataclasses.replace(
                n,
                id=new_id[old],
                name=unique,
                inputs=tuple(new_id[i] for i in n.inputs),
                attrs=_retarget(n, new_id),
            )
        )
        shapes[new_id[old]] = st.shapes[old]
    out_names = tuple(vi.name for vi in model.graph.outputs if vi.name in st.tensors)
    inputs = tuple(new_id[i] for i, n in enumerate(st.nodes) if n.op is Op.INPUT)
    graph = Graph(
        re.sub(r"\W", "_", name) or "model",
        tuple(nodes),
        inputs,
        tuple(new_id[i] for i in outs),
        st.source.text,
        out_names,
    )
    return graph, shapes


def _retarget(n: IRNode, new_id: dict[int, int]) -> Attrs:
    a = n.attrs
    if isinstance(a, UpsampleAttrs) and a.to is not None:
        return dataclasses.replace(a, to=new_id[a.to])
    return a


def _unique(name: str, used: dict[str, int]) -> str:
    if name not in used:
        used[name] = 0
        return name
    while True:
        used[name] += 1
        candidate = f"{name}_{used[name]}"
        if candidate not in used:
            used[candidate] = 0
            return candidate
