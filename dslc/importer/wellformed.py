"""The checks ONNX Runtime makes before it runs a graph, made before the importer reads one:
every node has an output and its own name, every input and tensor is defined once, every name
read (and every output) is defined, and the nodes can be put in an order where each runs after
what it reads (ONNX asks for that order; a file out of order is sorted, as ONNX Runtime sorts
it, and a cycle is an error).
"""

from __future__ import annotations

import dataclasses
import heapq

from dslc.importer.wire import Model, Node

__all__ = ["Malformed", "printable", "sorted_model"]


class Malformed(Exception):
    """A graph ONNX Runtime would refuse; the message says what is wrong, `index` which node
    (in the file's order) is at fault, None for the graph's inputs or outputs."""

    def __init__(self, message: str, index: int | None) -> None:
        super().__init__(message)
        self.index = index


def printable(text: str, limit: int = 80) -> str:
    """A name from the file as it can be shown on one line: control characters (terminal
    escapes, newlines) written as escapes, and at most `limit` characters."""
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[: limit + 1])
    return out if len(out) <= limit and len(text) <= limit else out[: limit - 3] + "..."


def _what(node: Node) -> str:
    name = node.name or (node.outputs[0] if node.outputs else "")
    return f"node '{printable(name)}' ({node.op_type or '?'})"


def sorted_model(model: Model) -> Model:
    """The model with its nodes in an order that computes each input before it is read;
    Malformed for a graph no order can run."""
    graph = model.graph
    defined: dict[str, str] = {}
    for vi in graph.inputs:
        if vi.name in defined:
            raise Malformed(f"input '{printable(vi.name)}' is declared twice", None)
        defined[vi.name] = "an input"
    for t in graph.initializers:  # one stored twice: ONNX Runtime takes the last, as dslc
        defined.setdefault(t.name, "a stored tensor")
    for name in graph.sparse:
        defined.setdefault(name, "a stored sparse tensor")
    producer: dict[str, int] = {}
    named: set[str] = set()
    for k, node in enumerate(graph.nodes):
        if node.name in named:
            raise Malformed(f"two nodes are named '{printable(node.name)}'", k)
        named.update([node.name] if node.name else [])
        if not [o for o in node.outputs if o]:
            raise Malformed(f"node {k + 1} ({node.op_type or '?'}) has no output", k)
        for out in node.outputs:
            if not out:
                continue
            if out in producer or out in defined:
                first = defined.get(out) or _what(graph.nodes[producer[out]])
                raise Malformed(
                    f"tensor '{printable(out)}' is defined twice: by {first} and {_what(node)}", k
                )
            producer[out] = k
    for vi in graph.outputs:
        if vi.name not in defined and vi.name not in producer:
            raise Malformed(f"output '{printable(vi.name)}' is a name nothing defines", None)
    waits: list[set[int]] = []
    for k, node in enumerate(graph.nodes):
        before: set[int] = set()
        for name in node.inputs:
            if not name or name in defined:
                continue
            if name not in producer:
                why = f"{_what(node)} reads '{printable(name)}', which nothing defines"
                raise Malformed(why, k)
            before.add(producer[name])
        waits.append(before)
    order = _order(waits)
    if len(order) < len(waits):
        left = set(range(len(waits))) - set(order)
        k, seen = min(left), set()
        while k not in seen:  # every node left waits on another left: walk back to a cycle
            seen.add(k)
            k = min(b for b in waits[k] if b in left)
        why = f"the nodes form a cycle: {_what(graph.nodes[k])} is computed from its own output"
        raise Malformed(why, k)
    return dataclasses.replace(
        model, graph=dataclasses.replace(graph, nodes=[graph.nodes[k] for k in order])
    )


def _order(waits: list[set[int]]) -> list[int]:
    """Kahn's order, lowest index first: a file already in order stays as it is; shorter
    than `waits` when the nodes form a cycle."""
    users: list[list[int]] = [[] for _ in waits]
    missing = [len(w) for w in waits]
    for k, before in enumerate(waits):
        for b in before:
            users[b].append(k)
    ready = [k for k, n in enumerate(missing) if n == 0]
    order: list[int] = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for u in users[k]:
            missing[u] -= 1
            if missing[u] == 0:
                heapq.heappush(ready, u)
    return order
