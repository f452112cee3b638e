"""Tests for the ONNX backend: determinism, opsets, names, metadata, dynamic sizes, weight
initialisation, and numerical agreement with numpy for a few ops."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

import dslc
from dslc.backend.onnx import DEFAULT_OPSET, serialize, to_onnx
from dslc.compiler import compile_source
from dslc.diagnostics import CompileError
from dslc.passes import Analysis
from dslc.passes.cost import total
from dslc.source import SourceFile

ort.set_default_logger_severity(3)

SMALL = textwrap.dedent("""\
    network small(classes = 5)
    input image: 3 x 16 x 16
    block cbr(c, stride = 1) = conv3x3(c, stride=stride, bias=false) -> bn -> relu
    cbr(8) -> residual<cbr(16, stride=2) -> conv3x3(16) -> bn | project> -> maxpool2
    -> concat<conv1x1(4) | conv3x3(4)> -> upsample(2) -> gap -> flatten -> fc: dense(classes)
""")


def _analysis(text: str) -> Analysis:
    return compile_source(SourceFile("t.xnet", text))


def _model(text: str, **kw: object) -> onnx.ModelProto:
    return to_onnx(_analysis(text), **kw)  # type: ignore[arg-type]


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])


def _run(text: str, x: np.ndarray, **kw: object) -> np.ndarray:
    model = _model(text, **kw)
    onnx.checker.check_model(model, full_check=True)
    sess = _session(model)
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})
    return np.asarray(y)


def _inits(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


# ---- determinism ----


def test_same_source_and_seed_give_identical_bytes() -> None:
    a = serialize(_model(SMALL, seed=7))
    b = serialize(_model(SMALL, seed=7))
    assert a == b


def test_different_seeds_give_different_weights_and_the_same_graph() -> None:
    m1, m2 = _model(SMALL, seed=0), _model(SMALL, seed=1)
    w1, w2 = _inits(m1), _inits(m2)
    assert w1.keys() == w2.keys()
    assert not np.array_equal(w1["cbr1.conv1.weight"], w2["cbr1.conv1.weight"])
    assert not np.array_equal(w1["fc.weight"], w2["fc.weight"])
    np.testing.assert_array_equal(w1["cbr1.bn1.weight"], w2["cbr1.bn1.weight"])  # ones
    assert [n.op_type for n in m1.graph.node] == [n.op_type for n in m2.graph.node]


def test_weights_depend_on_the_layer_name_not_its_position() -> None:
    base = "input x: 3 x 8 x 8\nconv3x3(4) -> relu\n"
    longer = "input x: 3 x 8 x 8\nconv3x3(4) -> relu -> conv3x3(4) -> conv1x1(2)\n"
    np.testing.assert_array_equal(
        _inits(_model(base))["conv1.weight"], _inits(_model(longer))["conv1.weight"]
    )


def test_compile_is_byte_identical_across_python_hash_seeds(tmp_path: Path) -> None:
    src = tmp_path / "small.xnet"
    src.write_text(SMALL, encoding="utf-8")
    outs = []
    for hashseed in ("1", "12345"):
        out = tmp_path / f"out{hashseed}.onnx"
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run(
            [sys.executable, "-m", "dslc", "compile", str(src), "-o", str(out), "--seed", "3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert onnx.load_from_string(outs[0]) == _model(SMALL, seed=3, optimize=True)  # as in memory


# ---- opsets and IR versions ----


@pytest.mark.parametrize("opset", range(17, 27))
def test_every_supported_opset_checks_and_runs(opset: int) -> None:
    model = _model(SMALL, opset=opset)
    assert model.opset_import[0].version == opset
    assert model.ir_version == helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    onnx.checker.check_model(model, full_check=True)
    (y,) = _session(model).run(None, {"image": np.ones((2, 3, 16, 16), np.float32)})
    assert y.shape == (2, 5)


def test_default_opset_is_17() -> None:
    assert DEFAULT_OPSET == 17  # the opset every consumer accepts: README "Which opset"
    assert _model(SMALL).opset_import[0].version == 17


@pytest.mark.parametrize("opset", [16, 27])
def test_unsupported_opsets_are_refused(opset: int) -> None:
    with pytest.raises(ValueError, match="17-26"):
        _model(SMALL, opset=opset)


# ---- names and metadata ----


def test_initializer_names_are_hierarchical() -> None:
    names = {t.name for t in _model(SMALL).graph.initializer}
    assert {
        "cbr1.conv1.weight",
        "cbr1.bn1.weight",
        "cbr1.bn1.bias",
        "cbr1.bn1.running_mean",
        "cbr1.bn1.running_var",
        "cbr2.conv1.weight",
        "conv1.weight",
        "conv1.bias",
        "bn1.running_var",
        "project1.0.weight",
        "project1.1.running_mean",
        "conv2.weight",
        "conv3.bias",
        "fc.weight",
        "fc.bias",
    } <= names
    assert "cbr1.conv1.bias" not in names  # bias=false


def test_initializers_hold_exactly_the_counted_parameters_and_buffers() -> None:
    a = _analysis(SMALL)
    t = total(a.costs)
    sizes = sum(int(np.prod(v.shape)) for v in _inits(to_onnx(a)).values())
    assert sizes == t.params + t.buffers


def test_node_names_are_the_layer_names() -> None:
    model = _model("input x: 3 x 8 x 8\nstem: conv3x3(4) -> bn -> relu\n")
    assert [n.name for n in model.graph.node] == ["stem", "bn1", "relu1"]
    assert [n.op_type for n in model.graph.node] == ["Conv", "BatchNormalization", "Relu"]


def test_batch_norm_attributes_follow_onnx_conventions() -> None:
    model = _model("input x: 3 x 8 x 8\nbn(eps=0.001, momentum=0.2)\n")
    (node,) = model.graph.node
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["epsilon"] == pytest.approx(0.001)
    assert attrs["momentum"] == pytest.approx(0.8)  # ONNX keeps 1 - PyTorch's momentum


def test_metadata_props() -> None:
    model = _model(SMALL, seed=4, init="he")
    props = {p.key: p.value for p in model.metadata_props}
    assert props["dslc.source"] == SMALL
    assert props["dslc.version"] == dslc.__version__
    assert props["dslc.network"] == "small"
    assert props["dslc.seed"] == "4"
    assert props["dslc.init"] == "he"
    assert model.producer_name == "dslc"
    assert model.graph.name == "small"


def test_inputs_and_outputs_are_named() -> None:
    model = _model(SMALL)
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["output"]


# ---- dynamic sizes ----


def _dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


def test_batch_is_dynamic() -> None:
    model = _model(SMALL)
    assert _dims(model.graph.input[0]) == ["N", 3, 16, 16]
    assert _dims(model.graph.output[0]) == ["N", 5]
    sess = _session(model)
    for batch in (1, 3):
        (y,) = sess.run(None, {"image": np.zeros((batch, 3, 16, 16), np.float32)})
        assert y.shape == (batch, 5)


def test_symbolic_height_and_width() -> None:
    text = textwrap.dedent("""\
        network fcn(classes = 4)
        input image: 3 x H x W
        conv3x3(8, stride=2) -> relu -> maxpool2 @p -> conv3x3(8, stride=2) -> conv1x1(classes)
        -> upsample(2) -> add<identity | p -> conv1x1(classes)> -> upsample(to=image)
    """)
    model = _model(text)
    assert _dims(model.graph.input[0]) == ["N", 3, "H", "W"]
    assert _dims(model.graph.output[0]) == ["N", 4, "H", "W"]
    onnx.checker.check_model(model, full_check=True)
    sess = _session(model)
    for shape in ((1, 3, 32, 32), (2, 3, 64, 96)):
        (y,) = sess.run(None, {"image": np.zeros(shape, np.float32)})
        assert y.shape == (shape[0], 4, *shape[2:])


def test_intermediate_symbolic_sizes_become_dim_params() -> None:
    model = _model("input x: 3 x H x W\nmaxpool2 -> maxpool2\n")
    assert _dims(model.graph.output[0]) == ["N", 3, "H/4", "W/4"]


# ---- weight initialisation ----

WIDE = "input x: 32 x 8 x 8\nconv3x3(64) -> bn -> flatten -> dense(50)\n"
FAN_IN, FAN_OUT = 32 * 9, 64 * 9


def test_he_init() -> None:
    w = _inits(_model(WIDE, init="he"))
    std = float(np.std(w["conv1.weight"]))
    assert std == pytest.approx(math.sqrt(2 / FAN_IN), rel=0.05)
    assert abs(float(np.mean(w["conv1.weight"]))) < 0.01
    assert not np.any(w["conv1.bias"])
    assert float(np.std(w["dense1.weight"])) == pytest.approx(math.sqrt(2 / 4096), rel=0.05)


def test_xavier_init() -> None:
    w = _inits(_model(WIDE, init="xavier"))["conv1.weight"]
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert float(np.abs(w).max()) <= bound
    assert float(np.abs(w).max()) > 0.99 * bound
    assert float(np.std(w)) == pytest.approx(bound / math.sqrt(3), rel=0.05)  # uniform


def test_pytorch_default_init() -> None:
    w = _inits(_model(WIDE, init="pytorch"))
    bound = 1 / math.sqrt(FAN_IN)
    assert float(np.abs(w["conv1.weight"]).max()) <= bound
    assert float(np.abs(w["conv1.weight"]).max()) > 0.99 * bound
    assert float(np.abs(w["conv1.bias"]).max()) <= bound
    assert np.any(w["conv1.bias"])
    dense_bound = 1 / math.sqrt(64 * 64)
    assert float(np.abs(w["dense1.weight"]).max()) <= dense_bound
    assert float(np.abs(w["dense1.bias"]).max()) <= dense_bound


@pytest.mark.parametrize("init", ["pytorch", "he", "xavier"])
def test_batch_norm_starts_as_identity(init: str) -> None:
    w = _inits(_model(WIDE, init=init))
    np.testing.assert_array_equal(w["bn1.weight"], np.ones(64, np.float32))
    np.testing.assert_array_equal(w["bn1.bias"], np.zeros(64, np.float32))
    np.testing.assert_array_equal(w["bn1.running_mean"], np.zeros(64, np.float32))
    np.testing.assert_array_equal(w["bn1.running_var"], np.ones(64, np.float32))


def test_weight_shapes_follow_pytorch_layouts() -> None:
    text = (
        "input x: 4 x 8 x 8\nconv3x3(6, groups=2) -> deconv4x4(3, stride=2, pad=1) "
        "-> flatten -> dense(7)\n"
    )
    w = _inits(_model(text))
    assert w["conv1.weight"].shape == (6, 2, 3, 3)
    assert w["deconv1.weight"].shape == (6, 3, 4, 4)  # in x out/groups x kh x kw
    assert w["dense1.weight"].shape == (7, 3 * 16 * 16)  # out x in, like nn.Linear
    assert all(v.dtype == np.float32 for v in w.values())


def test_fixed_kernel_is_taken_as_written_whatever_the_scheme_and_seed() -> None:
    text = "input x: 2 x 5 x 5\nconv(kernel=[[0, 1, 0], [1, -4, 1], [0, 1, 0]], bias=0.5)\n"
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
    for init, seed in (("pytorch", 0), ("he", 9)):
        w = _inits(_model(text, init=init, seed=seed))
        assert w["conv1.weight"].shape == (2, 1, 3, 3)
        np.testing.assert_array_equal(w["conv1.weight"][0, 0], lap)
        np.testing.assert_array_equal(w["conv1.weight"][1, 0], lap)
        np.testing.assert_array_equal(w["conv1.bias"], [0.5, 0.5])


# ---- numbers against numpy ----


def _correlate(x: np.ndarray, k: np.ndarray, pad: int) -> np.ndarray:
    """2-D cross-correlation of one channel, zero padded, stride 1."""
    xp = np.pad(x, pad)
    kh, kw = k.shape
    out = np.zeros((xp.shape[0] - kh + 1, xp.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = float(np.sum(xp[i : i + kh, j : j + kw] * k))
    return out


def test_fixed_kernel_conv_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 6, 7)).astype(np.float32)
    k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 2]], np.float64)
    y = _run("input x: 2 x 6 x 7\nconv(kernel=[[0, 1, 0], [1, -4, 1], [0, 1, 2]], bias=0.5)\n", x)
    assert y.shape == (2, 2, 6, 7)
    for n in range(2):
        for c in range(2):
            np.testing.assert_allclose(y[n, c], _correlate(x[n, c], k, 1) + 0.5, atol=1e-5)


def test_four_dimensional_fixed_kernel_mixes_channels() -> None:
    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(1, 2, 3, 3)
    y = _run("input x: 2 x 3 x 3\nconv(kernel=[[[[1]], [[2]]], [[[0]], [[-1]]]], bias=false)\n", x)
    np.testing.assert_allclose(y[0, 0], x[0, 0] + 2 * x[0, 1])
    np.testing.assert_allclose(y[0, 1], -x[0, 1])


def test_adaptive_avgpool_matches_pytorch_windows() -> None:
    x = np.random.default_rng(2).standard_normal((1, 2, 7, 7)).astype(np.float32)
    y = _run("input x: 2 x 7 x 7\nadaptive_avgpool(3)\n", x)
    ref = np.zeros((2, 3, 3))
    for i in range(3):
        for j in range(3):
            h0, h1 = i * 7 // 3, -(-(i + 1) * 7 // 3)
            w0, w1 = j * 7 // 3, -(-(j + 1) * 7 // 3)
            ref[:, i, j] = x[0, :, h0:h1, w0:w1].mean(axis=(1, 2))
    np.testing.assert_allclose(y[0], ref, atol=1e-5)


def test_adaptive_avgpool_rectangular_and_divisible() -> None:
    x = np.arange(5 * 7, dtype=np.float32).reshape(1, 1, 5, 7)
    y = _run("input x: 1 x 5 x 7\nadaptive_avgpool((2, 3))\n", x)
    assert y.shape == (1, 1, 2, 3)
    assert y[0, 0, 0, 0] == pytest.approx(x[0, 0, 0:3, 0:3].mean())
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y = _run("input x: 1 x 4 x 4\nadaptive_avgpool(2)\n", x)
    np.testing.assert_allclose(y[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_nearest_upsample_repeats_pixels() -> None:
    x = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 1, 2, 2)
    y = _run("input x: 1 x 2 x 2\nupsample(2)\n", x)
    np.testing.assert_array_equal(y[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    x = np.random.default_rng(3).standard_normal((1, 1, 4, 5)).astype(np.float32)
    y = _run("input x: 1 x 4 x 5\nupsample((3, 2))\n", x)
    np.testing.assert_array_equal(y[0, 0], x[0, 0].repeat(3, 0).repeat(2, 1))


def _interp(n: int, out: int, align: bool) -> np.ndarray:
    """PyTorch's bilinear interpolation weights along one axis, as an out x n matrix."""
    m = np.zeros((out, n))
    for o in range(out):
        src = o * (n - 1) / (out - 1) if align else max((o + 0.5) * n / out - 0.5, 0.0)
        i0 = int(np.floor(src))
        i1 = min(i0 + 1, n - 1)
        m[o, i0] += 1 - (src - i0)
        m[o, i1] += src - i0
    return m


@pytest.mark.parametrize("align", [False, True])
def test_bilinear_upsample_matches_pytorch(align: bool) -> None:
    x = np.random.default_rng(4).standard_normal((1, 1, 4, 5)).astype(np.float32)
    flag = "true" if align else "false"
    y = _run(f"input x: 1 x 4 x 5\nupsample(2, mode=bilinear, align_corners={flag})\n", x)
    ref = _interp(4, 8, align) @ x[0, 0] @ _interp(5, 10, align).T
    np.testing.assert_allclose(y[0, 0], ref, atol=1e-5)


def test_avgpool_counts_padding_by_default() -> None:
    x = np.ones((1, 1, 4, 4), np.float32)
    y = _run("input x: 1 x 4 x 4\navgpool3(stride=1, pad=1)\n", x)
    assert y[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert y[0, 0, 0, 1] == pytest.approx(6 / 9)
    assert y[0, 0, 1, 1] == pytest.approx(1.0)
    y = _run("input x: 1 x 4 x 4\navgpool3(stride=1, pad=1, count_include_pad=false)\n", x)
    np.testing.assert_allclose(y[0, 0], np.ones((4, 4)))


def test_maxpool_of_the_lecture_matrix() -> None:
    m = np.array(
        [[1, 2, 1, 2, 1, 2], [3, 1, 3, 1, 3, 1], [1, 1, 1, 1, 1, 1], [0, 1, 0, 1, 0, 1]], np.float32
    ).reshape(1, 1, 4, 6)
    y = _run("input m: 1 x 4 x 6\nmaxpool2\n", m)
    np.testing.assert_array_equal(y[0, 0], [[3, 3, 3], [1, 1, 1]])


def test_relu6_and_leaky_relu() -> None:
    x = np.array([-2, -0.5, 0, 3, 7], np.float32).reshape(1, 1, 1, 5)
    np.testing.assert_allclose(_run("input x: 1 x 1 x 5\nrelu6\n", x).ravel(), [0, 0, 0, 3, 6])
    np.testing.assert_allclose(
        _run("input x: 1 x 1 x 5\nleakyrelu(0.1)\n", x).ravel(), [-0.2, -0.05, 0, 3, 7], rtol=1e-6
    )


def test_dropout_is_inactive_at_inference() -> None:
    x = np.random.default_rng(5).standard_normal((1, 2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(_run("input x: 2 x 3 x 3\ndropout(0.5)\n", x), x)


@pytest.mark.parametrize(
    ("layer", "n"),
    [
        ("maxpool2(pad=1, ceil=true)", 5),
        ("avgpool2(pad=1, ceil=true)", 9),
        ("maxpool(k=2, stride=3, ceil=true)", 9),
    ],
)
def test_ceil_mode_pools_run_with_the_inferred_shape(layer: str, n: int) -> None:
    a = _analysis(f"input x: 1 x {n} x {n}\n{layer}\n")
    want = a.shapes[a.graph.outputs[0]]
    (y,) = _session(to_onnx(a)).run(None, {"x": np.ones((1, 1, n, n), np.float32)})
    assert y.shape[2:] == tuple(want[2:])


@pytest.mark.parametrize("opset", [17, 21])
def test_ceil_mode_pool_passes_the_onnx_checker(opset: int) -> None:
    model = _model("input x: 1 x 5 x 5\nmaxpool2(pad=1, ceil=true)\n", opset=opset)
    onnx.checker.check_model(model, full_check=True)


def test_network_reduced_to_its_input_compiles_or_is_rejected() -> None:
    try:
        a = _analysis("input x: 3 x 4 x 4\nrelu * 0\n")
        model = to_onnx(a)
    except CompileError as exc:
        assert exc.diagnostics and exc.diagnostics[0].span is not None
        return
    onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(6).standard_normal((1, 3, 4, 4)).astype(np.float32)
    (y,) = _session(model).run(None, {"x": x})
    np.testing.assert_array_equal(y, x)
