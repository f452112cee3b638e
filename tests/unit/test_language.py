"""The language as torchvision's models need it: conditionals, comparisons and functions in
expressions, quoted labels, numbered branches (nn.ModuleList), nested sequences that keep
their own numbering, and blocks that take chains. Each with its names, values, errors and
its canonical formatting."""

from __future__ import annotations

import textwrap

import pytest

from dslc.compiler import compile_source, parse_overrides
from dslc.diagnostics import CompileError, Diagnostic
from dslc.ir.ops import ConvAttrs, DenseAttrs, Op
from dslc.passes import Analysis
from dslc.source import SourceFile
from dslc.syntax.format import format_program
from dslc.syntax.parser import parse

IN = "input x: 3 x 8 x 8\n"


def _src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _compile(text: str, sets: list[str] | None = None) -> Analysis:
    overrides = parse_overrides(sets) if sets else None
    return compile_source(SourceFile("t.xnet", _src(text)), overrides)


def _names(text: str, sets: list[str] | None = None) -> list[str]:
    return [n.name for n in _compile(text, sets).graph.nodes if n.op is not Op.INPUT]


def _errors(text: str) -> list[Diagnostic]:
    with pytest.raises(CompileError) as info:
        _compile(text)
    return [d for d in info.value.diagnostics if d.severity == "error"]


def _channels(text: str, sets: list[str] | None = None) -> list[int]:
    """The output channels of every conv, in order."""
    a = _compile(text, sets)
    return [n.attrs.out_channels for n in a.graph.nodes if isinstance(n.attrs, ConvAttrs)]


def _dense(text: str) -> int:
    a = _compile(text)
    (n,) = [n.attrs for n in a.graph.nodes if isinstance(n.attrs, DenseAttrs)]
    return n.out_features


def _fmt(text: str) -> str:
    return format_program(parse(SourceFile("t.xnet", _src(text))))


# ---- expressions ----


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("if 3 > 2 then 5 else 7", 5),
        ("if 3 < 2 then 5 else 7", 7),
        ("if 2 >= 2 and not 1 == 2 then 4 else 9", 4),
        ("if 1 != 1 or 2 <= 1 then 4 else 9", 9),
        ("min(8, 3, 5)", 3),
        ("max(2, 6)", 6),
        ("round(2.5) + round(3.5)", 6),  # halves to even, like Python
        ("floor(7 / 2.0) + ceil(7 / 2.0)", 7),
        ("abs(-4)", 4),
        ("make_divisible(32 * 0.75, 8)", 24),
        ("make_divisible(10, 8)", 16),  # 8 would be more than 10% below 10
        ("make_divisible(3, 8)", 8),  # at least the divisor
        ("make_divisible(3, 8, 16)", 16),
        ("if 2 > 1 then if 1 > 2 then 1 else 2 else 3", 2),
    ],
)
def test_expression_values(expr: str, value: int) -> None:
    assert _dense(IN + f"flatten -> dense({expr})\n") == value


def test_make_divisible_is_torchvisions() -> None:
    # torchvision's MobileNetV2 widths at width_mult 0.35 and 1.4
    text = "network n(w = 1.0)\n" + IN + "conv1x1(make_divisible(32 * w, 8))\n"
    assert _channels(text, ["w=0.35"]) == [16]
    assert _channels(text, ["w=1.4"]) == [48]
    assert _channels(text, ["w=0.5"]) == [16]


def test_false_and_true_short_circuit() -> None:
    # the right side is not evaluated: no division by zero
    assert _dense(IN + "flatten -> dense(if 1 > 2 and 1 / 0 == 1 then 1 else 2)\n") == 2


def test_condition_must_be_true_or_false() -> None:
    (e,) = _errors(IN + "flatten -> dense(if 3 then 1 else 2)\n")
    assert e.code == "E0105" and "expected true or false, got 3" in e.message
    assert e.hints and "compare it" in e.hints[0]


def test_a_condition_on_a_symbolic_size_is_an_error() -> None:
    text = "input x: 3 x H x W\n(if H > 8 then conv3x3(4) else conv1x1(4))\n"
    (e,) = _errors(text)
    assert e.code == "E0201" and "cannot compare H > 8" in e.message


def test_unknown_function_suggests_one() -> None:
    (e,) = _errors(IN + "conv1x1(mx(2, 4))\n")
    assert e.code == "E0102" and e.message == "unknown function 'mx'"
    assert e.hints and "max" in e.hints[0]


def test_function_argument_count() -> None:
    (e,) = _errors(IN + "conv1x1(round(2, 4))\n")
    assert e.code == "E0104" and e.message == "round() takes 1 argument, got 2"


def test_comparing_words_and_flags() -> None:
    text = (
        "network n(mode = relu, b = true)\n"
        + IN
        + ("conv1x1(if mode == relu and b == true then 4 else 2)\n")
    )
    assert _channels(text) == [4]
    assert _channels(text, ["mode=silu"]) == [2]


# ---- conditionals in chains ----

INVERTED = IN + _src("""
    block unit(c, t, stride = 1) =
        conv: [
            (if t != 1 then [conv1x1(C * t, bias=false) -> bn -> relu6])
            -> [conv3x3(C, stride=stride, groups=C, bias=false) -> bn -> relu6]
            -> conv1x1(c, bias=false) -> bn
        ]
    """)


def test_conditional_layers_take_positions_only_when_chosen() -> None:
    assert _names(INVERTED + "f: unit(4, 1) -> g: unit(4, 6)\n") == [
        *("f.conv.0.0", "f.conv.0.1", "f.conv.0.2", "f.conv.1", "f.conv.2"),
        *("g.conv.0.0", "g.conv.0.1", "g.conv.0.2", "g.conv.1.0", "g.conv.1.1", "g.conv.1.2"),
        *("g.conv.2", "g.conv.3"),
    ]


def test_conditional_with_else_over_the_incoming_shape() -> None:
    text = IN + _src("""
        block maybe(c, stride = 1) =
            (if stride == 1 and C == c then residual<conv3x3(c)> else conv3x3(c, stride=stride))
        conv1x1(4) -> maybe(4) -> maybe(8) -> maybe(8, 2)
        """)
    ops = [n.op for n in _compile(text).graph.nodes]
    assert ops.count(Op.ADD) == 1
    assert _channels(text) == [4, 4, 8, 8]


def test_conditional_with_a_label_opens_a_scope() -> None:
    assert _names(IN + "s: (if 1 < 2 then conv1x1(2) -> relu)\n") == ["s.conv1", "s.relu1"]


def test_untaken_conditional_is_the_identity() -> None:
    a = _compile(IN + "conv1x1(2) -> (if 1 > 2 then conv1x1(5)) -> relu\n")
    assert [n.op for n in a.graph.nodes] == [Op.INPUT, Op.CONV, Op.RELU]


# ---- labels, numbering ----


def test_quoted_labels_may_be_keywords_or_hold_dashes() -> None:
    text = IN + '"block": [conv1x1(4) -> relu] -> "block1-0": conv1x1(4)\n'
    assert _names(text) == ["block.0", "block.1", "block1-0"]


def test_a_quoted_label_may_not_hold_a_dot() -> None:
    with pytest.raises(CompileError) as info:
        parse(SourceFile("t.xnet", IN + '"a.b": conv1x1(4)\n'))
    (e,) = info.value.diagnostics
    assert e.code == "E0001" and e.span.line == 2 and e.span.col == 1
    assert "a label may hold letters, digits, '_', '-' and {holes}" in e.message


def test_nested_sequences_keep_their_own_numbering() -> None:
    text = IN + "conv: [[conv3x3(4) -> bn -> relu6] -> conv1x1(8) -> bn]\n"
    assert _names(text) == ["conv.0.0", "conv.0.1", "conv.0.2", "conv.1", "conv.2"]


def test_numbered_branches_are_named_like_a_module_list() -> None:
    text = IN + _src("""
        block pool(c) = [gap -> conv1x1(c) -> relu -> upsample(8)]
        convs: concat[conv1x1(4) -> bn -> relu | conv3x3(4) | pool(4)] -> project: conv1x1(4)
        """)
    assert _names(text) == [
        "convs.0.0",
        "convs.0.1",
        "convs.0.2",
        "convs.1",
        "convs.2.0",
        "convs.2.1",
        "convs.2.2",
        "convs.2.3",
        "convs.concat",
        "project",
    ]


def test_residual_branches_cannot_be_numbered() -> None:
    (e,) = _errors(IN + "conv1x1(3) -> residual[conv1x1(3)]\n")
    assert e.code == "E0104" and e.message == "residual[...] cannot number its branches"


def test_combinators_take_no_arguments() -> None:
    (e,) = _errors(IN + "concat(2)<conv1x1(3) | conv1x1(3)>\n")
    assert e.code == "E0104" and e.message == "concat<...> takes no arguments"


# ---- blocks that take chains ----

TWICE = IN + "block twice(c)<act> = conv1x1(c) -> act -> conv1x1(c) -> act\n"


def test_a_block_expands_the_chain_it_is_given() -> None:
    a = _compile(TWICE + "t: twice(4)<relu6> -> u: twice(2)<sigmoid -> relu>\n")
    ops = [n.op for n in a.graph.nodes[1:]]
    assert ops == [Op.CONV, Op.RELU6, Op.CONV, Op.RELU6] + [
        Op.CONV,
        Op.SIGMOID,
        Op.RELU,
        Op.CONV,
        Op.SIGMOID,
        Op.RELU,
    ]
    assert [n.name for n in a.graph.nodes[1:5]] == ["t.conv1", "t.relu6_1", "t.conv2", "t.relu6_2"]


def test_a_passed_chain_sees_the_callers_names_and_taps() -> None:
    text = (
        "network n(k = 3)\n"
        + IN
        + _src("""
        block fuse(c)<skip> = concat<identity | skip> -> conv1x1(c)
        conv1x1(4) @a -> conv3x3(4) -> fuse(6)<a -> conv1x1(k)>
        """)
    )
    assert _channels(text) == [4, 4, 3, 6]
    last = _compile(text).graph.nodes[-1].attrs
    assert isinstance(last, ConvAttrs) and last.in_channels == 4 + 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("twice(4)", "block 'twice' takes 1 chain in <...>, got 0"),
        ("twice(4)<relu | relu>", "block 'twice' takes 1 chain in <...>, got 2"),
        ("twice[relu]", "the chains of block 'twice' are passed in <...>"),
    ],
)
def test_chain_arguments_must_match(call: str, message: str) -> None:
    (e,) = _errors(TWICE + call + "\n")
    assert e.code == "E0104" and e.message == message
    assert e.hints == ("write twice(...)<act>",)


def test_a_block_without_chains_refuses_them() -> None:
    (e,) = _errors(IN + "block b(c) = conv1x1(c)\nb(4)<relu>\n")
    assert e.code == "E0104" and e.message == "block 'b' takes no chains, got 1"


# ---- formatting ----

CANONICAL = _src("""
    network n(t = 6, w = 1.0, mode = relu)
    input x: 3 x 32 x 32

    block unit(c, t, stride = 1) =
        conv: [
            (if t != 1 then [conv1x1(C * t, bias=false) -> bn -> relu6])
            -> [conv3x3(C, stride=stride, groups=C, bias=false) -> bn -> relu6]
            -> conv1x1(c, bias=false) -> bn
        ]

    block maybe(c, t, stride = 1) =
        (if stride == 1 and C == c then
            residual<unit(c, t, stride)>
        else
            unit(c, t, stride) -> relu
        )

    block twice(c)<body> = body -> conv1x1(c) -> body

    features: [
        conv3x3(make_divisible(32 * w, 8), stride=2, bias=false)
        -> maybe(16, 1) -> maybe(16, t) -> maybe(max(24, 8), t, stride=2)
    ]
        -> "block": twice(8)<relu> -> "block1-0": conv1x1(4)
        -> convs: concat[conv1x1(4) | conv3x3(4) -> bn -> relu | twice(4)<relu6>]
        -> gap -> flatten -> dense(if t > 3 and not mode == silu then 10 else -min(-5, 1))
    """)


def test_new_constructs_format_canonically_and_round_trip() -> None:
    text = CANONICAL
    assert _fmt(text) == text
    compact = text.replace(
        "(if stride == 1 and C == c then\n        residual<unit(c, t, stride)>\n    else\n"
        "        unit(c, t, stride) -> relu\n    )",
        "(if stride == 1 and C == c then residual<unit(c, t, stride)> else unit(c, t, stride)"
        " -> relu\n    )",
    )
    assert _fmt(compact) == text
    assert _dense(text) == 10
    assert _dense(text.replace("t = 6", "t = 2")) == 5


@pytest.mark.parametrize(
    "expr",
    [
        "(if a then 1 else 2) + 1",
        "not (a and b)",
        "not a and b",
        "(a or b) and c",
        "a or b and c",
        "-(a + 1) < 3 * b",
        "(a < b) == c",
        "if a then b else if c then d else e",
        "min(a + 1, if b then 2 else 3)",
    ],
)
def test_expressions_keep_their_structure_through_formatting(expr: str) -> None:
    text = f"block b(a, b, c, d, e) = conv1x1({expr})\n"
    once = _fmt(text)
    assert once == text
    assert parse(SourceFile("t.xnet", once)) == parse(SourceFile("t.xnet", text))


def test_unlabelled_numbered_branches_get_a_scope_of_their_own() -> None:
    text = IN + "concat[conv1x1(2) | conv1x1(2)] -> concat[conv1x1(2) | relu]\n"
    assert _names(text) == [
        *("concat1.0", "concat1.1", "concat1.concat"),
        *("concat2.0", "concat2.1", "concat2.concat"),
    ]


def test_comparisons_are_not_brackets_for_line_breaks() -> None:
    # `>` in a condition or an argument must not close the surrounding bracket: the lines
    # inside stay one statement, and `residual<...>` inside a conditional still brackets
    text = IN + _src("""
        concat<
            relu
          | (if C > 2 and 1 < 2 then
                conv1x1(if C > 5 then 1 else 4)
                -> residual<conv1x1(4)>
            else
                relu
            )
        >
            -> conv1x1(min(C, 6))
        """)
    assert _channels(text) == [4, 4, 6]
    once = _fmt(text)
    assert _fmt(once) == once
    assert parse(SourceFile("t.xnet", once)) == parse(SourceFile("t.xnet", text))


# ---- labels with holes ----


def test_label_holes_name_repeated_units_like_regnet() -> None:
    text = IN + _src("""
        inline block unit(c, stride = 1) = conv3x3(c, stride=stride) -> relu
        block stage(i, c, d) = "block{i}-0": unit(c, 2) -> "block{i}-{# + 1}": unit(c) * (d - 1)
        trunk_output: ["block1": stage(1, 4, 2) -> "block2": stage(2, 8, 3)]
        """)
    assert _names(text) == [
        *("trunk_output.block1.block1-0.conv1", "trunk_output.block1.block1-0.relu1"),
        *("trunk_output.block1.block1-1.conv1", "trunk_output.block1.block1-1.relu1"),
        *(f"trunk_output.block2.block2-{j}.{k}" for j in range(3) for k in ("conv1", "relu1")),
    ]


def test_label_hole_errors() -> None:
    errors = _errors(IN + '"a{#}": conv1x1(2) -> "b{1 / 2}": conv1x1(2) -> "c{2 * 0.5}": relu\n')
    assert [(e.code, e.message) for e in errors] == [
        ("E0105", "'#' in the label {#} numbers the instances of a repetition"),
        ("E0201", "in the label's {1 / 2}: 1 / 2 is not a whole number"),
        ("E0105", "the label's {2 * 0.5} is 1.0; a label takes whole numbers and names"),
    ]
    with pytest.raises(CompileError) as info:
        parse(SourceFile("t.xnet", IN + '"a{b{c}}": relu\n'))
    assert info.value.diagnostics[0].code == "E0001"


def test_a_long_network_header_gets_one_parameter_per_line() -> None:
    params = ", ".join(f"parameter_{i} = {i}" for i in range(8))
    text = _fmt(f"network n({params})\n" + IN + "relu\n")
    assert text.splitlines()[:3] == ["network n(", "    parameter_0 = 0,", "    parameter_1 = 1,"]
    assert _fmt(text) == text


def test_a_label_with_holes_but_no_index_names_the_repetition_as_a_whole() -> None:
    text = "network n(i = 3)\n" + IN + '"s{i}": (conv1x1(4) -> relu) * 2\n'
    assert _names(text) == ["s3.0.conv1", "s3.0.relu1", "s3.1.conv1", "s3.1.relu1"]


# ---- the index of a repetition ----


def test_a_repetition_index_reaches_arguments_and_labels() -> None:
    text = (
        "network n(base = 2)\n"
        + IN
        + ('conv1x1(4) -> "u{k}": conv1x1(base + k) * 3 as k -> s: (conv1x1(4 - j)) * 2 as j\n')
    )
    assert _channels(text) == [4, 2, 3, 4, 4, 3]
    assert _names(text)[1:4] == ["u0", "u1", "u2"]
    assert _names(text)[4:] == ["s.0.conv1", "s.1.conv1"]


def test_the_index_is_bound_only_inside_the_repetition() -> None:
    (e,) = _errors(IN + "conv1x1(4) * 2 as k -> conv1x1(k)\n")
    assert e.code == "E0102" and e.message == "unknown name 'k'"


def test_the_index_formats_after_the_count() -> None:
    text = 'block b(c, n) = "u{k}": conv1x1(c + k) * n as k\n'
    assert _fmt(text) == text


def test_a_tap_passed_to_a_block_can_be_a_resize_target() -> None:
    text = IN + _src("""
        block up(c)<skip> = conv1x1(c) -> upsample(to=skip, mode=bilinear) -> concat<identity | skip>
        conv1x1(4) @fine -> maxpool2 -> up(6)<fine>
        """)
    a = _compile(text)
    assert tuple(a.shapes[a.graph.outputs[-1]][1:]) == (10, 8, 8)
