"""Seeded weight initialisers: PyTorch's defaults, He and Xavier. Deterministic per name."""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Container, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from dslc.ir import BatchNormAttrs, ConvAttrs, DeconvAttrs, DenseAttrs, Node, Op

SCHEMES = ("pytorch", "he", "xavier")
THREADED_FROM = 1 << 20  # elements; below this a thread pool costs more than it saves


@dataclass(frozen=True, slots=True)
class Tensor:
    """A named parameter tensor and what it is (weight, bias, running_mean, ...)."""

    name: str
    kind: str
    array: np.ndarray


def rng(seed: int, name: str) -> np.random.Generator:
    """One generator per tensor, from the user's seed and a stable hash of the tensor's name."""
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8"))])


def _draw(name: str, shape: tuple[int, ...], fan_in: int, fan_out: int, scheme: str,
          seed: int, is_bias: bool) -> np.ndarray:
    g = rng(seed, name)
    if scheme == "pytorch":
        return _uniform(g, shape, 1.0 / math.sqrt(fan_in) if fan_in else 0.0)
    if is_bias:
        return np.zeros(shape, np.float32)
    if scheme == "he":
        out = g.standard_normal(size=shape, dtype=np.float32)
        out *= np.float32(math.sqrt(2.0 / fan_in))
        return out
    return _uniform(g, shape, math.sqrt(6.0 / (fan_in + fan_out)))


def _uniform(g: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    """U(-bound, bound) drawn directly in float32 (vectorised, no float64 detour)."""
    out = g.random(size=shape, dtype=np.float32)
    out *= np.float32(2 * bound)
    out -= np.float32(bound)
    return out


@dataclass(frozen=True, slots=True)
class Spec:
    """What a parameter tensor will be, without drawing it: the list `dslc weights` prints."""

    name: str
    kind: str
    shape: tuple[int, ...]
    fixed: bool = False  # written in the source (a hand-written kernel): not loadable


def specs(node: Node) -> list[Spec]:
    """The parameter tensors of one node, in the order the ONNX op takes them."""
    a, n = node.attrs, node.name
    if node.op is Op.CONV and isinstance(a, ConvAttrs):
        fixed = a.fixed_weight is not None
        bias = a.fixed_bias is not None if fixed else a.bias
        return [Spec(f"{n}.weight", "weight", (a.out_channels, a.in_channels // a.groups,
                                                *a.kernel), fixed),
                *([Spec(f"{n}.bias", "bias", (a.out_channels,), fixed)] if bias else [])]
    if node.op is Op.DECONV and isinstance(a, DeconvAttrs):
        return [Spec(f"{n}.weight", "weight", (a.in_channels, a.out_channels // a.groups,
                                                *a.kernel)),
                *([Spec(f"{n}.bias", "bias", (a.out_channels,))] if a.bias else [])]
    if node.op is Op.DENSE and isinstance(a, DenseAttrs):
        return [Spec(f"{n}.weight", "weight", (a.out_features, a.in_features)),
                *([Spec(f"{n}.bias", "bias", (a.out_features,))] if a.bias else [])]
    if node.op is Op.BATCHNORM and isinstance(a, BatchNormAttrs):
        return [Spec(f"{n}.{k}", k, (a.channels,))
                for k in ("weight", "bias", "running_mean", "running_var")]
    return []


def _fans(node: Node, shape: tuple[int, ...]) -> tuple[int, int]:
    """fan_in and fan_out of a weight, as PyTorch computes them."""
    if node.op is Op.DENSE:
        return shape[1], shape[0]
    rf = shape[2] * shape[3]
    if node.op is Op.DECONV:  # PyTorch's weight is (in, out/groups, kh, kw)
        return shape[1] * rf, shape[0] * rf
    return shape[1] * rf, shape[0] * rf


def parameters(node: Node, scheme: str = "pytorch", seed: int = 0) -> list[Tensor]:
    """The initialised tensors of one node, in the order the ONNX op takes them."""
    return [Tensor(s.name, s.kind, initial(node, s, scheme, seed)) for s in specs(node)]


def initial(node: Node, s: Spec, scheme: str = "pytorch", seed: int = 0) -> np.ndarray:
    """The initial value of one parameter tensor: drawn from its seed, or as written."""
    a = node.attrs
    if s.fixed and isinstance(a, ConvAttrs):
        if s.kind == "weight":
            return np.asarray(a.fixed_weight, np.float32).reshape(s.shape)
        return np.full(s.shape, a.fixed_bias, np.float32)
    if node.op is Op.BATCHNORM:
        one = s.kind in ("weight", "running_var")
        return np.ones(s.shape, np.float32) if one else np.zeros(s.shape, np.float32)
    weight = specs(node)[0].shape
    fan_in, fan_out = _fans(node, weight)
    return _draw(s.name, s.shape, fan_in, fan_out, scheme, seed, s.kind == "bias")


def draw_all(nodes: Iterable[Node], scheme: str = "pytorch", seed: int = 0,
             skip: Container[str] = ()) -> dict[str, np.ndarray]:
    """The initial value of every parameter tensor of `nodes` (hand-written kernels and the
    names in `skip` left out), by name.

    Large models are drawn on two threads: each tensor has its own generator, seeded from its
    name, so the values do not depend on the order or the thread, and numpy fills an array
    without holding the GIL."""
    jobs = [(n, s) for n in nodes for s in specs(n) if not s.fixed and s.name not in skip]
    size = sum(math.prod(s.shape) for _, s in jobs)
    workers = min(2, os.cpu_count() or 1)
    if workers < 2 or size < THREADED_FROM:
        return {s.name: initial(n, s, scheme, seed) for n, s in jobs}
    with ThreadPoolExecutor(workers) as pool:
        arrays = pool.map(lambda job: initial(job[0], job[1], scheme, seed), jobs)
        return {s.name: a for (_, s), a in zip(jobs, arrays, strict=True)}
