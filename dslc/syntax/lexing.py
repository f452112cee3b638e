"""The token stream between Lark's lexer and parser: which newlines end a statement, how deep
a program may nest, and where each statement starts and ends (for syntax-error recovery)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from lark import Token

from dslc.source import SourceFile, Span

__all__ = [
    "MAX_DEPTH",
    "MAX_DIGITS",
    "OPEN",
    "Newlines",
    "TooDeep",
    "is_synthetic",
    "statements",
    "token_span",
]

MAX_DEPTH = 100  # brackets nested deeper than this are refused, before recursion can fail
MAX_DIGITS = 100  # longer number literals are refused (and Python refuses past 4300 digits)

OPEN = {"_LPAR", "_LSQB", "_LANGLE"}
_CLOSE = {"_RPAR", "_RSQB", "_RANGLE"}
_OPERATORS = {
    "_PLUS",
    "_MINUS",
    "_STAR",
    "_SLASH",
    "_DSLASH",
    "_PERCENT",
    "COMPARE",
    "_AND",
    "_OR",
    "_NOT",
}
# A newline after these tokens continues the statement ...
_CONTINUES_AFTER = (
    OPEN
    | _OPERATORS
    | {"_ARROW", "_PIPE", "_COMMA", "_EQUAL", "_COLON", "_AT", "_IF", "_THEN", "_ELSE"}
)
# ... and so does a newline before these.
_CONTINUES_BEFORE = {"_ARROW", "_PIPE", "_STAR", "_AT", "_RANGLE", "_RPAR", "_RSQB"}
_NEW_EXPRESSION = {"_COMMA", "_ARROW", "_PIPE", "_EQUAL", "_COLON", "_NL", "_THEN", "_ELSE"}


class TooDeep(Exception):
    """Raised by the post-lexer at the bracket (or operator) that nests too deeply."""

    def __init__(self, tok: Token) -> None:
        super().__init__("too deep")
        self.tok = tok


class _Brackets:
    """Which brackets are open, and whether each holds a chain or an expression.

    `<` and `>` bracket a combinator's branches in a chain but compare in an expression
    (`conv1x1(if C > c then 1 else 2)`, `(if C < c then ...)`), and only the context tells
    them apart: a `(` after a name (arguments, parameters, a function), after `*` (a count)
    or inside an expression opens an expression; a `(` or `[` in a chain opens a group or a
    sequence, whose `(if` starts a condition that lasts until its `then`.
    """

    def __init__(self) -> None:
        self.stack: list[str] = []  # "chain", "expr", or "cond" (with its open ifs below)
        self.ifs: list[int] = []

    def _expr(self) -> bool:
        return bool(self.stack) and self.stack[-1] != "chain"

    def kind(self, tok: Token, prev: str) -> str:
        """The token's role: its own type, or COMPARE for a `<` / `>` that compares."""
        t = tok.type
        if t in ("_LANGLE", "_RANGLE") and self._expr():
            return "COMPARE"
        if t == "_LPAR":
            expr = self._expr() or prev in ("NAME", "_STAR")
            self._push("expr" if expr else "chain")
        elif t in ("_LSQB", "_LANGLE"):
            self._push("expr" if self._expr() else "chain")
        elif t in _CLOSE:
            if self.stack:
                self.stack.pop()
                self.ifs.pop()
        elif t == "_IF" and self.stack and self.stack[-1] in ("chain", "cond"):
            if self.stack[-1] == "chain" and prev == "_LPAR":
                self.stack[-1], self.ifs[-1] = "cond", 1
            elif self.stack[-1] == "cond":
                self.ifs[-1] += 1  # an if-expression inside the condition
        elif t == "_THEN" and self.stack and self.stack[-1] == "cond":
            self.ifs[-1] -= 1
            if not self.ifs[-1]:
                self.stack[-1] = "chain"
        return t

    def _push(self, kind: str) -> None:
        self.stack.append(kind)
        self.ifs.append(0)


def _nesting(kind: str, tok: Token, levels: list[int]) -> None:
    """Track how deep the tree under construction gets: one level per open bracket, and one
    per operator of the expression being written at each bracket level (`1+1+...+1` nests
    as deeply as brackets do)."""
    if kind in OPEN:
        levels.append(0)
    elif kind in _CLOSE:
        if len(levels) > 1:
            levels.pop()
    elif kind in _OPERATORS:
        levels[-1] += 1
    elif kind in _NEW_EXPRESSION:
        levels[-1] = 0
    if len(levels) - 1 + sum(levels) > MAX_DEPTH:
        raise TooDeep(tok)


class Newlines:
    """Post-lexer: keep only the newlines that end a statement."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        """Filter the token stream."""
        prev, pending = "", None
        last: Token | None = None
        levels = [0]
        brackets = _Brackets()
        for tok in stream:
            if tok.type == "_NL":
                if not brackets.stack and prev and prev not in _CONTINUES_AFTER and pending is None:
                    pending = tok
                continue
            kind = brackets.kind(tok, prev)
            if pending is not None:
                if kind not in _CONTINUES_BEFORE:
                    _nesting("_NL", pending, levels)
                    yield pending
                pending = None
            _nesting(kind, tok, levels)
            prev, last = kind, tok
            yield tok
        if last is not None:
            yield pending or Token.new_borrow_pos("_NL", "", last)


def is_synthetic(tok: Token) -> bool:
    """The newline the post-lexer adds at the end of the file."""
    return tok.type == "_NL" and tok.value == ""


def token_span(source: SourceFile, tok: Token) -> Span:
    """Where a token stands in its file."""
    return Span(
        source,
        int(tok.line or 1),
        int(tok.column or 1),
        int(tok.end_line or 1),
        int(tok.end_column or 1),
    )


# ---- statement bounds, for recovery after a syntax error ----

_PUNCT = {
    "->": "_ARROW",
    "|": "_PIPE",
    "<": "_LANGLE",
    ">": "_RANGLE",
    "(": "_LPAR",
    ")": "_RPAR",
    "[": "_LSQB",
    "]": "_RSQB",
    ",": "_COMMA",
    "=": "_EQUAL",
    ":": "_COLON",
    "@": "_AT",
    "*": "_STAR",
    "//": "_DSLASH",
    "/": "_SLASH",
    "%": "_PERCENT",
    "+": "_PLUS",
    "-": "_MINUS",
}
_KEYWORDS = {"if": "_IF", "then": "_THEN", "else": "_ELSE"}
_ROUGH = re.compile(
    r'(?P<c>#[^\n]*)|(?P<s>"[^"\n]*")|(?P<nl>\n)|(?P<ws>[ \t\f\r]+)|'
    r"(?P<p>->|//|[|<>()\[\],=:@*/%+-])|(?P<w>[A-Za-z0-9_.]+)|(?P<x>.)"
)


def statements(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the statements: the post-lexer's own newline rules, run on a
    rough tokenisation that accepts any character (the real lexer stops at a stray one)."""
    rough = []
    for m in _ROUGH.finditer(text):
        kind = m.lastgroup
        if kind not in ("c", "ws"):
            if kind == "nl":
                tok = "_NL"
            elif kind == "p":
                tok = _PUNCT.get(m.group(), "NAME")
            else:
                tok = _KEYWORDS.get(m.group(), "NAME")
            rough.append(Token(tok, m.group(), start_pos=m.start()))
    ends = []
    try:
        ends = [t.start_pos for t in Newlines().process(iter(rough)) if t.type == "_NL" and t.value]
    except TooDeep:  # no statement can be told apart past it
        pass
    bounds = [0, *(e for e in ends if e is not None), len(text)]
    return list(itertools.pairwise(bounds))
