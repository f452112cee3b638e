"""Parse .xnet text into an AST. The Lark parser is built once; no Lark object leaves here."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NoReturn

import lark
from lark import Token, Transformer, v_args
from lark.tree import Meta

from dslc.diagnostics import CompileError
from dslc.source import SourceFile, Span
from dslc.syntax import ast
from dslc.syntax.lexing import MAX_DIGITS, Newlines, TooDeep
from dslc.syntax.syntax_errors import (
    bad_shape_separator,
    later_syntax_errors,
    number_too_large,
    quoted_label,
    syntax_error,
    too_deep,
)

__all__ = ["grammar_text", "parse", "parse_expr"]


def grammar_text() -> str:
    """The text of grammars/xnet.lark."""
    # installed, the grammar is the package dslc.grammars; in a checkout, grammars/ beside
    # dslc/. Plain paths first: importlib.resources costs 10 ms of start-up.
    here = Path(__file__).resolve().parents[1]  # the dslc package
    for path in (here / "grammars" / "xnet.lark", here.parent / "grammars" / "xnet.lark"):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    from importlib import resources  # e.g. installed in a zip file

    return (resources.files("dslc.grammars") / "xnet.lark").read_text(encoding="utf-8")


@functools.cache
def _lark() -> lark.Lark:
    return lark.Lark(
        grammar_text(),
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        postlex=Newlines(),
        maybe_placeholders=True,
        cache=True,
        start=["start", "set_value"],
    )


def parse(source: SourceFile) -> ast.Program:
    """Parse a whole file; raise CompileError with a located diagnostic on a syntax error."""
    return _parse_program(source)


# The AST is immutable, so a file is parsed once per process however often it is met: a
# block library imported by many networks, or a file that `dslc check` first tests for
# being a library and then compiles. Bounded, so long fuzzing runs do not grow it.
@functools.lru_cache(maxsize=64)
def _parse_program(source: SourceFile) -> ast.Program:
    program = _parse(source, "start")
    assert isinstance(program, ast.Program)
    return ast.Program(program.statements, _comments(source))


def parse_expr(source: SourceFile) -> ast.Expr:
    """Parse a single expression (the value of `--set name=value`)."""
    expr = _parse(source, "set_value")
    assert not isinstance(expr, ast.Program)
    return expr


def _parse(source: SourceFile, start: str) -> ast.Program | ast.Expr:
    try:
        tree = _lark().parse(source.text, start=start)
    except lark.exceptions.UnexpectedInput as exc:
        first = syntax_error(source, exc)
        more = later_syntax_errors(source, exc, _reparse) if start == "start" else []
        raise CompileError([first, *more]) from None
    except TooDeep as exc:
        raise too_deep(source, exc) from None
    try:
        return _ToAst(source).transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, CompileError):
            raise exc.orig_exc from None
        raise


def _reparse(text: str) -> None:
    _lark().parse(text, start="start")


def _comments(source: SourceFile) -> tuple[ast.Comment, ...]:
    out = []
    lines = source.text.splitlines()
    for tok in _lark().lex(source.text, dont_ignore=True):
        if tok.type == "COMMENT":
            line = int(tok.line or 1)
            own = lines[line - 1][: int(tok.column or 1) - 1].strip() == ""
            out.append(ast.Comment(str(tok), line, own))
    return tuple(out)


# ---- the tree to the AST ----

_Dim = ast.Num | ast.Name


@v_args(inline=True, meta=True)
class _ToAst(Transformer[Token, ast.Program | ast.Expr]):
    """One method per grammar rule (or alias), given the rule's kept children by name; each
    returns an AST node carrying its span. A rule without a method is an internal error."""

    def __init__(self, source: SourceFile) -> None:
        super().__init__()
        self.src = source

    def __default__(self, data: str, children: list[object], meta: Meta) -> NoReturn:
        raise NotImplementedError(f"grammar rule {data!r} has no method in {type(self).__name__}")

    def _span(self, meta: Meta) -> Span:
        if meta.empty:
            return Span(self.src, 1, 1, 1, 1)
        return Span(self.src, meta.line, meta.column, meta.end_line, meta.end_column)

    # ---- statements ----

    def start(self, meta: Meta, *statements: ast.Statement) -> ast.Program:
        return ast.Program(statements)

    def set_value(self, meta: Meta, value: ast.Expr) -> ast.Expr:
        return value

    def import_stmt(self, meta: Meta, path: Token) -> ast.Import:
        return ast.Import(str(path)[1:-1], self._span(meta))  # without the quotes

    def network_stmt(
        self, meta: Meta, name: Token, params: tuple[ast.Param, ...] | None
    ) -> ast.Network:
        return ast.Network(str(name), params or (), self._span(meta))

    def input_stmt(self, meta: Meta, name: Token, dims: tuple[_Dim, ...]) -> ast.Input:
        return ast.Input(str(name), dims, self._span(meta))

    def output_stmt(self, meta: Meta, *names: Token) -> ast.Output:
        return ast.Output(tuple(str(n) for n in names), self._span(meta))

    def preprocess_stmt(self, meta: Meta, name: Token, chain: ast.Chain) -> ast.Preprocess:
        return ast.Preprocess(str(name), chain, self._span(meta))

    def labels_stmt(self, meta: Meta, path: Token, when: ast.Expr | None) -> ast.Labels:
        return ast.Labels(str(path)[1:-1], self._span(meta), when)

    def block_def(
        self,
        meta: Meta,
        inline: Token | None,
        name: Token,
        params: tuple[ast.Param, ...] | None,
        branches: tuple[str, ...] | None,
        body: ast.Chain,
    ) -> ast.BlockDef:
        span = self._span(meta)
        return ast.BlockDef(
            str(name), params or (), body, span, inline=inline is not None, branches=branches or ()
        )

    def branch_params(self, meta: Meta, *names: Token) -> tuple[str, ...]:
        return tuple(str(n) for n in names)

    def chain_stmt(self, meta: Meta, chain: ast.Chain) -> ast.ChainStmt:
        return ast.ChainStmt(chain, self._span(meta))

    def param_list(self, meta: Meta, *params: ast.Param) -> tuple[ast.Param, ...]:
        return params

    def param(self, meta: Meta, name: Token, default: ast.Expr | None) -> ast.Param:
        return ast.Param(str(name), default, self._span(meta))

    def shape(self, meta: Meta, *dims_and_separators: _Dim | Token) -> tuple[_Dim, ...]:
        # every dimension is built (and its size checked) before any separator is
        for sep in dims_and_separators:
            if isinstance(sep, Token) and str(sep) != "x":
                raise bad_shape_separator(self.src, sep)
        return tuple(d for d in dims_and_separators if not isinstance(d, Token))

    # ---- chains ----

    def chain(self, meta: Meta, *elements: ast.Element) -> ast.Chain:
        return ast.Chain(elements, self._span(meta))

    def element(
        self,
        meta: Meta,
        label: Token | None,
        primary: ast.Primary,
        count: ast.Expr | None,
        index: Token | None,
        tap: Token | None,
    ) -> ast.Element:
        text = None if label is None else str(label)
        if label is not None and label.type == "STRING":
            text = quoted_label(self.src, label)
        return ast.Element(
            primary, count, text, tap and str(tap), self._span(meta), index and str(index)
        )

    def call(self, meta: Meta, name: Token, args: tuple[ast.Arg, ...] | None) -> ast.Call:
        return ast.Call(str(name), args, self._span(meta))

    def combinator(
        self, meta: Meta, kind: Token, args: tuple[ast.Arg, ...] | None, *branches: ast.Chain
    ) -> ast.Combinator:
        return ast.Combinator(str(kind), branches, self._span(meta), args)

    def numbered(self, meta: Meta, kind: Token, *branches: ast.Chain) -> ast.Combinator:
        return ast.Combinator(str(kind), branches, self._span(meta), numbered=True)

    def conditional(
        self, meta: Meta, cond: ast.Expr, then: ast.Chain, orelse: ast.Chain | None
    ) -> ast.Conditional:
        return ast.Conditional(cond, then, orelse, self._span(meta))

    def group(self, meta: Meta, chain: ast.Chain) -> ast.Group:
        return ast.Group(chain, self._span(meta))

    def sequence(self, meta: Meta, chain: ast.Chain) -> ast.Group:
        return ast.Group(chain, self._span(meta), numbered=True)

    def args(self, meta: Meta, *args: ast.Arg) -> tuple[ast.Arg, ...]:
        return args

    def positional(self, meta: Meta, value: ast.Expr) -> ast.Arg:
        return ast.Arg(None, value, self._span(meta))

    def keyword(self, meta: Meta, name: Token, value: ast.Expr) -> ast.Arg:
        return ast.Arg(str(name), value, self._span(meta))

    # ---- expressions ----

    def _binop(self, op: str, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return ast.BinOp(op, left, right, self._span(meta))

    def add(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop("+", meta, left, right)

    def sub(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop("-", meta, left, right)

    def mul(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop("*", meta, left, right)

    def div(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop("/", meta, left, right)

    def floordiv(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop("//", meta, left, right)

    def mod(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop("%", meta, left, right)

    def compare(self, meta: Meta, left: ast.Expr, op: Token, right: ast.Expr) -> ast.BinOp:
        return self._binop(str(op), meta, left, right)

    def less(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop("<", meta, left, right)

    def greater(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop(">", meta, left, right)

    def and_op(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop("and", meta, left, right)

    def or_op(self, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinOp:
        return self._binop("or", meta, left, right)

    def not_op(self, meta: Meta, operand: ast.Expr) -> ast.Not:
        return ast.Not(operand, self._span(meta))

    def if_expr(self, meta: Meta, cond: ast.Expr, then: ast.Expr, orelse: ast.Expr) -> ast.IfExpr:
        return ast.IfExpr(cond, then, orelse, self._span(meta))

    def func(self, meta: Meta, name: Token, *args: ast.Expr) -> ast.Func:
        return ast.Func(str(name), args, self._span(meta))

    def neg(self, meta: Meta, operand: ast.Expr) -> ast.Expr:
        if isinstance(operand, ast.Num):
            return ast.Num(-operand.value, self._span(meta))
        return ast.Neg(operand, self._span(meta))

    def int_lit(self, meta: Meta, digits: Token) -> ast.Num:
        span = self._span(meta)
        text = str(digits)
        if len(text.lstrip("0")) > MAX_DIGITS:
            raise number_too_large(text, span)
        return ast.Num(int(text), span)

    def float_lit(self, meta: Meta, digits: Token) -> ast.Num:
        return ast.Num(float(digits), self._span(meta))  # 1e999 is refused when evaluated

    def true_lit(self, meta: Meta) -> ast.Bool:
        return ast.Bool(True, self._span(meta))

    def false_lit(self, meta: Meta) -> ast.Bool:
        return ast.Bool(False, self._span(meta))

    def name(self, meta: Meta, name: Token) -> ast.Name:
        return ast.Name(str(name), self._span(meta))

    def paren(self, meta: Meta, inner: ast.Expr) -> ast.Expr:
        return inner

    def tuple_lit(self, meta: Meta, *items: ast.Expr) -> ast.TupleLit:
        return ast.TupleLit(items, self._span(meta))

    def list_lit(self, meta: Meta, *items: ast.Expr) -> ast.ListLit:
        return ast.ListLit(items, self._span(meta))
