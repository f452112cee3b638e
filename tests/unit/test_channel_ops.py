"""The channel and block layers: chunk, channels, shuffle, space_to_depth, depth_to_space and
pad_channels. Shapes, costs, fields (analysed and measured), valid sizes, diagnostics, and the
ONNX ops they become. (Their outputs against PyTorch: tests/models/test_torch_channel_ops.py.)"""

from __future__ import annotations

import onnx
import pytest

from dslc.backend.onnx import to_onnx
from dslc.backend.rf_measure import measure, resampled
from dslc.compiler import compile_source
from dslc.diagnostics import CompileError, Diagnostic
from dslc.ir import dims
from dslc.ir.shapes import show
from dslc.passes import Analysis
from dslc.passes.cost import total
from dslc.passes.sizes import describe
from dslc.source import SourceFile


def _compile(chain: str, shape: str = "16 x 8 x 8", head: str = "") -> Analysis:
    return compile_source(SourceFile("t.xnet", f"network t\ninput x: {shape}\n{head}{chain}\n"))


def _errors(chain: str, shape: str = "16 x 8 x 8") -> list[Diagnostic]:
    with pytest.raises(CompileError) as exc:
        _compile(chain, shape)
    return list(exc.value.diagnostics)


def _shape(a: Analysis, name: str) -> str:
    (node,) = [n for n in a.graph.nodes if n.name == name]
    return show(a.shapes[node.id])


def _out(a: Analysis) -> str:
    return show(a.shapes[a.graph.outputs[0]])


@pytest.mark.parametrize(
    "chain, shape",
    [
        ("chunk(4, 1)", "N x 4 x 8 x 8"),
        ("chunk(2, -1)", "N x 8 x 8 x 8"),
        ("channels(3, 10)", "N x 7 x 8 x 8"),
        ("channels(-3)", "N x 3 x 8 x 8"),
        ("channels(-6, -2)", "N x 4 x 8 x 8"),
        ("channels(0, C / 4)", "N x 4 x 8 x 8"),
        ("shuffle(4)", "N x 16 x 8 x 8"),
        ("space_to_depth(2)", "N x 64 x 4 x 4"),
        ("space_to_depth(4)", "N x 256 x 2 x 2"),
        ("depth_to_space(2)", "N x 4 x 16 x 16"),
        ("depth_to_space(4)", "N x 1 x 32 x 32"),
        ("pad_channels(2)", "N x 20 x 8 x 8"),
        ("pad_channels(0, 5)", "N x 21 x 8 x 8"),
        ("pad_channels(before=1, after=0)", "N x 17 x 8 x 8"),
        ("flatten -> chunk(4, 3)", "N x 256"),
        ("flatten -> pad_channels(1)", "N x 1026"),
    ],
)
def test_output_shapes(chain: str, shape: str) -> None:
    assert _out(_compile(chain)) == shape


def test_they_cost_nothing_and_own_no_tensors() -> None:
    chain = (
        "chunk(2, 0) -> channels(1, 7) -> shuffle(3) -> space_to_depth(2) -> depth_to_space(2)"
        " -> pad_channels(1)"
    )
    a = _compile(chain)
    assert total(a.costs) == total({})
    assert to_onnx(a).graph.initializer == []
    assert _out(a) == "N x 8 x 8 x 8"
    # memory as for any layer: each output is a tensor of its own (8*8*8 at the end)
    assert a.memory.outputs[a.graph.outputs[0]] == 512


def test_onnx_ops_they_become() -> None:
    a = _compile("chunk(2, 1) -> shuffle(2) -> space_to_depth(2) -> depth_to_space(2)")
    kinds = [n.op_type for n in to_onnx(a).graph.node if n.op_type != "Constant"]
    assert kinds == [
        "Slice",
        "Shape",
        "Reshape",
        "Transpose",
        "Reshape",
        "Reshape",
        "SpaceToDepth",
        "Reshape",
        "DepthToSpace",
    ]
    pad = to_onnx(_compile("pad_channels(1, 2)")).graph.node
    assert [n.op_type for n in pad if n.op_type != "Constant"] == ["Pad"]


@pytest.mark.parametrize("opset", [17, 21, 26])
def test_strict_shape_inference_agrees_with_symbolic_sizes(opset: int) -> None:
    a = _compile(
        "conv3x3(12) -> shuffle(3) -> space_to_depth(2) -> chunk(2, 1) -> depth_to_space(2)"
        " -> pad_channels(2)",
        "3 x H x W",
    )
    model = to_onnx(a, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    dims_ = inferred.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value or d.dim_param for d in dims_] == ["N", 10, "H", "W"]


# ---- receptive fields ----


def test_space_to_depth_is_a_window_of_the_block_with_its_stride() -> None:
    a = _compile("conv3x3(4) -> space_to_depth(2) -> conv3x3(4)", "3 x 32 x 32")
    rf = a.rfs[a.graph.outputs[0]]
    assert rf is not None
    # 3 -> window 2 (jump 1): 4, jump 2, centre 0.5 -> 3x3 with jump 2: 8
    assert (rf.h.size, rf.h.jump, rf.h.start) == (8, 2, 0.5)


def test_depth_to_space_is_a_nearest_upsampling_for_the_field() -> None:
    a = _compile("conv3x3(16, stride=2) -> depth_to_space(2) -> conv3x3(4)", "3 x 32 x 32")
    rf = a.rfs[a.graph.outputs[0]]
    assert rf is not None
    assert (rf.h.size, rf.h.jump) == (3 + 2 * 1, 1)
    assert resampled(a, a.graph.outputs[0])


def test_channel_moves_keep_the_field() -> None:
    a = _compile("conv3x3(12) -> chunk(3, 1) -> channels(1) -> shuffle(3) -> pad_channels(2)")
    fields = {n.name: a.rfs[n.id] for n in a.graph.nodes}
    assert len({fields[k] for k in ("conv1", "chunk1", "channels1", "shuffle1")}) == 1
    assert fields["pad_channels1"] == fields["conv1"]


@pytest.mark.parametrize(
    "chain",
    [
        "conv3x3(8) -> space_to_depth(2) -> conv3x3(8) -> space_to_depth(2) -> conv3x3(8)",
        (
            "conv3x3(8) -> chunk(2, 1) -> conv3x3(6) -> shuffle(3) -> conv3x3(4) -> pad_channels(2)"
            " -> channels(-5) -> conv3x3(4)"
        ),
        "conv(8, k=2, stride=2, pad=0) -> space_to_depth(3) -> conv3x3(8)",
        "space_to_depth(2) -> residual<conv3x3(16) | avgpool(1) -> pad_channels(2)>",
    ],
)
def test_measured_field_equals_the_analysed_one(chain: str) -> None:
    a = _compile(chain, "3 x 96 x 96")
    got = measure(a, a.graph.outputs[0])
    assert not got.resampled
    assert got.disagreements() == []
    assert got.axis_size(got.h) == a.rfs[a.graph.outputs[0]].h.size  # type: ignore[union-attr]


def test_a_field_after_depth_to_space_is_measured_but_not_compared() -> None:
    a = _compile(
        "conv3x3(16) -> space_to_depth(2) -> depth_to_space(2) -> conv3x3(4)", "3 x 64 x 64"
    )
    got = measure(a, a.graph.outputs[0])
    assert got.resampled and got.notes()
    # a 3x3 conv over the rearranged map spans two 2-pixel blocks whatever its phase: 4 + 2
    assert got.axis_size(got.h) == 6
    assert a.rfs[a.graph.outputs[0]].h.size == 6  # type: ignore[union-attr]


# ---- the sizes a symbolic input may take ----


@pytest.mark.parametrize(
    "chain, text",
    [
        ("space_to_depth(2)", "H, W even"),
        ("space_to_depth(4)", "H, W multiples of 4"),
        ("maxpool2 -> space_to_depth(2)", "H, W 0 or 1 mod 4, at least 4"),
        ("depth_to_space(2) -> space_to_depth(4)", "H, W even"),
        ("chunk(2, 0) -> shuffle(2) -> depth_to_space(2)", ""),
    ],
)
def test_space_to_depth_makes_a_size_rule(chain: str, text: str) -> None:
    a = _compile(chain, "16 x H x W")
    assert describe(a.sizes) == text


def test_space_to_depth_of_a_symbolic_size_is_exact() -> None:
    a = _compile("conv3x3(4, pad=0) -> space_to_depth(2)", "3 x H x W")
    out = a.shapes[a.graph.outputs[0]]
    assert out[2] == dims.sub(dims.floordiv(dims.sym("H"), 2), 1)
    assert show(out) == "N x 16 x H/2-1 x W/2-1"
    assert describe(a.sizes) == "H, W even, at least 4"


# ---- diagnostics ----


@pytest.mark.parametrize(
    "chain, code, message",
    [
        ("chunk(3, 0)", "E0320", "16 channels do not split into 3 equal chunks"),
        ("chunk(2, 2)", "E0105", "chunk index 2 is out of range for 2 chunks"),
        ("chunk(2, -3)", "E0105", "chunk index -3 is out of range for 2 chunks"),
        ("chunk(0, 0)", "E0203", "the number of chunks must be at least 1, got 0"),
        ("shuffle(5)", "E0320", "16 channels do not split into 5 equal groups"),
        ("depth_to_space(3)", "E0320", "16 channels do not split into 3*3 = 9 block positions"),
        ("space_to_depth(3)", "E0322", "space_to_depth(3) needs a height and width that divide"),
        ("space_to_depth(0)", "E0203", "the block size must be at least 1, got 0"),
        ("channels(4, 20)", "E0321", "channels(4, 20) reaches outside the input's 16 channels"),
        ("channels(-17)", "E0321", "channels(-17) reaches outside the input's 16 channels"),
        ("channels(16)", "E0321", "channels(16) reaches outside"),
        ("channels(5, 5)", "E0321", "channels(5, 5) selects no channels"),
        ("channels(-2, -4)", "E0321", "selects no channels: its end (12) is not after its start"),
        ("pad_channels(-1)", "E0203", "the channels before must be at least 0, got -1"),
        ("pad_channels", "E0104", "pad_channels needs a value for 'before'"),
        ("flatten -> space_to_depth(2)", "E0307", "space_to_depth needs an N x C x H x W input"),
        ("shufle(2)", "E0101", "shufle"),
    ],
)
def test_diagnostics(chain: str, code: str, message: str) -> None:
    (d,) = _errors(chain)
    assert d.code == code
    assert message in d.message
    assert d.span is not None and d.span.line == 3


def test_diagnostic_hints() -> None:
    (d,) = _errors("space_to_depth(2)", "3 x 7 x 8")
    assert "needs a height that divides by 2, got 7 x 8" in d.message
    assert d.hints == ("make the height a multiple of 2 (pad or crop before this layer)",)
    (d,) = _errors("shuffle(5)")
    assert d.hints == ("16 divides by: 1, 2, 4, 8, 16",)
    (d,) = _errors("shufle(2)")
    assert "shuffle" in " ".join(d.hints)


def test_an_argument_error_after_a_shape_error_is_still_reported() -> None:
    errors = _errors("conv3x3(4, groups=3) -> chunk(2, 7) -> space_to_depth(0)")
    assert [d.code for d in errors] == ["E0304", "E0105", "E0203"]


# ---- the CIFAR ResNet's option-A shortcut ----


def test_option_a_shortcut() -> None:
    block = (
        "block basic(c, stride = 1) = residual<\n"
        "        conv3x3(c, stride=stride, bias=false) -> bn -> relu -> conv3x3(c, bias=false) -> bn\n"
        "      | avgpool(1, stride=2) -> pad_channels(c / 4)\n"
        "    > -> relu\n"
    )
    a = _compile("basic(32, stride=2) -> basic(32) * 0", "16 x 15 x 15", head=block)
    assert _out(a) == "N x 32 x 8 x 8"
    assert not a.warnings  # the 1x1 pool's units sit on the strided conv's centres
