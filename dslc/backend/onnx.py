"""Graph + analysis + weights -> an ONNX model: the backend's entry point (build, to_onnx),
with the serialisers (write, write_external, serialize) beside it. Building and writing
encode the protobuf messages themselves (backend/proto.py): only to_onnx imports onnx."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from dslc import __version__
from dslc.backend import proto
from dslc.backend.emitter import DTYPES, ELEM, Emitter, Lazy, tensor_info, value_info
from dslc.backend.fold import Plan, emit_folded, fold_scales, plan_folding
from dslc.backend.init import Drawn
from dslc.backend.nodes import emit_node
from dslc.backend.preprocess import IN_GRAPH_OPSET, emit_preprocess, raw_input
from dslc.backend.serialize import serialize, write, write_external
from dslc.backend.settings import DEFAULT_OPSET, OPSETS
from dslc.ir.ops import (
    Op,
)
from dslc.ir.preprocess import Preprocess
from dslc.passes import Analysis
from dslc.passes.rounding import stated_shapes

if TYPE_CHECKING:
    import onnx

__all__ = ["DEFAULT_OPSET", "build", "serialize", "to_onnx", "write", "write_external"]


def build(
    analysis: Analysis,
    *,
    opset: int = DEFAULT_OPSET,
    seed: int = 0,
    init: str = "pytorch",
    weights: Mapping[str, np.ndarray] | None = None,
    optimize: bool = False,
    dtype: str = "float32",
    io_dtype: str | None = None,
    preprocess: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[proto.Model, list[tuple[str, Lazy]]]:
    """The model without its initializers, and the initializers as named arrays;
    `progress(done, total)` is called as layers are emitted.

    optimize: the inference graph — batch norm folded into the convolution before it,
    dropout and identities dropped; results differ from the plain graph by float rounding.
    dtype: the type of the weights and of the computation (float32 or float16); io_dtype:
    the type of the model's inputs and outputs (default: dtype), with Casts where they differ.
    preprocess: an input's declared preprocessing in the graph (from opset 18), so the model
    takes images; else the network's own input, the pipeline recorded in the metadata only.
    """
    if opset not in OPSETS:
        raise ValueError(f"opset {opset} is not supported; use {OPSETS.start}-{OPSETS.stop - 1}")
    if dtype not in DTYPES or (io_dtype is not None and io_dtype not in DTYPES):
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")
    io_dtype = io_dtype or dtype
    # dims that round at some valid size go by names of their own (passes/rounding.py):
    # ONNX Runtime plans buffers by dim names, and `H` after a stride and an upsample is not
    # the input's `H` at an odd H
    analysis = replace(analysis, shapes=stated_shapes(analysis.shapes, analysis.rounded))
    g = analysis.graph
    plan = plan_folding(analysis) if optimize else Plan({}, {})
    scales = fold_scales(g, plan, weights or {}, DTYPES[dtype])
    drawn = Drawn(g.nodes, init, seed, weights, scales)
    e = Emitter(analysis, drawn, DTYPES[dtype], opset=opset)
    out_names = _output_names(analysis)
    cast = io_dtype != dtype
    in_graph = preprocess and opset >= IN_GRAPH_OPSET
    pre = {p.input: p for p in g.preprocess} if in_graph else {}
    for node in g.nodes:
        if node.op is Op.INPUT:  # an input keeps its name, even when it is also the output
            e.names[node.id] = f"{node.name}.{dtype}" if cast else node.name
            e.names[node.id] = f"{node.name}.image" if node.name in pre else e.names[node.id]
        else:
            name = out_names.get(node.id, node.name)
            e.names[node.id] = f"{name}.{dtype}" if cast and node.id in out_names else name
    for i in g.inputs:
        if g.node(i).name in pre:
            p, name = pre[g.node(i).name], g.node(i).name
            emit_preprocess(e, p, name, e.names[i], ELEM[DTYPES[dtype]], analysis.shapes[i])
    if cast:
        for i in (i for i in g.inputs if g.node(i).name not in pre):
            e.nodes.append(
                proto.node(
                    "Cast", [g.node(i).name], [e.names[i]], name=e.names[i], to=ELEM[DTYPES[dtype]]
                )
            )
    for node in g.nodes:
        if progress is not None:
            progress(node.id, len(g.nodes))
        if node.id in plan.folded_into:
            continue  # emitted with the batch norm that follows it
        if node.id in plan.alias and node.id not in out_names:
            e.names[node.id] = e.names[node.inputs[0]]
            continue
        if node.id in plan.fold:
            emit_folded(e, g.node(plan.fold[node.id]), node)
            continue
        if node.id in plan.alias:  # an output: keep its name
            e.nodes.append(
                proto.node(
                    "Identity", [e.names[node.inputs[0]]], [e.names[node.id]], name=node.name
                )
            )
            continue
        emit_node(e, node)
    if progress is not None:
        progress(len(g.nodes), len(g.nodes))
    drawn.reorder(name for _, lazy in e.arrays for name in lazy.needs)
    for i in g.outputs:
        if g.node(i).op is Op.INPUT or cast:
            # a network whose body vanished (relu * 0) passes its input through; with io_dtype
            # the output is cast back
            op = "Cast" if cast else "Identity"
            attrs: dict[str, Any] = {"to": ELEM[DTYPES[io_dtype]]} if cast else {}
            e.nodes.append(proto.node(op, [e.names[i]], [out_names[i]], name=out_names[i], **attrs))
    model = proto.Model(opset, __version__, g.name, e.nodes)
    model.inputs.extend(
        raw_input(pre[n.name], n.name, analysis.shapes[n.id])
        if n.name in pre
        else value_info(n.name, analysis.shapes[n.id], io_dtype)
        for n in map(g.node, g.inputs)
    )
    model.outputs.extend(value_info(out_names[i], analysis.shapes[i], io_dtype) for i in g.outputs)
    declared = {out_names[i] for i in g.outputs}
    model.value_info.extend(_intermediate_shapes(e, declared, ELEM[DTYPES[dtype]]))
    model.metadata = (
        {
            "dslc.version": __version__,
            "dslc.source": g.source_text,
            "dslc.network": g.name,
            "dslc.init": init,
            "dslc.seed": str(seed),
            "dslc.optimize": str(optimize).lower(),
            "dslc.dtype": dtype,
        }
        | _size_props(analysis)
        | _image_props(g.preprocess, g.labels, in_graph=bool(pre))
    )
    return model, e.arrays


def _intermediate_shapes(e: Emitter, declared: set[str], elem: int) -> list[bytes]:
    """value_info for every tensor a node computes, bar the model's outputs, in node order:
    each layer's output with dslc's shape (`H/8`, the batch `N`), and the helper tensors a
    layer computes on the way where the emitter knows their shapes. Viewers show them on the
    edges; ONNX's own inference keeps them as they are (it has no names for `H/8`)."""
    known = {e.names[n.id]: (e.analysis.shapes[n.id], elem) for n in e.analysis.graph.nodes}
    known |= e.shapes
    return [
        tensor_info(name, *known[name])
        for node in e.nodes
        for name in node.outputs
        if name in known and name not in declared
    ]


def _size_props(analysis: Analysis) -> dict[str, str]:
    """`dslc.sizes`: the input sizes the model is valid for, which dslc_runtime enforces."""
    import json

    rules = {r.symbol: r.to_json() for r in analysis.sizes if r.restricts}
    return {"dslc.sizes": json.dumps(rules, separators=(",", ":"))} if rules else {}


def _image_props(
    pipelines: tuple[Preprocess, ...], labels: tuple[str, ...], in_graph: bool
) -> dict[str, str]:
    """`dslc.preprocess` (each input's pipeline, and whether the graph does it: it does from
    opset 18) and `dslc.labels` (one a line)."""
    import json

    props = {"dslc.labels": "\n".join(labels)} if labels else {}
    if pipelines:
        records = [p.to_dict() | {"in_graph": in_graph} for p in pipelines]
        props["dslc.preprocess"] = json.dumps(records, separators=(",", ":"))
    return props


def _output_names(analysis: Analysis) -> dict[int, str]:
    g = analysis.graph
    if len(g.outputs) == 1 and not g.output_names:
        return {g.outputs[0]: "output"}
    return dict(zip(g.outputs, g.output_names, strict=True))


def to_onnx(
    analysis: Analysis,
    *,
    opset: int = DEFAULT_OPSET,
    seed: int = 0,
    init: str = "pytorch",
    weights: Mapping[str, np.ndarray] | None = None,
    optimize: bool = False,
    dtype: str = "float32",
    io_dtype: str | None = None,
    preprocess: bool = True,
) -> onnx.ModelProto:
    """The onnx.ModelProto, initializers included: hierarchical names, seeded weights, the source
    in metadata (for in-process use: dslc compile writes build()'s model without onnx)."""
    import io

    import onnx

    model, arrays = build(
        analysis,
        opset=opset,
        seed=seed,
        init=init,
        weights=weights,
        optimize=optimize,
        dtype=dtype,
        io_dtype=io_dtype,
        preprocess=preprocess,
    )
    buffer = io.BytesIO()
    write(model, arrays, buffer)
    model_proto: onnx.ModelProto = onnx.ModelProto.FromString(buffer.getvalue())
    return model_proto
