"""Tests for receptive fields: size, jump and start against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from dslc.compiler import compile_file, compile_source
from dslc.passes import Analysis
from dslc.report.summary import top_rf
from dslc.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]
RFJson = dict[str, list[int | float]]


def _compile(body: str, inp: str = "1 x 32 x 32") -> Analysis:
    return compile_source(SourceFile("t.xnet", f"input x: {inp}\n{body}\n"))


def _rfs(body: str, inp: str = "1 x 32 x 32") -> dict[str, RFJson | None]:
    a = _compile(body, inp)
    return {n.name: (rf.as_json() if (rf := a.rfs[n.id]) else None) for n in a.graph.nodes}


def _last(body: str, inp: str = "1 x 32 x 32") -> RFJson:
    a = _compile(body, inp)
    rf = a.rfs[a.graph.outputs[0]]
    assert rf is not None
    return rf.as_json()


def _sq(size: float, jump: float, start: float) -> RFJson:
    return {"size": [size, size], "jump": [jump, jump], "start": [start, start]}


def test_input_is_one_pixel() -> None:
    assert _rfs("relu")["x"] == _sq(1, 1, 0)


def test_single_conv() -> None:
    assert _last("conv3x3(1)") == _sq(3, 1, 0)
    assert _last("conv5x5(1)") == _sq(5, 1, 0)
    assert _last("conv1x1(1)") == _sq(1, 1, 0)


def test_two_3x3_see_as_far_as_one_5x5() -> None:
    assert _last("conv3x3(1) -> conv3x3(1)") == _sq(5, 1, 0)
    assert _last("conv3x3(1) * 3") == _sq(7, 1, 0)


def test_conv_pool_conv_gives_8() -> None:
    rfs = _rfs("conv3x3(1) -> maxpool2 -> conv3x3(1)")
    assert rfs["conv1"] == _sq(3, 1, 0)
    assert rfs["maxpool1"] == _sq(4, 2, 0.5)
    assert rfs["conv2"] == _sq(8, 2, 0.5)


def test_lecture_rf_pool_model() -> None:
    a = compile_file(ROOT / "models" / "lecture" / "rf_pool.xnet")
    rf = top_rf(a)
    assert rf is not None and rf.as_json()["size"] == [8, 8]


def test_dilated_conv3x3_dilation_2_gives_5() -> None:
    assert _last("conv3x3(1, dilation=2)") == _sq(5, 1, 0)
    assert _last("conv3x3(1, dilation=2) -> conv3x3(1, dilation=4)") == _sq(13, 1, 0)


def test_strides_multiply_the_jump() -> None:
    rfs = _rfs("conv3x3(1, stride=2) -> conv3x3(1, stride=2) -> conv3x3(1)")
    assert rfs["conv1"] == _sq(3, 2, 0)
    assert rfs["conv2"] == _sq(7, 4, 0)  # 3 + 2*2
    assert rfs["conv3"] == _sq(15, 4, 0)  # 7 + 2*4


def test_stride_3_then_stride_2() -> None:
    rfs = _rfs("conv3x3(1, stride=3, pad=0) -> maxpool2 -> conv3x3(1, pad=0)", "1 x 64 x 64")
    assert rfs["conv1"] == _sq(3, 3, 1)
    assert rfs["maxpool1"] == _sq(6, 6, 2.5)  # 3 + 1*3, jump 3*2, start 1 + 0.5*3
    assert rfs["conv2"] == _sq(18, 6, 8.5)  # 6 + 2*6, start 2.5 + 1*6


def test_start_is_the_centre_of_the_first_field() -> None:
    assert _last("conv7x7(1, stride=2, pad=3)", "1 x 224 x 224")["start"] == [0, 0]
    assert _last("conv3x3(1, pad=0)")["start"] == [1, 1]
    assert _last("conv5x5(1, pad=0)")["start"] == [2, 2]
    assert _last("maxpool2")["start"] == [0.5, 0.5]
    assert _last("maxpool3(stride=2, pad=1)")["start"] == [0, 0]


def test_asymmetric_kernels_give_rectangular_fields() -> None:
    assert _last("conv1x7(1)") == {"size": [1, 7], "jump": [1, 1], "start": [0, 0]}
    assert _last("conv1x3(1) -> conv3x1(1) -> conv1x3(1) -> conv3x1(1)") == _sq(5, 1, 0)
    assert _last("conv(1, k=(3, 1), stride=(1, 2))") == {
        "size": [3, 1],
        "jump": [1, 2],
        "start": [0, 0],
    }


def test_asymmetric_padding_moves_the_start() -> None:
    # pad (top, left, bottom, right) = (1, 2, 0, 3): start = (k-1)/2 - pad_begin
    assert _last("conv3x3(1, pad=(1, 2, 0, 3))") == {
        "size": [3, 3],
        "jump": [1, 1],
        "start": [0, -1],
    }


def test_concat_of_1x1_and_3x3_is_the_union() -> None:
    rfs = _rfs("concat<conv1x1(4) | conv3x3(4)>")
    assert rfs["concat1"] == _sq(3, 1, 0)


def test_add_of_three_branches_is_the_union() -> None:
    assert _last("add<conv1x1(4) | conv3x3(4) | conv5x5(4)>") == _sq(5, 1, 0)


def test_union_of_shifted_fields() -> None:
    # branch 1 covers [-1, 1]; branch 2 (pad 0, start 1) covers [0, 2]: union [-1, 2]
    rf = _last("add<conv3x3(4) | conv3x3(4, pad=(0, 0, 2, 2))>", "1 x 8 x 8")
    assert rf == _sq(4, 1, 0.5)


def test_residual_with_projection() -> None:
    rfs = _rfs("residual<conv3x3(8, stride=2) -> conv3x3(8) | project>", "4 x 16 x 16")
    assert rfs["project1.0"] == _sq(1, 2, 0)
    assert rfs["residual1"] == _sq(7, 2, 0)


def test_dense_combinator_is_the_union_with_its_input() -> None:
    assert _last("dense<conv3x3(4)>", "2 x 8 x 8") == _sq(3, 1, 0)


def test_elementwise_layers_keep_the_field() -> None:
    rfs = _rfs("conv3x3(2) -> bn -> relu -> dropout -> identity -> sigmoid")
    assert {str(v) for k, v in rfs.items() if k != "x"} == {str(_sq(3, 1, 0))}


def test_global_pooling_covers_the_whole_map() -> None:
    assert _last("gap", "1 x 8 x 8") == _sq(8, 8, 3.5)
    assert _last("gmp", "1 x 8 x 8") == _sq(8, 8, 3.5)
    assert _last("conv3x3(1) -> gap", "1 x 8 x 8") == _sq(10, 8, 3.5)


def test_adaptive_pooling_uses_the_largest_window() -> None:
    # 10 -> 3: windows [0, 4), [3, 7), [6, 10); the largest has 4 pixels
    rf = _last("adaptive_avgpool(3)", "1 x 10 x 10")
    assert rf["size"] == [4, 4]
    assert rf["start"] == [1.5, 1.5]
    # 8 -> 4 is plain 2x2 pooling
    assert _last("adaptive_avgpool(4)", "1 x 8 x 8") == _sq(2, 2, 0.5)


def test_nearest_upsampling_keeps_the_size_and_divides_the_jump() -> None:
    rfs = _rfs("conv3x3(1, stride=2) -> upsample(2)")
    assert rfs["upsample1"] == _sq(3, 1, 0)
    assert _last("maxpool2 -> maxpool2 -> upsample(to=x)") == _sq(4, 1, 1.5)


def test_no_field_once_flat() -> None:
    rfs = _rfs("conv3x3(1) -> flatten -> dense(4)", "1 x 4 x 4")
    assert rfs["flatten1"] is None and rfs["dense1"] is None


def test_symbolic_input_sizes_still_have_fields() -> None:
    assert _last("conv3x3(1, stride=2) -> maxpool2 -> conv3x3(1)", "1 x H x W") == _sq(13, 4, 1)


def test_top_field_skips_the_flat_layers() -> None:
    a = _compile("conv3x3(1) -> maxpool2 -> conv3x3(1) -> flatten -> dense(3)")
    rf = top_rf(a)
    assert rf is not None and rf.as_json() == _sq(8, 2, 0.5)


@pytest.mark.parametrize(
    ("model", "layer", "size"),
    [
        ("resnet18", "layer4.1.relu2", 435),
        ("resnet50", "layer4.2.relu3", 427),
        ("vgg16", "features.30", 212),
    ],
)
def test_known_fields_of_classic_networks(model: str, layer: str, size: int) -> None:
    a = compile_file(ROOT / "models" / f"{model}.xnet")
    (node,) = [n for n in a.graph.nodes if n.name == layer]
    rf = a.rfs[node.id]
    assert rf is not None and rf.as_json()["size"] == [size, size]
