"""Analysis -> summary JSON and the per-layer numbers behind every report. Pure functions."""

from __future__ import annotations

from typing import Any

from dslc.ir import dims
from dslc.ir.dims import Dim
from dslc.ir.graph import Node
from dslc.ir.ops import Op
from dslc.ir.shapes import is_spatial
from dslc.passes import Analysis
from dslc.passes.cost import total
from dslc.passes.memory import DTYPE_BYTES, Memory
from dslc.passes.receptive_field import RF

__all__ = [
    "GLOBAL_POOLS",
    "activation_total",
    "dtype_bytes",
    "layers",
    "source_of",
    "summary_json",
    "top_node",
    "top_rf",
]

GLOBAL_POOLS = (Op.GLOBAL_AVGPOOL, Op.GLOBAL_MAXPOOL, Op.ADAPTIVE_AVGPOOL)


def source_of(node: Node) -> str:
    """`path:line:col` of the node's source."""
    s = node.span
    return f"{s.source.path}:{s.line}:{s.col}"


def top_node(analysis: Analysis) -> Node | None:
    """The layer whose field is the network's: the last spatial layer before global pooling.

    A global pool's field is the whole input by construction, and says nothing about what the
    features see, so it and everything after it are skipped (resnet50: layer4's 427, not 619);
    so is adaptive pooling, whose windows depend on the input size (vgg16: stage5's 212).
    """
    g = analysis.graph
    after_global: set[int] = set()
    for node in g.nodes:
        ins = node.inputs
        if node.op is Op.MUL:  # a gate (gap -> ... -> sigmoid) leaves the map's field alone
            ins = tuple(i for i in ins if analysis.shapes[i] == analysis.shapes[node.id]) or ins
        if node.op in GLOBAL_POOLS or any(i in after_global for i in ins):
            after_global.add(node.id)
    for node in reversed(g.nodes):
        if node.id in after_global or node.op is Op.INPUT:
            continue
        if is_spatial(analysis.shapes[node.id]) and analysis.rfs[node.id] is not None:
            return node
    return None


def top_rf(analysis: Analysis) -> RF | None:
    """The network's receptive field (see top_node)."""
    node = top_node(analysis)
    return analysis.rfs[node.id] if node else None


def layers(analysis: Analysis) -> list[Node]:
    """The nodes shown as layers (everything but the inputs)."""
    return [n for n in analysis.graph.nodes if n.op is not Op.INPUT]


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of a dtype name."""
    return DTYPE_BYTES[dtype]


def activation_total(analysis: Analysis) -> Dim:
    """Elements of every layer's output at batch 1, summed."""
    acts: Dim = 0
    for n in layers(analysis):
        acts = dims.add(acts, analysis.memory.outputs[n.id])
    return acts


def summary_json(analysis: Analysis, dtype: str = "float32") -> dict[str, Any]:
    """The `dslc summary --json` document (bytes in `dtype`)."""
    g, shapes = analysis.graph, analysis.shapes
    t = total(analysis.costs)
    mem = analysis.memory
    b = dtype_bytes(dtype)
    acts = activation_total(analysis)
    top = top_node(analysis)
    rf = analysis.rfs[top.id] if top else None
    out_names = g.output_names or ("output",) * len(g.outputs)
    return {
        "network": g.name,
        "inputs": [{"name": g.node(i).name, "shape": _shape(shapes[i])} for i in g.inputs],
        "outputs": [{"name": n, "shape": _shape(shapes[i])} for n, i in zip(out_names, g.outputs)],
        "totals": {
            "params": t.params,
            **({"constants": t.constants} if t.constants else {}),
            "buffers": t.buffers,
            "macs": dims.to_json(t.macs),
            "flops": dims.to_json(t.flops),
            "param_bytes": t.params * b,
            "buffer_bytes": t.buffers * b,
            "activation_bytes": dims.to_json(dims.mul(acts, b)),
            "peak_activation_bytes": dims.to_json(dims.mul(mem.peak, b)),
            "dtype": dtype,
        },
        "receptive_field": rf.as_json() if rf else None,
        "valid_sizes": {r.symbol: r.to_json() for r in analysis.sizes if r.restricts},
        "layers": [_layer(analysis, n, mem, b, t.constants > 0) for n in layers(analysis)],
        "receptive_field_layer": top.name if top else None,
        **({"sizes_given": dict(analysis.given)} if analysis.given else {}),
        **({"preprocess": [p.to_dict() for p in g.preprocess]} if g.preprocess else {}),
        **({"labels": len(g.labels)} if g.labels else {}),
    }


def _shape(shape: tuple[dims.Dim, ...]) -> list[int | str]:
    return [dims.to_json(d) for d in shape]


def _layer(analysis: Analysis, node: Node, mem: Memory, b: int, constants: bool) -> dict[str, Any]:
    c, rf = analysis.costs[node.id], analysis.rfs[node.id]
    return {
        "name": node.name,
        "op": node.op.value,
        "source": source_of(node),
        "output_shape": _shape(analysis.shapes[node.id]),
        "params": c.params,
        # only where the network holds hand-written kernels: other summaries stay as they were
        **({"constants": c.constants} if constants else {}),
        "macs": dims.to_json(c.macs),
        "receptive_field": rf.as_json() if rf else None,
        "flops": dims.to_json(c.flops),
        "output_bytes": dims.to_json(dims.mul(mem.outputs[node.id], b)),
    }
