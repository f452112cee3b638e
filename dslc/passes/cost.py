"""Costs per node at batch 1: trainable parameters, buffers, multiply-accumulates and FLOPs.

Conventions: `macs` counts the multiply-accumulates of conv, transposed conv, dense and linear layers
(torchvision's "GFLOPS" column). `flops` is 2 per MAC for those layers (a multiply and an add;
with a bias this is exact) plus, for every other op that computes, one per element: batch norm,
activations, LRN, softmax and resize one per output element; pooling one per input element its
windows read (k*k per output, the whole map for global pooling); an add of n inputs n-1 per
output element, and a mul likewise (a gate's 1x1 input broadcast). Input, identity, dropout
and stochastic depth (inference), flatten and concat compute nothing, and neither do the
channel and block rearrangements (chunk, channels, shuffle, space_to_depth, depth_to_space,
pad_channels), which only move data. A hand-written kernel's values are `constants`, not
trainable params (its MACs count as any conv's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from dslc.ir import dims
from dslc.ir.dims import Dim
from dslc.ir.graph import (
    Graph,
    Node,
)
from dslc.ir.ops import (
    AdaptivePoolAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DeconvAttrs,
    DenseAttrs,
    LayerNormAttrs,
    Op,
    OpaqueAttrs,
    PoolAttrs,
    PreluAttrs,
    ScaleAttrs,
)
from dslc.ir.shapes import Shape, Shapes

__all__ = ["Cost", "Costs", "count_costs", "node_cost", "total"]


@dataclass(frozen=True, slots=True)
class Cost:
    """What one node costs: params as torchvision counts them, BN statistics as buffers,
    hand-written kernels as constants."""

    params: int = 0
    buffers: int = 0
    macs: Dim = 0
    flops: Dim = 0
    constants: int = 0


Costs = dict[int, Cost]


def _per_sample(shape: Shape) -> Dim:
    size: Dim = 1
    for d in shape[1:]:
        size = dims.mul(size, d)
    return size


def node_cost(node: Node, x: Shape, out: Shape, n_inputs: int = 1) -> Cost:
    """The cost of one node given its (first) input shape and its output shape."""
    c = _weights_and_macs(node, x, out)
    if c.macs != 0:
        return Cost(c.params, c.buffers, c.macs, dims.mul(c.macs, 2), c.constants)
    return Cost(c.params, c.buffers, c.macs, _flops(node, x, out, n_inputs), c.constants)


def _flops(node: Node, x: Shape, out: Shape, n_inputs: int) -> Dim:
    """FLOPs of an op without multiply-accumulates: one per element it computes."""
    a = node.attrs
    match node.op:
        case Op.MAXPOOL | Op.AVGPOOL:
            assert isinstance(a, PoolAttrs)
            return dims.mul(_per_sample(out), a.kernel[0] * a.kernel[1])
        case Op.ADAPTIVE_AVGPOOL:
            assert isinstance(a, AdaptivePoolAttrs)
            if isinstance(x[2], int) and isinstance(x[3], int):
                k = _adaptive_window(x[2], a.size[0]) * _adaptive_window(x[3], a.size[1])
                return dims.mul(_per_sample(out), k)
            return _per_sample(x)
        case Op.GLOBAL_AVGPOOL | Op.GLOBAL_MAXPOOL:
            return _per_sample(x)
        case Op.ADD | Op.MUL:
            return dims.mul(_per_sample(out), n_inputs - 1)
        case (
            Op.BATCHNORM
            | Op.LRN
            | Op.RELU
            | Op.LEAKY_RELU
            | Op.RELU6
            | Op.SIGMOID
            | Op.TANH
            | Op.ELU
            | Op.SOFTMAX
            | Op.UPSAMPLE
        ):
            return _per_sample(out)
        case Op.SILU | Op.HARDSWISH | Op.HARDSIGMOID | Op.GELU | Op.PRELU | Op.LAYERNORM | Op.SCALE:
            return _per_sample(out)
        case Op.STOCHASTIC_DEPTH | Op.LINEAR | Op.OPAQUE:
            return 0  # an opaque op's work is not known
        case (
            Op.INPUT
            | Op.DROPOUT
            | Op.FLATTEN
            | Op.IDENTITY
            | Op.CONCAT
            | Op.CONV
            | Op.DECONV
            | Op.DENSE
        ):
            return 0
        case Op.CHANNELS | Op.SHUFFLE | Op.SPACE_TO_DEPTH | Op.DEPTH_TO_SPACE | Op.PAD_CHANNELS:
            return 0  # data movement only
        case _:
            assert_never(node.op)


def _adaptive_window(n: int, out: int) -> int:
    """The largest of PyTorch's adaptive pooling windows from n to out."""
    return max(-(-(i + 1) * n // out) - (i * n // out) for i in range(out))


def _weights_and_macs(node: Node, x: Shape, out: Shape) -> Cost:
    a = node.attrs
    match node.op:
        case Op.CONV:
            assert isinstance(a, ConvAttrs)
            per_out = a.in_channels // a.groups * a.kernel[0] * a.kernel[1]
            weights = a.out_channels * per_out + (a.out_channels if a.bias else 0)
            if a.fixed_weight is not None:  # written in the source: constants, not trained
                return Cost(0, 0, dims.mul(_per_sample(out), per_out), constants=weights)
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
        case (
            Op.INPUT
            | Op.MAXPOOL
            | Op.AVGPOOL
            | Op.GLOBAL_AVGPOOL
            | Op.GLOBAL_MAXPOOL
            | Op.ADAPTIVE_AVGPOOL
            | Op.LRN
            | Op.DROPOUT
            | Op.RELU
            | Op.LEAKY_RELU
            | Op.RELU6
            | Op.SIGMOID
            | Op.TANH
            | Op.ELU
            | Op.SOFTMAX
            | Op.FLATTEN
            | Op.UPSAMPLE
            | Op.IDENTITY
            | Op.ADD
            | Op.CONCAT
        ):
            return Cost()
        case Op.CHANNELS | Op.SHUFFLE | Op.SPACE_TO_DEPTH | Op.DEPTH_TO_SPACE | Op.PAD_CHANNELS:
            return Cost()
        case Op.LINEAR:  # a conv1x1 (on a flat input: dense)
            assert isinstance(a, DenseAttrs)
            weights = a.in_features * a.out_features
            bias = a.out_features if a.bias else 0
            return Cost(weights + bias, 0, dims.mul(_per_sample(out), a.in_features))
        case Op.PRELU:
            assert isinstance(a, PreluAttrs)
            return Cost(a.slopes)
        case Op.LAYERNORM:
            assert isinstance(a, LayerNormAttrs)
            return Cost(2 * a.channels)
        case Op.SCALE:
            assert isinstance(a, ScaleAttrs)
            return Cost(a.shape[0])
        case Op.MUL | Op.SILU | Op.HARDSWISH | Op.HARDSIGMOID | Op.GELU | Op.STOCHASTIC_DEPTH:
            return Cost()
        case Op.OPAQUE:  # an imported op dslc cannot express: its stored tensors' sizes
            assert isinstance(a, OpaqueAttrs)
            return Cost(a.params)
        case _:
            assert_never(node.op)


def count_costs(graph: Graph, shapes: Shapes) -> Costs:
    """Every node's cost."""
    out: Costs = {}
    for node in graph.nodes:
        x = shapes[node.inputs[0]] if node.inputs else ()
        out[node.id] = node_cost(node, x, shapes[node.id], len(node.inputs))
    return out


def total(costs: Costs) -> Cost:
    """The sum over all nodes."""
    params = sum(c.params for c in costs.values())
    buffers = sum(c.buffers for c in costs.values())
    constants = sum(c.constants for c in costs.values())
    macs: Dim = 0
    flops: Dim = 0
    for c in costs.values():
        macs = dims.add(macs, c.macs)
        flops = dims.add(flops, c.flops)
    return Cost(params, buffers, macs, flops, constants)
