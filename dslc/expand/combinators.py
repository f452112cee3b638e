"""Structure combinators: residual<body | shortcut>, concat<...>, add<...>, dense<body>."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dslc.diagnostics import DiagnosticError, did_you_mean
from dslc.expand.layers import COMBINATORS
from dslc.ir.ops import AxisAttrs, NoAttrs, Op
from dslc.ir.shapes import Shape, show
from dslc.source import Span
from dslc.syntax import ast

if TYPE_CHECKING:
    from dslc.expand.expander import Expander, Frame, Scope, Tensor


def combinator(
    ex: Expander, c: ast.Combinator, x: Tensor | None, frame: Frame, scope: Scope, label: str | None
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
    # In a numbered sequence a combinator takes one position, like a module of its own.
    own = label is not None or scope.numbered
    inner = scope.unit(label, c.kind) if own else scope
    n = len(c.branches)
    if c.kind in ("residual", "dense") and n > (2 if c.kind == "residual" else 1):
        most = "a body and a shortcut" if c.kind == "residual" else "one body"
        raise DiagnosticError("E0104", f"{c.kind}<...> takes {most}, got {n} branches", span)
    if c.kind == "residual":
        return _residual(ex, c, x, frame, inner, span)
    outs = [ex.chain(b, x, frame, inner) for b in c.branches]
    if c.kind == "dense":
        outs = [x, *outs]
    if any(t is None or t.shape is None for t in outs):
        return None if x is None else type(x)(x.node, None)
    kind = "add" if c.kind == "add" else "concat"  # dense<...> is a concat, not a dense layer
    name = inner.full(kind) if own else inner.auto(kind)
    op, attrs = (Op.ADD, NoAttrs()) if c.kind == "add" else (Op.CONCAT, AxisAttrs(1))
    return ex.add(name, op, [t for t in outs if t is not None], attrs, span)


def _residual(
    ex: Expander, c: ast.Combinator, x: Tensor | None, frame: Frame, scope: Scope, span: Span
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
    ex: Expander, c: ast.Combinator, x: Tensor, target: Shape, frame: Frame, scope: Scope
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
        return ex.project(x, target, scope, frame.env.at(first.span), first.label)
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
