"""The model.py text: one class per distinct scope, nn.Sequential for numbered chains, and
forward methods that compute the scope's layers in graph order."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dslc.ir.graph import Graph, Node
from dslc.pytorch.layers import Code, Shapes, code_of
from dslc.pytorch.naming import block_of, class_name, ident
from dslc.pytorch.scopes import Scope, Step, steps

__all__ = ["Classes", "Written", "imports_for", "write_scope"]

INDENT = "    "


@dataclass(slots=True)
class Classes:
    """The classes written so far: their text by name, and the name of each distinct text."""

    graph: Graph
    shapes: Shapes
    top: str  # the network's class name, kept for the top scope
    text: dict[str, str] = field(default_factory=dict)
    by_body: dict[str, str] = field(default_factory=dict)
    helpers: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Written:
    """How a parent constructs a child scope: a class call or an nn.Sequential(...)."""

    lines: list[str]  # the constructor expression, one line or several


def _attr(owner: str, name: str) -> str:
    return f"{owner}.{name}" if ident(name) == name else f'getattr({owner}, "{name}")'


def _path(path: str) -> str:
    out = "self"
    for part in path.split("."):
        out = _attr(out, part)
    return out


def _codes(step: Step, c: Classes) -> Code | None:
    if isinstance(step.target, Node):
        return code_of(step.target, c.shapes)
    return None


def _sequential(scope: Scope, order: list[Step], c: Classes) -> bool:
    """A numbered chain: children 0, 1, ... each reading the one before, one in, one out."""
    if len(scope.inputs) != 1 or len(scope.outputs) != 1 or not order:
        return False
    if [s.child for s in order] != [str(k) for k in range(len(order))]:
        return False
    before = scope.inputs[0]
    for s in order:
        code = _codes(s, c)
        if code is not None and code.module is None:
            return False
        if s.inputs != (before,) or len(s.outputs) != 1:
            return False
        before = s.outputs[0]
    uses = _uses(order, scope.outputs)
    return before == scope.outputs[0] and all(n == 1 for n in uses.values())


def _uses(order: list[Step], outputs: list[int]) -> dict[int, int]:
    uses: dict[int, int] = {}
    for s in order:
        for i in s.inputs:
            uses[i] = uses.get(i, 0) + 1
    for o in outputs:
        uses[o] = uses.get(o, 0) + 1
    return uses


def _comment(node: Node) -> str:
    span = node.span
    text = span.source.line(span.line).strip()
    if len(text) > 60:
        text = text[:57] + "..."
    return f"# {span.source.path}:{span.line}: {text}"


def _first_node(step: Step, graph: Graph) -> Node:
    t = step.target
    return t if isinstance(t, Node) else graph.node(t.nodes[0])


def write_scope(scope: Scope, c: Classes, block: str, depth: int = 0) -> Written:
    """Write the classes a scope needs; return how its parent constructs it."""
    order = steps(scope)
    children = {s.child: _child(s, scope, c, depth) for s in order}
    if scope.path and _sequential(scope, order, c):
        return Written(_seq_lines(order, children, c))
    body = _class_body(scope, order, children, c)
    name = c.by_body.get(body) if scope.path else None
    if name is None:
        base = block or scope.path.rsplit(".", 1)[-1]
        name = class_name(base, {*c.text, c.top}) if scope.path else c.top
        c.by_body[body] = name
        c.text[name] = f"class {name}(nn.Module):\n{body}"
    return Written([f"{name}()"])


def _child(step: Step, parent: Scope, c: Classes, depth: int) -> Written | Code:
    if isinstance(step.target, Node):
        code = code_of(step.target, c.shapes)
        c.helpers.update(code.helpers)
        return code
    return write_scope(step.target, c, block_of(step.target, parent, c.graph), depth + 1)


def _seq_lines(order: list[Step], children: dict[str, Written | Code], c: Classes) -> list[str]:
    lines = ["nn.Sequential("]
    last = ""
    for s in order:
        comment = _comment(_first_node(s, c.graph))
        if comment != last and isinstance(s.target, Node):
            lines.append(INDENT + comment)
            last = comment
        lines.extend(INDENT + line for line in _construct(children[s.child]))
        lines[-1] += ","
    lines.append(")")
    return lines


def _construct(w: Written | Code) -> list[str]:
    if isinstance(w, Written):
        return list(w.lines)
    assert w.module is not None
    return [w.module]


def _class_body(
    scope: Scope, order: list[Step], children: dict[str, Written | Code], c: Classes
) -> str:
    init = [f"{INDENT}def __init__(self) -> None:", f"{INDENT * 2}super().__init__()"]
    made: set[str] = set()
    for s in order:
        w = children[s.child]
        if isinstance(w, Code) and w.module is None and w.param is None:
            continue  # an expression in forward: nothing to construct
        *owners, leaf = s.child.split(".")
        for k in range(len(owners)):  # a scope opened in place: an empty module holds it
            path = ".".join(owners[: k + 1])
            if path not in made:
                made.add(path)
                init.extend(_assign(path, ["nn.Module()"]))
        if isinstance(w, Code) and w.param is not None:
            init.extend(_assign(s.child, [w.param], param=True))
        else:
            init.extend(_assign(s.child, _construct(w)))
        del leaf
    return "\n".join([*init, "", *_forward(scope, order, children, c)]) + "\n"


def _assign(path: str, value: list[str], param: bool = False) -> list[str]:
    *owners, leaf = path.split(".")
    owner = _path(".".join(owners)) if owners else "self"
    pad = INDENT * 2
    if ident(leaf) == leaf:
        first = f"{pad}{owner}.{leaf} = {value[0]}"
        return [first, *(pad + v for v in value[1:])]
    call = "register_parameter" if param else "add_module"
    first = f'{pad}{owner}.{call}("{leaf}", {value[0]}'
    lines = [first, *(pad + v for v in value[1:])]
    lines[-1] += ")"
    return lines


def _forward(
    scope: Scope, order: list[Step], children: dict[str, Written | Code], c: Classes
) -> list[str]:
    inputs = list(c.graph.inputs) if not scope.path else list(scope.inputs)
    outputs = list(c.graph.outputs) if not scope.path else list(scope.outputs)
    names = _value_names(scope, order, inputs, outputs, c.graph)
    args = ", ".join(f"{names[i]}: Tensor" for i in inputs)
    ret = "Tensor" if len(outputs) == 1 else f"tuple[{', '.join(['Tensor'] * len(outputs))}]"
    lines = [f"{INDENT}def forward(self, {args}) -> {ret}:"]
    last = ""
    for s in order:
        comment = _comment(_first_node(s, c.graph))
        if comment != last and isinstance(s.target, Node):
            lines.append(INDENT * 2 + comment)
            last = comment
        xs = [names[i] for i in s.inputs]
        w = children[s.child]
        if isinstance(w, Code) and w.expr is not None:
            call = w.expr.format(*xs, p=_path(s.child))
        else:
            call = f"{_path(s.child)}({', '.join(xs)})"
        target = ", ".join(names[o] for o in s.outputs)
        lines.append(f"{INDENT * 2}{target} = {call}")
    lines.append(f"{INDENT * 2}return {', '.join(names[o] for o in outputs)}")
    return lines


def _value_names(
    scope: Scope, order: list[Step], inputs: list[int], outputs: list[int], graph: Graph
) -> dict[int, str]:
    """`x` (or `out`) for a value read once, by the next statement; others their layer's name."""
    reads: dict[int, list[int]] = {}
    for k, s in enumerate(order):
        for i in s.inputs:
            reads.setdefault(i, []).append(k)
    for o in outputs:
        reads.setdefault(o, []).append(len(order))
    taken: set[str] = {"self", "x", "out", "F", "nn", "torch", "Tensor"}
    names: dict[int, str] = {}

    def own(value: int) -> str:
        local = graph.node(value).name
        if scope.path and local.startswith(scope.path + "."):
            local = local[len(scope.path) + 1 :]
        base = ident(local.replace(".", "_"))
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    chain = "x"
    if not scope.path:
        taken -= {"x", "out"}
        for i in inputs:
            names[i] = own(i)
        if any(names[i] == "x" and reads.get(i) != [0] for i in inputs):
            chain = "out"
        taken |= {"x", "out"}
    else:
        for k, i in enumerate(inputs):
            if k == 0 and (reads.get(i) == [0] or len(inputs) == 1):
                names[i] = "x"
                if reads.get(i) != [0]:
                    chain = "out"
            else:
                names[i] = own(i)
    for k, s in enumerate(order):
        for o in s.outputs:
            once = reads.get(o) == [k + 1] and len(s.outputs) == 1
            names[o] = chain if once else own(o)
    return names


def imports_for(text: str) -> list[str]:
    """The import lines a text needs (ruff's F401 refuses unused ones)."""
    out = ["from __future__ import annotations", ""]
    if re.search(r"\bAny\b", text):
        out.append("from typing import Any")
        out.append("")
    if re.search(r"\btorch\.", text):
        out.append("import torch")
    if re.search(r"\bF\.", text):
        out.append("import torch.nn.functional as F")
    out.append("from torch import Tensor, nn")
    return out
