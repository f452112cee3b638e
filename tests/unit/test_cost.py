"""Tests for the cost pass: parameters as torchvision counts them, BN buffers, MACs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dslc.compiler import compile_file, compile_source
from dslc.ir import dims
from dslc.passes import Analysis
from dslc.passes.cost import Cost, total
from dslc.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]


def _compile(body: str, inp: str = "3 x 32 x 32") -> Analysis:
    return compile_source(SourceFile("t.xnet", f"input x: {inp}\n{body}\n"))


def _costs(body: str, inp: str = "3 x 32 x 32") -> dict[str, Cost]:
    a = _compile(body, inp)
    return {n.name: a.costs[n.id] for n in a.graph.nodes}


def _one(body: str, inp: str = "3 x 32 x 32") -> Cost:
    costs = _costs(body, inp)
    del costs["x"]
    (c,) = costs.values()
    return c


# ---- parameters ----


@pytest.mark.parametrize(
    ("body", "inp", "params"),
    [
        ("conv3x3(8)", "3 x 8 x 8", 8 * 3 * 9 + 8),
        ("conv3x3(8, bias=false)", "3 x 8 x 8", 8 * 3 * 9),
        ("conv1x1(16)", "3 x 8 x 8", 16 * 3 + 16),
        ("conv(4, k=(1, 7))", "8 x 8 x 8", 4 * 8 * 7 + 4),
        ("conv3x3(6, groups=3)", "3 x 8 x 8", 6 * 1 * 9 + 6),
        ("conv3x3(8, groups=2, bias=false)", "4 x 8 x 8", 8 * 2 * 9),
        ("conv3x3(C, groups=C)", "32 x 8 x 8", 32 * 9 + 32),  # depthwise
        ("conv3x3(C, groups=C, bias=false)", "32 x 8 x 8", 32 * 9),
        ("deconv4x4(8, stride=2, pad=1)", "3 x 8 x 8", 3 * 8 * 16 + 8),
        ("deconv4x4(6, stride=2, pad=1, groups=3, bias=false)", "3 x 8 x 8", 3 * 2 * 16),
        ("flatten -> dense(10)", "3 x 2 x 2", 12 * 10 + 10),
        ("flatten -> dense(10, bias=false)", "3 x 2 x 2", 12 * 10),
    ],
)
def test_learned_parameters(body: str, inp: str, params: int) -> None:
    assert total(_compile(body, inp).costs).params == params


def test_batch_norm_params_and_buffers_are_counted_apart() -> None:
    c = _one("bn", "16 x 4 x 4")
    assert (c.params, c.buffers, c.macs) == (32, 32, 0)  # gamma+beta; running mean+var


def test_fixed_kernel_is_counted_as_constants() -> None:
    # the weights are written out, not learned: constants, apart from the trainable params
    c = _one("conv(kernel=[[0, 1, 0], [1, -4, 1], [0, 1, 0]], bias=0)", "2 x 5 x 5")
    assert (c.params, c.constants, c.macs) == (0, 2 * 9 + 2, 2 * 25 * 9)
    c = _one("conv(kernel=[[0, 1, 0], [1, -4, 1], [0, 1, 0]], bias=false)", "2 x 5 x 5")
    assert (c.params, c.constants) == (0, 2 * 9)


@pytest.mark.parametrize(
    "body",
    [
        "relu",
        "maxpool2",
        "avgpool2",
        "gap",
        "gmp",
        "adaptive_avgpool(2)",
        "lrn",
        "dropout",
        "leakyrelu",
        "relu6",
        "sigmoid",
        "tanh",
        "elu",
        "softmax",
        "identity",
        "upsample(2)",
        "flatten",
    ],
)
def test_layers_without_weights_cost_nothing(body: str) -> None:
    c = _one(body, "4 x 8 x 8")
    assert (c.params, c.buffers, c.macs) == (0, 0, 0)


def test_merges_cost_nothing() -> None:
    costs = _costs("concat<identity | relu> -> add<identity | relu>", "4 x 8 x 8")
    assert costs["concat1"] == Cost()
    # an add computes: one addition per output element (8 channels after the concat)
    assert costs["add1"] == Cost(flops=8 * 8 * 8)


def test_projection_shortcut_params() -> None:
    # torchvision's downsample: conv1x1(stride 2, no bias) + bn
    costs = _costs("residual<conv3x3(32, stride=2, bias=false) -> bn | project>", "16 x 8 x 8")
    assert costs["project1.0"].params == 32 * 16
    assert costs["project1.1"].params == 64 and costs["project1.1"].buffers == 64
    assert (
        total(
            _compile(
                "residual<conv3x3(32, stride=2, bias=false) -> bn | project>", "16 x 8 x 8"
            ).costs
        ).params
        == 32 * 16 * 9 + 64 + 32 * 16 + 64
    )


# ---- MACs ----


def test_conv_macs_are_output_elements_times_kernel_volume() -> None:
    c = _one("conv3x3(8)", "3 x 32 x 32")
    assert c.macs == 8 * 32 * 32 * 3 * 9  # bias adds no multiply


def test_strided_conv_macs() -> None:
    assert (
        _one("conv7x7(64, stride=2, bias=false)", "3 x 224 x 224").macs == 64 * 112 * 112 * 3 * 49
    )


def test_grouped_conv_macs() -> None:
    assert _one("conv3x3(3, groups=3)", "3 x 8 x 8").macs == 3 * 64 * 9
    assert _one("conv3x3(8, groups=2)", "4 x 8 x 8").macs == 8 * 64 * 2 * 9


def test_deconv_macs_are_input_elements_times_kernel_fanout() -> None:
    assert _one("deconv4x4(8, stride=2, pad=1)", "3 x 10 x 10").macs == 3 * 100 * 8 * 16


def test_dense_macs() -> None:
    costs = _costs("flatten -> dense(10)", "3 x 2 x 2")
    assert costs["dense1"].macs == 12 * 10


def test_symbolic_macs() -> None:
    c = _one("conv3x3(8, stride=2)", "3 x H x W")
    assert dims.show(c.macs) == "54*H*W"
    t = total(_compile("conv3x3(8) -> conv1x1(2)", "1 x H x W").costs)
    assert dims.show(t.macs) == "88*H*W"  # 8*9 + 2*8 per pixel


def test_totals_sum_the_layers() -> None:
    a = _compile(
        "conv3x3(8) -> bn -> relu -> maxpool2 -> conv3x3(16, bias=false) -> bn "
        "-> gap -> flatten -> dense(10)"
    )
    t = total(a.costs)
    assert t.params == sum(c.params for c in a.costs.values())
    assert t.buffers == sum(c.buffers for c in a.costs.values())
    assert t.params == (8 * 27 + 8) + 16 + (16 * 8 * 9) + 32 + (16 * 10 + 10)
    assert t.buffers == 16 + 32
    assert t.macs == 8 * 1024 * 27 + 16 * 256 * 72 + 160


def test_lecture_two_3x3_versus_one_5x5() -> None:
    stacked = compile_file(ROOT / "models" / "lecture" / "stacked_3x3.xnet")
    single = compile_file(ROOT / "models" / "lecture" / "single_5x5.xnet")
    assert total(stacked.costs).params == 20
    assert total(single.costs).params == 26


def test_lecture_factorised_1x3() -> None:
    a = compile_file(ROOT / "models" / "lecture" / "factorised_1x3.xnet")
    assert total(a.costs).params == 16


def test_resnet18_matches_torchvision() -> None:
    a = compile_file(ROOT / "models" / "resnet18.xnet")
    t = total(a.costs)
    assert t.params == 11_689_512
    assert t.macs == 1_814_073_344  # every conv plus the classifier, counted by hand
    assert t.buffers == 9_600


# ---- FLOPs: 2 per MAC, one per element of every other computing op ----


def test_conv_and_dense_flops_are_twice_the_macs() -> None:
    c = _one("conv3x3(8)", "3 x 32 x 32")
    assert c.flops == 2 * c.macs == 2 * 8 * 32 * 32 * 27
    costs = _costs("flatten -> dense(10)", "3 x 2 x 2")
    assert costs["dense1"].flops == 2 * 120
    assert _one("deconv4x4(8, stride=2, pad=1)", "3 x 10 x 10").flops == 2 * 3 * 100 * 8 * 16


@pytest.mark.parametrize(
    ("body", "flops"),
    [
        ("bn", 4 * 64),
        ("relu", 4 * 64),
        ("sigmoid", 4 * 64),
        ("softmax", 4 * 64),
        ("lrn", 4 * 64),
        ("relu6", 4 * 64),
        ("elu", 4 * 64),
        ("leakyrelu", 4 * 64),
        ("tanh", 4 * 64),
        ("maxpool2", 4 * 16 * 4),  # each of 16 outputs per channel reads a 2x2 window
        ("maxpool3(stride=1, pad=1)", 4 * 64 * 9),
        ("avgpool2", 4 * 16 * 4),
        ("gap", 4 * 64),
        ("gmp", 4 * 64),
        ("adaptive_avgpool(3)", 4 * 9 * 16),  # 8 -> 3: windows of up to 4x4
        ("upsample(2)", 4 * 256),
        ("dropout", 0),
        ("identity", 0),
        ("flatten", 0),
        ("add<identity | identity | identity>", 2 * 4 * 64),
    ],
)
def test_flops_of_ops_without_macs(body: str, flops: int) -> None:
    costs = _costs(body, "4 x 8 x 8")
    del costs["x"]
    assert sum(c.flops for c in costs.values()) == flops


def test_residual_add_is_not_skipped() -> None:
    a = _compile("residual<conv3x3(4) -> relu>", "4 x 8 x 8")
    t = total(a.costs)
    assert t.flops == 2 * 4 * 64 * 36 + 4 * 64 + 4 * 64  # conv, relu, the residual add


def test_symbolic_flops() -> None:
    t = total(_compile("conv3x3(8) -> relu", "1 x H x W").costs)
    assert dims.show(t.flops) == "152*H*W"  # 2*72 + 8 per pixel


def test_resnet50_flops() -> None:
    t = total(compile_file(ROOT / "models" / "resnet50.xnet").costs)
    assert isinstance(t.macs, int) and isinstance(t.flops, int)
    assert t.flops > 2 * t.macs
    assert round(t.flops / 1e9, 2) == 8.21
