"""Seeded weight initialisers: PyTorch's defaults, He and Xavier. Deterministic per name."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from dslc.ir import BatchNormAttrs, ConvAttrs, DeconvAttrs, DenseAttrs, Node, Op

SCHEMES = ("pytorch", "he", "xavier")


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


def _learned(name: str, wshape: tuple[int, ...], fan_in: int, fan_out: int, bias: int,
             scheme: str, seed: int) -> list[Tensor]:
    out = [Tensor(f"{name}.weight", "weight",
                  _draw(f"{name}.weight", wshape, fan_in, fan_out, scheme, seed, False))]
    if bias:
        out.append(Tensor(f"{name}.bias", "bias",
                          _draw(f"{name}.bias", (bias,), fan_in, fan_out, scheme, seed, True)))
    return out


def parameters(node: Node, scheme: str = "pytorch", seed: int = 0) -> list[Tensor]:
    """The initialised tensors of one node, in the order the ONNX op takes them."""
    a = node.attrs
    if node.op is Op.CONV and isinstance(a, ConvAttrs):
        shape = (a.out_channels, a.in_channels // a.groups, *a.kernel)
        if a.fixed_weight is not None:
            w = np.asarray(a.fixed_weight, np.float32).reshape(shape)
            bias = [] if a.fixed_bias is None else [
                Tensor(f"{node.name}.bias", "bias", np.full((a.out_channels,), a.fixed_bias,
                                                             np.float32))]
            return [Tensor(f"{node.name}.weight", "weight", w), *bias]
        rf = a.kernel[0] * a.kernel[1]
        return _learned(node.name, shape, shape[1] * rf, a.out_channels * rf,
                        a.out_channels if a.bias else 0, scheme, seed)
    if node.op is Op.DECONV and isinstance(a, DeconvAttrs):
        shape = (a.in_channels, a.out_channels // a.groups, *a.kernel)
        rf = a.kernel[0] * a.kernel[1]
        return _learned(node.name, shape, shape[1] * rf, a.in_channels * rf,
                        a.out_channels if a.bias else 0, scheme, seed)
    if node.op is Op.DENSE and isinstance(a, DenseAttrs):
        return _learned(node.name, (a.out_features, a.in_features), a.in_features,
                        a.out_features, a.out_features if a.bias else 0, scheme, seed)
    if node.op is Op.BATCHNORM and isinstance(a, BatchNormAttrs):
        c = a.channels
        return [Tensor(f"{node.name}.weight", "weight", np.ones(c, np.float32)),
                Tensor(f"{node.name}.bias", "bias", np.zeros(c, np.float32)),
                Tensor(f"{node.name}.running_mean", "running_mean", np.zeros(c, np.float32)),
                Tensor(f"{node.name}.running_var", "running_var", np.ones(c, np.float32))]
    return []
