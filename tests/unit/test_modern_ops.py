"""The layers and combinators of issue 12 in the front end and the passes: mul<...>, gate<...>,
silu, hardswish, hardsigmoid, gelu, prelu, layernorm, linear, scale, stochastic_depth."""

from __future__ import annotations

import pytest

from dslc.compiler import compile_source
from dslc.diagnostics import CompileError
from dslc.ir import dims
from dslc.passes import Analysis
from dslc.passes.cost import Cost, total
from dslc.report.summary import summary_json, top_node
from dslc.source import SourceFile

SE = """\
network se
input x: 3 x 32 x 32
conv3x3(16) -> se: gate<gap -> fc1: conv1x1(4) -> relu -> fc2: conv1x1(16) -> sigmoid>
  -> conv3x3(16)
"""


def _compile(body: str, inp: str = "8 x 16 x 16") -> Analysis:
    return compile_source(SourceFile("t.xnet", f"input x: {inp}\n{body}\n"))


def _shape(a: Analysis, name: str) -> tuple[object, ...]:
    (node,) = [n for n in a.graph.nodes if n.name == name]
    return tuple(a.shapes[node.id])


def _cost(a: Analysis, name: str) -> Cost:
    (node,) = [n for n in a.graph.nodes if n.name == name]
    return a.costs[node.id]


def _error(body: str, inp: str = "8 x 16 x 16") -> tuple[str, str, tuple[str, ...]]:
    with pytest.raises(CompileError) as exc:
        _compile(body, inp)
    d = exc.value.diagnostics[0]
    return d.code, d.message, d.hints


# ---- shapes ----


@pytest.mark.parametrize(
    ("body", "inp", "out"),
    [
        ("silu -> hardswish -> hardsigmoid -> gelu", "8 x 16 x 16", (8, 16, 16)),
        ("gelu(approximate=tanh) -> prelu -> prelu(shared=true)", "8 x 16 x 16", (8, 16, 16)),
        ("layernorm -> layernorm(1e-5)", "8 x 16 x 16", (8, 16, 16)),
        ("linear(5)", "8 x 16 x 16", (5, 16, 16)),
        ("linear(5, bias=false)", "8 x H x W", (5, "H", "W")),
        ("flatten -> linear(5) -> layernorm -> prelu -> scale", "8 x 2 x 2", (5,)),
        ("scale(0.5) -> stochastic_depth(0.2, mode=batch)", "8 x 16 x 16", (8, 16, 16)),
        ("mul<conv1x1(4) | conv3x3(4)>", "8 x 16 x 16", (4, 16, 16)),
        ("mul<gap | identity | gmp>", "8 x 16 x 16", (8, 16, 16)),
        ("gate<gap -> conv1x1(8) -> sigmoid>", "8 x H x W", (8, "H", "W")),
        ("gate<conv3x3(8) -> sigmoid>", "8 x 16 x 16", (8, 16, 16)),  # a spatial gate
    ],
)
def test_shapes(body: str, inp: str, out: tuple[object, ...]) -> None:
    a = _compile(body, inp)
    got = a.shapes[a.graph.outputs[0]]
    assert tuple(str(d) if not isinstance(d, int) else d for d in got[1:]) == out


def test_mul_of_mismatched_shapes_is_e0302_with_the_broadcast_rule() -> None:
    code, message, hints = _error("mul<conv1x1(8) | gap -> conv1x1(4)>")
    assert code == "E0302"
    assert message == (
        "branches of 'mul1' do not multiply: branch 1 gives N x 8 x 16 x 16, "
        "branch 2 gives N x 4 x 1 x 1"
    )
    assert "N x C x 1 x 1" in hints[0]


def test_a_gate_of_other_channels_is_refused() -> None:
    code, message, _ = _error("gate<gap -> conv1x1(4) -> sigmoid>")
    assert code == "E0302"
    assert message == (
        "branches of 'mul1' do not multiply: branch 1 gives N x 8 x 16 x 16, "
        "branch 2 gives N x 4 x 1 x 1"
    )


def test_gate_takes_one_body() -> None:
    code, message, _ = _error("gate<sigmoid | relu>")
    assert (code, message) == ("E0104", "gate<...> takes one body, got 2 branches")


def test_a_half_size_map_does_not_broadcast() -> None:
    assert _error("mul<identity | maxpool2>")[0] == "E0302"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("gelu(approximate=fast)", "E0105"),
        ("stochastic_depth(1.5)", "E0105"),
        ("stochastic_depth(0.1, mode=rows)", "E0105"),
        ("layernorm(0)", "E0105"),
        ("gleu", "E0101"),
    ],
)
def test_bad_arguments(body: str, code: str) -> None:
    assert _error(body)[0] == code


def test_misspelt_layer_suggests_the_new_names() -> None:
    assert "did you mean 'layernorm'" in _error("layrnorm")[2][0]


# ---- costs ----


def test_linear_costs_what_a_conv1x1_costs() -> None:
    lin = _compile("linear(12)")
    conv = _compile("conv1x1(12)")
    assert total(lin.costs) == total(conv.costs)
    assert total(lin.costs).params == 8 * 12 + 12
    flat = _compile("flatten -> linear(3, bias=false)", "2 x 2 x 2")
    assert _cost(flat, "linear1") == Cost(24, 0, 24, 48)


def test_learned_activation_norm_and_scale_params() -> None:
    a = _compile("prelu -> prelu(shared=true) -> layernorm -> layer_scale: scale(1e-6)")
    assert [_cost(a, n).params for n in ("prelu1", "prelu2", "layernorm1", "layer_scale")] == [
        8,
        1,
        16,
        8,
    ]
    assert total(a.costs).buffers == 0


def test_product_costs_one_multiply_per_output_element() -> None:
    a = _compile("gate<gap -> sigmoid> -> mul<identity | relu | tanh>")
    assert _cost(a, "mul1").flops == 8 * 16 * 16
    assert _cost(a, "mul2").flops == 2 * 8 * 16 * 16
    assert _cost(a, "mul1").macs == 0


def test_stochastic_depth_computes_nothing() -> None:
    assert _cost(_compile("stochastic_depth(0.1)"), "stochastic_depth1") == Cost()


# ---- receptive fields ----


def test_a_gate_keeps_the_field_of_the_map() -> None:
    a = compile_source(SourceFile("se.xnet", SE))
    rfs = {n.name: a.rfs[n.id] for n in a.graph.nodes}
    conv1, mul, conv2 = rfs["conv1"], rfs["se.mul"], rfs["conv2"]
    assert conv1 is not None and mul is not None and conv2 is not None
    assert mul == conv1  # not the whole image (the gap's field), not lost
    assert (conv2.h.size, conv2.w.size) == (5, 5)
    top = top_node(a)
    assert top is not None and top.name == "conv2"  # the gate is not a global pool's end
    assert summary_json(a)["receptive_field"]["size"] == [5, 5]


def test_a_gate_keeps_a_symbolic_map_field() -> None:
    a = _compile("conv3x3(8) -> gate<gap -> conv1x1(8) -> sigmoid> -> conv3x3(8)", "3 x H x W")
    rf = a.rfs[a.graph.outputs[0]]
    assert rf is not None and rf.h.size == 5


def test_an_equal_shape_product_is_the_union() -> None:
    a = _compile("mul<conv3x3(8) | conv5x5(8)>")
    rf = a.rfs[a.graph.outputs[0]]
    assert rf is not None and (rf.h.size, rf.w.size) == (5, 5)


def test_symbolic_sizes_carry_through_the_new_layers() -> None:
    a = _compile("linear(4) -> layernorm -> gelu -> scale", "8 x H x W")
    macs = total(a.costs).macs
    assert macs == dims.mul(dims.mul(dims.sym("H"), dims.sym("W")), 32)
