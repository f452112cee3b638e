"""Parse .xnet text into an AST. The Lark parser is built once; no Lark object leaves here."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lark
from lark import Token, Transformer, v_args

from dslc.diagnostics import CompileError, Diagnostic
from dslc.source import SourceFile, Span
from dslc.syntax import ast

# What a user would type (or call it) for each terminal, used in syntax errors.
TERMINAL_TEXT = {
    "IMPORT": "'import'",
    "NETWORK": "'network'",
    "INPUT": "'input'",
    "OUTPUT": "'output'",
    "BLOCK": "'block'",
    "INLINE": "'inline'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "NAME": "a name",
    "FLOAT": "a number",
    "INT": "an integer",
    "STRING": 'a quoted path like "blocks.xnet"',
    "ARROW": "'->'",
    "PIPE": "'|'",
    "LANGLE": "'<'",
    "RANGLE": "'>'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "COLON": "':'",
    "AT": "'@'",
    "STAR": "'*'",
    "DSLASH": "'//'",
    "SLASH": "'/'",
    "PERCENT": "'%'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "_NL": "end of line",
    "$END": "end of file",
}

_OPEN = {"LPAR", "LSQB", "LANGLE"}
_CLOSE = {"RPAR", "RSQB", "RANGLE"}
# A newline after these tokens continues the statement ...
_CONTINUES_AFTER = _OPEN | {
    "ARROW",
    "PIPE",
    "COMMA",
    "EQUAL",
    "COLON",
    "AT",
    "STAR",
    "SLASH",
    "DSLASH",
    "PERCENT",
    "PLUS",
    "MINUS",
}
# ... and so does a newline before these.
_CONTINUES_BEFORE = {"ARROW", "PIPE", "STAR", "AT", "RANGLE", "RPAR", "RSQB"}


MAX_DEPTH = 100  # brackets nested deeper than this are refused, before recursion can fail
MAX_DIGITS = 100  # longer number literals are refused (and Python refuses past 4300 digits)
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "DSLASH", "PERCENT"}
_NEW_EXPRESSION = {"COMMA", "ARROW", "PIPE", "EQUAL", "COLON", "_NL"}


class _TooDeep(Exception):
    """Raised by the post-lexer at the bracket (or operator) that nests too deeply."""

    def __init__(self, tok: Token) -> None:
        super().__init__("too deep")
        self.tok = tok


def _nesting(tok: Token, levels: list[int]) -> None:
    """Track how deep the tree under construction gets: one level per open bracket, and one
    per operator of the expression being written at each bracket level (`1+1+...+1` nests
    as deeply as brackets do)."""
    if tok.type in _OPEN:
        levels.append(0)
    elif tok.type in _CLOSE:
        if len(levels) > 1:
            levels.pop()
    elif tok.type in _OPERATORS:
        levels[-1] += 1
    elif tok.type in _NEW_EXPRESSION:
        levels[-1] = 0
    if len(levels) - 1 + sum(levels) > MAX_DEPTH:
        raise _TooDeep(tok)


class _Newlines:
    """Post-lexer: keep only the newlines that end a statement."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        """Filter the token stream."""
        depth, prev, pending = 0, "", None
        last: Token | None = None
        levels = [0]
        for tok in stream:
            if tok.type == "_NL":
                if depth == 0 and prev and prev not in _CONTINUES_AFTER and pending is None:
                    pending = tok
                continue
            if pending is not None:
                if tok.type not in _CONTINUES_BEFORE:
                    _nesting(pending, levels)
                    yield pending
                pending = None
            _nesting(tok, levels)
            if tok.type in _OPEN:
                depth += 1
            elif tok.type in _CLOSE:
                depth = max(0, depth - 1)
            prev, last = tok.type, tok
            yield tok
        if last is not None:
            yield pending or Token.new_borrow_pos("_NL", "", last)


def _grammar_text() -> str:
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
        _grammar_text(),
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        postlex=_Newlines(),
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
    return expr  # type: ignore[no-any-return]


MAX_SYNTAX_ERRORS = 20


def _parse(source: SourceFile, start: str) -> Any:
    try:
        tree = _lark().parse(source.text, start=start)
    except lark.exceptions.UnexpectedInput as exc:
        first = _syntax_error(source, exc)
        more = _later_syntax_errors(source, exc) if start == "start" else []
        raise CompileError([first, *more]) from None
    except _TooDeep as exc:
        span = _tok_span(source, exc.tok)
        what = "brackets nest" if exc.tok.type in _OPEN else "this expression nests"
        raise CompileError(
            [
                Diagnostic(
                    "E0603",
                    f"{what} more than {MAX_DEPTH} deep",
                    span,
                    ("split it up: name parts as network or block parameters, or as blocks",),
                )
            ]
        ) from None
    try:
        return _ToAst(source).transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, CompileError):
            raise exc.orig_exc from None
        raise


# ---- recovery: every statement with a syntax error is reported, each once ----
# After a syntax error the statement that holds it is blanked out (positions kept) and the
# file parsed again, so an error in a later, independent statement is found too. Only
# syntax errors are reported then: with a statement missing, later names could not be
# trusted, and an error that only follows from an earlier one would be a cascade.

_PUNCT = {
    "->": "ARROW",
    "|": "PIPE",
    "<": "LANGLE",
    ">": "RANGLE",
    "(": "LPAR",
    ")": "RPAR",
    "[": "LSQB",
    "]": "RSQB",
    ",": "COMMA",
    "=": "EQUAL",
    ":": "COLON",
    "@": "AT",
    "*": "STAR",
    "//": "DSLASH",
    "/": "SLASH",
    "%": "PERCENT",
    "+": "PLUS",
    "-": "MINUS",
}
_ROUGH = re.compile(
    r'(?P<c>#[^\n]*)|(?P<s>"[^"\n]*")|(?P<nl>\n)|(?P<ws>[ \t\f\r]+)|'
    r"(?P<p>->|//|[|<>()\[\],=:@*/%+-])|(?P<w>[A-Za-z0-9_.]+)|(?P<x>.)"
)


def _statements(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the statements: the post-lexer's own newline rules, run on a
    rough tokenisation that accepts any character (the real lexer stops at a stray one)."""
    rough = []
    for m in _ROUGH.finditer(text):
        kind = m.lastgroup
        if kind not in ("c", "ws"):
            tok = (
                "_NL" if kind == "nl" else _PUNCT.get(m.group(), "NAME") if kind == "p" else "NAME"
            )
            rough.append(Token(tok, m.group(), start_pos=m.start()))
    ends = []
    try:
        ends = [
            t.start_pos for t in _Newlines().process(iter(rough)) if t.type == "_NL" and t.value
        ]
    except _TooDeep:  # no statement can be told apart past it
        pass
    bounds = [0, *(e for e in ends if e is not None), len(text)]
    return list(itertools.pairwise(bounds))


def _error_offset(exc: lark.exceptions.UnexpectedInput) -> int | None:
    tok = getattr(exc, "token", None)
    if tok is not None:
        return None if tok.type == "$END" or _synthetic(tok) else tok.start_pos
    return exc.pos_in_stream


def _later_syntax_errors(
    source: SourceFile, exc: lark.exceptions.UnexpectedInput
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    text = source.text
    while len(out) < MAX_SYNTAX_ERRORS - 1:
        at = _error_offset(exc)
        if at is None:
            return out
        begin, end = next(((b, e) for b, e in _statements(text) if b <= at < e), (at, len(text)))
        text = text[:begin] + re.sub(r"[^\n]", " ", text[begin:end]) + text[end:]
        try:
            _lark().parse(text, start="start")
            return out
        except lark.exceptions.UnexpectedInput as again:
            if (_error_offset(again) or len(text)) < end:
                return out  # not independent of the statement just removed
            exc = again
            out.append(_syntax_error(source, exc))
        except _TooDeep:
            return out
    return out


def _comments(source: SourceFile) -> tuple[ast.Comment, ...]:
    out = []
    lines = source.text.splitlines()
    for tok in _lark().lex(source.text, dont_ignore=True):
        if tok.type == "COMMENT":
            line = int(tok.line or 1)
            own = lines[line - 1][: int(tok.column or 1) - 1].strip() == ""
            out.append(ast.Comment(str(tok), line, own))
    return tuple(out)


def _syntax_error(source: SourceFile, exc: lark.exceptions.UnexpectedInput) -> Diagnostic:
    line, col = int(exc.line or 1), int(exc.column or 1)
    if line < 1:  # end of input
        lines = source.text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
    span = Span(source, line, col, line, col + 1)
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = source.text[pos] if pos < len(source.text) else ""
        return Diagnostic("E0002", f"unexpected character '{char}'", span, _char_hints(char))
    tok = getattr(exc, "token", None)
    expected = sorted(_acceptable(exc))
    got = _describe(tok)
    if tok is not None and tok.type not in ("$END", "_NL") and tok.end_column:
        span = Span(source, line, col, line, int(tok.end_column))
    want = [TERMINAL_TEXT.get(e, e) for e in expected]
    message = f"unexpected {got}"
    if want:
        message += "; expected " + _join(want)
    code = "E0003" if tok is None or tok.type == "$END" or _synthetic(tok) else "E0001"
    return Diagnostic(code, message, span, _token_hints(tok, expected))


def _acceptable(exc: lark.exceptions.UnexpectedInput) -> set[str]:
    """The tokens really acceptable at the error (LALR's own list can be too wide)."""
    parser = getattr(exc, "interactive_parser", None)
    if parser is not None:
        try:
            return set(parser.accepts())
        except Exception:  # noqa: BLE001, S110 - fall back to Lark's own, wider list
            pass
    return set(getattr(exc, "expected", set()) or set())


def _synthetic(tok: Token) -> bool:
    """The newline the post-lexer adds at the end of the file."""
    return tok.type == "_NL" and tok.value == ""


def _describe(tok: Token | None) -> str:
    if tok is None or tok.type == "$END" or _synthetic(tok):
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    return f"'{tok.value}'"


def _join(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    if len(items) > 8:
        items = items[:8] + ["..."]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _token_hints(tok: Token | None, expected: list[str]) -> tuple[str, ...]:
    if tok is not None and tok.type == "NAME" and "ARROW" in expected:
        return ("layers in a chain are joined with '->'",)
    if tok is not None and tok.type in ("_NL", "$END") and "RANGLE" in expected:
        return ("a combinator like residual<...> must be closed with '>'",)
    if tok is not None and tok.type in ("_NL", "$END") and "RPAR" in expected:
        return ("a '(' is not closed",)
    return ()


def _char_hints(char: str) -> tuple[str, ...]:
    if char in "×xX":
        return ("write sizes as '3 x 224 x 224', with spaces around 'x'",)
    if char == "'":
        return ('strings are written in double quotes: "file.xnet"',)
    return ()


def _span(source: SourceFile, meta: Any) -> Span:
    if getattr(meta, "empty", True):
        return Span(source, 1, 1, 1, 1)
    return Span(source, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(source: SourceFile, tok: Token) -> Span:
    return Span(
        source,
        int(tok.line or 1),
        int(tok.column or 1),
        int(tok.end_line or 1),
        int(tok.end_column or 1),
    )


def _int(tok: Token, span: Span) -> int:
    text = str(tok)
    if len(text.lstrip("0")) > MAX_DIGITS:
        raise _too_large(text, span)
    return int(text)


def _too_large(text: str, span: Span) -> CompileError:
    shown = text if len(text) <= 20 else f"{text[:8]}...{text[-8:]} ({len(text)} characters)"
    return CompileError(
        [
            Diagnostic(
                "E0604",
                f"the number {shown} is too large",
                span,
                (f"numbers are limited to {MAX_DIGITS} digits",),
            )
        ]
    )


def _only(children: list[Any], kind: type) -> list[Any]:
    return [c for c in children if isinstance(c, kind)]


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """One method per grammar rule; each returns an AST node carrying its span."""

    def __init__(self, source: SourceFile) -> None:
        super().__init__()
        self.src = source

    def start(self, meta: Any, ch: list[Any]) -> ast.Program:
        return ast.Program(tuple(ch))

    def set_value(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ch[0]  # type: ignore[no-any-return]

    def import_stmt(self, meta: Any, ch: list[Any]) -> ast.Import:
        return ast.Import(str(ch[1])[1:-1], _span(self.src, meta))

    def network_stmt(self, meta: Any, ch: list[Any]) -> ast.Network:
        return ast.Network(str(ch[1]), tuple(ch[2] or ()), _span(self.src, meta))

    def input_stmt(self, meta: Any, ch: list[Any]) -> ast.Input:
        return ast.Input(str(ch[1]), ch[3], _span(self.src, meta))

    def output_stmt(self, meta: Any, ch: list[Any]) -> ast.Output:
        names = tuple(str(t) for t in ch if isinstance(t, Token) and t.type == "NAME")
        return ast.Output(names, _span(self.src, meta))

    def block_def(self, meta: Any, ch: list[Any]) -> ast.BlockDef:
        return ast.BlockDef(
            str(ch[2]), tuple(ch[3] or ()), ch[5], _span(self.src, meta), inline=ch[0] is not None
        )

    def chain_stmt(self, meta: Any, ch: list[Any]) -> ast.ChainStmt:
        return ast.ChainStmt(ch[0], _span(self.src, meta))

    def param_list(self, meta: Any, ch: list[Any]) -> list[ast.Param]:
        return _only(ch, ast.Param)

    def param(self, meta: Any, ch: list[Any]) -> ast.Param:
        return ast.Param(str(ch[0]), ch[2], _span(self.src, meta))

    def shape(self, meta: Any, ch: list[Any]) -> tuple[ast.Num | ast.Name, ...]:
        dims = ch[0::2]
        for sep in ch[1::2]:
            if str(sep) != "x":
                span = _tok_span(self.src, sep)
                raise CompileError(
                    [
                        Diagnostic(
                            "E0001",
                            f"unexpected '{sep}' in a shape; dimensions are separated by 'x'",
                            span,
                            ("write a shape as '3 x 224 x 224'",),
                        )
                    ]
                )
        return tuple(dims)

    def dim(self, meta: Any, ch: list[Any]) -> ast.Num | ast.Name:
        tok = ch[0]
        span = _tok_span(self.src, tok)
        return ast.Num(_int(tok, span), span) if tok.type == "INT" else ast.Name(str(tok), span)

    def chain(self, meta: Any, ch: list[Any]) -> ast.Chain:
        return ast.Chain(tuple(_only(ch, ast.Element)), _span(self.src, meta))

    def element(self, meta: Any, ch: list[Any]) -> ast.Element:
        label, _, (primary, count), _, tap = ch
        return ast.Element(
            primary, count, label and str(label), tap and str(tap), _span(self.src, meta)
        )

    def term(self, meta: Any, ch: list[Any]) -> tuple[Any, Any]:
        return ch[0], ch[2]

    def call(self, meta: Any, ch: list[Any]) -> ast.Call:
        args = None if ch[1] is None else tuple(ch[1])
        return ast.Call(str(ch[0]), args, _span(self.src, meta))

    def combinator(self, meta: Any, ch: list[Any]) -> ast.Combinator:
        return ast.Combinator(str(ch[0]), tuple(_only(ch, ast.Chain)), _span(self.src, meta))

    def group(self, meta: Any, ch: list[Any]) -> ast.Group:
        return ast.Group(ch[1], _span(self.src, meta))

    def sequence(self, meta: Any, ch: list[Any]) -> ast.Group:
        return ast.Group(ch[1], _span(self.src, meta), numbered=True)

    def count(self, meta: Any, ch: list[Any]) -> ast.Expr:
        if len(ch) == 3:
            return ch[1]  # type: ignore[no-any-return]
        tok = ch[0]
        span = _tok_span(self.src, tok)
        return ast.Num(_int(tok, span), span) if tok.type == "INT" else ast.Name(str(tok), span)

    def args(self, meta: Any, ch: list[Any]) -> list[ast.Arg]:
        return _only(ch, ast.Arg)

    def positional(self, meta: Any, ch: list[Any]) -> ast.Arg:
        return ast.Arg(None, ch[0], _span(self.src, meta))

    def keyword(self, meta: Any, ch: list[Any]) -> ast.Arg:
        return ast.Arg(str(ch[0]), ch[2], _span(self.src, meta))

    def binop(self, meta: Any, ch: list[Any]) -> ast.BinOp:
        return ast.BinOp(str(ch[1]), ch[0], ch[2], _span(self.src, meta))

    def neg(self, meta: Any, ch: list[Any]) -> ast.Expr:
        if isinstance(ch[1], ast.Num):
            return ast.Num(-ch[1].value, _span(self.src, meta))
        return ast.Neg(ch[1], _span(self.src, meta))

    def int_lit(self, meta: Any, ch: list[Any]) -> ast.Num:
        span = _span(self.src, meta)
        return ast.Num(_int(ch[0], span), span)

    def float_lit(self, meta: Any, ch: list[Any]) -> ast.Num:
        return ast.Num(float(ch[0]), _span(self.src, meta))  # 1e999 is refused when evaluated

    def true_lit(self, meta: Any, ch: list[Any]) -> ast.Bool:
        return ast.Bool(True, _span(self.src, meta))

    def false_lit(self, meta: Any, ch: list[Any]) -> ast.Bool:
        return ast.Bool(False, _span(self.src, meta))

    def name(self, meta: Any, ch: list[Any]) -> ast.Name:
        return ast.Name(str(ch[0]), _span(self.src, meta))

    def paren(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ch[1]  # type: ignore[no-any-return]

    def tuple_lit(self, meta: Any, ch: list[Any]) -> ast.TupleLit:
        items = [c for c in ch if c is not None and not isinstance(c, Token)]
        return ast.TupleLit(tuple(items), _span(self.src, meta))

    def list_lit(self, meta: Any, ch: list[Any]) -> ast.ListLit:
        items = [c for c in ch if c is not None and not isinstance(c, Token)]
        return ast.ListLit(tuple(items), _span(self.src, meta))
