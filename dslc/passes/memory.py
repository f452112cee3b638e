"""Activation memory at batch 1: each node's output, and the peak over an inference schedule.

The schedule runs the nodes in graph order (a topological order). Every node's output is a
tensor of its own (no in-place ops, no aliasing); it is allocated when its node runs and freed
after its last consumer has run, so concat and residual inputs stay alive until consumed. The
inputs are alive from the start, the outputs until the end. Counts are elements; multiply by
the bytes of a dtype (DTYPE_BYTES) for bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from dslc.ir import dims
from dslc.ir.dims import Dim
from dslc.ir.graph import Graph
from dslc.ir.shapes import Shapes

__all__ = ["DTYPE_BYTES", "PROBE", "Memory", "activation_memory", "elements"]

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}
# symbolic sizes are compared at this H and W when picking the peak step
PROBE = {"H": 1024, "W": 1024}


@dataclass(frozen=True, slots=True)
class Memory:
    """Elements per node output at batch 1, and the live elements at the peak step."""

    outputs: dict[int, Dim]
    peak: Dim
    peak_node: int | None  # the node running at the peak


def elements(shape: tuple[Dim, ...]) -> Dim:
    """Elements of one sample (the batch dim left out)."""
    n: Dim = 1
    for d in shape[1:]:
        n = dims.mul(n, d)
    return n


def _probe(d: Dim) -> int | Fraction:
    """A symbolic size's value at the probe size (ints stay ints), for picking the peak."""
    if isinstance(d, int):
        return d
    values = dict(PROBE)
    for mono, _ in d.terms:
        for name in mono:
            values.setdefault(name, 1024)
    p = dims.substitute(d, values)
    return int(p) if p.denominator == 1 else p


def activation_memory(graph: Graph, shapes: Shapes) -> Memory:
    """Each node's output elements, and the peak of live elements over the schedule.

    The live total is kept up to date as tensors are allocated and freed (as a number, at the
    probe size for symbolic sizes), so the pass is linear in the number of nodes however many
    tensors are alive at once (U-Net skips, wide concats); the symbolic sum is formed once,
    for the live tensors at the peak."""
    outputs = {n.id: elements(shapes[n.id]) for n in graph.nodes}
    probes = {i: _probe(d) for i, d in outputs.items()}
    last_use = {n.id: n.id for n in graph.nodes}
    for n in graph.nodes:
        for i in n.inputs:
            last_use[i] = max(last_use[i], n.id)
    for i in graph.outputs:
        last_use[i] = len(graph.nodes)
    dying: dict[int, list[int]] = {}
    for t, step in last_use.items():
        dying.setdefault(step, []).append(t)
    peak_node = _peak_step(graph, probes, dying)
    if peak_node is None:
        return Memory(outputs, 0, None)
    live = _live_at(graph, peak_node, dying)
    peak: Dim = 0
    for t in sorted(live):
        peak = dims.add(peak, outputs[t])
    return Memory(outputs, peak, peak_node)


def _peak_step(
    graph: Graph, probes: dict[int, int | Fraction], dying: dict[int, list[int]]
) -> int | None:
    """The first node at whose step the most (probe-sized) elements are alive."""
    live: set[int] = set(graph.inputs)
    now: int | Fraction = sum(probes[t] for t in live)
    best: int | Fraction = 0
    peak_node: int | None = None
    for n in graph.nodes:
        if n.id not in live:
            live.add(n.id)
            now += probes[n.id]
        if peak_node is None or now > best:
            best, peak_node = now, n.id
        for t in dying.get(n.id, ()):
            if t in live:
                live.discard(t)
                now -= probes[t]
    return peak_node


def _live_at(graph: Graph, step: int, dying: dict[int, list[int]]) -> set[int]:
    """The tensors alive while node `step` runs."""
    live: set[int] = set(graph.inputs)
    for n in graph.nodes[: step + 1]:
        live.add(n.id)
        if n.id < step:
            live.difference_update(dying.get(n.id, ()))
    return live
