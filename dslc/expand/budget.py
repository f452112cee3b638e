"""The expander's work budget (E0601): chain elements visited plus the size of every
expression evaluated, so blocks that call blocks several times stop in bounded time even
when they create no layer or pass large expressions as arguments."""

from __future__ import annotations

from dslc.diagnostics import DiagnosticError
from dslc.expand.evaluate import Env
from dslc.expand.limits import Limits
from dslc.source import Span
from dslc.syntax import ast

__all__ = ["Budget", "expr_size"]


def expr_size(e: ast.Expr) -> int:
    """Nodes of an expression tree."""
    n, todo = 0, [e]
    while todo:
        x = todo.pop()
        n += 1
        match x:
            case ast.BinOp(left=a, right=b):
                todo += (a, b)
            case ast.Neg(operand=a) | ast.Not(operand=a):
                todo.append(a)
            case ast.IfExpr(cond=c, then=t, orelse=o):
                todo += (c, t, o)
            case ast.Func(args=items) | ast.TupleLit(items=items) | ast.ListLit(items=items):
                todo += items
    return n


class Budget:
    """Steps spent expanding one network, against `Limits.steps()`."""

    def __init__(self, limits: Limits) -> None:
        self.limits, self.most, self.spent = limits, limits.steps(), 0
        self._sizes: dict[int, tuple[ast.Expr, int]] = {}  # by id; holding e keeps its id

    def charge(self, n: int, span: Span, env: Env) -> None:
        """Spend n steps at span (as seen from env); past the budget, a fatal located E0601."""
        self.spent += n
        if self.spent > self.most:
            raise DiagnosticError(
                "E0601",
                f"expanding the network takes more than {self.most:,} steps",
                env.at(span),
                "blocks that call blocks several times grow exponentially, and so does the "
                "work of their arguments; if this is intended, raise --limit "
                f"layers={2 * self.limits.layers}",
                fatal=True,
            )

    def expr(self, e: ast.Expr, env: Env, span: Span | None = None) -> None:
        """Spend one step per node of an expression about to be evaluated."""
        self.charge(self.size(e), span or e.span, env)

    def size(self, e: ast.Expr) -> int:
        """Nodes of e, computed once per expression of the program."""
        known = self._sizes.get(id(e))
        if known is None:
            known = self._sizes[id(e)] = (e, expr_size(e))
        return known[1]
