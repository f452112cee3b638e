"""Tests for the canonical formatter: exact layouts, round trips, comments, blank lines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zoo import xnet_files

from dslc.source import SourceFile, Span
from dslc.syntax import ast
from dslc.syntax.format import WIDTH, format_expr, format_program
from dslc.syntax.parser import parse

ROOT = Path(__file__).resolve().parents[2]


def _parse(text: str) -> ast.Program:
    return parse(SourceFile("test.xnet", text))


def fmt(text: str) -> str:
    """Format source text, checking the round trip and idempotence on the way."""
    program = _parse(text)
    out = format_program(program)
    again = _parse(out)
    assert again == program
    assert format_program(again) == out
    return out


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# ---- exact layouts ----

CASES = {
    "statements": (
        (
            'import   "blocks.xnet"\nnetwork  net( a=1,b = 2 )\ninput image : 3 x 224 x 224\n'
            "block b( c , stride=1 )= conv3x3( 64 , stride = 2, bias = false )->relu\n"
            "image->b(64)@out\noutput out , image\n"
        ),
        dedent("""
            import "blocks.xnet"
            network net(a = 1, b = 2)
            input image: 3 x 224 x 224
            block b(c, stride = 1) = conv3x3(64, stride=2, bias=false) -> relu
            image -> b(64) @out
            output out, image
        """),
    ),
    "empty params and calls": (
        "network net()\nblock b = f() -> g\nx -> f() -> g\n",
        "network net\nblock b = f() -> g\nx -> f() -> g\n",
    ),
    "repetition and labels": (
        "x -> layer1: stage(64, 3, 1) -> (a -> b) * n -> c * (n - 1) -> d * 3 @t -> e * (2.0)\n",
        "x -> layer1: stage(64, 3, 1) -> (a -> b) * n -> c * (n - 1) -> d * 3 @t -> e * (2.0)\n",
    ),
    "literals": (
        "x -> f(-1, 2.0, 1e-5, .5, (1, 7), (3,), [], true, false, [[0,1,0],[1,-4,1]])\n",
        "x -> f(-1, 2.0, 1e-5, 0.5, (1, 7), (3,), [], true, false, [[0, 1, 0], [1, -4, 1]])\n",
    ),
    "laplacian": (
        "x -> conv(kernel=[[0,1,0],[1,-4,1],[0,1,0]], bias=0)\n",
        "x -> conv(kernel=[[0, 1, 0], [1, -4, 1], [0, 1, 0]], bias=0)\n",
    ),
    "combinators": (
        "x -> residual< a -> b | project > -> concat<a|b|c>\n",
        "x -> residual<a -> b | project> -> concat<a | b | c>\n",
    ),
    "long chain": (
        (
            "image -> conv(64, kernel=7, stride=2) -> bn -> relu -> maxpool(3, stride=2) "
            "-> stage(64, 3) @c2 -> stage(128, 4) @c3\n"
        ),
        dedent("""
            image
                -> conv(64, kernel=7, stride=2)
                -> bn
                -> relu
                -> maxpool(3, stride=2)
                -> stage(64, 3) @c2
                -> stage(128, 4) @c3
        """),
    ),
    "block that breaks": (
        (
            "block inception(c1, c3r, c3, c5r, c5, pp) = concat<cbr(c1) | cbr(c3r) -> cbr(c3, k=3)"
            " | cbr(c5r) -> cbr(c5, k=5) | maxpool(3, stride=1, padding=same) -> cbr(pp)>\n"
        ),
        dedent("""
            block inception(c1, c3r, c3, c5r, c5, pp) =
                concat<
                        cbr(c1)
                      | cbr(c3r) -> cbr(c3, k=3)
                      | cbr(c5r) -> cbr(c5, k=5)
                      | maxpool(3, stride=1, padding=same) -> cbr(pp)
                    >
        """),
    ),
    "block body on the next line": (
        (
            "block bottleneck(c, stride = 1, expansion = 4) = conv1x1(c) -> bn -> relu "
            "-> conv3x3(c, stride=stride) -> bn\n"
        ),
        dedent("""
            block bottleneck(c, stride = 1, expansion = 4) =
                conv1x1(c) -> bn -> relu -> conv3x3(c, stride=stride) -> bn
        """),
    ),
    "nested combinators": (
        (
            "x -> stage2: residual<conv3x3(128, stride=2) -> bn -> relu -> conv3x3(128) -> bn"
            " -> concat<branch_one(64) -> relu -> conv1x1(32) -> bn | branch_two(64) -> relu"
            " -> conv3x3(32) -> bn -> relu -> conv(32, kernel=5)> | conv1x1(128, stride=2)> * 2 @s2"
            " -> head\n"
        ),
        dedent("""
            x
                -> stage2: residual<
                        conv3x3(128, stride=2)
                        -> bn
                        -> relu
                        -> conv3x3(128)
                        -> bn
                        -> concat<
                                branch_one(64) -> relu -> conv1x1(32) -> bn
                              | branch_two(64)
                                -> relu
                                -> conv3x3(32)
                                -> bn
                                -> relu
                                -> conv(32, kernel=5)
                            >
                      | conv1x1(128, stride=2)
                    > * 2 @s2
                -> head
        """),
    ),
    "group that breaks": (
        (
            "x -> (conv3x3(256, stride=1, bias=false) -> batchnorm(256) -> relu -> dropout(0.25)"
            " -> conv1x1(256)) * (depth - 1) @deep\n"
        ),
        dedent("""
            x
                -> (
                    conv3x3(256, stride=1, bias=false)
                    -> batchnorm(256)
                    -> relu
                    -> dropout(0.25)
                    -> conv1x1(256)
                ) * (depth - 1) @deep
        """),
    ),
    "sequence and inline block": (
        (
            "inline  block stage(c,n)=(conv3x3(c)->relu)*n->maxpool2\n"
            "features:[stage(64,2)->stage(128,2)->stage(256,3)->stage(512,3)->stage(512,3)]->gap\n"
        ),
        dedent("""
            inline block stage(c, n) = (conv3x3(c) -> relu) * n -> maxpool2
            features: [
                stage(64, 2) -> stage(128, 2) -> stage(256, 3) -> stage(512, 3) -> stage(512, 3)
            ]
                -> gap
        """),
    ),
    "block parameters that break": (
        (
            "block bottleneck(c, stride = 1, groups = 1, base_width = 64, dilation = 1, "
            "width = c * base_width / 64 * groups) = conv1x1(width)\n"
        ),
        dedent("""
            block bottleneck(
                c,
                stride = 1,
                groups = 1,
                base_width = 64,
                dilation = 1,
                width = c * base_width / 64 * groups,
            ) =
                conv1x1(width)
        """),
    ),
    "arguments that break": (
        (
            "first: conv(kernel=[[0, 1, 0, 1, 0], [1, -4, 1, 0, 0], [0, 1, 0, 1, 0]], bias=0,"
            " stride=2) -> relu\n"
        ),
        dedent("""
            first: conv(
                kernel=[[0, 1, 0, 1, 0], [1, -4, 1, 0, 0], [0, 1, 0, 1, 0]],
                bias=0,
                stride=2,
            )
                -> relu
        """),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_layout(name: str) -> None:
    source, expected = CASES[name]
    assert fmt(source) == expected
    assert fmt(expected) == expected


@pytest.mark.parametrize("name", list(CASES))
def test_layout_fits_width(name: str) -> None:
    assert all(len(line) <= WIDTH for line in CASES[name][1].splitlines())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a - (b - c)", "a - (b - c)"),
        ("(a - b) - c", "a - b - c"),
        ("a * (b + c)", "a * (b + c)"),
        ("(a * b) + c", "a * b + c"),
        ("a // (b * c) % d", "a // (b * c) % d"),
        ("-(a + b) * -c", "-(a + b) * -c"),
        ("a - -1", "a - -1"),
        ("-x * 2", "-x * 2"),
        ("- -x", "--x"),
        ("((1, 2), [3])", "((1, 2), [3])"),
        ("1e999", "1e999"),
        ("3.0e2", "300.0"),
        ("1e20", "1e20"),
        ("1e-6", "1e-6"),  # as people write it, not repr's 1e-06
    ],
)
def test_expressions(source: str, expected: str) -> None:
    program = _parse(f"x(v={source})")
    stmt = program.statements[0]
    assert isinstance(stmt, ast.ChainStmt)
    call = stmt.chain.elements[0].primary
    assert isinstance(call, ast.Call) and call.args
    assert format_expr(call.args[0].value) == expected
    fmt(f"x(v={source})\n")


# ---- comments and blank lines ----


def test_comments_are_kept() -> None:
    source = dedent("""
        # a header
        network net  # the name

        # about the input
        input image: 3 x 32 x 32
        image -> conv(16)  # first layer
            -> relu  # activation
            # between
            -> pool
        # trailing
    """)
    assert fmt(source) == dedent("""
        # a header
        network net  # the name

        # about the input
        input image: 3 x 32 x 32
        image -> conv(16)  # first layer
            -> relu  # activation
            # between
            -> pool
        # trailing
    """)


def test_trailing_comment_moves_above_a_statement_that_breaks() -> None:
    source = CASES["long chain"][0].rstrip("\n") + "  # stem\n"
    out = fmt(source)
    assert out.startswith("# stem\nimage\n    -> conv(")


def test_blank_lines() -> None:
    source = "\n\n\nnetwork net\n\n\n\ninput i: 1 x 2\n# c\n\n\n# d\ni -> a\n\n\n"
    assert fmt(source) == "network net\n\ninput i: 1 x 2\n# c\n\n# d\ni -> a\n"


def test_blank_line_before_trailing_comments() -> None:
    assert fmt("a -> b\n\n\n# end\n") == "a -> b\n\n# end\n"
    assert fmt("a -> b\n# end\n") == "a -> b\n# end\n"


def test_empty_and_comment_only() -> None:
    assert fmt("") == ""
    assert fmt("\n\n") == ""
    assert fmt("  # only   \n\n# two\n") == "# only\n\n# two\n"


def test_crlf_source() -> None:
    assert fmt("network net  # n\r\nx -> y\r\n") == "network net  # n\nx -> y\n"


# A comment between a label and its primary has no place in any layout: an end-of-line one
# trails the element, an own-line one goes above the statement, in one pass (fmt checks
# that a second pass changes nothing; the first pass used to break `[relu]` over 3 lines).
HEAD_COMMENTS = {
    "before ':'": ("(k # c\n: [relu]) -> relu\n", "(k: [relu]) -> relu  # c\n"),
    "after ':'": ("(k: # c\n[relu]) -> relu\n", "(k: [relu]) -> relu  # c\n"),
    "own line before ':'": ("(k\n# c\n: [relu]) -> relu\n", "# c\n(k: [relu]) -> relu\n"),
    "own line after ':'": ("(k:\n# c\n[relu]) -> relu\n", "# c\n(k: [relu]) -> relu\n"),
    "joins the primary's comment": (
        "(k # a\n: [relu] # b\n) -> relu\n",
        "(\n    k: [relu]  # a  # b\n)\n    -> relu\n",
    ),
    "inside a branch": (
        "(k # a\n: add<relu\n| relu>) -> relu\n",
        "(\n    k: add<\n            relu  # a\n          | relu\n        >\n)\n    -> relu\n",
    ),
}


@pytest.mark.parametrize("case", sorted(HEAD_COMMENTS))
def test_comment_between_label_and_primary(case: str) -> None:
    source, expected = HEAD_COMMENTS[case]
    assert fmt("network n\n" + source) == "network n\n" + expected


# An end-of-line comment right after an opening bracket goes to the first line inside it, in
# one pass (the first pass used to open the group and the second to close it again).
BRACKET_COMMENTS = {
    "group": ("( # note\nadaptive_avgpool )\n", "(adaptive_avgpool)  # note\n"),
    "combinator": ("residual< # a\nrelu | identity>\n", "residual<relu | identity>  # a\n"),
    "conditional": ("(if true then # c\nrelu else relu)\n", "(if true then relu else relu)  # c\n"),
    "labelled": ("x: ( # a\nrelu )\n", "x: (relu)  # a\n"),
    "joins the first line's comment": (
        "( # a\nrelu # b\n-> relu)\n",
        "(\n    relu  # a  # b\n    -> relu\n)\n",
    ),
}


@pytest.mark.parametrize("case", sorted(BRACKET_COMMENTS))
def test_comment_after_an_opening_bracket(case: str) -> None:
    source, expected = BRACKET_COMMENTS[case]
    assert fmt("network n\n" + source) == "network n\n" + expected


# ---- models in the repository ----

MODELS = xnet_files(ROOT / "models")


@pytest.mark.parametrize("path", MODELS, ids=[str(p.relative_to(ROOT)) for p in MODELS])
def test_models_round_trip(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    out = fmt(text)
    kept = [c.text.rstrip() for c in _parse(out).comments]
    assert kept == [c.text.rstrip() for c in _parse(text).comments]


def test_models_glob_is_tolerant() -> None:
    if not MODELS:
        pytest.skip("no models/**/*.xnet files yet")
    assert all(p.suffix == ".xnet" for p in MODELS)


# ---- generated programs ----

SPAN = Span(SourceFile("gen.xnet", ""), 1, 1, 1, 1)
names = st.sampled_from(
    [
        "a",
        "b",
        "n",
        "relu",
        "conv3x3",
        "stride",
        "_t1",
        "layer_one",
        "batchnorm_2d",
        "a_rather_long_block_name",
    ]
)


def _folds(e: ast.Expr) -> bool:
    """True for `-` applied to a literal, which the parser folds into the literal."""
    return isinstance(e, ast.Num) or (isinstance(e, ast.Neg) and _folds(e.operand))


def _extend(inner: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    ops = st.sampled_from(["+", "-", "*", "/", "//", "%"])
    small = st.lists(inner, max_size=3).map(tuple)
    return st.one_of(
        st.builds(ast.BinOp, ops, inner, inner, st.just(SPAN)),
        st.builds(ast.Neg, inner.filter(lambda e: not _folds(e)), st.just(SPAN)),
        st.builds(ast.TupleLit, st.lists(inner, min_size=1, max_size=3).map(tuple), st.just(SPAN)),
        st.builds(ast.ListLit, small, st.just(SPAN)),
    )


leaves = st.one_of(
    st.builds(ast.Num, st.integers(-1000, 10**6), st.just(SPAN)),
    st.builds(ast.Num, st.floats(allow_nan=False), st.just(SPAN)),
    st.builds(ast.Bool, st.booleans(), st.just(SPAN)),
    st.builds(ast.Name, names, st.just(SPAN)),
)
exprs = st.recursive(leaves, _extend, max_leaves=8)
args = st.lists(st.builds(ast.Arg, st.none() | names, exprs, st.just(SPAN)), max_size=4)
calls = st.builds(ast.Call, names, st.none() | args.map(tuple), st.just(SPAN))


def _chains(primary: st.SearchStrategy[ast.Primary]) -> st.SearchStrategy[ast.Chain]:
    element = st.builds(
        ast.Element, primary, st.none() | exprs, st.none() | names, st.none() | names, st.just(SPAN)
    )
    return st.builds(ast.Chain, st.lists(element, min_size=1, max_size=4).map(tuple), st.just(SPAN))


def _nest(inner: st.SearchStrategy[ast.Primary]) -> st.SearchStrategy[ast.Primary]:
    chain = _chains(inner)
    return st.one_of(
        st.builds(
            ast.Combinator, names, st.lists(chain, min_size=1, max_size=3).map(tuple), st.just(SPAN)
        ),
        st.builds(ast.Group, chain, st.just(SPAN), st.booleans()),
    )


chains = _chains(st.recursive(calls, _nest, max_leaves=6))
params = st.lists(st.builds(ast.Param, names, st.none() | exprs, st.just(SPAN)), max_size=3).map(
    tuple
)
dims = st.lists(
    st.builds(ast.Num, st.integers(0, 512), st.just(SPAN))
    | st.builds(ast.Name, names, st.just(SPAN)),
    min_size=1,
    max_size=4,
)
statements = st.one_of(
    st.builds(ast.Import, st.sampled_from(["b.xnet", "lib/blocks.xnet"]), st.just(SPAN)),
    st.builds(ast.Network, names, params, st.just(SPAN)),
    st.builds(ast.Input, names, dims.map(tuple), st.just(SPAN)),
    st.builds(ast.Output, st.lists(names, min_size=1, max_size=3).map(tuple), st.just(SPAN)),
    st.builds(ast.BlockDef, names, params, chains, st.just(SPAN), st.booleans()),
    st.builds(ast.ChainStmt, chains, st.just(SPAN)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statements, max_size=4))
def test_generated_programs_round_trip(stmts: list[ast.Statement]) -> None:
    program = ast.Program(tuple(stmts))
    out = format_program(program)
    again = _parse(out)
    assert again == program
    assert format_program(again) == out
    assert all(not line.endswith(" ") for line in out.splitlines())


def test_the_model_zoo_is_canonically_formatted() -> None:
    from click.testing import CliRunner

    from dslc.cli import main

    root = Path(__file__).resolve().parents[2]
    files = [str(p) for p in xnet_files(root / "models")]
    result = CliRunner().invoke(main, ["fmt", "--check", *files])
    assert result.exit_code == 0, result.output
