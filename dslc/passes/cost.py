"""Costs per node: trainable parameters, buffers, and multiply-accumulates at batch 1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from dslc import dims
from dslc.dims import Dim
from dslc.ir import BatchNormAttrs, ConvAttrs, DeconvAttrs, DenseAttrs, Graph, Node, Op
from dslc.passes.shapes import Shape, Shapes


@dataclass(frozen=True, slots=True)
class Cost:
    """What one node costs: params as torchvision counts them, BN statistics as buffers."""

    params: int = 0
    buffers: int = 0
    macs: Dim = 0


Costs = dict[int, Cost]


def _per_sample(shape: Shape) -> Dim:
    size: Dim = 1
    for d in shape[1:]:
        size = dims.mul(size, d)
    return size


def node_cost(node: Node, x: Shape, out: Shape) -> Cost:
    """The cost of one node given its (first) input shape and its output shape."""
    a = node.attrs
    match node.op:
        case Op.CONV:
            assert isinstance(a, ConvAttrs)
            per_out = a.in_channels // a.groups * a.kernel[0] * a.kernel[1]
            weights = a.out_channels * per_out + (a.out_channels if a.bias else 0)
            return Cost(weights, 0, dims.mul(_per_sample(out), per_out))
        case Op.DECONV:
            assert isinstance(a, DeconvAttrs)
            per_in = a.out_channels // a.groups * a.kernel[0] * a.kernel[1]
            weights = a.in_channels * per_in + (a.out_channels if a.bias else 0)
            return Cost(weights, 0, dims.mul(_per_sample(x), per_in))
        case Op.DENSE:
            assert isinstance(a, DenseAttrs)
            weights = a.in_features * a.out_features
            return Cost(weights + (a.out_features if a.bias else 0), 0, weights)
        case Op.BATCHNORM:
            assert isinstance(a, BatchNormAttrs)
            return Cost(2 * a.channels, 2 * a.channels, 0)
        case (Op.INPUT | Op.MAXPOOL | Op.AVGPOOL | Op.GLOBAL_AVGPOOL | Op.GLOBAL_MAXPOOL
              | Op.ADAPTIVE_AVGPOOL | Op.LRN | Op.DROPOUT | Op.RELU | Op.LEAKY_RELU | Op.RELU6
              | Op.SIGMOID | Op.TANH | Op.ELU | Op.SOFTMAX | Op.FLATTEN | Op.UPSAMPLE
              | Op.IDENTITY | Op.ADD | Op.CONCAT):
            return Cost()
        case _:
            assert_never(node.op)


def count_costs(graph: Graph, shapes: Shapes) -> Costs:
    """Every node's cost."""
    out: Costs = {}
    for node in graph.nodes:
        x = shapes[node.inputs[0]] if node.inputs else ()
        out[node.id] = node_cost(node, x, shapes[node.id])
    return out


def total(costs: Costs) -> Cost:
    """The sum over all nodes."""
    params = sum(c.params for c in costs.values())
    buffers = sum(c.buffers for c in costs.values())
    macs: Dim = 0
    for c in costs.values():
        macs = dims.add(macs, c.macs)
    return Cost(params, buffers, macs)
