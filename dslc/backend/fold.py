"""The inference graph's plan: batch norms folded into the convolution before them, dropout and
identities passed through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dslc.backend import proto
from dslc.backend.emitter import Emitter
from dslc.backend.init import Scale, initial, specs
from dslc.backend.nodes import conv_attrs
from dslc.ir.graph import Graph, Node
from dslc.ir.ops import (
    BatchNormAttrs,
    ConvAttrs,
    Op,
)
from dslc.passes import Analysis

__all__ = ["Plan", "emit_folded", "fold_scales", "plan_folding"]


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


def fold_scales(
    g: Graph, plan: Plan, given: Mapping[str, np.ndarray], dtype: type[np.floating[Any]]
) -> dict[str, Scale]:
    """The factor each folded conv's weight is multiplied by, by the weight's name, for the
    drawing threads: batch norm's gamma/sqrt(var+eps), from its given or initial values."""
    scales = {}
    for bn_id, conv_id in plan.fold.items():
        bn = g.node(bn_id)
        bv = {s.kind: given[s.name] if s.name in given else initial(bn, s) for s in specs(bn)}
        scales[f"{g.node(conv_id).name}.weight"] = (_scale(bn, bv), dtype)
    return scales


def _scale(bn: Node, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """gamma/sqrt(var+eps) in float64."""
    assert isinstance(bn.attrs, BatchNormAttrs)
    var = values["running_var"].astype(np.float64)
    scale: np.ndarray = values["weight"].astype(np.float64) / np.sqrt(var + bn.attrs.eps)
    return scale


def emit_folded(e: Emitter, conv: Node, bn: Node) -> None:
    """conv -> bn as one conv: W' = W * s, b' = (b - mean) * s + beta, s = gamma/sqrt(var+eps),
    computed as the file is written."""
    a = conv.attrs
    assert isinstance(a, ConvAttrs)
    weight, *bias = specs(conv)
    norms = specs(bn)
    needs = tuple(s.name for s in norms)

    def scale() -> np.ndarray:
        return _scale(bn, {s.kind: e.value(bn, s) for s in norms})

    def folded_weight() -> np.ndarray:
        # a drawn weight comes folded from the drawing thread (fold_scales); a given one is
        # folded here, in float64 rounded once to the model's dtype, by numpy's buffered loop
        w = e.value(conv, weight)
        if e.weights.scaled(weight.name):
            return w
        out = np.empty(w.shape, e.dtype)
        factor = scale()[:, None, None, None]
        np.multiply(w, factor, dtype=np.float64, out=out, casting="same_kind")
        return out

    def folded_bias() -> np.ndarray:
        b = e.value(conv, bias[0]).astype(np.float64) if bias else np.zeros(a.out_channels)
        bv = {s.kind: e.value(bn, s) for s in norms}
        folded: np.ndarray = (b - bv["running_mean"]) * _scale(bn, bv) + bv["bias"]
        return folded

    names = [
        e.lazy(
            weight.name,
            weight.shape,
            (weight.name, *(() if e.weights.scaled(weight.name) else needs)),
            folded_weight,
        ),
        e.lazy(
            f"{conv.name}.bias", (a.out_channels,), (*(s.name for s in bias), *needs), folded_bias
        ),
    ]
    e.nodes.append(
        proto.node(
            "Conv",
            [e.names[conv.inputs[0]], *names],
            [e.names[bn.id]],
            name=conv.name,
            **conv_attrs(a),
        )
    )
