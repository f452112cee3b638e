"""The model.py text: one class per distinct scope, nn.Sequential for numbered chains, and
forward methods that compute the scope's layers in graph order."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dslc.ir.graph import Graph, Node
from dslc.pytorch.layers import Code, Shapes, code_of
from dslc.pytorch.layout import WIDTH, fit, split_top
from dslc.pytorch.naming import block_header, block_of, class_name, ident
from dslc.pytorch.scopes import Scope, Step, steps

__all__ = ["Classes", "Written", "imports_for", "write_scope"]

INDENT = "    "


@dataclass(slots=True)
class Classes:
    """The classes written so far: their text by name, and the name of each distinct text."""

    graph: Graph
    shapes: Shapes
    top: str  # the network's class name, kept for the top scope
    base: str = ""  # the compiled file's folder, left out of the paths in comments
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


def _comment(node: Node, base: str, pad: str) -> str:
    """`# lib/resnet.xnet:12: the source line`, the path relative to the compiled file's
    folder, cut to fit 88 columns."""
    span = node.span
    path = span.source.path
    if base and path.startswith(base):
        path = path[len(base) :]
    text = span.source.line(span.line).strip()
    head = f"# {path}:{span.line}: "
    room = 88 - len(pad) - len(head)
    if len(text) > room:
        text = text[: max(room - 3, 0)].rstrip() + "..."
    return head + text


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
    header = None
    if block and scope.path and scope.nodes:
        header = block_header(c.graph.node(scope.nodes[0]), block, c.base)
    if header:
        body = f'{INDENT}"""{header}"""\n\n{body}'
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
        comment = _comment(_first_node(s, c.graph), c.base, INDENT * 3)
        if comment != last and isinstance(s.target, Node):
            lines.append(INDENT + comment)
            last = comment
        built = _construct(children[s.child])
        if len(built) == 1:
            lines.extend(line[len(INDENT * 3) :] for line in fit(INDENT * 4, built[0], ","))
        else:
            lines.extend(INDENT + line for line in built)
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
        if len(value) == 1:
            return fit(pad, f"{owner}.{leaf} = {value[0]}")
        return [f"{pad}{owner}.{leaf} = {value[0]}", *(pad + v for v in value[1:])]
    call = "register_parameter" if param else "add_module"
    if len(value) == 1:
        return fit(pad, f'{owner}.{call}("{leaf}", {value[0]})')
    inner = pad + INDENT
    return [
        f"{pad}{owner}.{call}(",
        f'{inner}"{leaf}",',
        f"{inner}{value[0]}",
        *(inner + v for v in value[1:-1]),
        f"{inner}{value[-1]},",
        f"{pad})",
    ]


@dataclass(slots=True)
class _Stmt:
    """A forward statement: a step, with the single-use calls merged into it (in `inner`)."""

    step: Step
    inner: dict[int, Step] = field(default_factory=dict)  # value -> the call computing it

    @property
    def reads(self) -> list[int]:
        out: list[int] = []
        for i in self.step.inputs:
            out.extend(self.inner[i].inputs if i in self.inner else (i,))
        return out


def _statements(
    order: list[Step], children: dict[str, Written | Code], outputs: list[int]
) -> list[_Stmt]:
    """The steps, a single-use call feeding a sum, product or concat written inside it
    (`out = out + self.downsample(x)`, `torch.cat([self.branch1(x), ...], dim=1)`)."""
    uses = _uses(order, outputs)
    made = {s.outputs[0]: k for k, s in enumerate(order) if len(s.outputs) == 1}
    merged: dict[int, int] = {}  # step index -> the step it is written into
    for k, s in enumerate(order):
        w = children[s.child]
        if not (isinstance(w, Code) and w.expr is not None and w.param is None):
            continue
        if "interpolate" in w.expr:
            continue
        for i in s.inputs:
            j = made.get(i)
            if j is None or uses.get(i) != 1 or j in merged:
                continue
            made_by = children[order[j].child]
            if isinstance(made_by, Code) and made_by.expr is not None:
                continue  # only module calls
            merged[j] = k
    out: list[_Stmt] = []
    at: dict[int, _Stmt] = {}
    for k, s in enumerate(order):
        if k in merged:
            continue
        at[k] = _Stmt(s)
        out.append(at[k])
    for j, k in merged.items():
        at[k].inner[order[j].outputs[0]] = order[j]
    return out


def _forward(
    scope: Scope, order: list[Step], children: dict[str, Written | Code], c: Classes
) -> list[str]:
    inputs = list(c.graph.inputs) if not scope.path else list(scope.inputs)
    outputs = list(c.graph.outputs) if not scope.path else list(scope.outputs)
    stmts = _statements(order, children, outputs)
    names = _value_names(scope, stmts, inputs, outputs, c.graph)
    args = ", ".join(f"{names[i]}: Tensor" for i in inputs)
    if not outputs:
        ret = "None"
    elif len(outputs) == 1:
        ret = "Tensor"
    else:
        ret = f"tuple[{', '.join(['Tensor'] * len(outputs))}]"
    lines = [f"{INDENT}def forward(self, {args}) -> {ret}:"]
    last = ""
    read = {i for st in stmts for i in st.reads} | set(outputs)
    for st in stmts:
        s = st.step
        comment = _comment(_first_node(s, c.graph), c.base, INDENT * 2)
        if comment != last:
            lines.append(INDENT * 2 + comment)
            last = comment
        xs = [_call(st.inner[i], names) if i in st.inner else names[i] for i in s.inputs]
        w = children[s.child]
        if isinstance(w, Code) and w.expr is not None:
            call = w.expr.format(*xs, p=_path(s.child))
        else:
            call = f"{_path(s.child)}({', '.join(xs)})"
        if any(o in read for o in s.outputs):
            target = ", ".join(names[o] if o in read else "_" for o in s.outputs) + " = "
        else:
            target = ""
        lines.extend(_wrap(f"{INDENT * 2}{target}{call}"))
    if outputs:
        lines.append(f"{INDENT * 2}return {', '.join(names[o] for o in outputs)}")
    return lines


def _call(step: Step, names: dict[int, str]) -> str:
    return f"{_path(step.child)}({', '.join(names[i] for i in step.inputs)})"


def _wrap(line: str) -> list[str]:
    """A statement too long for one line: a concat's list or a sum's terms one a line, or
    black's layout of a call."""
    if len(line) <= WIDTH:
        return [line]
    pad = line[: len(line) - len(line.lstrip())]
    head, eq, expr = line.strip().partition(" = ")
    if not eq:
        return fit(pad, line.strip())
    start = f"{pad}{head} = "
    if expr.startswith("torch.cat([") and expr.endswith("], dim=1)"):
        items = split_top(expr[len("torch.cat([") : -len("], dim=1)")], ", ")
        return [
            f"{start}torch.cat(",
            f"{pad}    [",
            *(f"{pad}        {item}," for item in items),
            f"{pad}    ],",
            f"{pad}    dim=1,",
            f"{pad})",
        ]
    for op in (" + ", " * "):
        terms = split_top(expr, op)
        if len(terms) > 1:
            body = [f"{pad}    {terms[0]}", *(f"{pad}    {op.strip()} {t}" for t in terms[1:])]
            return [f"{start}(", *body, f"{pad})"]
    return fit(pad, f"{head} = {expr}")


def _value_names(
    scope: Scope, stmts: list[_Stmt], inputs: list[int], outputs: list[int], graph: Graph
) -> dict[int, str]:
    """`x` (or `out`) for a value read once, by the next statement; others their layer's name."""
    reads: dict[int, list[int]] = {}
    for k, st in enumerate(stmts):
        for i in st.reads:
            reads.setdefault(i, []).append(k)
    for o in outputs:
        reads.setdefault(o, []).append(len(stmts))
    taken: set[str] = {"self", "F", "nn", "torch", "Tensor", "_"}
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
        for i in inputs:
            names[i] = own(i)
        if any(names[i] == "x" and reads.get(i) != [0] for i in inputs):
            chain = "out"
    else:
        for k, i in enumerate(inputs):
            if k == 0 and (reads.get(i) == [0] or len(inputs) == 1):
                names[i] = "x"
                taken.add("x")
                if reads.get(i) != [0]:
                    chain = "out"
            else:
                names[i] = own(i)
    taken |= {"x", "out"}
    for k, st in enumerate(stmts):
        for value, inner in st.inner.items():
            names[value] = f"<{inner.child}>"  # written inside the statement, never named
        for o in st.step.outputs:
            once = reads.get(o) == [k + 1] and len(st.step.outputs) == 1
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
