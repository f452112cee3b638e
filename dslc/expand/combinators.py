"""Structure combinators: residual<body | shortcut>, concat<...>, add<...>, dense<body>,
mul<...>, gate<body>."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from typing import Protocol, assert_never

from dslc.diagnostics import DiagnosticError, did_you_mean
from dslc.expand.scope import Frame, Scope, Tensor, claim
from dslc.expand.shortcut import project
from dslc.ir.ops import Attrs, AxisAttrs, NoAttrs, Op
from dslc.ir.shapes import Shape, show
from dslc.source import Span
from dslc.syntax import ast

__all__ = ["COMBINATORS", "RESERVED", "Builder", "Combinator", "combinator"]


class Combinator(Enum):
    """The closed set of combinators, as written before `<`."""

    RESIDUAL = "residual"
    CONCAT = "concat"
    ADD = "add"
    DENSE = "dense"
    MUL = "mul"
    GATE = "gate"


COMBINATORS = tuple(c.value for c in Combinator)
# the combinators whose branches may be numbered like an nn.ModuleList: concat[a | b]
NUMBERED = (Combinator.CONCAT, Combinator.ADD, Combinator.MUL)
# names a block may not take: the combinators and `project`, the residual's computed shortcut
RESERVED = (*COMBINATORS, "project")


class Builder(Protocol):
    """What a combinator needs from the expander."""

    def add(self, name: str, op: Op, inputs: list[Tensor], attrs: Attrs, span: Span) -> Tensor: ...

    def chain(
        self, chain: ast.Chain, x: Tensor | None, frame: Frame, scope: Scope
    ) -> Tensor | None: ...


def combinator(
    ex: Builder, c: ast.Combinator, x: Tensor | None, frame: Frame, scope: Scope, label: str | None
) -> Tensor | None:
    """Expand one combinator; branches share the enclosing naming scope unless it is labelled
    or stands in a numbered sequence."""
    span = frame.env.at(c.span)
    if c.kind not in COMBINATORS:
        raise DiagnosticError(
            "E0101",
            f"unknown combinator '{c.kind}<...>'",
            span,
            did_you_mean(c.kind, COMBINATORS)
            or "the combinators are " + ", ".join(f"{k}<...>" for k in COMBINATORS),
        )
    kind = Combinator(c.kind)
    if c.args is not None:
        raise DiagnosticError(
            "E0104", f"{c.kind}<...> takes no arguments", span, f"write {c.kind}<...>"
        )
    if c.numbered and kind not in NUMBERED:
        raise DiagnosticError(
            "E0104",
            f"{c.kind}[...] cannot number its branches",
            span,
            "numbered branches are for "
            + ", ".join(f"{k.value}[...]" for k in NUMBERED)
            + f"; write {c.kind}<...>",
        )
    # In a numbered sequence a combinator takes one position, like a module of its own;
    # numbered branches (`concat[a | b]`) always live in the combinator's own scope.
    own = label is not None or scope.numbered or c.numbered
    inner = scope.unit(label, c.kind) if own else scope
    n = len(c.branches)
    match kind:
        case Combinator.RESIDUAL:
            if n > 2:
                raise DiagnosticError(
                    "E0104", f"residual<...> takes a body and a shortcut, got {n} branches", span
                )
            return _residual(ex, c, x, frame, inner, span)
        case Combinator.DENSE:
            if n > 1:
                raise DiagnosticError("E0104", f"dense<...> takes one body, got {n} branches", span)
            # dense<body> concatenates its input with the body's output: a concat, not a layer
            return _merge(ex, c, x, frame, inner, own, span, Op.CONCAT, keep_input=True)
        case Combinator.CONCAT:
            return _merge(ex, c, x, frame, inner, own, span, Op.CONCAT, keep_input=False)
        case Combinator.ADD:
            return _merge(ex, c, x, frame, inner, own, span, Op.ADD, keep_input=False)
        case Combinator.MUL:
            return _merge(ex, c, x, frame, inner, own, span, Op.MUL, keep_input=False)
        case Combinator.GATE:
            if n > 1:
                raise DiagnosticError("E0104", f"gate<...> takes one body, got {n} branches", span)
            # gate<body> is x * body(x): squeeze-and-excitation
            return _merge(ex, c, x, frame, inner, own, span, Op.MUL, keep_input=True)
        case _:
            assert_never(kind)


def _merge(
    ex: Builder,
    c: ast.Combinator,
    x: Tensor | None,
    frame: Frame,
    inner: Scope,
    own: bool,
    span: Span,
    op: Op,
    keep_input: bool,
) -> Tensor | None:
    if c.numbered:
        outs = [_numbered(ex, i, b, x, frame, inner) for i, b in enumerate(c.branches)]
    else:
        outs = [ex.chain(b, x, frame, inner) for b in c.branches]
    if keep_input:
        outs = [x, *outs]
    if any(t is None or t.shape is None for t in outs):
        return None if x is None else type(x)(x.node, None)
    kind = op.value  # add, concat or mul
    name = inner.full(kind) if own else inner.auto(kind)
    attrs = AxisAttrs(1) if op is Op.CONCAT else NoAttrs()
    return ex.add(name, op, [t for t in outs if t is not None], attrs, span)


def _numbered(
    ex: Builder, i: int, branch: ast.Chain, x: Tensor | None, frame: Frame, scope: Scope
) -> Tensor | None:
    """Branch i of `concat[a | b]`, named like item i of an nn.ModuleList: a lone layer,
    block call or combinator is item i itself; a longer branch is an nn.Sequential."""
    (first, *rest) = branch.elements
    if not rest and first.label is None and first.count is None and first.tap is None:
        return ex.chain(ast.Chain((replace(first, label=str(i)),), branch.span), x, frame, scope)
    claim(scope, str(i), frame.env.at(branch.span))
    return ex.chain(branch, x, frame, scope.child(str(i)).sequence())


def _residual(
    ex: Builder, c: ast.Combinator, x: Tensor | None, frame: Frame, scope: Scope, span: Span
) -> Tensor | None:
    body = ex.chain(c.branches[0], x, frame, scope)
    if x is None or body is None or body.shape is None or x.shape is None:
        if len(c.branches) > 1 and not _is_project(c.branches[1]):
            ex.chain(c.branches[1], x, frame, scope)
        return None if x is None else type(x)(x.node, None)
    shortcut = _shortcut(ex, c, x, body.shape, frame, scope)
    if shortcut is None or shortcut.shape is None:
        return type(x)(x.node, None)
    if shortcut.shape != body.shape:
        raise DiagnosticError(
            "E0301",
            _mismatch(body.shape, shortcut.shape),
            span,
            *_residual_hints(x.shape, body.shape, len(c.branches) > 1),
        )
    return ex.add(scope.auto("residual"), Op.ADD, [body, shortcut], NoAttrs(), span)


def _shortcut(
    ex: Builder, c: ast.Combinator, x: Tensor, target: Shape, frame: Frame, scope: Scope
) -> Tensor | None:
    if len(c.branches) == 1:
        return x
    branch = c.branches[1]
    first = branch.elements[0]
    if isinstance(first.primary, ast.Call) and first.primary.name == "project":
        if len(branch.elements) > 1 or first.count is not None or first.primary.args:
            raise DiagnosticError(
                "E0105", "'project' stands alone as the shortcut", frame.env.at(first.span)
            )
        return project(ex.add, x, target, scope, frame.env.at(first.span), first.label)
    return ex.chain(branch, x, frame, scope)


def _is_project(branch: ast.Chain) -> bool:
    p = branch.elements[0].primary
    return isinstance(p, ast.Call) and p.name == "project"


def _mismatch(body: Shape, short: Shape) -> str:
    if len(body) == 4 and len(short) == 4 and body[1] != short[1] and body[2:] == short[2:]:
        return f"residual body yields {body[1]} channels, shortcut carries {short[1]}"
    return f"residual body yields {show(body)}, shortcut carries {show(short)}"


def _residual_hints(x: Shape, body: Shape, has_shortcut: bool) -> tuple[str, ...]:
    if len(x) != 4 or len(body) != 4:
        return ("the body and the shortcut must produce the same shape",)
    stride = 1
    if isinstance(x[2], int) and isinstance(body[2], int) and body[2]:
        stride = max(1, round(x[2] / body[2]))
    conv = f"conv1x1({body[1]}{f', stride={stride}' if stride > 1 else ''}, bias=false) -> bn"
    if has_shortcut:
        return (f"make the shortcut produce {show(body)}, e.g. '{conv}'",)
    return (f"state the shortcut: residual<... | {conv}>, or residual<... | project>",)
