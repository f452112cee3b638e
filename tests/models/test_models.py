"""Every file in models/ compiles, passes the ONNX checker, runs on ONNX Runtime CPU, and its
summary matches a golden file (refresh with --update-golden)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from dslc.backend.onnx import serialize, to_onnx
from dslc.compiler import compile_file
from dslc.summary import summary_json

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "models").rglob("*.xnet"))
GOLDEN = Path(__file__).parent / "golden"

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # summaries name sources as models/..., relative to the root


def _feeds(model: onnx.ModelProto, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in model.graph.input:
        dims = [d.dim_value if d.dim_value else 32 for d in inp.type.tensor_type.shape.dim]
        dims[0] = batch
        feeds[inp.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


@pytest.mark.parametrize("path", MODELS)
def test_compiles_checks_and_runs(path: str) -> None:
    analysis = compile_file(path)
    model = to_onnx(analysis)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    feeds = _feeds(model, batch=2)
    (out,) = session.run(None, feeds)
    expected = analysis.shapes[analysis.graph.outputs[0]]
    symbols = {"N": 2, "H": 32, "W": 32}
    want = [d if isinstance(d, int) else int(_eval(str(d), symbols)) for d in expected]
    assert list(out.shape) == want
    assert np.isfinite(out).all()


def _eval(text: str, symbols: dict[str, int]) -> float:
    for name, value in symbols.items():
        text = text.replace(name, str(value))
    return float(eval(text, {"__builtins__": {}}))  # only digits and operators remain


@pytest.mark.parametrize("path", MODELS)
def test_summary_matches_golden(path: str, update_golden: bool) -> None:
    summary = summary_json(compile_file(path))
    golden = GOLDEN / (Path(path).relative_to("models").with_suffix(".json"))
    text = json.dumps(summary, indent=1) + "\n"
    if update_golden or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert json.loads(golden.read_text()) == summary
    # invariant: the rows add up to the totals
    layers = summary["layers"]
    assert sum(layer["params"] for layer in layers) == summary["totals"]["params"]
    if isinstance(summary["totals"]["macs"], int):
        assert sum(layer["macs"] for layer in layers) == summary["totals"]["macs"]


@pytest.mark.parametrize(("path", "params", "output"), [
    ("models/lenet5.xnet", 61_706, ["N", 10]),
    ("models/vgg16.xnet", 138_357_544, ["N", 1000]),
    ("models/resnet18.xnet", 11_689_512, ["N", 1000]),
    ("models/resnet50.xnet", 25_557_032, ["N", 1000]),
])
def test_torchvision_parameter_counts(path: str, params: int, output: list[object]) -> None:
    s = summary_json(compile_file(path))
    assert s["totals"]["params"] == params
    assert s["outputs"][0]["shape"] == output


@pytest.mark.parametrize(("path", "gmacs"), [
    ("models/vgg16.xnet", 15.47), ("models/resnet18.xnet", 1.814), ("models/resnet50.xnet", 4.089),
])
def test_macs_match_torchvision(path: str, gmacs: float) -> None:
    macs = summary_json(compile_file(path))["totals"]["macs"]
    assert round(macs / 1e9, 3 if gmacs < 10 else 2) == gmacs


def test_resnet50_bn_buffers_are_separate() -> None:
    totals = summary_json(compile_file("models/resnet50.xnet"))["totals"]
    assert totals["buffers"] == 53_120  # running mean + var of every batch norm


@pytest.mark.parametrize(("path", "params", "field"), [
    ("models/lecture/stacked_3x3.xnet", 20, 5),
    ("models/lecture/single_5x5.xnet", 26, 5),
    ("models/lecture/factorised_1x3.xnet", 16, 5),
    ("models/lecture/rf_pool.xnet", 20, 8),
])
def test_lecture_params_and_receptive_fields(path: str, params: int, field: int) -> None:
    s = summary_json(compile_file(path))
    assert s["totals"]["params"] == params
    assert s["receptive_field"]["size"] == [field, field]


def test_lecture_bottleneck_3x3_conv_has_4640_params() -> None:
    s = summary_json(compile_file("models/lecture/bottleneck_1x1.xnet"))
    conv3 = [layer for layer in s["layers"] if layer["op"] == "conv"][1]
    assert conv3["params"] == 32 * 16 * 3 * 3 + 32 == 4640
    assert conv3["output_shape"] == ["N", 32, 224, 224]


def test_laplacian_kernel_is_taken_as_written() -> None:
    model = to_onnx(compile_file("models/lecture/laplacian.xnet"), seed=123)
    weight = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert weight["conv1.weight"].reshape(3, 3).tolist() == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    assert weight["conv1.bias"].tolist() == [0.0]
    image = np.zeros((1, 1, 5, 5), np.float32)
    image[0, 0, 2, 2] = 1.0
    session = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": image})
    assert out[0, 0, 1:4, 1:4].tolist() == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]


def test_maxpool_of_the_lecture_matrix() -> None:
    model = to_onnx(compile_file("models/lecture/maxpool_4x6.xnet"))
    matrix = np.loadtxt(ROOT / "models/lecture/matrix_4x6.txt", dtype=np.float32)
    session = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"m": matrix[None, None]})
    assert out[0, 0].tolist() == [[3, 3, 3], [1, 1, 1]]
