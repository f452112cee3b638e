"""Seeded weight initialisers: PyTorch's defaults, He and Xavier. Deterministic per name."""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, assert_never

import numpy as np

from dslc.ir.graph import Node
from dslc.ir.ops import (
    BatchNormAttrs,
    ConvAttrs,
    DeconvAttrs,
    DenseAttrs,
    LayerNormAttrs,
    Op,
    PreluAttrs,
    ScaleAttrs,
)

__all__ = [
    "AHEAD_BYTES",
    "THREADED_FROM",
    "Drawn",
    "Scale",
    "Spec",
    "Tensor",
    "draw_all",
    "initial",
    "parameters",
    "rng",
    "specs",
]

THREADED_FROM = 1 << 20  # elements; below this a thread pool costs more than it saves
AHEAD_BYTES = 16 << 20  # drawn but not yet asked for: enough to keep two threads busy


@dataclass(frozen=True, slots=True)
class Tensor:
    """A named parameter tensor and what it is (weight, bias, running_mean, ...)."""

    name: str
    kind: str
    array: np.ndarray


def rng(seed: int, name: str) -> np.random.Generator:
    """One generator per tensor, from the user's seed and a stable hash of the tensor's name."""
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8"))])


def _draw(
    name: str,
    shape: tuple[int, ...],
    fan_in: int,
    fan_out: int,
    scheme: str,
    seed: int,
    is_bias: bool,
) -> np.ndarray:
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
    match node.op:
        case Op.CONV:
            assert isinstance(a, ConvAttrs)
            fixed = a.fixed_weight is not None
            bias = a.fixed_bias is not None if fixed else a.bias
            shape = (a.out_channels, a.in_channels // a.groups, *a.kernel)
            return [
                Spec(f"{n}.weight", "weight", shape, fixed),
                *([Spec(f"{n}.bias", "bias", (a.out_channels,), fixed)] if bias else []),
            ]
        case Op.DECONV:
            assert isinstance(a, DeconvAttrs)
            shape = (a.in_channels, a.out_channels // a.groups, *a.kernel)
            return [
                Spec(f"{n}.weight", "weight", shape),
                *([Spec(f"{n}.bias", "bias", (a.out_channels,))] if a.bias else []),
            ]
        case Op.DENSE:
            assert isinstance(a, DenseAttrs)
            return [
                Spec(f"{n}.weight", "weight", (a.out_features, a.in_features)),
                *([Spec(f"{n}.bias", "bias", (a.out_features,))] if a.bias else []),
            ]
        case Op.BATCHNORM:
            assert isinstance(a, BatchNormAttrs)
            return [
                Spec(f"{n}.{k}", k, (a.channels,))
                for k in ("weight", "bias", "running_mean", "running_var")
            ]
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
            return []  # nothing learned
        case Op.CHANNELS | Op.SHUFFLE | Op.SPACE_TO_DEPTH | Op.DEPTH_TO_SPACE | Op.PAD_CHANNELS:
            return []  # rearrangements: nothing learned
        case Op.LINEAR:
            assert isinstance(a, DenseAttrs)
            return [
                Spec(f"{n}.weight", "weight", (a.out_features, a.in_features)),
                *([Spec(f"{n}.bias", "bias", (a.out_features,))] if a.bias else []),
            ]
        case Op.PRELU:
            assert isinstance(a, PreluAttrs)
            return [Spec(f"{n}.weight", "weight", (a.slopes,))]
        case Op.LAYERNORM:
            assert isinstance(a, LayerNormAttrs)
            return [Spec(f"{n}.{k}", k, (a.channels,)) for k in ("weight", "bias")]
        case Op.SCALE:  # one tensor named by the layer itself (torchvision's layer_scale)
            assert isinstance(a, ScaleAttrs)
            return [Spec(n, "scale", a.shape)]
        case Op.MUL | Op.SILU | Op.HARDSWISH | Op.HARDSIGMOID | Op.GELU | Op.STOCHASTIC_DEPTH:
            return []
        case Op.OPAQUE:
            return []  # never compiled: the emitter refuses it first
        case _:
            assert_never(node.op)


def _fans(node: Node, shape: tuple[int, ...]) -> tuple[int, int]:
    """fan_in and fan_out of a weight, as PyTorch computes them."""
    if node.op in (Op.DENSE, Op.LINEAR):
        return shape[1], shape[0]
    rf = shape[2] * shape[3]  # conv (out, in/g, kh, kw) and deconv (in, out/g, kh, kw) alike
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
    fill = _filled(node, s)
    if fill is not None:
        return fill
    weight = specs(node)[0].shape
    fan_in, fan_out = _fans(node, weight)
    return _draw(s.name, s.shape, fan_in, fan_out, scheme, seed, s.kind == "bias")


def _filled(node: Node, s: Spec) -> np.ndarray | None:
    """PyTorch's constant initial values: PReLU slopes 0.25, layer norm's ones and zeros, a
    layer scale's `init`; None for drawn tensors."""
    a = node.attrs
    if node.op is Op.PRELU:
        return np.full(s.shape, 0.25, np.float32)
    if node.op is Op.LAYERNORM:
        return (np.ones if s.kind == "weight" else np.zeros)(s.shape, np.float32)
    if isinstance(a, ScaleAttrs):
        return np.full(s.shape, a.init, np.float32)
    return None


def draw_all(
    nodes: Iterable[Node], scheme: str = "pytorch", seed: int = 0
) -> dict[str, np.ndarray]:
    """The initial value of every parameter tensor of `nodes` but hand-written kernels."""
    drawn = Drawn(nodes, scheme, seed)
    return {name: drawn[name] for name in drawn}


Scale = tuple[np.ndarray, type[np.floating[Any]]]  # per output channel (float64), and the dtype


class Drawn(Mapping[str, np.ndarray]):
    """The parameter tensors of `nodes`: those in `given` as given, the others (but
    hand-written kernels) initialised from the seed, drawn ahead on two threads in the order
    they will be asked for. A drawn tensor named in `scales` is multiplied by its per-channel
    factor and rounded to its dtype on the drawing thread (batch-norm folding).

    Each tensor has its own generator, seeded from its name, so the values do not depend on
    the order or the thread, and numpy fills an array without holding the GIL. A drawn tensor
    is handed out once and then forgotten (asked again, it is drawn again), and at most
    AHEAD_BYTES are drawn ahead of the caller: a caller that turns the tensors into others
    (batch-norm folding) never holds all of them twice."""

    def __init__(
        self,
        nodes: Iterable[Node],
        scheme: str = "pytorch",
        seed: int = 0,
        given: Mapping[str, np.ndarray] | None = None,
        scales: Mapping[str, Scale] | None = None,
    ) -> None:
        self._given = given or {}
        self._scheme, self._seed = scheme, seed
        self._scales = {k: v for k, v in (scales or {}).items() if k not in self._given}
        self._jobs = [
            (n, s) for n in nodes for s in specs(n) if not s.fixed and s.name not in self._given
        ]
        self._index = {s.name: k for k, (_, s) in enumerate(self._jobs)}
        self._ready: dict[int, Future[np.ndarray]] = {}
        self._next = 0  # the next job to start
        self._waiting = 0  # bytes drawn (or being drawn) and not yet asked for
        size = sum(math.prod(s.shape) for _, s in self._jobs)
        workers = min(2, os.cpu_count() or 1)
        self._pool = (
            ThreadPoolExecutor(workers, thread_name_prefix="dslc-init")
            if workers > 1 and size >= THREADED_FROM
            else None
        )

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self._given:
            return self._given[name]
        k = self._index[name]
        if self._pool is None or (k < self._next and k not in self._ready):
            return self._draw(k)  # serial, or asked a second time
        while self._next <= k:
            self._start()
        future = self._ready.pop(k)
        self._waiting -= self._bytes(k)
        self._top_up()
        return future.result()

    def reorder(self, names: Iterable[str]) -> None:
        """Draw in the order of `names` (the order the tensors will be asked for), then the
        others; before the first is asked for."""
        assert self._next == 0, "reordered after drawing started"
        rank: dict[str, int] = {}
        for name in names:
            rank.setdefault(name, len(rank))
        self._jobs.sort(key=lambda job: rank.get(job[1].name, len(rank)))
        self._index = {s.name: k for k, (_, s) in enumerate(self._jobs)}

    def mine(self, name: str) -> bool:
        """Whether `name` is drawn here (not given): the caller may change it in place."""
        return name in self._index

    def scaled(self, name: str) -> bool:
        """Whether `name` is drawn here and handed out already multiplied by its scale."""
        return name in self._index and name in self._scales

    def __contains__(self, name: object) -> bool:
        return name in self._given or name in self._index

    def __iter__(self) -> Iterator[str]:
        yield from self._given
        yield from self._index

    def __len__(self) -> int:
        return len(self._given) + len(self._index)

    def _draw(self, k: int) -> np.ndarray:
        node, spec = self._jobs[k]
        drawn = initial(node, spec, self._scheme, self._seed)
        if spec.name not in self._scales:
            return drawn
        # computed in float64 and rounded once to the dtype, as astype(float64) * factor would,
        # but by numpy's buffered loop: no float64 copy of the whole weight, and in place when
        # the dtype is the drawn one (no new pages to fault in)
        factor, dtype = self._scales[spec.name]
        out = drawn if drawn.dtype == dtype else np.empty(drawn.shape, dtype)
        shape = (-1,) + (1,) * (drawn.ndim - 1)
        np.multiply(drawn, factor.reshape(shape), dtype=np.float64, out=out, casting="same_kind")
        return out

    def _bytes(self, k: int) -> int:
        return 4 * math.prod(self._jobs[k][1].shape)

    def _start(self) -> None:
        assert self._pool is not None
        self._ready[self._next] = self._pool.submit(self._draw, self._next)
        self._waiting += self._bytes(self._next)
        self._next += 1

    def _top_up(self) -> None:
        """Keep drawing ahead, up to AHEAD_BYTES (at least one tensor) waiting."""
        assert self._pool is not None
        while self._next < len(self._jobs):
            if self._ready and self._waiting >= AHEAD_BYTES:
                return
            self._start()
        if not self._ready:
            self._pool.shutdown(wait=False)  # all handed out: let the threads go
