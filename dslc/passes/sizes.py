"""Which input sizes a network with symbolic sizes (`input x: 3 x H x W`) is valid for.

Shape formulas such as `H/2` assume that every stride divides what it strides over; for other
sizes each layer rounds down, which is harmless in a chain but breaks a merge whose branches
round differently (a max pool then an upsample, concatenated with the unpooled map: H must be
even). Sizes along one axis are periodic functions of the input's size, with a period that
divides the least common multiple of the denominators in the formulas (32 for `H/32`). So
this pass re-runs shape inference over the expanded graph with concrete sizes, one per residue
of that period (the others held at sizes where the formulas are exact), and keeps the residues
that work; then it finds the smallest size that works, by bisection in each residue class.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from dslc.diagnostics import DiagnosticError, Sink
from dslc.ir import dims
from dslc.ir.dims import Dim, Sym
from dslc.ir.graph import Graph, Node
from dslc.ir.ops import InputAttrs, Op
from dslc.ir.shapes import Shape, Shapes, node_shape

__all__ = [
    "BIG_SIZE",
    "MAX_PERIOD",
    "SizeError",
    "SizeRule",
    "check_given",
    "concrete_shapes",
    "describe",
    "size_rules",
    "unsatisfiable",
]

MAX_PERIOD = 1024  # longer periods are not searched: multiples of the period are then required
BIG_SIZE = 1 << 12  # a size at which no layer runs out of room (inputs are at least this)


@dataclass(frozen=True, slots=True)
class SizeRule:
    """The values a symbolic input size may take: `size % period in residues` and
    `size >= minimum`. `exact`: shapes shown are exact for multiples of it (else round down)."""

    symbol: str
    period: int
    residues: tuple[int, ...]
    minimum: int
    exact: int

    def allows(self, n: int) -> bool:
        """Whether the network is valid for this size."""
        return n >= self.minimum and n % self.period in self.residues

    @property
    def restricts(self) -> bool:
        """False where every size (from 1) works."""
        return self.minimum > 1 or len(self.residues) < self.period

    def text(self) -> str:
        """`multiples of 16`, `even`, `odd`, `1 or 3 mod 4`; `, at least 7` when it matters."""
        step = self.period if self.residues == (0,) else None  # the period is the shortest
        if step == 1:
            what = "any size"
        elif step == 2:
            what = "even"
        elif step is not None:
            what = f"multiples of {step}"
        elif self.period == 2:
            what = "odd"
        else:
            what = " or ".join(str(r) for r in self.residues) + f" mod {self.period}"
        first = min((r or self.period for r in self.residues), default=1)
        if self.minimum > first:
            return f"at least {self.minimum}" if step == 1 else f"{what}, at least {self.minimum}"
        return what

    def to_json(self) -> dict[str, object]:
        """The rule as plain data (ONNX metadata, summary --json)."""
        return {
            "period": self.period,
            "residues": list(self.residues),
            "minimum": self.minimum,
            "text": self.text(),
        }


def describe(rules: tuple[SizeRule, ...]) -> str:
    """`H, W multiples of 16` (sizes alike are named together); '' when nothing restricts."""
    groups: dict[str, list[str]] = {}
    for r in rules:
        if r.restricts:
            groups.setdefault(r.text(), []).append(r.symbol)
    return "; ".join(f"{', '.join(names)} {text}" for text, names in groups.items())


def size_rules(graph: Graph, shapes: Shapes) -> tuple[SizeRule, ...]:
    """A rule for every symbolic spatial size of the inputs (the batch N excepted)."""
    symbols = sorted(
        {
            s
            for node in graph.nodes
            if node.op is Op.INPUT
            for d in shapes[node.id][2:]
            if isinstance(d, Sym)
            for m, _ in d.terms
            for s in m
        }
    )
    if not symbols:
        return ()
    exact = {s: _period(shapes, s) for s in symbols}
    base = {s: exact[s] * math.ceil(BIG_SIZE / exact[s]) for s in symbols}
    return tuple(_rule(graph, s, exact[s], base) for s in symbols)


def _period(shapes: Shapes, symbol: str) -> int:
    """The lcm of the denominators of `symbol`'s coefficients in every shape."""
    period = 1
    for shape in shapes.values():
        for d in shape:
            if isinstance(d, Sym):
                for m, c in d.terms:
                    if symbol in m:
                        period = math.lcm(period, c.denominator)
    return period


def _rule(graph: Graph, symbol: str, exact: int, base: dict[str, int]) -> SizeRule:
    period = exact
    if exact > MAX_PERIOD:  # too long to search: the sizes where the formulas are exact
        return SizeRule(symbol, exact, (0,), exact, exact)
    sizes = dict(base)

    def works(n: int) -> bool:
        sizes[symbol] = n
        return _works(graph, sizes)

    residues = tuple(r for r in range(period) if works(base[symbol] + r))
    minimum = min((_smallest(works, r, period, base[symbol] + r) for r in residues), default=1)
    period, residues = _shortest(period, residues)
    return SizeRule(symbol, period, residues, minimum, exact)


def _shortest(period: int, residues: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """The same set of sizes with the shortest period: all 32 residues of 32 are period 1."""
    for p in range(1, period + 1):
        if period % p == 0:
            short = tuple(sorted({r % p for r in residues}))
            if tuple(r for r in range(period) if r % p in short) == residues:
                return p, short
    return period, residues


def _smallest(works: Callable[[int], bool], r: int, period: int, known: int) -> int:
    """The smallest n = r (mod period), n >= 1, for which works(n), given works(known)."""
    lo = r if r >= 1 else period  # candidates lo, lo + period, ..., known
    if works(lo):
        return lo
    bad, good = 0, (known - lo) // period  # in steps of `period` from lo
    while good - bad > 1:
        mid = (bad + good) // 2
        if works(lo + mid * period):
            good = mid
        else:
            bad = mid
    return lo + good * period


def _works(graph: Graph, sizes: dict[str, int]) -> bool:
    """Shape inference with concrete sizes raises no error (the batch stays symbolic)."""
    return concrete_shapes(graph, sizes) is not None


def concrete_shapes(graph: Graph, sizes: dict[str, int]) -> Shapes | None:
    """Every node's shape at these values of the symbolic sizes (the batch stays symbolic),
    by shape inference over the expanded graph; None where some layer cannot take them."""
    try:
        return _infer(graph, sizes)
    except _Failed:
        return None


class _Failed(Exception):
    def __init__(self, node: Node, error: Exception) -> None:
        self.node, self.error = node, error


def _infer(graph: Graph, sizes: dict[str, int]) -> Shapes:
    out: dict[int, Shape] = {}
    for node in graph.nodes:
        try:
            if node.op is Op.INPUT:
                assert isinstance(node.attrs, InputAttrs)
                out[node.id] = tuple(_concrete(d, sizes) for d in node.attrs.shape)
            else:
                out[node.id] = node_shape(node, [out[i] for i in node.inputs])
        except (DiagnosticError, ValueError, ZeroDivisionError) as exc:
            raise _Failed(node, exc) from None
    return out


def unsatisfiable(graph: Graph, shapes: Shapes, rules: tuple[SizeRule, ...], sink: Sink) -> None:
    """An error where some symbolic size has no value that works (a 2*H-1 that must be
    even), at the layer that fails where the formulas are exact."""
    never = [r.symbol for r in rules if not r.residues]
    if not never:
        return
    sizes = {r.symbol: r.exact * math.ceil(BIG_SIZE / r.exact) for r in rules}
    try:
        _infer(graph, sizes)
    except _Failed as failed:
        node, exc = failed.node, failed.error
        message = exc.message if isinstance(exc, DiagnosticError) else str(exc)
        at = ", ".join(f"{s} = {sizes[s]}" for s in never)
        ins = ", ".join(" x ".join(map(str, shapes[i])) for i in node.inputs)
        sink.error(
            "E0323",
            f"no {' or '.join(never)} works for this network: '{node.name}' fails at every "
            f"size, e.g. at {at}: {message}",
            node.span,
            f"its input is {ins}; change the layers before it so that the sizes fit for some "
            "input size",
        )


def _concrete(d: Dim, sizes: dict[str, int]) -> Dim:
    if not isinstance(d, Sym) or any(s not in sizes for m, _ in d.terms for s in m):
        return d
    value = dims.substitute(d, sizes)
    return int(value) if value.denominator == 1 else d


class SizeError(ValueError):
    """Values for symbolic sizes (`summary --size H=...`) that the network does not take;
    `problems` holds one message per size."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def check_given(rules: tuple[SizeRule, ...], sizes: dict[str, int], network: str) -> None:
    """Raise SizeError unless every size names a symbolic input size the network is valid for."""
    by_name = {r.symbol: r for r in rules}
    if sizes and not by_name:
        given = ",".join(f"{k}={v}" for k, v in sizes.items())
        fixed = (
            f"--size {given}: {network}'s input sizes are fixed; --size gives values to "
            "symbolic sizes, as in 'input image: 3 x H x W' (--set changes network parameters)"
        )
        raise SizeError([fixed])
    problems = []
    for name, n in sizes.items():
        rule = by_name.get(name)
        if rule is None:
            problems.append(_unknown(name, n, tuple(by_name), network))
        elif not rule.allows(n):
            near = " or ".join(str(v) for v in _nearest(rule, n))
            problems.append(
                f"--size {name}={n}: {network} is valid only for {name} {rule.text()}"
                f"{f' (the nearest: {near})' if near else ''}; other sizes fail in its "
                "layers' shapes"
            )
    if problems:
        raise SizeError(problems)


def _unknown(name: str, n: int, names: tuple[str, ...], network: str) -> str:
    if name == "N":
        return f"--size N={n}: N is the batch, chosen when the model runs (dslc run --batch)"
    same = [m for m in names if m.lower() == name.lower()]  # sizes are case-sensitive
    return (
        f"--size {name}={n}: {network} has no symbolic size '{name}'"
        f"{f' (did you mean {same[0]}?)' if same else ''}; its symbolic "
        f"size{'s are' if len(names) > 1 else ' is'} {', '.join(names)}"
    )


def _nearest(rule: SizeRule, n: int) -> list[int]:
    """The valid sizes next to n: the largest below it and the smallest above it."""
    low = range(n - 1, max(rule.minimum, n - rule.period) - 1, -1)
    start = max(n + 1, rule.minimum)
    high = range(start, start + rule.period)
    found = (next((m for m in r if rule.allows(m)), None) for r in (low, high))
    return [m for m in found if m is not None]
