"""Tests for shape inference: conv/pool arithmetic (PyTorch's rules), padding forms, deconv,
adaptive pooling, flatten, upsampling, merges and the shape errors."""

from __future__ import annotations

import pytest

from dslc.compiler import compile_source
from dslc.diagnostics import CompileError, Diagnostic
from dslc.ir import dims
from dslc.ir.shapes import conv_out, deconv_out
from dslc.passes import Analysis
from dslc.source import SourceFile


def _compile(body: str, inp: str = "3 x 32 x 32") -> Analysis:
    return compile_source(SourceFile("t.xnet", f"input x: {inp}\n{body}\n"))


def _out(body: str, inp: str = "3 x 32 x 32") -> tuple[object, ...]:
    """The network's output shape without the batch axis."""
    a = _compile(body, inp)
    (out,) = a.graph.outputs
    shape = a.shapes[out]
    assert dims.show(shape[0]) == "N"
    return tuple(shape[1:])


def _shapes(body: str, inp: str = "3 x 32 x 32") -> dict[str, tuple[object, ...]]:
    a = _compile(body, inp)
    return {n.name: tuple(a.shapes[n.id][1:]) for n in a.graph.nodes}


def _errors(body: str, inp: str = "3 x 32 x 32") -> list[Diagnostic]:
    with pytest.raises(CompileError) as info:
        _compile(body, inp)
    return list(info.value.diagnostics)


def _torch_out(n: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """PyTorch's pooling/conv output size, written out independently."""
    num = n + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


# ---- the helper ----


@pytest.mark.parametrize("n", range(4, 12))
@pytest.mark.parametrize(
    ("k", "s", "p", "d"),
    [
        (3, 1, 1, 1),
        (3, 2, 1, 1),
        (2, 2, 0, 1),
        (3, 2, 0, 1),
        (5, 3, 2, 1),
        (3, 1, 2, 2),
        (2, 3, 1, 1),
        (3, 3, 1, 1),
    ],
)
@pytest.mark.parametrize("ceil", [False, True])
def test_conv_out_matches_pytorch(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> None:
    assert conv_out(n, k, s, d, p, p, ceil) == _torch_out(n, k, s, p, d, ceil)


def test_ceil_mode_last_window_must_start_inside_the_input() -> None:
    # 5 wide, 2x2 windows, stride 2, pad 1: windows start at -1, 1, 3 and 5; the one at 5
    # lies wholly in the padding, so PyTorch drops it: 3, not 4.
    assert conv_out(5, 2, 2, 1, 1, 1, ceil=True) == 3
    assert conv_out(5, 2, 2, 1, 1, 1, ceil=False) == 3
    # 5 wide, no padding: a last window starting at 4 is inside, so ceil keeps it.
    assert conv_out(5, 2, 2, 1, 0, 0, ceil=True) == 3
    assert conv_out(5, 2, 2, 1, 0, 0, ceil=False) == 2


def test_deconv_out_matches_pytorch_formula() -> None:
    # (n - 1) * s - 2p + d(k - 1) + output_padding + 1
    assert deconv_out(10, 4, 2, 1, 1, 1, 0) == 20
    assert deconv_out(20, 3, 2, 1, 0, 0, 1) == 42
    assert deconv_out(7, 3, 2, 1, 1, 1, 1) == 14
    assert deconv_out(5, 3, 1, 2, 0, 0, 0) == 9


# ---- convolutions ----


def test_default_padding_is_half_padding() -> None:
    assert _out("conv3x3(8)") == (8, 32, 32)
    assert _out("conv5x5(8)") == (8, 32, 32)
    assert _out("conv7x7(8, stride=2)") == (8, 16, 16)
    assert _out("conv1x1(8, stride=2)") == (8, 16, 16)


def test_generic_conv_form() -> None:
    assert _out("conv(8, k=3)") == (8, 32, 32)
    assert _out("conv(8, k=3, pad=0)") == (8, 30, 30)


def test_asymmetric_kernels() -> None:
    assert _out("conv1x7(4)", "3 x 10 x 12") == (4, 10, 12)
    assert _out("conv(4, k=(1, 7), pad=0)", "3 x 10 x 12") == (4, 10, 6)
    assert _out("conv(4, k=(3, 1), pad=(0, 0))", "3 x 10 x 12") == (4, 8, 12)
    assert _out("conv3x1(4, pad=0)", "3 x 10 x 12") == (4, 8, 12)


def test_dilation() -> None:
    assert _out("conv3x3(8, dilation=2)") == (8, 32, 32)  # default pad = dilation*(k-1)//2
    assert _out("conv3x3(8, dilation=2, pad=0)") == (8, 28, 28)
    assert _out("conv3x3(8, dilation=(2, 1), pad=0)") == (8, 28, 30)


def test_stride_pair() -> None:
    assert _out("conv(4, k=(3, 5), dilation=(2, 1), stride=(2, 3))", "3 x 11 x 13") == (4, 6, 5)


def test_pad_pair_is_height_then_width() -> None:
    assert _out("conv3x3(4, pad=(0, 2))", "3 x 10 x 10") == (4, 8, 12)


def test_four_tuple_pad_is_top_left_bottom_right() -> None:
    # height: 10 + 1 (top) + 0 (bottom) - 2; width: 10 + 2 (left) + 3 (right) - 2
    assert _out("conv3x3(4, pad=(1, 2, 0, 3))", "3 x 10 x 10") == (4, 9, 13)


def test_pad_same_and_valid() -> None:
    assert _out("conv5x5(8, pad=same)", "3 x 10 x 11") == (8, 10, 11)
    assert _out("conv(8, k=4, pad=same)", "3 x 10 x 11") == (8, 10, 11)
    assert _out("conv(8, k=4, stride=2, pad=same)", "3 x 10 x 11") == (8, 5, 6)
    assert _out("conv3x3(8, stride=3, dilation=2, pad=same)", "3 x 10 x 11") == (8, 4, 4)
    assert _out("conv5x5(8, pad=valid)", "3 x 10 x 11") == (8, 6, 7)


def test_pad_same_with_stride_on_a_symbolic_size_is_an_error() -> None:
    (d,) = _errors("conv3x3(8, stride=2, pad=same)", "3 x H x W")
    assert d.code == "E0105"
    assert "fixed input size" in d.message


def test_bad_pad_word_suggests_the_right_one() -> None:
    (d,) = _errors("conv3x3(8, pad=sam)")
    assert d.code == "E0105"
    assert "did you mean 'same'?" in d.hints


def test_grouped_and_depthwise_conv_shapes() -> None:
    assert _out("conv3x3(6, groups=3)") == (6, 32, 32)
    assert _out("conv3x3(C, groups=C)") == (3, 32, 32)


def test_fixed_kernel_conv_is_per_channel_and_keeps_the_size() -> None:
    text = "conv(kernel=[[0, 1, 0], [1, -4, 1], [0, 1, 0]], bias=0)"
    assert _out(text, "2 x 9 x 7") == (2, 9, 7)
    assert _out("conv(kernel=[[1, 2], [3, 4]], bias=false)", "1 x 5 x 5") == (1, 4, 4)


def test_conv_that_collapses_the_map_is_an_error() -> None:
    (d,) = _errors("conv5x5(4, pad=0)", "3 x 2 x 2")
    assert d.code == "E0305"
    assert "shrinks the height to -2" in d.message


def test_conv_after_flatten_is_an_error() -> None:
    (d,) = _errors("flatten -> conv3x3(4)", "3 x 8 x 8")
    assert d.code == "E0307"
    assert "N x 192" in d.message


# ---- transposed convolutions ----


def test_deconv_shapes() -> None:
    assert _out("deconv4x4(8, stride=2, pad=1)", "3 x 10 x 10") == (8, 20, 20)
    assert _out("deconv3x3(2, stride=2, output_pad=1)", "3 x 10 x 10") == (2, 22, 22)
    assert _out("deconv(4, k=(2, 3), stride=(2, 1))", "3 x 11 x 13") == (4, 22, 15)
    assert _out("deconv3x3(4, dilation=2)", "3 x 11 x 13") == (4, 15, 17)
    out = _out("deconv2x2(4, stride=2)", "3 x H x W")
    assert [dims.show(d) for d in out] == ["4", "2*H", "2*W"]


# ---- pooling ----


def test_pool_kernel_from_the_name_and_default_stride() -> None:
    assert _out("maxpool2", "3 x 5 x 5") == (3, 2, 2)
    assert _out("avgpool2", "3 x 6 x 6") == (3, 3, 3)
    assert _out("maxpool3(stride=2, pad=1)", "3 x 112 x 112") == (3, 56, 56)
    assert _out("maxpool(k=(2, 3), stride=(2, 1))", "3 x 11 x 13") == (3, 5, 11)


@pytest.mark.parametrize(
    ("body", "n", "want"),
    [
        ("maxpool3(stride=2, ceil=true)", 7, 3),
        ("maxpool3(stride=2, pad=1, ceil=true)", 6, 4),
        ("maxpool2(ceil=true)", 5, 3),
        ("maxpool2", 5, 2),
        ("maxpool2(pad=1, ceil=true)", 5, 3),  # the window starting in the padding is dropped
        ("avgpool2(pad=1, ceil=true)", 9, 5),
        ("maxpool3(stride=2, ceil=true)", 112, 56),
        ("maxpool3(stride=2, ceil=true)", 55, 27),
        ("maxpool3(stride=2, ceil=true)", 56, 28),
    ],
)
def test_ceil_mode(body: str, n: int, want: int) -> None:
    assert _out(body, f"3 x {n} x {n}") == (3, want, want)


def test_pool_dilation() -> None:
    assert _out("maxpool3(dilation=2, stride=1)", "3 x 11 x 13") == (3, 7, 9)


def test_pool_pad_larger_than_half_the_window_is_an_error() -> None:
    (d,) = _errors("maxpool2(pad=2)")
    assert d.code == "E0105"


def test_global_and_adaptive_pooling() -> None:
    assert _out("gap", "8 x 7 x 9") == (8, 1, 1)
    assert _out("gmp", "8 x 7 x 9") == (8, 1, 1)
    assert _out("adaptive_avgpool(3)", "8 x 7 x 9") == (8, 3, 3)
    assert _out("adaptive_avgpool((2, 1))", "8 x 7 x 9") == (8, 2, 1)
    assert _out("gap", "8 x H x W") == (8, 1, 1)


def test_pooling_keeps_channels_and_halves_symbols() -> None:
    out = _out("maxpool2 -> avgpool2", "5 x H x W")
    assert out[0] == 5
    assert [dims.show(d) for d in out[1:]] == ["H/4", "W/4"]


# ---- flatten, dense, elementwise ----


def test_flatten_multiplies_the_feature_axes() -> None:
    assert _out("flatten", "3 x 4 x 5") == (60,)
    assert _out("gap -> flatten", "512 x 7 x 7") == (512,)
    assert [dims.show(d) for d in _out("flatten", "2 x H x W")] == ["2*H*W"]


def test_dense_gives_features() -> None:
    assert _out("flatten -> dense(10)", "3 x 4 x 5") == (10,)


def test_dense_without_flatten_is_an_error() -> None:
    (d,) = _errors("dense(10)", "3 x 4 x 5")
    assert d.code == "E0306"
    assert any("flatten" in h for h in d.hints)


def test_elementwise_layers_keep_the_shape() -> None:
    body = (
        "bn -> relu -> leakyrelu(0.1) -> relu6 -> sigmoid -> tanh -> elu -> dropout(0.3) "
        "-> lrn(3) -> identity -> softmax"
    )
    assert set(_shapes(body, "4 x 6 x 7").values()) == {(4, 6, 7)}


# ---- upsampling ----


def test_upsample_by_a_factor() -> None:
    assert _out("upsample(2)", "3 x 10 x 12") == (3, 20, 24)
    assert _out("upsample((1, 3))", "3 x 10 x 12") == (3, 10, 36)
    assert _out("upsample(1.5)", "3 x 11 x 13") == (3, 16, 19)  # floor, like PyTorch
    assert _out("upsample(2, mode=bilinear)", "3 x 10 x 12") == (3, 20, 24)
    out = _out("maxpool2 -> upsample(2)", "3 x H x W")
    assert [dims.show(d) for d in out[1:]] == ["H", "W"]


def test_upsample_to_a_named_tensor() -> None:
    assert _out("maxpool2 -> maxpool2 -> upsample(to=x)", "3 x 16 x 20") == (3, 16, 20)
    out = _out("conv3x3(4, stride=2) @a -> maxpool2 -> upsample(to=a)", "3 x H x W")
    assert out[0] == 4
    assert [dims.show(d) for d in out[1:]] == ["H/2", "W/2"]


def test_upsample_needs_a_factor_or_a_target() -> None:
    (d,) = _errors("upsample")
    assert d.code == "E0104"
    (d,) = _errors("upsample(2, to=x)")
    assert d.code == "E0104"


def test_upsample_to_an_unknown_tensor() -> None:
    (d,) = _errors("upsample(to=xx)")
    assert d.code == "E0101"
    assert d.message == "no tensor is named 'xx'"
    assert "did you mean 'x'?" in d.hints


# ---- merges ----


def test_concat_adds_channels() -> None:
    assert _out("concat<conv1x1(4) | conv3x3(6) | identity>", "3 x 8 x 8") == (13, 8, 8)


def test_dense_combinator_concatenates_input_and_body() -> None:
    assert _out("dense<conv3x3(8)> -> dense<conv3x3(8)>", "16 x 8 x 8") == (32, 8, 8)


def test_add_keeps_the_shape() -> None:
    assert _out("add<conv1x1(4) | conv3x3(4) | conv5x5(4)>", "3 x 8 x 8") == (4, 8, 8)


def test_concat_with_different_sizes_is_an_error() -> None:
    (d,) = _errors("concat<conv3x3(4) | conv3x3(4, stride=2)>", "3 x 8 x 8")
    assert d.code == "E0303"
    assert "N x 4 x 8 x 8" in d.message and "N x 4 x 4 x 4" in d.message


def test_add_with_different_shapes_is_an_error() -> None:
    (d,) = _errors("add<conv1x1(4) | conv1x1(8)>", "3 x 8 x 8")
    assert d.code == "E0302"
    assert "branch 1 gives N x 4 x 8 x 8, branch 2 gives N x 8 x 8 x 8" in d.message


def test_shape_errors_are_located() -> None:
    (d,) = _errors("conv3x3(4) -> add<conv1x1(4) | conv1x1(8)>", "3 x 8 x 8")
    assert d.span is not None
    assert (d.span.line, d.span.col) == (2, 15)


def test_channel_mismatch_after_a_repeated_block_is_not_an_error() -> None:
    # conv1x1(8) * 3 changes the channels only once; each repetition sees the previous output
    assert _out("conv1x1(8) * 3", "3 x 8 x 8") == (8, 8, 8)
