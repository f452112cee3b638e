"""`--optimize` (the default) and `--dtype float16`: what changes in the graph, and that the
outputs stay those of the plain float32 graph (up to rounding)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import numpy_helper

from dslc.backend.onnx import serialize, to_onnx
from dslc.backend.weights import expected
from dslc.cli import main
from dslc.compiler import compile_file, compile_source
from dslc.passes import Analysis
from dslc.source import SourceFile

ort = pytest.importorskip("onnxruntime")
ROOT = Path(__file__).resolve().parents[2]


def _analysis(text: str) -> Analysis:
    return compile_source(SourceFile("t.xnet", "input x: 3 x 16 x 16\n" + text))


def _weights(a: Analysis, seed: int = 3) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    out = {}
    for e in expected(a):
        v = (g.standard_normal(e.shape) * 0.3).astype(np.float32)
        out[e.name] = np.abs(v) + np.float32(0.5) if e.name.endswith("running_var") else v
    return out


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    (y,) = s.run(None, {s.get_inputs()[0].name: x})
    return np.asarray(y)


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


X = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)


@pytest.mark.parametrize(
    "text",
    [
        "conv3x3(8) -> bn -> relu -> gap -> flatten -> dense(4)",  # conv with bias
        "conv3x3(8, bias=false) -> bn(eps=0.001) -> relu -> conv1x1(4) -> bn",  # bn is the output
        "conv3x3(8, groups=1) -> conv3x3(8, groups=4, bias=false) -> bn",  # grouped
        "conv3x3(8, stride=2, dilation=2) -> bn -> dropout(0.3) -> relu",
        "conv3x3(8) @a -> bn -> add<identity | a -> relu>",  # conv also tapped
        "bn -> relu -> conv3x3(4)",  # bn after input
        "conv3x3(8) -> residual<conv3x3(8, bias=false) -> bn | identity> -> identity",
    ],
)
def test_optimised_outputs_equal_the_plain_graph(text: str) -> None:
    a = _analysis(text)
    w = _weights(a)
    plain, folded = to_onnx(a, weights=w), to_onnx(a, weights=w, optimize=True)
    onnx.checker.check_model(folded, full_check=True)
    np.testing.assert_allclose(_run(folded, X), _run(plain, X), rtol=1e-5, atol=1e-5)
    assert "Dropout" not in _ops(folded)
    assert [o.name for o in folded.graph.output] == [o.name for o in plain.graph.output]


def test_batch_norm_after_a_conv_is_folded_into_it() -> None:
    a = _analysis("c: conv3x3(8, bias=false) -> n: bn -> relu")
    folded = to_onnx(a, weights=_weights(a), optimize=True)
    assert _ops(folded) == ["Conv", "Relu"]
    assert sorted(t.name for t in folded.graph.initializer) == ["c.bias", "c.weight"]


def test_a_tapped_conv_keeps_its_batch_norm() -> None:
    a = _analysis("conv3x3(8) @a -> bn -> add<identity | a>")
    assert "BatchNormalization" in _ops(to_onnx(a, optimize=True))


def test_resnet18_has_no_batch_norm_left() -> None:
    model = to_onnx(compile_file(ROOT / "models" / "resnet18.xnet"), optimize=True)
    assert "BatchNormalization" not in _ops(model)
    assert _ops(model).count("Conv") == 20


def test_float16_weights_activations_and_io() -> None:
    a = _analysis(
        "conv3x3(8) -> bn -> relu -> maxpool2 -> relu6 -> adaptive_avgpool(3) "
        "-> flatten -> dense(4) -> softmax"
    )
    w = _weights(a)
    ref = _run(to_onnx(a, weights=w), X)
    half = to_onnx(a, weights=w, optimize=True, dtype="float16")
    onnx.checker.check_model(half, full_check=True)
    elem = onnx.TensorProto.FLOAT16
    assert {t.data_type for t in half.graph.initializer} == {elem}
    assert half.graph.input[0].type.tensor_type.elem_type == elem
    y = _run(half, X.astype(np.float16))
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float32), ref, rtol=2e-2, atol=2e-3)
    mixed = to_onnx(a, weights=w, optimize=True, dtype="float16", io_dtype="float32")
    assert mixed.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert _ops(mixed)[0] == "Cast" and _ops(mixed)[-1] == "Cast"
    y = _run(mixed, X)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "densenet121", "squeezenet1_1"])
def test_zoo_in_float16_is_accurate(name: str) -> None:
    a = compile_file(ROOT / "models" / f"{name}.xnet")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    ref = _run(to_onnx(a, preprocess=False), x)  # the networks, fed their float input
    y = _run(to_onnx(a, optimize=True, dtype="float16", io_dtype="float32", preprocess=False), x)
    rel = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    assert rel < 1e-2, f"relative L2 difference {rel:.2e} against float32"


def test_cli_defaults_to_the_optimised_graph(tmp_path: Path) -> None:
    net = tmp_path / "n.xnet"
    net.write_text("input x: 3 x 16 x 16\nconv3x3(8) -> bn -> dropout -> relu\n")
    out = tmp_path / "o.onnx"
    runner = CliRunner()
    result = runner.invoke(main, ["compile", str(net), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    model = onnx.load(str(out))
    assert _ops(model) == ["Conv", "Relu"]
    props = {p.key: p.value for p in model.metadata_props}
    assert props["dslc.optimize"] == "true" and props["dslc.dtype"] == "float32"
    result = runner.invoke(
        main, ["compile", str(net), "-o", str(out), "--no-optimize", "--dtype", "float16"]
    )
    assert result.exit_code == 0
    assert "not optimised, float16" in result.stdout
    model = onnx.load(str(out))
    assert _ops(model) == ["Conv", "BatchNormalization", "Constant", "Dropout", "Relu"]
    weight = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}["conv1.weight"]
    assert weight.dtype == np.float16
