"""The layers and combinators of issue 12 as ONNX: every supported opset (checker, strict
shape inference, ONNX Runtime), the numbers each computes, initial values, tensor names,
--optimize, float16, and measured receptive fields."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from dslc.backend.init import parameters
from dslc.backend.onnx import serialize, to_onnx
from dslc.backend.rf_measure import measure
from dslc.backend.settings import OPSETS
from dslc.backend.weights import expected
from dslc.cli import main
from dslc.compiler import compile_source
from dslc.passes import Analysis
from dslc.passes.cost import total
from dslc.source import SourceFile

ort = pytest.importorskip("onnxruntime")

ALL_NEW = """\
network allnew
input x: 4 x 9 x 9
conv3x3(8) -> se: gate<gap -> fc1: conv1x1(2) -> relu -> fc2: conv1x1(8) -> hardsigmoid>
  -> silu -> hardswish -> gelu -> gelu(approximate=tanh) -> prelu -> prelu(shared=true)
  -> layernorm -> linear(6) -> layer_scale: scale(0.5) -> stochastic_depth(0.1)
  -> mul<conv1x1(6) | identity | gap> -> gap -> flatten -> layernorm(1e-5) -> linear(3)
  -> prelu -> scale(2)
"""
SE = """\
network se
input x: 3 x 48 x 48
conv3x3(16) -> se: gate<gap -> fc1: conv1x1(8) -> relu -> fc2: conv1x1(16) -> sigmoid>
  -> conv3x3(16) -> gate<gap -> conv1x1(16) -> silu -> conv1x1(16) -> hardsigmoid>
  -> maxpool2 -> conv3x3(16) -> layernorm -> linear(8) -> scale
"""


def _analysis(text: str) -> Analysis:
    return compile_source(SourceFile("t.xnet", text))


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    (y,) = s.run(None, {s.get_inputs()[0].name: x})
    return np.asarray(y)


def _x(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(1).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("opset", list(OPSETS))
def test_every_opset_checks_infers_and_runs(opset: int) -> None:
    a = _analysis(ALL_NEW)
    model = to_onnx(a, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    out = inferred.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in out[1:]] == [3]
    x = _x((2, 4, 9, 9))
    y = _run(model, x)
    assert y.shape == (2, 3) and np.isfinite(y).all()
    # the GELU written out with Erf / Tanh below opset 20 computes what the Gelu op does
    np.testing.assert_allclose(y, _run(to_onnx(a, opset=21), x), rtol=1e-5, atol=1e-6)
    inits = sum(math.prod(t.dims) for t in model.graph.initializer)
    assert inits == total(a.costs).params


def _one_layer(layer: str, inp: str = "3 x 5 x 5", **kw: object) -> np.ndarray:
    a = _analysis(f"network t\ninput x: {inp}\n{layer}\n")
    shape = tuple(int(d) for d in inp.split(" x "))
    return _run(to_onnx(a, **kw), _x((2, *shape)))  # type: ignore[arg-type]


def test_activations_compute_pytorchs_formulas() -> None:
    x = _x((2, 3, 5, 5)).astype(np.float64)
    relu6 = np.clip(x + 3, 0, 6)
    erf = np.vectorize(math.erf)
    want = {
        "silu": x / (1 + np.exp(-x)),
        "hardswish": x * relu6 / 6,
        "hardsigmoid": relu6 / 6,
        "gelu": 0.5 * x * (1 + erf(x / math.sqrt(2))),
        "gelu(approximate=tanh)": 0.5
        * x
        * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        "prelu": np.where(x > 0, x, 0.25 * x),
        "stochastic_depth(0.3)": x,
        "scale(0.5)": 0.5 * x,
    }
    for layer, y in want.items():
        for opset in (17, 21):
            got = _one_layer(layer, opset=opset)
            np.testing.assert_allclose(got, y, rtol=1e-5, atol=1e-6, err_msg=layer)


def test_layernorm_normalises_the_channels_at_every_position() -> None:
    x = _x((2, 3, 5, 5)).astype(np.float64)
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    np.testing.assert_allclose(
        _one_layer("layernorm"), (x - mean) / np.sqrt(var + 1e-6), rtol=1e-4, atol=1e-5
    )


def test_linear_is_a_matrix_over_the_channels() -> None:
    a = _analysis("network t\ninput x: 3 x 5 x 5\nfc: linear(4)\n")
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    b = np.array([1, 2, 3, 4], np.float32)
    x = _x((2, 3, 5, 5))
    y = _run(to_onnx(a, weights={"fc.weight": w, "fc.bias": b}), x)
    np.testing.assert_allclose(y, np.einsum("nchw,oc->nohw", x, w) + b[:, None, None], rtol=1e-5)


def test_initial_values_are_pytorchs() -> None:
    a = _analysis(
        "network t\ninput x: 3 x 5 x 5\nprelu -> layernorm -> ls: scale(1e-6) -> linear(4)"
    )
    got = {t.name: t.array for n in a.graph.nodes for t in parameters(n, "he", 3)}
    assert (got["prelu1.weight"] == np.float32(0.25)).all() and got["prelu1.weight"].shape == (3,)
    assert (got["layernorm1.weight"] == 1).all() and (got["layernorm1.bias"] == 0).all()
    assert got["ls"].shape == (3, 1, 1) and (got["ls"] == np.float32(1e-6)).all()
    bound = 1 / math.sqrt(3)  # nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    pytorch = {t.name: t.array for n in a.graph.nodes for t in parameters(n)}
    assert 0 < np.abs(pytorch["linear1.weight"]).max() <= bound


def test_layer_scale_is_one_tensor_named_by_the_layer() -> None:
    a = _analysis("network t\ninput x: 3 x 5 x 5\nlayer_scale: scale(1e-6) -> relu\n")
    assert [(e.name, e.shape) for e in expected(a)] == [("layer_scale", (3, 1, 1))]
    model = to_onnx(a, weights={"layer_scale": np.full((3, 1, 1), 2.0, np.float32)})
    assert [t.name for t in model.graph.initializer] == ["layer_scale"]
    onnx.checker.check_model(model, full_check=True)
    x = _x((1, 3, 5, 5))
    np.testing.assert_allclose(_run(model, x), np.maximum(2 * x, 0), rtol=1e-6)


def test_optimize_drops_stochastic_depth_and_keeps_the_numbers() -> None:
    a = _analysis(ALL_NEW)
    plain, opt = to_onnx(a), to_onnx(a, optimize=True)
    assert "stochastic_depth1" in {n.name for n in plain.graph.node}
    assert "stochastic_depth1" not in {n.name for n in opt.graph.node}
    x = _x((2, 4, 9, 9))
    np.testing.assert_allclose(_run(opt, x), _run(plain, x), rtol=1e-5, atol=1e-6)


def test_float16_runs_close_to_float32() -> None:
    a = _analysis(ALL_NEW)
    x = _x((2, 4, 9, 9))
    half = _run(to_onnx(a, dtype="float16", io_dtype="float32"), x)
    np.testing.assert_allclose(half, _run(to_onnx(a), x), rtol=2e-2, atol=2e-2)


def test_gated_network_field_is_measured_as_analysed() -> None:
    a = _analysis(SE)
    for node in a.graph.nodes:
        if a.rfs[node.id] is None or node.op.value == "input" or a.shapes[node.id][2] == 1:
            continue
        got = measure(a, node.id, (64, 64))
        assert got.disagreements() == [], node.name


def test_rf_measure_command_agrees_on_a_squeeze_excitation_net(tmp_path: Path) -> None:
    src = tmp_path / "se.xnet"
    src.write_text(SE)
    result = CliRunner().invoke(main, ["rf", str(src), "--measure"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "analysis agrees: size 10, jump 2"
