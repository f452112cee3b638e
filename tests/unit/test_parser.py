"""Tests for the parser: newline rules, labels, taps, repetition, literals, comments, errors."""

from __future__ import annotations

import re

import pytest

from dslc.diagnostics import CompileError, Diagnostic
from dslc.source import SourceFile, Span
from dslc.syntax import ast
from dslc.syntax.parser import parse

SPAN = Span(SourceFile("t.xnet", ""), 1, 1, 1, 1)


def _num(v: float) -> ast.Num:
    return ast.Num(v, SPAN)


def _nm(s: str) -> ast.Name:
    return ast.Name(s, SPAN)


def _parse(text: str) -> ast.Program:
    return parse(SourceFile("t.xnet", text))


def _chains(text: str) -> list[list[str]]:
    """The top-level chains as lists of call names (combinators as kind<...>)."""
    out = []
    for s in _parse(text).statements:
        assert isinstance(s, ast.ChainStmt)
        out.append([_name(e.primary) for e in s.chain.elements])
    return out


def _name(p: ast.Primary) -> str:
    if isinstance(p, ast.Call):
        return p.name
    if isinstance(p, ast.Combinator):
        return f"{p.kind}<>"
    return "()"


def _error(text: str) -> Diagnostic:
    with pytest.raises(CompileError) as info:
        _parse(text)
    assert len(info.value.diagnostics) == 1
    return info.value.diagnostics[0]


def _only_element(text: str) -> ast.Element:
    (stmt,) = _parse(text).statements
    assert isinstance(stmt, ast.ChainStmt)
    (el,) = stmt.chain.elements
    return el


def _args(text: str) -> dict[str | None, ast.Expr]:
    el = _only_element(text)
    assert isinstance(el.primary, ast.Call) and el.primary.args is not None
    return {a.name: a.value for a in el.primary.args}


# ---- newline rules ----


def test_one_line_chain() -> None:
    assert _chains("a -> b -> c\n") == [["a", "b", "c"]]


def test_line_starting_with_arrow_continues() -> None:
    assert _chains("a -> b\n-> c\n   -> d\n") == [["a", "b", "c", "d"]]


def test_line_ending_with_arrow_continues() -> None:
    assert _chains("a -> b ->\n  c\n") == [["a", "b", "c"]]


def test_new_line_without_operator_starts_a_new_statement() -> None:
    assert _chains("a -> b\nc -> d\n") == [["a", "b"], ["c", "d"]]


def test_blank_lines_and_comments_between_continuation_lines() -> None:
    assert _chains("a\n\n# a comment\n\n-> b\n") == [["a", "b"]]


def test_comment_after_arrow_continues() -> None:
    assert _chains("a -> # why\n  b\n") == [["a", "b"]]


def test_pipe_and_closing_angle_on_their_own_lines() -> None:
    text = "residual<\n    a -> b\n  | c\n> -> relu\n"
    (stmt,) = _parse(text).statements
    assert isinstance(stmt, ast.ChainStmt)
    comb, relu = stmt.chain.elements
    assert isinstance(comb.primary, ast.Combinator) and comb.primary.kind == "residual"
    assert [[_name(e.primary) for e in b.elements] for b in comb.primary.branches] == [
        ["a", "b"],
        ["c"],
    ]
    assert _name(relu.primary) == "relu"


def test_newlines_inside_brackets_are_free() -> None:
    args = _args("conv(\n  64,\n  k = (1,\n 7),\n  kernel=[[1, 2],\n [3, 4]]\n)\n")
    assert args[None] == _num(64)
    assert isinstance(args["k"], ast.TupleLit) and len(args["k"].items) == 2
    assert isinstance(args["kernel"], ast.ListLit) and len(args["kernel"].items) == 2


def test_repetition_and_tap_on_next_line_continue() -> None:
    el = _only_element("conv3x3(4)\n  * 3\n  @t\n")
    assert el.count == _num(3)
    assert el.tap == "t"


def test_windows_line_endings() -> None:
    assert _chains("a -> b\r\n-> c\r\nd\r\n") == [["a", "b", "c"], ["d"]]


@pytest.mark.parametrize("end", ["\r\n", "\r"])
@pytest.mark.parametrize(
    "text", ["input\n", "network n\ninput x: 3 x 8 x 8\na ->\n", "network\n# c\na -> $\n"]
)
def test_other_line_endings_report_as_lf_does(text: str, end: str) -> None:
    # the API takes text with CRs as the CLI reads it: a caret never stands on the '\r'
    want = _error(text)
    got = _error("\ufeff" + text.replace("\n", end))
    assert (got.code, got.message, got.span) == (want.code, want.message, want.span)
    assert got.render() == want.render()


def test_file_without_final_newline() -> None:
    assert _chains("a -> b") == [["a", "b"]]


def test_block_definition_over_several_lines() -> None:
    (stmt,) = _parse("block b(x,\n  y = 2,\n) =\n    a\n -> b\n").statements
    assert isinstance(stmt, ast.BlockDef)
    assert stmt.name == "b"
    assert [(p.name, p.default) for p in stmt.params] == [("x", None), ("y", _num(2))]
    assert [_name(e.primary) for e in stmt.body.elements] == ["a", "b"]


# ---- statements ----


def test_header_statements() -> None:
    text = 'import "lib/blocks.xnet"\nnetwork n(a = 1, b)\ninput x: 3 x H x W\noutput p, q\nrelu\n'
    imp, net, inp, out, chain = _parse(text).statements
    assert imp == ast.Import("lib/blocks.xnet", SPAN)
    assert isinstance(net, ast.Network) and net.name == "n"
    assert [(p.name, p.default) for p in net.params] == [("a", _num(1)), ("b", None)]
    assert isinstance(inp, ast.Input) and inp.name == "x"
    assert inp.dims == (_num(3), _nm("H"), _nm("W"))
    assert out == ast.Output(("p", "q"), SPAN)
    assert isinstance(chain, ast.ChainStmt)


def test_shape_separator_must_be_x() -> None:
    d = _error("input x: 3 y 4\n")
    assert d.code == "E0001"
    assert "'y'" in d.message and "'x'" in d.message
    assert (d.span.line, d.span.col) == (1, 12)


# ---- elements: labels, taps, repetition ----


def test_label() -> None:
    el = _only_element("stem: conv7x7(64, stride=2)\n")
    assert el.label == "stem"
    assert isinstance(el.primary, ast.Call) and el.primary.name == "conv7x7"


def test_tap() -> None:
    el = _only_element("maxpool2 @pool3\n")
    assert el.tap == "pool3" and el.label is None and el.count is None


def test_label_repetition_and_tap_together() -> None:
    el = _only_element("layer1: basic(64) * 2 @c2\n")
    assert (el.label, el.tap) == ("layer1", "c2")
    assert el.count == _num(2)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a * 3\n", _num(3)),
        ("a * n\n", _nm("n")),
        ("a * (n - 1)\n", ast.BinOp("-", _nm("n"), _num(1), SPAN)),
    ],
)
def test_repetition_counts(text: str, count: ast.Expr) -> None:
    assert _only_element(text).count == count


def test_repetition_of_a_group() -> None:
    el = _only_element("(a -> b) * 2\n")
    assert isinstance(el.primary, ast.Group)
    assert [_name(e.primary) for e in el.primary.chain.elements] == ["a", "b"]
    assert el.count == _num(2)


@pytest.mark.parametrize("text", ["a * 2.5\n", "a * -1\n"])
def test_repetition_count_must_be_an_integer_literal_name_or_parenthesised(text: str) -> None:
    d = _error(text)
    assert d.code == "E0001"
    assert "an integer" in d.message


def test_combinators_nest() -> None:
    el = _only_element("concat<a | b -> concat<c | d> | e>\n")
    assert isinstance(el.primary, ast.Combinator)
    assert len(el.primary.branches) == 3
    inner = el.primary.branches[1].elements[1].primary
    assert isinstance(inner, ast.Combinator) and len(inner.branches) == 2


# ---- literals and expressions ----


def test_literals() -> None:
    args = _args(
        "f(i=3, neg=-3, x=1.5, e=1e-3, d=.5, t=true, fa=false, "
        "tup=(1, 2), one=(1,), lst=[1, -2], nested=[[0, 1], [1, 0]], w=same)\n"
    )
    assert args["i"] == _num(3)
    assert args["neg"] == _num(-3)
    assert args["x"] == _num(1.5)
    assert args["e"] == _num(0.001)
    assert args["d"] == _num(0.5)
    assert args["t"] == ast.Bool(True, SPAN)
    assert args["fa"] == ast.Bool(False, SPAN)
    assert args["tup"] == ast.TupleLit((_num(1), _num(2)), SPAN)
    assert args["one"] == ast.TupleLit((_num(1),), SPAN)
    assert args["lst"] == ast.ListLit((_num(1), _num(-2)), SPAN)
    nested = args["nested"]
    assert isinstance(nested, ast.ListLit) and all(isinstance(r, ast.ListLit) for r in nested.items)
    assert args["w"] == _nm("same")
    assert isinstance(args["i"], ast.Num) and type(args["i"].value) is int
    assert isinstance(args["x"], ast.Num) and type(args["x"].value) is float


def test_operator_precedence() -> None:
    value = _args("f(v=1 + 2 * 3 - 4 // 2)\n")["v"]
    n, b = _num, ast.BinOp
    expected = b("-", b("+", n(1), b("*", n(2), n(3), SPAN), SPAN), b("//", n(4), n(2), SPAN), SPAN)
    assert value == expected


def test_parentheses_and_negation_of_names() -> None:
    value = _args("f(v=-(c + 1) * 2)\n")["v"]
    assert isinstance(value, ast.BinOp) and value.op == "*"
    assert isinstance(value.left, ast.Neg)
    assert value.left.operand == ast.BinOp("+", _nm("c"), _num(1), SPAN)


def test_positional_and_keyword_arguments_keep_order() -> None:
    el = _only_element("conv3x3(64, stride=2, bias=false)\n")
    assert isinstance(el.primary, ast.Call) and el.primary.args is not None
    assert [a.name for a in el.primary.args] == [None, "stride", "bias"]


def test_call_without_parentheses_has_no_args() -> None:
    el = _only_element("relu\n")
    assert isinstance(el.primary, ast.Call) and el.primary.args is None
    el = _only_element("relu()\n")
    assert isinstance(el.primary, ast.Call) and el.primary.args == ()


# ---- comments ----


def test_comments_are_collected_with_own_line_flags() -> None:
    text = "# header\nnetwork n   # trailing\n    # indented own line\nrelu\n"
    program = _parse(text)
    assert [(c.text, c.line, c.own_line) for c in program.comments] == [
        ("# header", 1, True),
        ("# trailing", 2, False),
        ("# indented own line", 3, True),
    ]


def test_comments_do_not_change_the_program() -> None:
    assert _parse("a -> b # x\n# y\n") == _parse("a -> b\n")


def test_hash_inside_a_string_is_not_a_comment() -> None:
    program = _parse('import "a#b.xnet"\n')
    assert program.statements == (ast.Import("a#b.xnet", SPAN),)
    assert program.comments == ()


def test_spans_point_at_the_source() -> None:
    (stmt,) = _parse("\n  conv3x3(64) -> relu\n").statements
    assert isinstance(stmt, ast.ChainStmt)
    call = stmt.chain.elements[1].primary
    assert (call.span.line, call.span.col, call.span.end_col) == (2, 18, 22)


# ---- syntax errors ----

LARK_NAMES = re.compile(
    r"\b_?(ARROW|NAME|_NL|\$END|LPAR|RPAR|LANGLE|RANGLE|PIPE|COMMA|INT|FLOAT|"
    r"STRING|COLON|EQUAL|STAR|SLASH|__ANON\w*|[A-Z][A-Z_]{2,})\b"
)


def test_missing_arrow() -> None:
    d = _error("input x: 3 x 8 x 8\nconv3x3(4) relu\n")
    assert d.code == "E0001"
    assert d.message.startswith("unexpected 'relu'")
    assert "expected '->'" in d.message
    assert (d.span.line, d.span.col, d.span.end_col) == (2, 12, 16)
    assert any("'->'" in h for h in d.hints)


def test_bad_character() -> None:
    d = _error("a -> $\n")
    assert d.code == "E0002"
    assert d.message == "unexpected character '$'"
    assert (d.span.line, d.span.col) == (1, 6)


def test_times_sign_in_a_shape_gets_a_hint() -> None:
    d = _error("input x: 3×4\n")
    assert d.code == "E0002"
    assert any("3 x 224 x 224" in h for h in d.hints)


def test_single_quoted_string_gets_a_hint() -> None:
    d = _error("import 'x.xnet'\n")
    assert d.code == "E0002"
    assert any("double quotes" in h for h in d.hints)


@pytest.mark.parametrize(
    ("text", "want", "hint"),
    [
        ("residual<a -> b\n", "'>'", "closed with '>'"),
        ("concat<a | b\n\n", "'>'", "closed with '>'"),
        ("conv3x3(64\n", "')'", "not closed"),
        ("a ->\n", "a name", ""),
    ],
)
def test_unclosed_at_end_of_file(text: str, want: str, hint: str) -> None:
    d = _error(text)
    assert d.code == "E0003"
    assert d.message.startswith("unexpected end of file")
    assert want in d.message
    if hint:
        assert any(hint in h for h in d.hints)


def test_stray_closing_bracket() -> None:
    d = _error("a -> b)\n")
    assert d.code == "E0001"
    assert d.message.startswith("unexpected ')'")


def test_double_arrow() -> None:
    d = _error("a -> -> b\n")
    assert d.code == "E0001"
    assert "unexpected '->'" in d.message and "a name" in d.message


def test_end_of_line_is_named_as_such() -> None:
    d = _error("network\n")
    assert d.code == "E0001"
    assert d.message == "unexpected end of line; expected a name"


def test_import_needs_a_quoted_path() -> None:
    d = _error("import blocks\n")
    assert d.code == "E0001"
    assert 'a quoted path like "blocks.xnet"' in d.message


@pytest.mark.parametrize(
    "text",
    [
        "a b\n",
        "a -> $\n",
        "residual<a\n",
        "a(1\n",
        "a ->\n",
        "network\n",
        "a -> b)\n",
        "a -> -> b\n",
        "network n(\n",
        "block = a\n",
        "input x 3 x 4\n",
        "import x\n",
        "a(1 2)\n",
        "a(k=)\n",
        "a | b\n",
        "x: : a\n",
        "a @\n",
        "a * \n",
        "output\n",
        "input x: 3 x\n",
        "a(1,, 2)\n",
        "concat<a | | b>\n",
        "block b(x = ) = a\n",
        "a -> b\n> c\n",
        "(a -> b\n",
        "[1, 2]\n",
        "a(k=[1, 2)\n",
    ],
)
def test_messages_never_show_lark_terminal_names(text: str) -> None:
    d = _error(text)
    assert d.code in ("E0001", "E0002", "E0003")
    assert d.span is not None
    assert not LARK_NAMES.search(d.message), d.message
    for h in d.hints:
        assert not LARK_NAMES.search(h), h


def test_truncated_real_programs_never_show_lark_names() -> None:
    text = (
        "network n(c = 4)\ninput x: 3 x 32 x 32\n"
        "block b(c, s = 1) = residual<conv3x3(c, stride=s) -> bn | project> -> relu\n"
        "stem: conv(c, k=(3, 3), pad=(1, 1, 1, 1)) @s -> b(c) * 2 -> concat<relu | s>\n"
    )
    for cut in range(1, len(text)):
        for variant in (text[:cut], text[:cut] + ")" + text[cut:], text[:cut] + "<"):
            try:
                _parse(variant)
            except CompileError as exc:
                for d in exc.diagnostics:
                    assert d.code in ("E0001", "E0002", "E0003")
                    assert d.span is not None
                    assert not LARK_NAMES.search(d.message), (variant, d.message)


def test_rendered_syntax_error_has_location_and_carets() -> None:
    text = "conv3x3(4) relu\n"
    rendered = _error(text).render()
    lines = rendered.splitlines()
    assert lines[0].startswith("t.xnet:1:12: error[E0001]: unexpected 'relu'")
    assert lines[2] == "1 | conv3x3(4) relu"
    assert lines[3] == "  |            ^^^^"


# ---- every statement with a syntax error is reported ----


def _syntax_errors(text: str) -> list[Diagnostic]:
    with pytest.raises(CompileError) as info:
        parse(SourceFile("m.xnet", text))
    return list(info.value.diagnostics)


def test_syntax_errors_in_independent_statements_are_all_reported() -> None:
    text = (
        "input x: 3 x 8 x 8\nblock b(c) = conv3x3(c) relu\n"
        "conv3x3(4)\n    -> relu relu\n    -> gap\nb(4) -> bn; relu\n"
    )
    found = [(d.code, d.span.line if d.span else 0) for d in _syntax_errors(text)]
    assert found == [("E0001", 2), ("E0001", 4), ("E0002", 6)]


def test_an_error_is_reported_once_per_statement() -> None:
    # two mistakes in one statement: the second may follow from the first, so it is not shown
    assert len(_syntax_errors("input x: 3 x 8 x 8\nconv3x3(4) relu relu relu\n")) == 1


def test_an_unclosed_bracket_ends_the_search() -> None:
    # the bracket swallows the rest of the file: no later error can be told apart from it
    errors = _syntax_errors("input x: 1 x 8 x 8\nresidual<conv3x3(1)\nrelu\nrelu relu\n")
    assert [(d.code, d.span.line if d.span else 0) for d in errors] == [("E0001", 3)]


def test_a_later_unclosed_bracket_is_reported_after_an_earlier_error() -> None:
    errors = _syntax_errors("input x: 1 x 8 x 8\nrelu relu\nconv3x3(4\n")
    assert [(d.code, d.span.line if d.span else 0) for d in errors] == [("E0001", 2), ("E0003", 3)]
