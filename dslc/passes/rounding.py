"""Which dims of a network with symbolic sizes round at some size it is valid for.

A shape formula such as `H/2` is the size only where the strides divide (`Exact shapes: for
H multiples of 2`); at other valid sizes a layer rounds, so two tensors whose formulas read
alike (`H` after a stride-2 conv and an upsample by 2, and the input's `H`) can differ. A
model file must not say they are equal: ONNX Runtime plans its buffers by the names of the
dims (a Mul's output reused for a Resize's, then `Shape mismatch attempting to re-use
buffer`). So where dims whose formulas read alike differ at some valid size, those whose
size is not their formula get names of their own (`H~1`, `H~2`): dims named alike have one
size at every valid size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from dslc.ir import dims
from dslc.ir.dims import Dim, Sym, sym
from dslc.ir.graph import Graph
from dslc.ir.shapes import Shapes
from dslc.passes.sizes import BIG_SIZE, SizeRule, concrete_shapes

__all__ = ["Rounded", "rounded_dims", "stated_shapes"]

Rounded = Mapping[tuple[int, int], Dim]  # (node id, axis) -> the dim a model file states


def rounded_dims(graph: Graph, shapes: Shapes, rules: tuple[SizeRule, ...]) -> Rounded:
    """A name of its own (`H~1`) for every dim whose formula reads like another dim's but
    whose size differs from it at some valid size; the dims whose formula is their size keep
    it. Sizes are compared at the largest and the smallest valid size of every residue of the
    period (one symbol at a time, the others held where the formulas are exact)."""
    reps = [(s, c) for s in _representatives(rules) if (c := concrete_shapes(graph, s))]
    if not reps:
        return {}
    groups: dict[str, dict[tuple[int, ...], list[tuple[int, int]]]] = {}
    for node in graph.nodes:
        for axis, d in enumerate(shapes[node.id]):
            values = tuple(c[node.id][axis] for _, c in reps)
            ints = tuple(v for v in values if isinstance(v, int))
            if isinstance(d, Sym) and len(ints) == len(values):  # not the batch
                groups.setdefault(str(d), {}).setdefault(ints, []).append((node.id, axis))
    out: dict[tuple[int, int], Dim] = {}
    for text, by_values in groups.items():
        if len(by_values) == 1:
            continue  # the name is one size at every valid size
        key = next(iter(by_values.values()))[0]
        exact = tuple(int(dims.substitute(shapes[key[0]][key[1]], s)) for s, _ in reps)
        others = [keys for values, keys in by_values.items() if values != exact]
        for j, keys in enumerate(others, 1):
            for k in keys:
                out[k] = sym(f"{text}~{j}")
    return out


def _representatives(rules: tuple[SizeRule, ...]) -> list[dict[str, int]]:
    """Valid sizes, one symbol at a time: each residue's largest and smallest; none where
    every valid size is a multiple of what the formulas need."""
    if all(r % rule.exact == 0 for rule in rules for r in _residues(rule)):
        return []
    base = {r.symbol: r.exact * math.ceil(BIG_SIZE / r.exact) for r in rules}
    out = []
    for rule in rules:
        period = math.lcm(rule.period, rule.exact)
        for k in _residues(rule):
            small = k if k >= 1 else period
            while small < rule.minimum:
                small += period
            out += [base | {rule.symbol: base[rule.symbol] + k}, base | {rule.symbol: small}]
    return out


def _residues(rule: SizeRule) -> list[int]:
    """The valid residues modulo lcm(period, exact)."""
    period = math.lcm(rule.period, rule.exact)
    return [k for k in range(period) if k % rule.period in rule.residues]


def stated_shapes(shapes: Shapes, rounded: Rounded) -> Shapes:
    """The shapes as a model file states them: rounding dims by their own names."""
    if not rounded:
        return shapes
    out = dict(shapes)
    for (node_id, axis), d in rounded.items():
        shape = list(out[node_id])
        shape[axis] = d
        out[node_id] = tuple(shape)
    return out
