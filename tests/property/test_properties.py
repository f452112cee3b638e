"""Property-based tests: random valid programs (and broken ones) through the whole compiler.

Profiles (tests/property/conftest.py): HYPOTHESIS_PROFILE=ci (default, 40 examples) or
HYPOTHESIS_PROFILE=thorough (1000 examples).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import shape_inference
from strategies import Program, mutants, programs

from dslc.backend.onnx import to_onnx
from dslc.compiler import compile_file, compile_source
from dslc.diagnostics import CompileError, Diagnostic
from dslc.ir.ops import ConvAttrs, Op
from dslc.passes import Analysis
from dslc.report.summary import summary_json
from dslc.source import SourceFile
from dslc.syntax.format import format_program
from dslc.syntax.parser import parse

BATCH = 2
CODE = re.compile(r"E\d{4}")
PARAM_SUFFIXES = (".weight", ".bias")
BUFFER_SUFFIXES = (".running_mean", ".running_var")


def _compile(text: str) -> Analysis:
    return compile_source(SourceFile("prop.xnet", text))


def _ours(analysis: Analysis, node_id: int) -> tuple[int, ...]:
    """Our shape of a node, with the batch N set to BATCH."""
    shape = analysis.shapes[node_id]
    assert str(shape[0]) == "N", shape
    rest = tuple(d for d in shape[1:] if isinstance(d, int))
    assert len(rest) == len(shape) - 1, shape
    return (BATCH, *rest)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _dims(value: onnx.ValueInfoProto) -> list[Any]:
    """A value's dims: int where known, None where ONNX left it open."""
    return [
        d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim
    ]


def _without_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose outputs declare no shape, so inference has to find it by itself."""
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    for out in bare.graph.output:
        out.type.tensor_type.ClearField("shape")
    del bare.graph.value_info[:]
    return bare


def _tensor_names(analysis: Analysis, model: onnx.ModelProto) -> dict[int, str]:
    """The ONNX tensor each IR node computes."""
    names = {n.id: n.name for n in analysis.graph.nodes}
    for node_id, out in zip(analysis.graph.outputs, model.graph.output):
        names[node_id] = out.name
    return names


# ---- 1. shapes: ours == ONNX Runtime == ONNX strict shape inference ----


def _assert_shapes_agree(text: str, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Ours == ONNX Runtime's == ONNX strict inference's output shape; returns ours."""
    analysis = _compile(text)
    model = to_onnx(analysis)
    ours = _ours(analysis, analysis.graph.outputs[0])

    x = np.random.default_rng(0).standard_normal((BATCH, *input_shape), np.float32)
    (y,) = _session(model).run([model.graph.output[0].name], {model.graph.input[0].name: x})
    assert y.shape == ours, "ONNX Runtime's output shape differs from ours"
    assert np.isfinite(y).all()

    shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)  # as declared
    inferred = shape_inference.infer_shapes(
        _without_shapes(model), strict_mode=True, data_prop=True
    )
    theirs = _dims(inferred.graph.output[0])
    assert len(theirs) == len(ours)
    for axis, (mine, other) in enumerate(zip(ours[1:], theirs[1:]), 1):
        assert other is None or other == mine, f"ONNX infers {theirs}, we say {ours} ({axis})"
    return ours


@given(programs())
def test_output_shape_matches_runtime_and_onnx_inference(program: Program) -> None:
    ours = _assert_shapes_agree(program.text, program.input_shape)
    assert ours[1:] == program.shape, "the compiler disagrees with the strategy's own shape"


@given(programs())
def test_every_layer_shape_matches_onnx_inference(program: Program) -> None:
    analysis = _compile(program.text)
    model = to_onnx(analysis)
    inferred = shape_inference.infer_shapes(
        _without_shapes(model), strict_mode=True, data_prop=True
    )
    known = {v.name: _dims(v) for v in (*inferred.graph.value_info, *inferred.graph.output)}
    names = _tensor_names(analysis, model)
    for node in analysis.graph.nodes:
        theirs = known.get(names[node.id])
        if theirs is None:
            continue
        ours = _ours(analysis, node.id)
        assert len(theirs) == len(ours), (node.name, theirs, ours)
        for mine, other in zip(ours[1:], theirs[1:]):
            assert other is None or other == mine, (node.name, theirs, ours)


# ---- 2. parameter counts: the summary == the initializers ----


@given(programs())
def test_parameter_counts_match_initializers(program: Program) -> None:
    analysis = _compile(program.text)
    model = to_onnx(analysis)
    summary = summary_json(analysis)
    totals = summary["totals"]
    sizes = {t.name: int(np.prod(t.dims, dtype=np.int64)) for t in model.graph.initializer}
    # a layer scale's one tensor is named by the layer itself (torchvision's layer_scale)
    scales = {layer["name"] for layer in summary["layers"] if layer["op"] == "scale"}
    named = PARAM_SUFFIXES + BUFFER_SUFFIXES
    assert all(n.endswith(named) or n in scales for n in sizes), sorted(sizes)
    constants = totals.get("constants", 0)  # hand-written kernels, apart from the params
    assert totals["params"] + totals["buffers"] + constants == sum(sizes.values())
    assert sum(layer["params"] for layer in summary["layers"]) == totals["params"]
    for layer in summary["layers"]:
        own = sum(sizes.get(layer["name"] + s, 0) for s in PARAM_SUFFIXES)
        own += sizes.get(layer["name"], 0) if layer["name"] in scales else 0
        assert own == layer["params"] + layer.get("constants", 0), layer["name"]
    assert totals["buffers"] == sum(v for n, v in sizes.items() if n.endswith(BUFFER_SUFFIXES))


# ---- 2b. the optimised graph computes what the plain one computes ----


def _random_weights(analysis: Analysis) -> dict[str, np.ndarray]:
    """Every parameter drawn at random, batch-norm statistics included, so folding shows."""
    from dslc.backend.weights import expected

    g = np.random.default_rng(1)
    out = {}
    for e in expected(analysis):
        a = g.standard_normal(e.shape).astype(np.float32) * np.float32(0.5)
        out[e.name] = np.abs(a) + np.float32(0.5) if e.name.endswith(".running_var") else a
    return out


@given(programs())
def test_optimised_graph_gives_the_same_outputs(program: Program) -> None:
    analysis = _compile(program.text)
    weights = _random_weights(analysis)
    plain = to_onnx(analysis, weights=weights)
    folded = to_onnx(analysis, weights=weights, optimize=True)
    onnx.checker.check_model(folded, full_check=True)
    x = np.random.default_rng(0).standard_normal((BATCH, *program.input_shape), np.float32)
    feed = {plain.graph.input[0].name: x}
    (want,) = _session(plain).run(None, feed)
    (got,) = _session(folded).run(None, feed)
    scale = max(float(np.abs(want).max()), 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)
    kinds = [n.op_type for n in folded.graph.node]
    assert "Dropout" not in kinds
    assert kinds.count("BatchNormalization") <= [n.op_type for n in plain.graph.node].count(
        "BatchNormalization"
    )


# ---- 3. the ONNX checker ----


@given(programs())
def test_onnx_checker_full_check(program: Program) -> None:
    onnx.checker.check_model(to_onnx(_compile(program.text)), full_check=True)


# ---- determinism ----


@given(programs(), st.integers(0, 2**31 - 1))
def test_same_seed_gives_identical_bytes(program: Program, seed: int) -> None:
    first = to_onnx(_compile(program.text), seed=seed).SerializeToString(deterministic=True)
    again = to_onnx(_compile(program.text), seed=seed).SerializeToString(deterministic=True)
    assert first == again


# ---- 4. the formatter ----


def _check_format(text: str) -> None:
    program = parse(SourceFile("prop.xnet", text))
    once = format_program(program)
    reparsed = parse(SourceFile("formatted.xnet", once))
    assert reparsed == program, once
    assert format_program(reparsed) == once


@given(programs())
def test_format_round_trips_and_is_idempotent(program: Program) -> None:
    _check_format(program.text)


@given(mutants())
def test_format_round_trips_on_any_parsable_mutant(text: str) -> None:
    try:
        parse(SourceFile("prop.xnet", text))
    except CompileError:
        return
    _check_format(text)


# ---- 5. broken programs: a located diagnostic, never a crash ----


def _located(d: Diagnostic) -> None:
    assert CODE.fullmatch(d.code), d
    assert d.span is not None, f"{d.code} has no location: {d.message}"
    assert d.span.line >= 1 and d.span.col >= 1, d


@settings(max_examples=settings().max_examples * 5)
@given(mutants())
def test_compiler_fails_only_with_located_diagnostics(text: str) -> None:
    try:
        analysis = compile_source(SourceFile("mutant.xnet", text))
    except CompileError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            _located(d)
        return
    for d in analysis.warnings:
        _located(d)


# ---- regressions: bugs these properties found, since fixed ----


@pytest.mark.parametrize(
    "text",
    [
        "input x: 1 x 8 x 8\nrelu * 0\n",
        "input x: 1 x 8 x 8\nx\n",
        "input x: 1 x 8 x 8\nconv3x3(4) -> x\n",
    ],
)
def test_output_may_be_the_input(text: str) -> None:
    model = to_onnx(_compile(text))
    onnx.checker.check_model(model, full_check=True)
    x = np.ones((BATCH, 1, 8, 8), np.float32)
    (y,) = _session(model).run(None, {"x": x})
    assert np.array_equal(y, x)


def _rejected_with_location(text: str) -> None:
    with pytest.raises(CompileError) as info:
        _compile(text)
    assert info.value.diagnostics
    for d in info.value.diagnostics:
        _located(d)


@pytest.mark.parametrize("layer", ["maxpool0", "avgpool0x2", "conv0x3(4)", "deconv0x0(4)"])
def test_zero_kernel_in_name_is_a_diagnostic(layer: str) -> None:
    _rejected_with_location(f"input x: 1 x 8 x 8\n{layer}\n")


@pytest.mark.parametrize("layer", ["leakyrelu({})", "dropout({})", "bn(eps={})", "upsample({})"])
def test_huge_integer_where_a_float_is_expected_is_a_diagnostic(layer: str) -> None:
    _rejected_with_location("input x: 1 x 8 x 8\n" + layer.format("1" + "0" * 400) + "\n")


def test_import_of_a_non_utf8_file_is_a_diagnostic(tmp_path: Any) -> None:
    (tmp_path / "blocks.xnet").write_bytes(b"block b(c) = conv3x3(c)\n# \xff\xfe\n")
    main = tmp_path / "main.xnet"
    main.write_text('import "blocks.xnet"\ninput x: 1 x 8 x 8\nb(4)\n', encoding="utf-8")
    with pytest.raises(CompileError) as info:
        compile_file(main)
    for d in info.value.diagnostics:
        _located(d)


@pytest.mark.parametrize("factor", ["0.7", "1.4", "(2, 0.7)"])
def test_fractional_upsample_shapes_agree(factor: str) -> None:
    _assert_shapes_agree(f"input x: 1 x 10 x 10\nupsample({factor})\n", (1, 10, 10))


@pytest.mark.parametrize(
    "text", ["input x: 1 x 10 x 10\nupsample(0.01)\n", "input x: 1 x 1 x 1\nupsample(0.5)\n"]
)
def test_upsample_to_nothing_is_a_diagnostic(text: str) -> None:
    _rejected_with_location(text)


@pytest.mark.parametrize(
    "layer", ["deconv3x3(4, output_pad=1)", "deconv3x3(4, stride=2, output_pad=2)"]
)
def test_deconv_output_pad_too_large_is_a_diagnostic(layer: str) -> None:
    _rejected_with_location(f"input x: 2 x 8 x 8\n{layer}\n")


def test_sized_name_with_other_kernel_is_a_diagnostic() -> None:
    _rejected_with_location("input x: 2 x 8 x 8\nconv3x3(kernel=[[1]], bias=false)\n")


@pytest.mark.parametrize("tail", ["", " -> flatten -> dense(2)"])
def test_mixed_ceil_pool_shapes_agree(tail: str) -> None:
    _assert_shapes_agree(f"input x: 1 x 9 x 9\nmaxpool2x3(pad=1, ceil=true){tail}\n", (1, 9, 9))


@pytest.mark.parametrize(
    "text",
    [
        "input x: 1 x 1 x 2\nresidual<conv1x1(1, stride=2) | project>\n",
        "input x: 1 x 1 x 4\nresidual<conv3x3(2, stride=2) | project>\n",
    ],
)
def test_project_finds_a_stride_from_width(text: str) -> None:
    # the height stays 1 (stride 1); the width halves (stride 2)
    analysis = _compile(text)
    (proj,) = [n for n in analysis.graph.nodes if n.name.startswith("project") and n.op is Op.CONV]
    assert isinstance(proj.attrs, ConvAttrs) and proj.attrs.stride == (1, 2)


def test_lrn_even_size_is_rejected() -> None:
    # ONNX Runtime implements only odd LRN windows: the compiler says so before emitting
    _rejected_with_code("input x: 1 x 8 x 8\nlrn(2)\n", "E0105")


@pytest.mark.parametrize(
    "text",
    [
        "input x: 1 x 8 x 12\navgpool3(pad=1, ceil=true)\n",
        "input x: 1 x 8 x 12\navgpool3(pad=1, ceil=true, count_include_pad=false)\n",
        "input x: 1 x 8 x 12\navgpool3(pad=1, ceil=true) -> flatten -> dense(2)\n",
    ],
)
def test_mixed_ceil_avgpool_shapes_agree(text: str) -> None:
    _assert_shapes_agree(text, (1, 8, 12))


@pytest.mark.parametrize(
    "layer",
    ["deconv2x2(1, dilation=2, output_pad=1)", "deconv3x3(1, stride=2, dilation=3, output_pad=2)"],
)
def test_deconv_output_pad_beyond_stride_is_rejected(layer: str) -> None:
    # ONNX Runtime allows output_pad only below the stride
    _rejected_with_code(f"input x: 1 x 3 x 3\n{layer}\n", "E0105")


def _rejected_with_code(text: str, code: str) -> None:
    with pytest.raises(CompileError) as exc:
        _compile(text)
    assert [d.code for d in exc.value.diagnostics] == [code]
    for d in exc.value.diagnostics:
        _located(d)


# ---- regression: formerly a known bug ----


def test_huge_integer_in_a_kernel_is_a_diagnostic() -> None:
    big = "1" + "0" * 400
    _rejected_with_location(f"input x: 1 x 8 x 8\nconv(kernel=[[{big}]], bias=false)\n")
