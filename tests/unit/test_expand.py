"""Tests for expansion: hierarchical names, blocks, parameters, repetition, combinators, taps,
imports, outputs, error recovery, and one program that uses every op."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from dslc.backend.onnx import serialize, to_onnx
from dslc.compiler import compile_file, compile_source, parse_overrides
from dslc.diagnostics import CompileError, Diagnostic
from dslc.ir import dims
from dslc.ir.ops import Op
from dslc.passes import Analysis
from dslc.passes.cost import total
from dslc.source import SourceFile


def _src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _compile(text: str, sets: list[str] | None = None) -> Analysis:
    overrides = parse_overrides(sets) if sets else None
    return compile_source(SourceFile("t.xnet", _src(text)), overrides)


def _names(text: str, sets: list[str] | None = None) -> list[str]:
    a = _compile(text, sets)
    return [n.name for n in a.graph.nodes if n.op is not Op.INPUT]


def _shape(a: Analysis, name: str) -> tuple[object, ...]:
    (node,) = [n for n in a.graph.nodes if n.name == name]
    return tuple(a.shapes[node.id][1:])


def _out(a: Analysis) -> tuple[object, ...]:
    return tuple(a.shapes[a.graph.outputs[-1]][1:])


def _errors(text: str, sets: list[str] | None = None) -> list[Diagnostic]:
    with pytest.raises(CompileError) as info:
        _compile(text, sets)
    return [d for d in info.value.diagnostics if d.severity == "error"]


IN = "input x: 3 x 8 x 8\n"


# ---- hierarchical names ----


def test_auto_names_count_per_kind() -> None:
    assert _names(IN + "conv3x3(4) -> bn -> relu -> conv3x3(4) -> bn -> relu -> maxpool2") == [
        "conv1",
        "bn1",
        "relu1",
        "conv2",
        "bn2",
        "relu2",
        "maxpool1",
    ]


def test_sized_layers_are_named_by_their_base_kind() -> None:
    assert _names(IN + "conv1x1(4) -> conv(4, k=3) -> conv7x7(4) -> avgpool2 -> maxpool(k=2)") == [
        "conv1",
        "conv2",
        "conv3",
        "avgpool1",
        "maxpool1",
    ]


def test_block_instances_get_their_own_scope() -> None:
    text = IN + "block cbr(c) = conv3x3(c) -> bn -> relu\ncbr(4) -> cbr(8) -> conv1x1(2)\n"
    assert _names(text) == [
        "cbr1.conv1",
        "cbr1.bn1",
        "cbr1.relu1",
        "cbr2.conv1",
        "cbr2.bn1",
        "cbr2.relu1",
        "conv1",
    ]


def test_blocks_calling_blocks_nest_names() -> None:
    text = IN + _src("""
        block cbr(c) = conv3x3(c) -> bn -> relu
        block two(c) = cbr(c) -> cbr(2 * c)
        two(4)
    """)
    a = _compile(text)
    assert [n.name for n in a.graph.nodes][1:] == [
        "two1.cbr1.conv1",
        "two1.cbr1.bn1",
        "two1.cbr1.relu1",
        "two1.cbr2.conv1",
        "two1.cbr2.bn1",
        "two1.cbr2.relu1",
    ]
    assert _out(a) == (8, 8, 8)


def test_labels_replace_auto_names() -> None:
    text = IN + _src("""
        block cbr(c) = conv3x3(c) -> bn -> relu
        stem: conv1x1(4) -> conv1x1(4) -> head: cbr(4) -> fc: (conv1x1(2) -> relu)
    """)
    assert _names(text) == [
        "stem",
        "conv1",
        "head.conv1",
        "head.bn1",
        "head.relu1",
        "fc.conv1",
        "fc.relu1",
    ]


def test_labelled_combinator() -> None:
    assert _names(IN + "mix: concat<conv1x1(2) | conv3x3(2)> -> relu") == [
        "mix.conv1",
        "mix.conv2",
        "mix.concat",
        "relu1",
    ]


def test_labelled_repetition_numbers_from_zero() -> None:
    text = IN + _src("""
        block cbr(c) = conv3x3(c) -> bn -> relu
        layer1: cbr(4) * 2 -> convs: conv1x1(4) * 2 -> blk: (conv1x1(4) -> relu) * 2
    """)
    assert _names(text) == [
        "layer1.0.conv1",
        "layer1.0.bn1",
        "layer1.0.relu1",
        "layer1.1.conv1",
        "layer1.1.bn1",
        "layer1.1.relu1",
        "convs.0",
        "convs.1",
        "blk.0.conv1",
        "blk.0.relu1",
        "blk.1.conv1",
        "blk.1.relu1",
    ]


def test_unlabelled_repetition_keeps_counting() -> None:
    text = IN + "block b = conv1x1(4)\nb * 2 -> conv1x1(4) * 2 -> (conv1x1(4) -> relu) * 2\n"
    assert _names(text) == [
        "b1.conv1",
        "b2.conv1",
        "conv1",
        "conv2",
        "conv3",
        "relu1",
        "conv4",
        "relu2",
    ]


def test_resnet_names_follow_torchvision() -> None:
    a = compile_file(Path(__file__).resolve().parents[2] / "models" / "resnet18.xnet")
    names = {n.name for n in a.graph.nodes}
    assert {
        "conv1",
        "bn1",
        "layer1.0.conv1",
        "layer2.0.downsample.0",
        "layer2.0.downsample.1",
        "layer4.1.bn2",
        "fc",
    } <= names


# ---- numbered sequences and inline blocks (torchvision's state_dict names) ----


def test_sequence_numbers_every_layer_like_nn_sequential() -> None:
    text = IN + "features: [conv3x3(4) -> relu -> maxpool2 -> conv3x3(8) -> relu]\n"
    assert _names(text) == [f"features.{i}" for i in range(5)]


def test_sequence_flattens_groups_repetition_and_inline_blocks() -> None:
    text = IN + (
        "inline block stage(c, n) = (conv3x3(c) -> relu) * n -> maxpool2\n"
        "features: [stage(4, 2) -> stage(8, 1)] -> flatten -> classifier: [dense(3)]\n"
    )
    assert _names(text) == [*(f"features.{i}" for i in range(8)), "flatten1", "classifier.0"]


def test_block_calls_in_a_sequence_take_one_position_each() -> None:
    text = IN + (
        "block b(c) = conv1: conv3x3(c) -> bn1: bn -> relu\n"
        "block stage(c, n) = [b(c) -> b(c) * (n - 1)]\n"
        "layer1: stage(4, 3)\n"
    )
    assert _names(text) == [f"layer1.{i}.{k}" for i in range(3) for k in ("conv1", "bn1", "relu1")]


def test_labels_in_a_sequence_keep_their_position() -> None:
    text = IN + "s: [conv3x3(4) -> act: relu -> conv3x3(4)]\n"
    assert _names(text) == ["s.0", "s.act", "s.2"]


def test_unlabelled_sequence_numbers_the_enclosing_scope() -> None:
    text = IN + "block b = [conv3x3(4) -> relu]\nblk: b -> [conv3x3(4)]\n"
    assert _names(text) == ["blk.0", "blk.1", "0"]


def test_two_sequences_in_one_scope_share_the_numbering() -> None:
    text = IN + "[conv3x3(4)] -> relu -> [conv3x3(4) -> relu]\n"
    assert _names(text) == ["0", "relu1", "1", "2"]


def test_combinator_in_a_sequence_is_one_position() -> None:
    text = IN + (
        "branch: [maxpool3(stride=1, pad=1) -> concat<conv1x1(2) | conv1x1(2)>"
        " -> residual<conv3x3(4) | project>]\n"
    )
    assert _names(text) == [
        "branch.0",
        "branch.1.conv1",
        "branch.1.conv2",
        "branch.1.concat",
        "branch.2.conv1",
        "branch.2.residual1",
    ]


def test_projection_is_named_like_torchvision_downsample() -> None:
    text = IN + "residual<conv3x3(8, stride=2) | downsample: project>\n"
    assert _names(text) == ["conv1", "downsample.0", "downsample.1", "residual1"]


def test_inline_block_names_layers_as_if_written_at_the_call() -> None:
    text = IN + "inline block cbr(c) = conv3x3(c) -> bn -> relu\ncbr(4) -> cbr(8) -> c2: cbr(8)\n"
    assert _names(text) == [
        "conv1",
        "bn1",
        "relu1",
        "conv2",
        "bn2",
        "relu2",
        "c2.conv1",
        "c2.bn1",
        "c2.relu1",
    ]


def test_inline_block_errors_still_point_at_the_expansion() -> None:
    (d,) = _errors(IN + "inline block cbr(c) = conv3x3(c) -> bn\ncbr(0)\n")
    assert d.code == "E0203"
    assert "note: in expansion of block 'cbr' at t.xnet:3:1" in d.render()


def test_inline_is_a_keyword() -> None:
    (d,) = _errors(IN + "inline conv3x3(4)\n")
    assert d.code == "E0001"
    assert "'block'" in d.message


def test_label_used_twice_is_an_error() -> None:
    (d,) = _errors(IN + "conv3x3(4) -> relu -> relu1: relu")
    assert d.code == "E0106"
    assert "'relu1' is already used" in d.message
    assert d.span is not None and (d.span.line, d.span.col) == (2, 30)


def test_auto_names_skip_labels_already_used() -> None:
    assert _names(IN + "relu1: relu -> relu -> relu") == ["relu1", "relu2", "relu3"]


def test_group_label_used_twice_is_located() -> None:
    (d,) = _errors(IN + "a: (relu) -> a: (relu)")
    assert d.code == "E0106"
    assert d.span is not None and d.span.line == 2


def test_label_clashing_with_a_block_instance_name_is_an_error() -> None:
    (d,) = _errors(IN + "block b = conv1x1(4)\nb -> b1: relu")
    assert d.code == "E0106"


# ---- blocks and parameters ----


def test_block_positional_keyword_and_default_arguments() -> None:
    text = IN + _src("""
        block cbr(c, k = 3, s = 1) = conv(c, k=k, stride=s) -> relu
        cbr(4) -> cbr(8, 1) -> cbr(k=5, c=2) -> cbr(6, s=2)
    """)
    a = _compile(text)
    assert _shape(a, "cbr1.conv1") == (4, 8, 8)
    assert _shape(a, "cbr4.conv1") == (6, 4, 4)
    params = {n.name: a.costs[n.id].params for n in a.graph.nodes}
    assert params["cbr1.conv1"] == 4 * 3 * 9 + 4
    assert params["cbr2.conv1"] == 8 * 4 * 1 + 8
    assert params["cbr3.conv1"] == 2 * 8 * 25 + 2


def test_block_argument_expressions_use_the_callers_names() -> None:
    text = "network n(w = 4)\n" + IN + "block b(c) = conv1x1(c)\nb(2 * w + 1)\n"
    assert _out(_compile(text)) == (9, 8, 8)


def test_block_params_shadow_network_params() -> None:
    text = _src("""
        network n(c = 4)
        input x: 3 x 8 x 8
        block own(c) = conv1x1(c)
        block outer = conv1x1(c)
        own(7) -> outer -> own(c + 1)
    """)
    a = _compile(text)
    assert _shape(a, "own1.conv1") == (7, 8, 8)
    assert _shape(a, "outer1.conv1") == (4, 8, 8)  # sees the network's c
    assert _shape(a, "own2.conv1") == (5, 8, 8)


def test_block_missing_argument() -> None:
    (d,) = _errors(IN + "block b(c) = conv1x1(c)\nb")
    assert d.code == "E0104"
    assert d.message == "block 'b' needs a value for 'c'"


def test_block_missing_argument_hint_is_a_call() -> None:
    (d,) = _errors(IN + "block b(c) = conv1x1(c)\nb")
    assert d.hints == ("e.g. b(c=...)",)


def test_block_too_many_and_unknown_arguments() -> None:
    (d,) = _errors(IN + "block b(c) = conv1x1(c)\nb(1, 2)")
    assert d.code == "E0104"
    assert "at most 1 positional argument, got 2" in d.message
    (d,) = _errors(IN + "block b(c) = conv1x1(c)\nb(1, stride=2)")
    assert d.code == "E0103"
    assert d.message == "block 'b' has no parameter 'stride'"
    assert d.hints == ("its parameters are: c",)


def test_unknown_keyword_is_underlined_at_the_keyword() -> None:
    (d,) = _errors(IN + "conv3x3(4, strid=2)")
    assert d.code == "E0103"
    assert d.span is not None and (d.span.col, d.span.end_col) == (12, 17)


def test_recursive_blocks_are_an_error() -> None:
    (d,) = _errors(IN + "block a = b\nblock b = a\na")
    assert d.code == "E0401"
    assert "a -> b -> a" in d.message


def test_block_may_not_hide_a_layer() -> None:
    (d,) = _errors(IN + "block relu = identity\nrelu")
    assert d.code == "E0106"


def test_set_overrides_a_network_parameter() -> None:
    text = _src("""
        network n(classes = 1000, width = 4)
        input x: 3 x 8 x 8
        conv1x1(width) -> gap -> flatten -> dense(classes)
    """)
    assert _out(_compile(text)) == (1000,)
    a = _compile(text, ["classes=10"])
    assert _out(a) == (10,)
    assert a.params["classes"] == 10
    assert _out(_compile(text, ["classes=2*5", "width=8"])) == (10,)


def test_set_reaches_parameters_defined_from_it() -> None:
    text = "network n(c = 3, d = c * 2)\n" + IN + "conv1x1(d)\n"
    assert _out(_compile(text)) == (6, 8, 8)
    assert _out(_compile(text, ["c=5"])) == (10, 8, 8)


def test_parameter_in_the_input_shape() -> None:
    text = "network n(size = 16)\ninput x: 3 x size x size\nrelu\n"
    assert _out(_compile(text)) == (3, 16, 16)
    assert _out(_compile(text, ["size=20"])) == (3, 20, 20)


def test_set_of_an_unknown_name() -> None:
    (d,) = _errors("network n(classes = 10)\n" + IN + "relu", ["clases=3"])
    assert d.code == "E0502"
    assert "no parameter 'clases'" in d.message
    assert d.hints == ("did you mean 'classes'?",)


def test_set_needs_name_equals_value() -> None:
    with pytest.raises(CompileError) as info:
        parse_overrides(["classes"])
    assert info.value.diagnostics[0].code == "E0502"


def test_parameter_without_default_needs_set() -> None:
    text = "network n(c)\n" + IN + "conv1x1(c)\n"
    (d,) = _errors(text)
    assert d.code == "E0503"
    assert _out(_compile(text, ["c=5"])) == (5, 8, 8)


def test_set_value_errors_show_what_the_user_typed() -> None:
    (d,) = _errors("network n(c = 4)\n" + IN + "conv1x1(c)", ["c=ten"])
    assert "x(v=" not in d.render()
    assert "ten" in d.render()


def test_bad_parameter_default_is_reported_once() -> None:
    errors = _errors("network n(c = 1 / 0)\n" + IN + "conv1x1(c)")
    assert [d.code for d in errors] == ["E0202"]


def test_forward_reference_in_parameters_has_no_self_suggestion() -> None:
    errors = _errors("network n(d = e, e = 2)\n" + IN + "conv1x1(d)")
    assert errors and all("did you mean 'e'?" not in d.hints for d in errors)


# ---- shape symbols and arithmetic ----


def test_shape_symbols_refer_to_the_incoming_tensor() -> None:
    a = _compile(
        "input x: 16 x 8 x 6\nconv1x1(C / 2) -> conv1x1(C * 4) -> conv1x1(H) -> conv1x1(W + C)\n"
    )
    assert [_shape(a, f"conv{i}")[0] for i in range(1, 5)] == [8, 32, 8, 14]


def test_halving_channels_inside_a_block() -> None:
    text = (
        "input x: 64 x 8 x 8\nblock transition = conv1x1(C / 2, bias=false) -> avgpool2\n"
        "transition -> transition\n"
    )
    a = _compile(text)
    assert _out(a) == (16, 2, 2)


def test_halving_an_odd_channel_count_is_an_error() -> None:
    (d,) = _errors("input x: 5 x 8 x 8\nconv1x1(C / 2)")
    assert d.code == "E0201"
    assert d.message == "5 / 2 is not a whole number"
    assert any("'//'" in h for h in d.hints)


def test_integer_division_rounds_down() -> None:
    assert _out(_compile("input x: 5 x 8 x 8\nconv1x1(C // 2)\n")) == (2, 8, 8)


def test_symbolic_size_cannot_be_a_channel_count() -> None:
    (d,) = _errors("input x: 3 x H x W\nconv1x1(H)")
    assert d.code == "E0105"
    assert "depends on the input size" in d.message


def test_unknown_name_suggests_a_parameter() -> None:
    (d,) = _errors("network n(width = 4)\n" + IN + "conv1x1(widht)")
    assert d.code == "E0102"
    assert d.hints == ("did you mean 'width'?",)


# ---- repetition ----


def test_repetition_counts_from_parameters() -> None:
    text = "network n(k = 3)\n" + IN + "conv1x1(4) * k -> conv1x1(4) * (k - 1)\n"
    assert len(_names(text)) == 5
    assert len(_names(text, ["k=1"])) == 1


def test_repetition_count_zero_is_identity() -> None:
    text = IN + _src("""
        block cbr(c) = conv3x3(c) -> relu
        conv1x1(4) -> relu * 0 -> cbr(8) * 0 -> empty: cbr(8) * 0 -> (conv1x1(2) -> relu) * 0
        -> conv1x1(5)
    """)
    a = _compile(text)
    assert [n.name for n in a.graph.nodes][1:] == ["conv1", "conv2"]
    assert _out(a) == (5, 8, 8)
    assert a.graph.node(2).inputs == (1,)


def test_negative_or_huge_repetition_counts() -> None:
    (d,) = _errors("network n(k = -1)\n" + IN + "relu * k")
    assert d.code == "E0203"
    (d,) = _errors(IN + "relu * 100000")
    assert d.code == "E0601"


# ---- combinators ----


def test_residual_with_identity_shortcut() -> None:
    a = _compile("input x: 16 x 8 x 8\nresidual<conv3x3(16) -> relu>\n")
    names = [n.name for n in a.graph.nodes]
    assert names == ["x", "conv1", "relu1", "residual1"]
    add = a.graph.nodes[-1]
    assert add.op is Op.ADD and add.inputs == (2, 0)
    assert total(a.costs).params == 16 * 16 * 9 + 16


def test_residual_project_is_identity_when_shapes_agree() -> None:
    a = _compile("input x: 16 x 8 x 8\nresidual<conv3x3(16) | project>\n")
    assert total(a.costs).params == 16 * 16 * 9 + 16
    assert [n.op for n in a.graph.nodes] == [Op.INPUT, Op.CONV, Op.ADD]


def test_residual_project_downsamples_like_torchvision() -> None:
    a = _compile(
        "input x: 16 x 8 x 8\nresidual<conv3x3(32, stride=2, bias=false) -> bn | project> -> relu\n"
    )
    names = [n.name for n in a.graph.nodes]
    assert names == ["x", "conv1", "bn1", "project1.0", "project1.1", "residual1", "relu1"]
    assert _out(a) == (32, 4, 4)
    assert total(a.costs).params == (32 * 16 * 9) + 64 + (32 * 16) + 64
    assert total(a.costs).buffers == 64 + 64


def test_residual_with_a_written_shortcut() -> None:
    a = _compile(
        "input x: 16 x 8 x 8\n"
        "residual<conv3x3(32, stride=2) | sc: conv1x1(32, stride=2, bias=false)>\n"
    )
    assert "sc" in [n.name for n in a.graph.nodes]
    assert _out(a) == (32, 4, 4)


def test_residual_mismatch_says_how_to_fix_it() -> None:
    (d,) = _errors("input x: 3 x 8 x 8\nresidual<conv3x3(16) -> relu>")
    assert d.code == "E0301"
    assert d.message == "residual body yields 16 channels, shortcut carries 3"
    assert any("project" in h for h in d.hints)


def test_project_only_as_a_shortcut() -> None:
    (d,) = _errors(IN + "project")
    assert d.code == "E0101"
    assert "shortcut" in d.message


def test_dense_concatenates_input_and_body() -> None:
    a = _compile("input x: 16 x 8 x 8\ndense<conv3x3(8)> -> dense<bn -> relu -> conv3x3(8)>\n")
    cat = a.graph.nodes[2]
    assert cat.op is Op.CONCAT and cat.inputs == (0, 1)
    assert _shape(a, "concat1") == (24, 8, 8)
    assert _out(a) == (32, 8, 8)


def test_concat_and_add_of_branches() -> None:
    a = _compile(IN + "concat<conv1x1(4) | conv3x3(4) -> relu | identity> -> add<relu | sigmoid>")
    assert _shape(a, "concat1") == (11, 8, 8)
    assert _out(a) == (11, 8, 8)


def test_unknown_combinator() -> None:
    (d,) = _errors(IN + "concta<relu | relu>")
    assert d.code == "E0101"
    assert "did you mean 'concat'?" in d.hints


# ---- taps and outputs ----


def test_taps_feed_later_layers() -> None:
    text = _src("""
        input image: 3 x 16 x 16
        conv3x3(8) @a -> maxpool2 -> conv3x3(8) -> upsample(2) -> add<identity | a>
        -> upsample(to=image) -> concat<identity | image>
    """)
    a = _compile(text)
    add = next(n for n in a.graph.nodes if n.op is Op.ADD)
    conv1 = next(n for n in a.graph.nodes if n.name == "conv1")
    assert conv1.id in add.inputs
    assert _out(a) == (11, 16, 16)


def test_upsample_to_the_input_size_on_symbolic_input() -> None:
    a = _compile("input image: 3 x H x W\nconv3x3(4, stride=2) -> maxpool2 -> upsample(to=image)\n")
    assert [dims.show(d) for d in _out(a)] == ["4", "H", "W"]


def test_taps_are_local_to_a_block_instance() -> None:
    text = IN + "block b = conv1x1(4) @t -> relu -> add<identity | t>\nb -> b\n"
    assert _out(_compile(text)) == (4, 8, 8)


def test_tap_name_used_twice() -> None:
    (d,) = _errors(IN + "relu @t -> relu @t")
    assert d.code == "E0106"
    (d,) = _errors(IN + "relu @x")
    assert d.code == "E0106"


def test_output_statement_names_graph_outputs() -> None:
    a = _compile(IN + "output a, b\nconv1x1(4) @a -> conv1x1(2) @b -> relu\n")
    assert a.graph.output_names == ("a", "b")
    assert [a.graph.node(i).name for i in a.graph.outputs] == ["conv1", "conv2"]
    model = to_onnx(a)
    assert [o.name for o in model.graph.output] == ["a", "b"]


def test_output_of_an_unknown_name() -> None:
    (d,) = _errors(IN + "output q\nconv1x1(4) @a")
    assert d.code == "E0101"
    assert d.message == "output 'q' names no tensor"


def test_default_output_is_the_last_layer() -> None:
    a = _compile(IN + "conv1x1(4) -> relu\n")
    assert [a.graph.node(i).name for i in a.graph.outputs] == ["relu1"]
    assert [o.name for o in to_onnx(a).graph.output] == ["output"]


# ---- imports ----


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_src(text), encoding="utf-8")
    return path


def test_import_blocks_relative_to_the_importing_file(tmp_path: Path) -> None:
    _write(
        tmp_path / "lib" / "blocks.xnet",
        """
        import "more.xnet"
        block cbr(c) = conv3x3(c) -> bn -> relu
    """,
    )
    _write(tmp_path / "lib" / "more.xnet", "block twice(c) = cbr(c) -> cbr(c)\n")
    net = _write(
        tmp_path / "net.xnet",
        """
        import "lib/blocks.xnet"
        input x: 3 x 8 x 8
        twice(4)
    """,
    )
    a = compile_file(net)
    assert [n.name for n in a.graph.nodes][1:4] == [
        "twice1.cbr1.conv1",
        "twice1.cbr1.bn1",
        "twice1.cbr1.relu1",
    ]
    conv = a.graph.nodes[1]
    assert Path(conv.span.source.path).name == "blocks.xnet"
    assert conv.span.chain()[0][1].source.path.endswith("more.xnet")


def test_import_from_compile_source_is_relative_to_its_path(tmp_path: Path) -> None:
    _write(tmp_path / "blocks.xnet", "block b = conv1x1(2)\n")
    text = 'import "blocks.xnet"\n' + IN + "b\n"
    a = compile_source(SourceFile(str(tmp_path / "net.xnet"), text))
    assert _out(a) == (2, 8, 8)


def test_import_cycle(tmp_path: Path) -> None:
    _write(tmp_path / "a.xnet", 'import "b.xnet"\n' + IN + "relu\n")
    _write(tmp_path / "b.xnet", 'import "a.xnet"\nblock q = relu\n')
    with pytest.raises(CompileError) as info:
        compile_file(tmp_path / "a.xnet")
    (d,) = info.value.diagnostics
    assert d.code == "E0403"
    assert d.message == "import cycle: a.xnet -> b.xnet -> a.xnet"


def test_self_import(tmp_path: Path) -> None:
    _write(tmp_path / "s.xnet", 'import "s.xnet"\n' + IN + "relu\n")
    with pytest.raises(CompileError) as info:
        compile_file(tmp_path / "s.xnet")
    assert [d.code for d in info.value.diagnostics] == ["E0403"]


def test_missing_import(tmp_path: Path) -> None:
    _write(tmp_path / "n.xnet", 'import "missing.xnet"\n' + IN + "relu\n")
    with pytest.raises(CompileError) as info:
        compile_file(tmp_path / "n.xnet")
    (d,) = info.value.diagnostics
    assert d.code == "E0402"
    assert d.message == 'cannot import "missing.xnet": no such file'
    assert d.span is not None and d.span.line == 1


def test_imported_file_may_only_define_blocks(tmp_path: Path) -> None:
    _write(tmp_path / "lib.xnet", IN + "relu\n")
    _write(tmp_path / "n.xnet", 'import "lib.xnet"\n' + IN + "relu\n")
    with pytest.raises(CompileError) as info:
        compile_file(tmp_path / "n.xnet")
    assert {d.code for d in info.value.diagnostics} == {"E0404"}


def test_syntax_error_in_an_imported_file_is_located_there(tmp_path: Path) -> None:
    _write(tmp_path / "lib.xnet", "block b = conv1x1(4) relu\n")
    _write(tmp_path / "n.xnet", 'import "lib.xnet"\n' + IN + "b\n")
    with pytest.raises(CompileError) as info:
        compile_file(tmp_path / "n.xnet")
    d = info.value.diagnostics[0]
    assert d.code == "E0001"
    assert d.span is not None and d.span.source.path.endswith("lib.xnet")


def test_missing_main_file() -> None:
    with pytest.raises(CompileError) as info:
        compile_file("/nonexistent/dir/nope.xnet")
    (d,) = info.value.diagnostics
    assert d.code == "E0402"


# ---- error recovery ----


def test_two_independent_errors_are_both_reported() -> None:
    errors = _errors(IN + "conv3x3(4) -> bogus -> conv3x3(4, strid=2)")
    assert [(d.code, d.span.col if d.span else 0) for d in errors] == [("E0101", 15), ("E0103", 35)]
    assert errors[1].hints == ("did you mean 'stride'?",)


def test_errors_in_different_statements_are_all_reported() -> None:
    text = _src("""
        network n(width = 16)
        input x: 3 x 32 x 32
        block cbr(c) = conv3x3(c) -> bn(epsilon=1e-3) -> relu
        cbr(widht) -> cbr(width) -> cbr(width, stride=2)
    """)
    errors = _errors(text)
    assert [d.code for d in errors] == ["E0102", "E0103", "E0103"]


def test_an_error_inside_a_block_is_reported_once_with_its_expansion_site() -> None:
    text = IN + "block bad(c) = conv3x3(c) -> bn(epsilon=1) -> relu\nbad(4) -> bad(4) -> bad(4)\n"
    (d,) = _errors(text)
    assert d.code == "E0103"
    assert d.span is not None and d.span.line == 2
    assert "note: in expansion of block 'bad' at t.xnet:3:1" in d.render()


def test_a_shape_error_does_not_cascade() -> None:
    errors = _errors(IN + "conv5x5(4, pad=0) -> conv5x5(4, pad=0) -> conv3x3(4) -> dense(3)")
    assert [d.code for d in errors] == ["E0305"]


def test_no_input_and_no_layers() -> None:
    assert [d.code for d in _errors("relu\n")] == ["E0504"]
    assert [d.code for d in _errors(IN)] == ["E0505"]


def test_two_network_lines() -> None:
    assert [d.code for d in _errors("network a\nnetwork b\n" + IN + "relu")] == ["E0506"]


def test_every_diagnostic_is_located_in_a_file() -> None:
    errors = _errors(
        _src("""
        network n(w = 4)
        input x: 3 x 8 x 8
        block b(c) = conv1x1(c) -> bn(eps=true)
        b(w) -> conv3x3(4, strid=2) -> relu(3) -> bogus
        -> dense(3, bais=true)
    """)
    )
    assert [d.code for d in errors] == ["E0105", "E0103", "E0104", "E0101", "E0103"]
    assert all(d.span is not None for d in errors)


# ---- every op ----

ALL_OPS = _src("""
    network allops
    input x: 3 x 12 x 12
    conv3x3(8) -> bn -> relu @a -> lrn(3) -> dropout(0.1) -> leakyrelu(0.2) -> relu6 -> elu
    -> chunk(2, 0) -> channels(0, 4) -> pad_channels(2) -> shuffle(2) -> space_to_depth(2)
    -> depth_to_space(2)
    -> gate<gap -> conv1x1(8) -> hardsigmoid> -> mul<silu | hardswish> -> gelu -> prelu
    -> layernorm -> linear(8) -> scale -> stochastic_depth(0.1)
    -> concat<sigmoid | tanh | identity> -> maxpool2 -> deconv2x2(8, stride=2)
    -> add<identity | a> -> avgpool2 -> upsample(2) -> upsample(to=a) -> adaptive_avgpool(5)
    -> add<gap | gmp> -> flatten -> dense(4) -> softmax
""")


def test_one_program_uses_every_op_and_runs_on_onnxruntime() -> None:
    a = compile_source(SourceFile("allops.xnet", ALL_OPS))
    # Op.OPAQUE has no .xnet spelling: only the ONNX importer makes it (tests/models/test_onnx_import.py)
    assert {n.op for n in a.graph.nodes} == set(Op) - {Op.OPAQUE}
    model = to_onnx(a)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 12)).astype(np.float32)
    (y,) = sess.run(None, {"x": x})
    assert y.shape == (2, 4)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    for node in a.graph.nodes:
        assert a.shapes[node.id][0] == dims.sym("N")


def test_a_parameter_without_default_in_an_input_shape_is_reported_once() -> None:
    # the input's shape follows from the missing K: no second error about the unknown value
    errs = _errors("network n(K)\ninput x: K x 32 x 32\nconv3x3(2 * K) -> relu\n")
    assert [(d.code, d.message) for d in errs] == [("E0503", "parameter 'K' has no default value")]


def test_block_defaults_are_evaluated_after_binding_and_see_earlier_parameters() -> None:
    a = _compile("block b(c, d = c * 2) = conv1x1(d)\n" + IN + "b(3) -> b(2, d=5)\n")
    assert [_shape(a, n)[0] for n in ("b1.conv1", "b2.conv1")] == [6, 5]
