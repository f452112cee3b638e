"""Expressions and labels as `dslc fmt` writes them: the fewest parentheses that keep an
expression's structure, labels quoted only where a bare name cannot stand."""

from __future__ import annotations

import math
import re

from dslc.syntax import ast

__all__ = ["KEYWORDS", "format_expr", "label_text"]

# Binding strength, loosest first: if-then-else, or, and, not, comparisons, + -, * / // %,
# unary minus, atoms. Comparisons do not chain: both operands must bind tighter.
_IF = 0
_BINARY = {"or": 1, "and": 2, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6}
_NOT = 3
_COMPARE = 4
_UNARY = 7
_ATOM = 8
KEYWORDS = frozenset(
    [
        "import",
        "network",
        "input",
        "output",
        "preprocess",
        "labels",
        "block",
        "inline",
        "if",
        "then",
        "else",
        "and",
        "or",
        "not",
        "true",
        "false",
    ]
)
_EXPONENT = re.compile(r"e\+?(-?)0*(\d)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_expr(expr: ast.Expr) -> str:
    """Render an expression with the fewest parentheses that keep its structure."""
    return _expr(expr)[0]


def _expr(e: ast.Expr) -> tuple[str, int]:
    """Return the text of `e` and how tightly it binds."""
    if isinstance(e, ast.Num):
        return _number(e.value)
    if isinstance(e, ast.Bool):
        return ("true" if e.value else "false"), _ATOM
    if isinstance(e, ast.Name):
        return e.id, _ATOM
    if isinstance(e, ast.Neg):
        return "-" + _wrap(e.operand, _UNARY), _UNARY
    if isinstance(e, ast.BinOp):
        if e.op not in _BINARY:
            return f"{_wrap(e.left, _COMPARE + 1)} {e.op} {_wrap(e.right, _COMPARE + 1)}", _COMPARE
        prec = _BINARY[e.op]  # left-associative: the right operand must bind tighter
        return f"{_wrap(e.left, prec)} {e.op} {_wrap(e.right, prec + 1)}", prec
    if isinstance(e, ast.Not):
        return "not " + _wrap(e.operand, _NOT), _NOT
    if isinstance(e, ast.IfExpr):
        parts = (format_expr(e.cond), format_expr(e.then), format_expr(e.orelse))
        return "if {} then {} else {}".format(*parts), _IF
    if isinstance(e, ast.Func):
        return f"{e.name}(" + ", ".join(format_expr(a) for a in e.args) + ")", _ATOM
    items = ", ".join(format_expr(item) for item in e.items)
    if isinstance(e, ast.TupleLit):
        return (f"({items},)" if len(e.items) == 1 else f"({items})"), _ATOM
    return f"[{items}]", _ATOM


def _wrap(e: ast.Expr, prec: int) -> str:
    """Render `e`, parenthesised if it binds looser than `prec`."""
    text, own = _expr(e)
    return f"({text})" if own < prec else text


def _number(value: float) -> tuple[str, int]:
    """Render a literal so that it re-parses to the same value and type."""
    if isinstance(value, float):
        if math.isinf(value):
            text = "1e999" if value > 0 else "-1e999"
        else:
            text = repr(value)
            if not any(ch in text for ch in ".eEn"):
                text += ".0"
            text = _EXPONENT.sub(r"e\1\2", text)  # as people write it: 1e-5, not 1e-05
    else:
        text = str(value)
    return text, (_UNARY if text.startswith("-") else _ATOM)


def label_text(label: str) -> str:
    """A label as written: quoted when it is a keyword or holds what a name cannot."""
    return label if _NAME.fullmatch(label) and label not in KEYWORDS else f'"{label}"'
