"""Syntax errors as located diagnostics: Lark's errors converted once, with what each
terminal looks like to a user, and recovery that reports every broken statement once."""

from __future__ import annotations

import re
from collections.abc import Callable

import lark
from lark import Token

from dslc.diagnostics import CompileError, Diagnostic
from dslc.source import SourceFile, Span
from dslc.syntax.lexing import (
    MAX_DEPTH,
    MAX_DIGITS,
    OPEN,
    TooDeep,
    is_synthetic,
    statements,
    token_span,
)

__all__ = [
    "MAX_SYNTAX_ERRORS",
    "TERMINAL_TEXT",
    "bad_shape_separator",
    "later_syntax_errors",
    "number_too_large",
    "quoted_label",
    "syntax_error",
    "too_deep",
]

MAX_SYNTAX_ERRORS = 20

# What a user would type (or call it) for each terminal of grammars/xnet.lark. An "expected"
# list names the terminals in this order: alphabetical by the name without its leading "_"
# (the order from before punctuation and keywords were dropped from the tree), then newline.
TERMINAL_TEXT = {
    "$END": "end of file",
    "_AND": "'and'",
    "_AS": "'as'",
    "_ARROW": "'->'",
    "_AT": "'@'",
    "_BLOCK": "'block'",
    "_COLON": "':'",
    "_COMMA": "','",
    "COMPARE": "a comparison (== != <= >=)",
    "_DSLASH": "'//'",
    "_ELSE": "'else'",
    "_EQUAL": "'='",
    "_FALSE": "'false'",
    "FLOAT": "a number",
    "_IF": "'if'",
    "_IMPORT": "'import'",
    "INLINE": "'inline'",
    "_INPUT": "'input'",
    "INT": "an integer",
    "_LANGLE": "'<'",
    "_LPAR": "'('",
    "_LSQB": "'['",
    "_MINUS": "'-'",
    "NAME": "a name",
    "_NETWORK": "'network'",
    "_NOT": "'not'",
    "_OR": "'or'",
    "_OUTPUT": "'output'",
    "_PREPROCESS": "'preprocess'",
    "_LABELS": "'labels'",
    "_PERCENT": "'%'",
    "_PIPE": "'|'",
    "_PLUS": "'+'",
    "_RANGLE": "'>'",
    "_RPAR": "')'",
    "_RSQB": "']'",
    "_SLASH": "'/'",
    "_STAR": "'*'",
    "STRING": 'a quoted path like "blocks.xnet" or label like "block"',
    "_THEN": "'then'",
    "_TRUE": "'true'",
    "_NL": "end of line",
}
_ORDER = {name: i for i, name in enumerate(TERMINAL_TEXT)}


def syntax_error(source: SourceFile, exc: lark.exceptions.UnexpectedInput) -> Diagnostic:
    """The diagnostic for one error Lark raised: E0002 a stray character, E0003 the file
    ended too early, E0001 a token the grammar does not allow there."""
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
    expected = sorted(_acceptable(exc), key=lambda name: (_ORDER.get(name, len(_ORDER)), name))
    got = _describe(tok)
    if tok is not None and tok.type not in ("$END", "_NL") and tok.end_column:
        span = Span(source, line, col, line, int(tok.end_column))
    want = [TERMINAL_TEXT.get(e, e) for e in expected]
    message = f"unexpected {got}"
    if want:
        message += "; expected " + _join(want)
    code = "E0003" if tok is None or tok.type == "$END" or is_synthetic(tok) else "E0001"
    return Diagnostic(code, message, span, _token_hints(tok, expected))


def too_deep(source: SourceFile, exc: TooDeep) -> CompileError:
    """E0603: the program nests brackets or operators deeper than MAX_DEPTH."""
    what = "brackets nest" if exc.tok.type in OPEN else "this expression nests"
    return CompileError(
        [
            Diagnostic(
                "E0603",
                f"{what} more than {MAX_DEPTH} deep",
                token_span(source, exc.tok),
                ("split it up: name parts as network or block parameters, or as blocks",),
            )
        ]
    )


def bad_shape_separator(source: SourceFile, sep: Token) -> CompileError:
    """E0001: a word other than 'x' between the dimensions of an input shape."""
    return CompileError(
        [
            Diagnostic(
                "E0001",
                f"unexpected '{sep}' in a shape; dimensions are separated by 'x'",
                token_span(source, sep),
                ("write a shape as '3 x 224 x 224'",),
            )
        ]
    )


def number_too_large(text: str, span: Span) -> CompileError:
    """E0604: an integer literal longer than MAX_DIGITS digits."""
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


# ---- recovery: every statement with a syntax error is reported, each once ----
# After a syntax error the statement that holds it is blanked out (positions kept) and the
# file parsed again, so an error in a later, independent statement is found too. Only
# syntax errors are reported then: with a statement missing, later names could not be
# trusted, and an error that only follows from an earlier one would be a cascade.


def later_syntax_errors(
    source: SourceFile,
    exc: lark.exceptions.UnexpectedInput,
    reparse: Callable[[str], object],
) -> list[Diagnostic]:
    """The syntax errors after `exc` in statements independent of it; `reparse` parses a
    whole file's text, raising as the first parse did."""
    out: list[Diagnostic] = []
    text = source.text
    while len(out) < MAX_SYNTAX_ERRORS - 1:
        at = _error_offset(exc)
        if at is None:
            return out
        begin, end = next(((b, e) for b, e in statements(text) if b <= at < e), (at, len(text)))
        text = text[:begin] + re.sub(r"[^\n]", " ", text[begin:end]) + text[end:]
        try:
            reparse(text)
            return out
        except lark.exceptions.UnexpectedInput as again:
            if (_error_offset(again) or len(text)) < end:
                return out  # not independent of the statement just removed
            exc = again
            out.append(syntax_error(source, exc))
        except TooDeep:
            return out
    return out


def _error_offset(exc: lark.exceptions.UnexpectedInput) -> int | None:
    tok = getattr(exc, "token", None)
    if tok is not None:
        return None if tok.type == "$END" or is_synthetic(tok) else tok.start_pos
    return exc.pos_in_stream


def _acceptable(exc: lark.exceptions.UnexpectedInput) -> set[str]:
    """The tokens really acceptable at the error (LALR's own list can be too wide)."""
    parser = getattr(exc, "interactive_parser", None)
    if parser is not None:
        try:
            return set(parser.accepts())
        except Exception:  # noqa: BLE001, S110 - fall back to Lark's own, wider list
            pass
    return set(getattr(exc, "expected", set()) or set())


def _describe(tok: Token | None) -> str:
    if tok is None or tok.type == "$END" or is_synthetic(tok):
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
    if tok is not None and tok.type == "NAME" and "_ARROW" in expected:
        return ("layers in a chain are joined with '->'",)
    if tok is not None and tok.type in ("_NL", "$END") and "_RANGLE" in expected:
        return ("a combinator like residual<...> must be closed with '>'",)
    if tok is not None and tok.type in ("_NL", "$END") and "_RPAR" in expected:
        return ("a '(' is not closed",)
    return ()


def _char_hints(char: str) -> tuple[str, ...]:
    if char in "×xX":
        return ("write sizes as '3 x 224 x 224', with spaces around 'x'",)
    if char == "'":
        return ('strings are written in double quotes: "file.xnet"',)
    return ()


# letters, digits, '_' and '-', with {expression} holes: "block{i}-{# + 1}"
LABEL = re.compile(r"^(?:[A-Za-z0-9_-]|\{[^{}]+\})+$")


def quoted_label(source: SourceFile, tok: Token) -> str:
    """The text of a quoted label such as "block", "block1-0" or "block{i}-{#}"; E0001 unless
    it is made of letters, digits, '_', '-' and {expression} holes (a '.' would split the
    hierarchical name)."""
    text = str(tok)[1:-1]
    if not LABEL.match(text):
        raise CompileError(
            [
                Diagnostic(
                    "E0001",
                    f"a label may hold letters, digits, '_', '-' and {{holes}}, not {tok!s}",
                    token_span(source, tok),
                    (
                        "labels name layers (layer1.0.conv1); '.' separates the levels",
                        '"block{i}-{#}" fills in the value of i and the repetition\'s index',
                    ),
                )
            ]
        )
    return text
