"""The ops added with issue 12 as ONNX nodes: products, SiLU / hard-swish / hard-sigmoid /
GELU / PReLU, layer norm, per-position linear layers, layer scale, stochastic depth."""

from __future__ import annotations

import math

from dslc.backend import proto
from dslc.backend.emitter import Emitter
from dslc.ir.graph import Node
from dslc.ir.ops import DenseAttrs, GeluAttrs, LayerNormAttrs, Op, PreluAttrs

__all__ = ["GELU_OPSET", "emit_modern"]

GELU_OPSET = 20  # the first opset with a Gelu op; below it GELU is written out with Erf / Tanh


def emit_modern(e: Emitter, node: Node) -> None:
    """Emit one node of the ops above (the caller's `match` sends only those here)."""
    a = node.attrs
    xs = [e.names[i] for i in node.inputs]
    rank = len(e.analysis.shapes[node.id])
    if node.op is Op.MUL:
        _product(e, node, xs)
    elif node.op is Op.SILU:
        e.nodes.append(proto.node("Sigmoid", xs, [f"{node.name}.sig"], name=f"{node.name}.sig"))
        e.shaped(f"{node.name}.sig", e.analysis.shapes[node.id])
        e.emit("Mul", node, [xs[0], f"{node.name}.sig"])
    elif node.op is Op.HARDSWISH:
        e.emit("HardSwish", node, xs)
    elif node.op is Op.HARDSIGMOID:  # PyTorch's relu6(x + 3) / 6
        e.emit("HardSigmoid", node, xs, alpha=1.0 / 6.0, beta=0.5)
    elif node.op is Op.GELU:
        assert isinstance(a, GeluAttrs)
        _gelu(e, node, a, xs[0])
    elif node.op is Op.PRELU:
        assert isinstance(a, PreluAttrs)
        # stored [C] as torch's; broadcast over H, W
        shape = {"weight": (a.slopes, 1, 1)} if a.slopes > 1 and rank == 4 else None
        e.emit("PRelu", node, xs + e.params(node, shape))
    elif node.op is Op.LAYERNORM:
        assert isinstance(a, LayerNormAttrs)
        _layernorm(e, node, a, xs[0], rank)
    elif node.op is Op.LINEAR:
        assert isinstance(a, DenseAttrs)
        _linear(e, node, a, xs[0], rank)
    elif node.op is Op.SCALE:
        if e.names[node.id] == node.name:  # the name is the parameter's (torchvision's)
            e.names[node.id] = f"{node.name}.scaled"
        e.emit("Mul", node, xs + e.params(node))
    else:  # stochastic depth: the identity at inference
        e.emit("Identity", node, xs)


def _product(e: Emitter, node: Node, xs: list[str]) -> None:
    """Mul broadcasts a gate's N x C x 1 x 1 over H x W; more branches multiply in turn."""
    acc, shape = xs[0], e.analysis.shapes[node.inputs[0]]
    for k, x in enumerate(xs[1:-1], 1):
        out = f"{node.name}.mul{k}"
        e.nodes.append(proto.node("Mul", [acc, x], [out], name=out))
        other = e.analysis.shapes[node.inputs[k]]  # broadcast: a 1 takes the other's size
        shape = tuple(b if a == 1 else a for a, b in zip(shape, other, strict=True))
        acc = e.shaped(out, shape)
    e.emit("Mul", node, [acc, xs[-1]])


def _gelu(e: Emitter, node: Node, a: GeluAttrs, x: str) -> None:
    if e.opset >= GELU_OPSET:
        e.emit("Gelu", node, [x], approximate="tanh" if a.tanh else "none")
        return
    n = node.name

    def op(kind: str, inputs: list[str], suffix: str) -> str:
        e.nodes.append(proto.node(kind, inputs, [f"{n}.{suffix}"], name=f"{n}.{suffix}"))
        return e.shaped(f"{n}.{suffix}", e.analysis.shapes[node.id])  # all elementwise

    one = e.const(f"{n}.one", e.floats(1.0))
    half = e.const(f"{n}.half", e.floats(0.5))
    if a.tanh:  # 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
        cube = op("Mul", [op("Mul", [x, x], "x2"), x], "x3")
        c = e.const(f"{n}.c", e.floats(0.044715))
        inner = op("Add", [x, op("Mul", [cube, c], "cx3")], "inner")
        k = e.const(f"{n}.k", e.floats(math.sqrt(2.0 / math.pi)))
        t = op("Tanh", [op("Mul", [inner, k], "scaled")], "tanh")
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        r = e.const(f"{n}.sqrt2", e.floats(math.sqrt(2.0)))
        t = op("Erf", [op("Div", [x, r], "scaled")], "erf")
    e.emit("Mul", node, [op("Mul", [x, op("Add", [t, one], "plus1")], "x1"), half])


def _layernorm(e: Emitter, node: Node, a: LayerNormAttrs, x: str, rank: int) -> None:
    """LayerNormalization normalises trailing axes: a map goes channels-last and back, as
    torchvision's LayerNorm2d does (permute, layer_norm, permute)."""
    params = e.params(node)
    if rank == 2:
        e.emit("LayerNormalization", node, [x, *params], axis=-1, epsilon=a.eps)
        return
    n = node.name
    e.nodes.append(proto.node("Transpose", [x], [f"{n}.nhwc"], name=f"{n}.nhwc", perm=[0, 2, 3, 1]))
    s = e.analysis.shapes[node.id]
    e.shaped(f"{n}.nhwc", (s[0], s[2], s[3], s[1]))
    e.shaped(f"{n}.normed", (s[0], s[2], s[3], s[1]))
    e.nodes.append(
        proto.node(
            "LayerNormalization",
            [f"{n}.nhwc", *params],
            [f"{n}.normed"],
            name=f"{n}.normed",
            axis=-1,
            epsilon=a.eps,
        )
    )
    e.emit("Transpose", node, [f"{n}.normed"], perm=[0, 3, 1, 2])


def _linear(e: Emitter, node: Node, a: DenseAttrs, x: str, rank: int) -> None:
    """nn.Linear over the channels at every position: a 1x1 conv with the weight [n, C]
    viewed as [n, C, 1, 1]; on a flat input, Gemm as dense."""
    if rank == 2:
        e.emit("Gemm", node, [x, *e.params(node)], transB=1)
        return
    shape = {"weight": (a.out_features, a.in_features, 1, 1)}
    e.emit("Conv", node, [x, *e.params(node, shape)], kernel_shape=[1, 1])
