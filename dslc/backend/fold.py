"""The inference graph's plan: batch norms folded into the convolution before them, dropout and
identities passed through."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dslc.backend import proto
from dslc.backend.emitter import Emitter
from dslc.backend.nodes import conv_attrs
from dslc.ir.graph import (
    Node,
)
from dslc.ir.ops import (
    BatchNormAttrs,
    ConvAttrs,
    Op,
)
from dslc.passes import Analysis

__all__ = ["Plan", "emit_folded", "plan_folding"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What --optimize changes: batch norms folded into convs, nodes that pass through."""

    fold: dict[int, int]  # batch norm id -> conv id
    alias: dict[int, int]  # dropout / identity / stochastic depth id -> its input's id
    folded_into: frozenset[int] = frozenset()  # the convs emitted with their batch norm


def plan_folding(analysis: Analysis) -> Plan:
    g = analysis.graph
    consumers = g.consumers()
    outputs = set(g.outputs)
    fold: dict[int, int] = {}
    alias: dict[int, int] = {}
    for node in g.nodes:
        if node.op in (Op.DROPOUT, Op.IDENTITY, Op.STOCHASTIC_DEPTH) and len(node.inputs) == 1:
            alias[node.id] = node.inputs[0]
        elif node.op is Op.BATCHNORM:
            src = g.node(node.inputs[0])
            if (
                src.op is Op.CONV
                and consumers.get(src.id) == [node.id]
                and src.id not in outputs
                and len(analysis.shapes[src.id]) == 4
            ):
                fold[node.id] = src.id
    return Plan(fold, alias, frozenset(fold.values()))


def emit_folded(e: Emitter, conv: Node, bn: Node) -> None:
    """conv -> bn as one conv: W' = W * s, b' = (b - mean) * s + beta, s = gamma/sqrt(var+eps)."""
    a, norm = conv.attrs, bn.attrs
    assert isinstance(a, ConvAttrs) and isinstance(norm, BatchNormAttrs)
    cv, bv = e.values(conv), e.values(bn)
    scale = bv["weight"].astype(np.float64) / np.sqrt(
        bv["running_var"].astype(np.float64) + norm.eps
    )
    # computed in float64 and rounded once to the model's dtype, as astype(float64) * scale
    # would, but a block at a time: no float64 copy of the whole weight (resnet50 0.44 -> 0.20 s);
    # a freshly drawn weight is overwritten rather than copied (no new pages to fault in)
    w = cv["weight"]
    mine = e.weights.mine(f"{conv.name}.weight")
    out = w if mine and w.dtype == e.dtype else np.empty(w.shape, e.dtype)
    weight = np.multiply(
        w, scale[:, None, None, None], dtype=np.float64, out=out, casting="same_kind"
    )
    bias = cv.get("bias", np.zeros(a.out_channels)).astype(np.float64)
    bias = (bias - bv["running_mean"]) * scale + bv["bias"]
    names = e.params(conv, {"weight": weight, "bias": bias})
    e.nodes.append(
        proto.node(
            "Conv",
            [e.names[conv.inputs[0]], *names],
            [e.names[bn.id]],
            name=conv.name,
            **conv_attrs(a),
        )
    )
