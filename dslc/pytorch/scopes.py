"""The module tree of a graph: every dotted layer name is a path of modules (`layer1.0.conv1`
is the child `conv1` of `layer1.0`), and a scope is computed by one call when no layer outside
it sits between two of its layers."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from dslc.ir.graph import Graph, Node
from dslc.ir.ops import Op

__all__ = ["Scope", "Step", "scope_tree", "steps"]


@dataclass(slots=True)
class Scope:
    """A module holding layers and other scopes: `path` is its dotted name ('' at the top)."""

    path: str
    children: dict[str, Scope | Node] = field(default_factory=dict)
    nodes: list[int] = field(default_factory=list)  # every node inside, in graph order
    inputs: list[int] = field(default_factory=list)  # outside values read, in order of use
    outputs: list[int] = field(default_factory=list)  # inside values read outside
    callable: bool = True  # computed by one call of its forward (else inlined in its parent)


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of a forward: a layer, or the call of a child scope."""

    child: str  # its attribute name in the scope ('' for an inlined scope's own steps)
    target: Scope | Node
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def scope_tree(graph: Graph) -> Scope:
    """The scopes of a graph, with the values that cross their borders."""
    root = Scope("")
    owner: dict[int, list[Scope]] = {}
    for node in graph.nodes:
        if node.op is Op.INPUT:
            continue
        scope, parts = root, node.name.split(".")
        chain = [root]
        for part in parts[:-1]:
            child = scope.children.get(part)
            if not isinstance(child, Scope):
                prefix = f"{scope.path}.{part}" if scope.path else part
                child = scope.children[part] = Scope(prefix)
            scope = child
            chain.append(scope)
        scope.children[parts[-1]] = node
        for s in chain:
            s.nodes.append(node.id)
        owner[node.id] = chain
    _borders(graph, root, owner)
    return root


def _borders(graph: Graph, root: Scope, owner: dict[int, list[Scope]]) -> None:
    """Fill each scope's inputs (outside values its layers read, in order of first use) and
    outputs (its values read outside it, or the network's outputs), and whether it is one
    call."""
    members = {id(s): set(s.nodes) for chain in owner.values() for s in chain}
    for node in graph.nodes:
        if node.op is Op.INPUT:
            continue
        for i in node.inputs:
            for scope in owner[node.id]:
                if i not in members[id(scope)] and i not in scope.inputs:
                    scope.inputs.append(i)
            for scope in owner.get(i, []):
                if node.id not in members[id(scope)] and i not in scope.outputs:
                    scope.outputs.append(i)
    for out in graph.outputs:
        for scope in owner.get(out, []):
            if out not in scope.outputs:
                scope.outputs.append(out)
    for chain in owner.values():
        for scope in chain:
            scope.outputs.sort()
    _mark_callable(graph, root, members)


def _mark_callable(graph: Graph, scope: Scope, members: dict[int, set[int]]) -> None:
    """A scope is one call unless an outside layer both reads from it and feeds it."""
    if scope.path and scope.nodes:
        scope.callable = not _reads_back(graph, scope, members[id(scope)])
    for child in scope.children.values():
        if isinstance(child, Scope):
            _mark_callable(graph, child, members)


def _reads_back(graph: Graph, scope: Scope, inside: set[int]) -> bool:
    """Whether a layer inside reads an outside value computed from a layer inside."""
    tainted: set[int] = set()  # outside values that depend on the scope's layers
    for node in graph.nodes[scope.nodes[0] : scope.nodes[-1] + 1]:
        if node.id in inside:
            if any(i in tainted for i in node.inputs):
                return True
        elif any(i in inside or i in tainted for i in node.inputs):
            tainted.add(node.id)
    return False


def steps(scope: Scope) -> list[Step]:
    """The statements of a scope's forward in an order that computes every value before its
    use (graph order where it can); scopes that are not one call are opened in place."""
    flat = _flat(scope)
    made = {v: k for k, s in enumerate(flat) for v in s.outputs}
    after: list[set[int]] = [{made[i] for i in s.inputs if i in made} for s in flat]
    done: set[int] = set()
    ready = [(_first(s.target), k) for k, s in enumerate(flat) if not after[k]]
    heapq.heapify(ready)
    order: list[Step] = []
    users: dict[int, list[int]] = {}
    for k, needs in enumerate(after):
        for j in needs:
            users.setdefault(j, []).append(k)
    while ready:
        _, k = heapq.heappop(ready)
        order.append(flat[k])
        done.add(k)
        for u in users.get(k, []):
            if after[u] <= done:  # its last input is made: it can run
                heapq.heappush(ready, (_first(flat[u].target), u))
    return order


def _flat(scope: Scope) -> list[Step]:
    out: list[Step] = []
    for name, child in scope.children.items():
        if isinstance(child, Scope) and not child.callable:
            out.extend(
                Step(f"{name}.{s.child}", s.target, s.inputs, s.outputs) for s in _flat(child)
            )
        elif isinstance(child, Scope):
            out.append(Step(name, child, tuple(child.inputs), tuple(child.outputs)))
        else:
            out.append(Step(name, child, child.inputs, (child.id,)))
    return out


def _first(c: Scope | Node) -> int:
    return c.nodes[0] if isinstance(c, Scope) else c.id
