"""Evaluation of argument expressions: integers checked, names bound, shape symbols C/H/W."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Final, TypeAlias, assert_never

from dslc.diagnostics import AlreadyReported, DiagnosticError, did_you_mean
from dslc.ir import dims
from dslc.ir.dims import Dim, Sym
from dslc.source import Span
from dslc.syntax import ast

__all__ = [
    "FUNCTIONS",
    "MAX_BITS",
    "POISON",
    "SHAPE_SYMBOLS",
    "Env",
    "Value",
    "Word",
    "describe",
    "evaluate",
    "not_a_number",
    "truth",
]


@dataclass(frozen=True, slots=True)
class Word:
    """A bare name that is not a bound parameter: `same`, `bilinear`, a tap name."""

    text: str
    span: Span | None  # None for a default written in the layer table


# an evaluated argument: a number (a symbolic size such as H/32 too), a flag, a word such as
# `same`, or a tuple or list of values (kernel=[[...]])
Value: TypeAlias = "int | float | bool | Sym | Word | tuple[Value, ...] | list[Value]"
POISON: Final = Word("<error>", None)  # a value whose error was reported
SHAPE_SYMBOLS = ("C", "H", "W")


@dataclass(frozen=True, slots=True)
class Env:
    """What names mean while evaluating: bound parameters and the incoming tensor's shape.
    `shape_lost`: the incoming tensor's shape is unknown because of an error already
    reported, so C, H and W are consequences of it, not unknown names."""

    names: Mapping[str, Value]
    shape: tuple[Dim, ...] | None = None
    site: Span | None = None
    note: str = ""
    shape_lost: bool = False

    def at(self, span: Span) -> Span:
        """A span as seen from this expansion."""
        return span.via(self.site, self.note)


def evaluate(e: ast.Expr, env: Env) -> Value:
    """Evaluate an expression; raise DiagnosticError with a located message (AlreadyReported
    where it uses a value an error already reported made unknown)."""
    match e:
        case ast.Num(value=v) if isinstance(v, float) and not math.isfinite(v):
            raise DiagnosticError(
                "E0604",
                "the number is too large",
                env.at(e.span),
                "numbers are limited to the range of a 64-bit float (about 1e308)",
            )
        case ast.Num(value=v) | ast.Bool(value=v):
            return v
        case ast.Name():
            return _name(e, env)
        case ast.Neg(operand=o):
            n = _number(evaluate(o, env), o, env)
            return dims.mul(n, -1) if isinstance(n, Sym) else -n
        case ast.BinOp(op=op) if op in ("and", "or"):
            left = truth(evaluate(e.left, env), e.left, env)
            if left == (op == "or"):
                return left  # short-circuit: the right side is not evaluated
            return truth(evaluate(e.right, env), e.right, env)
        case ast.BinOp(op=op) if op in _COMPARE:
            return _compare(e, env)
        case ast.BinOp():
            return _binop(e, env)
        case ast.Not(operand=o):
            return not truth(evaluate(o, env), o, env)
        case ast.IfExpr():
            chosen = e.then if truth(evaluate(e.cond, env), e.cond, env) else e.orelse
            return evaluate(chosen, env)
        case ast.Func():
            return _func(e, env)
        case ast.TupleLit(items=items):
            return tuple(evaluate(i, env) for i in items)
        case ast.ListLit(items=items):
            return [evaluate(i, env) for i in items]
        case _:
            assert_never(e)


def _name(e: ast.Name, env: Env) -> Value:
    if e.id in env.names:
        if env.names[e.id] is POISON:
            raise AlreadyReported
        return env.names[e.id]
    shape = env.shape
    if e.id in SHAPE_SYMBOLS and env.shape_lost:
        raise AlreadyReported
    if e.id in SHAPE_SYMBOLS and shape is not None and len(shape) >= 2:
        if e.id == "C":
            return shape[1]
        if len(shape) == 4:
            return shape[2] if e.id == "H" else shape[3]
    return Word(e.id, env.at(e.span))


def _number(v: Value, e: ast.Expr, env: Env) -> int | float | Sym:
    if isinstance(v, bool) or not isinstance(v, int | float | Sym):
        raise not_a_number(v, e.span, env)
    return v


def not_a_number(v: Value, span: Span, env: Env) -> DiagnosticError:
    """The error for a value used where a number is needed."""
    if isinstance(v, Word):
        known = list(env.names) + (list(SHAPE_SYMBOLS) if env.shape is not None else [])
        hint = did_you_mean(v.text, known)
        return DiagnosticError(
            "E0102",
            f"unknown name '{v.text}'",
            v.span,
            hint
            or "names here are the parameters of the network or block"
            + (f" ({', '.join(env.names)})" if env.names else "")
            + ", and C, H, W for the incoming tensor's shape",
        )
    return DiagnosticError("E0105", f"expected a number, got {describe(v)}", env.at(span))


def describe(v: object) -> str:
    """A value as a user would recognise it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Word):
        return f"'{v.text}'"
    if isinstance(v, tuple):
        return "(" + ", ".join(describe(x) for x in v) + ")"
    if isinstance(v, list):
        return "a list"
    return str(v)


def truth(v: Value, e: ast.Expr, env: Env) -> bool:
    """A condition's value: only true or false count (a number is not a condition)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, Word):
        raise not_a_number(v, e.span, env)
    raise DiagnosticError(
        "E0105",
        f"expected true or false, got {describe(v)}",
        env.at(e.span),
        "compare it: e.g. 'if t != 1 then ...'",
    )


_COMPARE = ("==", "!=", "<", "<=", ">", ">=")


def _compare(e: ast.BinOp, env: Env) -> bool:
    a, b = evaluate(e.left, env), evaluate(e.right, env)
    if e.op in ("==", "!=") and (isinstance(a, bool | Word) or isinstance(b, bool | Word)):
        if isinstance(a, Word) and isinstance(b, Word):
            same = a.text == b.text
        elif isinstance(a, Word) != isinstance(b, Word) and a not in (True, False):
            raise not_a_number(a if isinstance(a, Word) else b, e.span, env)
        else:
            same = type(a) is type(b) and a == b
        return same == (e.op == "==")
    x, y = _number(a, e.left, env), _number(b, e.right, env)
    if isinstance(x, Sym) or isinstance(y, Sym):
        if e.op in ("==", "!=") and x == y:
            return e.op == "=="
        raise DiagnosticError(
            "E0201",
            f"cannot compare {describe(x)} {e.op} {describe(y)}: it depends on the input size",
            env.at(e.span),
            "conditions may use parameters and fixed sizes, not symbolic ones",
        )
    match e.op:
        case "==":
            return x == y
        case "!=":
            return x != y
        case "<":
            return x < y
        case "<=":
            return x <= y
        case ">":
            return x > y
        case _:
            return x >= y


def _make_divisible(v: float, divisor: float, min_value: float | None = None) -> int:
    """torchvision's `_make_divisible`: v rounded to a multiple of divisor, never more than
    10% below v."""
    if min_value is None:
        min_value = divisor
    new = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return int(new)


# name: (least, most arguments, the function, what it does)
FUNCTIONS: dict[str, tuple[int, int, Callable[..., int | float], str]] = {
    "min": (1, 64, min, "the smallest of its arguments"),
    "max": (1, 64, max, "the largest of its arguments"),
    "round": (1, 1, round, "to the nearest whole number (halves to even, like Python)"),
    "floor": (1, 1, math.floor, "rounded down to a whole number"),
    "ceil": (1, 1, math.ceil, "rounded up to a whole number"),
    "abs": (1, 1, abs, "the magnitude"),
    "make_divisible": (
        2,
        3,
        _make_divisible,
        (
            "make_divisible(v, d[, least]): v to a multiple of d (at least `least`, default "
            "d), never more than 10% below v: torchvision's width rounding"
        ),
    ),
}


def _func(e: ast.Func, env: Env) -> Value:
    known = FUNCTIONS.get(e.name)
    if known is None:
        raise DiagnosticError(
            "E0102",
            f"unknown function '{e.name}'",
            env.at(e.span),
            did_you_mean(e.name, list(FUNCTIONS)) or "the functions are " + ", ".join(FUNCTIONS),
        )
    least, most, fn, _ = known
    if not least <= len(e.args) <= most:
        want = str(least) if least == most else f"{least} to {most}"
        raise DiagnosticError(
            "E0104",
            f"{e.name}() takes {want} argument{'s' if most > 1 else ''}, got {len(e.args)}",
            env.at(e.span),
        )
    values = []
    for a in e.args:
        v = _number(evaluate(a, env), a, env)
        if isinstance(v, Sym):
            raise DiagnosticError(
                "E0201",
                f"{e.name}() of a symbolic size {dims.show(v)}",
                env.at(a.span),
                "functions take parameters and fixed sizes, not symbolic ones",
            )
        values.append(v)
    try:
        out = fn(*values)
    except (OverflowError, ValueError):
        raise DiagnosticError(
            "E0604", f"the value of {e.name}() is too large", env.at(e.span)
        ) from None
    if isinstance(out, int) and out.bit_length() > MAX_BITS:
        raise DiagnosticError("E0604", f"the value of {e.name}() is too large", env.at(e.span))
    return out


MAX_BITS = 256  # values beyond 2**256 are refused: no network needs them, and they grow fast


def _binop(e: ast.BinOp, env: Env) -> Value:
    a = _number(evaluate(e.left, env), e.left, env)
    b = _number(evaluate(e.right, env), e.right, env)
    if e.op in ("/", "//", "%") and b == 0:
        raise DiagnosticError("E0202", "division by zero", env.at(e.span))
    try:
        out = _arith(e, a, b, env)
    except OverflowError:
        out = math.inf
    if (
        isinstance(out, float)
        and not math.isfinite(out)
        or (isinstance(out, int) and out.bit_length() > MAX_BITS)
    ):
        raise DiagnosticError(
            "E0604",
            "the value of this expression is too large",
            env.at(e.span),
            f"values are limited to 2**{MAX_BITS} and the range of a 64-bit float",
        )
    return out


def _arith(e: ast.BinOp, a: float | Sym, b: float | Sym, env: Env) -> Value:
    if isinstance(a, Sym) or isinstance(b, Sym):
        return _sym_op(e, a, b, env)
    if e.op == "+":
        return a + b
    if e.op == "-":
        return a - b
    if e.op == "*":
        return a * b
    if e.op == "//":
        return a // b
    if e.op == "%":
        return a % b
    if isinstance(a, int) and isinstance(b, int):
        if a % b:
            raise DiagnosticError(
                "E0201",
                f"{a} / {b} is not a whole number",
                env.at(e.span),
                f"use '//' to round down ({a // b}), or change the numbers",
            )
        return a // b
    return a / b


def _sym_op(e: ast.BinOp, a: float | Sym, b: float | Sym, env: Env) -> Value:
    try:
        if e.op == "+" and not isinstance(a, float) and not isinstance(b, float):
            return dims.add(a, b)
        if e.op == "-" and not isinstance(a, float) and not isinstance(b, float):
            return dims.sub(a, b)
        if e.op == "*" and not isinstance(a, float) and not isinstance(b, float):
            return dims.mul(a, b)
        if e.op in ("/", "//") and isinstance(b, int) and not isinstance(a, float):
            return dims.mul(a, Fraction(1, b))
    except ValueError:
        pass
    raise DiagnosticError(
        "E0201", f"cannot compute {a} {e.op} {b} for a symbolic size", env.at(e.span)
    )
