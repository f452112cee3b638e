"""Tests for the deploy-time package dslc_runtime (no compiler involved)."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"
try:
    import dslc_runtime
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(RUNTIME_DIR))
    import dslc_runtime

from dslc_runtime import (
    InputError,
    Model,
    RunError,
    TensorSpec,
    available_providers,
    coerce_dtype,
    digest,
    fit_rank,
)
from dslc_runtime import providers as providers_mod

CUDA_AVAILABLE = "CUDAExecutionProvider" in available_providers()
F32 = np.dtype(np.float32)
Shape = list[int | str | None]


def _model_bytes(
    nodes: list[Any], ins: list[Any], outs: list[Any], inits: list[Any] | None = None
) -> bytes:
    """Serialize a one-graph ONNX model at opset 21 / IR 10 (what onnxruntime accepts)."""
    graph = helper.make_graph(nodes, "g", ins, outs, initializer=inits or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    return bytes(model.SerializeToString())


def _vi(name: str, shape: Shape | None, elem: int = TensorProto.FLOAT) -> Any:
    """A tensor value-info."""
    return helper.make_tensor_value_info(name, elem, shape)


def relu_bytes(shape: Shape | None = None) -> bytes:
    """Relu with input 'image' of shape (N, 3, H, W) by default."""
    shape = shape if shape is not None else ["N", 3, "H", "W"]
    node = helper.make_node("Relu", ["image"], ["out"])
    return _model_bytes([node], [_vi("image", shape)], [_vi("out", shape)])


def conv_bytes() -> bytes:
    """3x3 all-ones Conv (no padding) over a (N, 1, 4, 6) input."""
    weight = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])
    return _model_bytes([node], [_vi("x", ["N", 1, 4, 6])], [_vi("y", ["N", 1, 2, 4])], [weight])


def add_bytes() -> bytes:
    """a + b, both (N, 2), output 'sum'."""
    node = helper.make_node("Add", ["a", "b"], ["sum"])
    return _model_bytes([node], [_vi("a", ["N", 2]), _vi("b", ["N", 2])], [_vi("sum", ["N", 2])])


def int_bytes() -> bytes:
    """Identity on an int64 (N, 5) input plus a bool (N,) input."""
    nodes = [
        helper.make_node("Identity", ["ids"], ["o"]),
        helper.make_node("Not", ["m"], ["nm"]),
    ]
    ins = [_vi("ids", ["N", 5], TensorProto.INT64), _vi("m", ["N"], TensorProto.BOOL)]
    outs = [_vi("o", ["N", 5], TensorProto.INT64), _vi("nm", ["N"], TensorProto.BOOL)]
    return _model_bytes(nodes, ins, outs)


@pytest.fixture
def relu() -> Model:
    """A CPU Relu model with symbolic N, H, W."""
    return Model(relu_bytes(), provider="cpu")


@pytest.fixture
def fixed() -> Model:
    """A CPU Relu model expecting (N, 3, 224, 224)."""
    return Model(relu_bytes(["N", 3, 224, 224]), provider="cpu")


# --- loading and specs -------------------------------------------------------


def test_specs_from_session(relu: Model) -> None:
    assert relu.inputs == (TensorSpec("image", ("N", 3, "H", "W"), F32),)
    assert relu.outputs == (TensorSpec("out", ("N", 3, "H", "W"), F32),)
    assert relu.inputs[0].shape_text == "(N, 3, H, W)"


def test_unknown_dim_is_none() -> None:
    model = Model(relu_bytes(["N", None, 4]), provider="cpu")
    assert model.inputs[0].shape == ("N", None, 4)


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "relu.onnx"
    path.write_bytes(relu_bytes())
    for source in (path, str(path)):
        assert Model(source, provider="cpu").inputs[0].name == "image"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.onnx"
    with pytest.raises(RunError, match=r"cannot load model '.*nope\.onnx': file not found"):
        Model(path)


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="it is a directory"):
        Model(tmp_path)


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"this is not protobuf")
    with pytest.raises(RunError) as info:
        Model(path, provider="cpu")
    text = str(info.value)
    assert text.startswith(f"cannot load model '{path}': ")
    assert "[ONNXRuntimeError]" not in text
    assert "\n" not in text and len(text) < 500


def test_corrupt_bytes() -> None:
    with pytest.raises(RunError, match=r"cannot load model <model bytes>: .*protobuf"):
        Model(b"garbage")


def test_bad_threads() -> None:
    with pytest.raises(RunError, match="threads must be a positive integer"):
        Model(relu_bytes(), threads=0)
    assert Model(relu_bytes(), provider="cpu", threads=1).provider == "cpu"


# --- providers ----------------------------------------------------------------


def test_available_providers_lists_cpu() -> None:
    assert "CPUExecutionProvider" in available_providers()


def test_unknown_provider() -> None:
    with pytest.raises(
        RunError,
        match="unknown provider 'gpu'; valid choices are 'auto', 'cuda', 'cpu'",
    ):
        Model(relu_bytes(), provider="gpu")


def test_cpu_provider(relu: Model) -> None:
    assert relu.provider == "cpu"
    assert relu.session.get_providers() == ["CPUExecutionProvider"]
    assert relu.provider_note.startswith("CPUExecutionProvider (")


@pytest.mark.skipif(CUDA_AVAILABLE, reason="CUDA provider is available here")
def test_auto_picks_cpu_without_cuda() -> None:
    model = Model(relu_bytes())
    assert model.provider == "cpu"
    assert model.provider_note.startswith("CPUExecutionProvider (CUDA not available: ")
    assert "no CUDA provider" in model.provider_note


@pytest.mark.skipif(CUDA_AVAILABLE, reason="CUDA provider is available here")
def test_cuda_request_fails_without_cuda() -> None:
    with pytest.raises(RunError) as info:
        Model(relu_bytes(), provider="cuda")
    text = str(info.value)
    assert "provider 'cuda' requested" in text
    assert "pip install onnxruntime-gpu" in text
    assert "never install onnxruntime and onnxruntime-gpu together" in text


@pytest.mark.skipif(not CUDA_AVAILABLE, reason="needs onnxruntime-gpu")
def test_cuda_when_available() -> None:  # pragma: no cover - GPU machines only
    data = np.linspace(-1, 1, 12, dtype=np.float32).reshape(1, 3, 2, 2)
    for choice in ("cuda", "auto"):
        model = Model(relu_bytes(), provider=choice)
        assert model.provider == "cuda"
        assert model.session.get_providers()[0] == "CUDAExecutionProvider"
        assert re.fullmatch(r"CUDAExecutionProvider \(GPU \d+\)", model.provider_note)
        np.testing.assert_array_equal(model.run(data)["out"], np.maximum(data, 0))


def _pretend_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the runtime believe CUDA is compiled in (ORT will then fall back to CPU)."""
    fake = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(providers_mod, "available_providers", lambda: fake)


@pytest.mark.skipif(CUDA_AVAILABLE, reason="fallback is simulated on CPU-only installs")
def test_auto_detects_silent_cpu_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend_cuda(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Model(relu_bytes())
    assert model.provider == "cpu"
    assert "CUDA requested by auto but failed to initialise" in model.provider_note
    out = model.run(np.full((1, 3, 2, 2), -1.0, np.float32))["out"]
    assert np.array_equal(out, np.zeros((1, 3, 2, 2), np.float32))


@pytest.mark.skipif(CUDA_AVAILABLE, reason="fallback is simulated on CPU-only installs")
def test_cuda_detects_silent_cpu_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend_cuda(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RunError, match="fell back to CPUExecutionProvider.*onnxruntime-gpu"):
            Model(relu_bytes(), provider="cuda")


def test_auto_survives_cuda_session_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = providers_mod._create

    def failing(source: Any, options: Any, names: list[str]) -> Any:
        if "CUDAExecutionProvider" in names:
            raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : libcudnn.so.9: cannot open")
        return real(source, options, names)

    _pretend_cuda(monkeypatch)
    monkeypatch.setattr(providers_mod, "_create", failing)
    model = Model(relu_bytes())
    assert model.provider == "cpu"
    assert model.provider_note == (
        "CPUExecutionProvider (CUDA requested by auto but failed to initialise: "
        "libcudnn.so.9: cannot open)"
    )
    with pytest.raises(RunError, match="CUDA failed to initialise: libcudnn.so.9: cannot open"):
        Model(relu_bytes(), provider="cuda")
    with pytest.raises(RunError, match="cannot load model <model bytes>"):
        Model(b"garbage", provider="cuda")


# --- running --------------------------------------------------------------------


def test_relu_numbers(relu: Model) -> None:
    data = np.array([-2.0, -0.5, 0.0, 0.5, 3.0, -1.0], np.float32).reshape(1, 3, 2, 1)
    out = relu.run({"image": data})
    assert list(out) == ["out"]
    np.testing.assert_array_equal(out["out"], np.maximum(data, 0))
    np.testing.assert_array_equal(relu.run(data)["out"], np.maximum(data, 0))


def test_conv_numbers() -> None:
    model = Model(conv_bytes(), provider="cpu")
    x = np.arange(24, dtype=np.float32).reshape(1, 1, 4, 6)
    expected = np.array(
        [
            [
                [
                    [
                        sum(x[0, 0, i + a, j + b] for a in range(3) for b in range(3))
                        for j in range(4)
                    ]
                    for i in range(2)
                ]
            ]
        ]
    )
    np.testing.assert_allclose(model.run(x)["y"], expected)
    batch = np.stack([x[0], -x[0]])
    np.testing.assert_allclose(model.run(batch)["y"], np.concatenate([expected, -expected]))


def test_run_validates_first(relu: Model) -> None:
    with pytest.raises(InputError, match="expects float32, got float64"):
        relu.run(np.zeros((1, 3, 2, 2)))


def test_bare_array_needs_single_input() -> None:
    model = Model(add_bytes(), provider="cpu")
    with pytest.raises(InputError, match=r"this model has 2 \('a', 'b'\): pass a dict"):
        model.run(np.zeros((1, 2), np.float32))
    a = np.array([[1, 2]], np.float32)
    np.testing.assert_array_equal(model.run({"a": a, "b": a})["sum"], [[2, 4]])


# --- validate -------------------------------------------------------------------


def test_unknown_name(fixed: Model) -> None:
    with pytest.raises(
        InputError, match=r"^unknown input 'img'; the model expects inputs: 'image'$"
    ):
        fixed.validate({"img": np.zeros((1, 3, 224, 224), np.float32)})


def test_missing_name() -> None:
    model = Model(add_bytes(), provider="cpu")
    with pytest.raises(InputError) as info:
        model.validate({"a": np.zeros((1, 2), np.float32)})
    assert (
        str(info.value)
        == "missing input 'b' (expects (N, 2) float32); the model expects inputs: 'a', 'b'"
    )


def test_wrong_rank(fixed: Model) -> None:
    with pytest.raises(InputError) as info:
        fixed.validate({"image": np.zeros((3, 224, 224), np.float32)})
    assert str(info.value) == (
        "input 'image' expects shape (N, 3, 224, 224) (rank 4); got (3, 224, 224) (rank 3); "
        "add a leading size-1 axis, e.g. x.reshape(1, 3, 224, 224)"
    )


def test_wrong_fixed_dim(fixed: Model) -> None:
    with pytest.raises(InputError) as info:
        fixed.validate({"image": np.zeros((1, 3, 32, 32), np.float32)})
    assert str(info.value) == (
        "input 'image' expects shape (N, 3, 224, 224); got (1, 3, 32, 32): dimension 2 is 32, expected 224"
    )


def test_symbol_bound_twice() -> None:
    model = Model(add_bytes(), provider="cpu")
    with pytest.raises(InputError) as info:
        model.validate({"a": np.zeros((1, 2), np.float32), "b": np.zeros((3, 2), np.float32)})
    assert str(info.value) == (
        "input 'b' dimension 0 ('N') is 3, but input 'a' dimension 0 already set 'N' to 1 "
        "in the same call; every 'N' must have the same size"
    )


def test_symbols_free_across_calls(relu: Model) -> None:
    relu.validate({"image": np.zeros((1, 3, 2, 5), np.float32)})
    relu.validate({"image": np.zeros((4, 3, 7, 1), np.float32)})


def test_wrong_dtype(fixed: Model) -> None:
    with pytest.raises(InputError) as info:
        fixed.validate({"image": np.zeros((1, 3, 224, 224), np.int64)})
    assert (
        str(info.value)
        == "input 'image' expects float32, got int64; convert with x.astype(np.float32)"
    )


def test_not_an_array(relu: Model) -> None:
    with pytest.raises(InputError, match="input 'image' must be a numpy array, got list"):
        relu.validate({"image": [[1.0]]})  # type: ignore[dict-item]


# --- fit_rank / coerce_dtype -----------------------------------------------------------


def test_fit_rank_prepends_axes() -> None:
    model = Model(conv_bytes(), provider="cpu")
    matrix = np.arange(24, dtype=np.float32).reshape(4, 6)
    fitted, note = fit_rank(matrix, model.inputs[0])
    assert fitted.shape == (1, 1, 4, 6)
    assert note == (
        "input 'x': reshaped (4, 6) to (1, 1, 4, 6) by adding 2 leading size-1 axes "
        "to match the expected shape (N, 1, 4, 6)"
    )
    model.validate({"x": fitted})
    assert model.run(fitted)["y"].shape == (1, 1, 2, 4)


def test_fit_rank_noop() -> None:
    spec = TensorSpec("x", ("N", 1, 4, 6), F32)
    array = np.zeros((1, 1, 4, 6), np.float32)
    fitted, note = fit_rank(array, spec)
    assert fitted is array and note is None


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.float64])
def test_coerce_dtype_converts(dtype: Any) -> None:
    spec = TensorSpec("image", ("N", 2), F32)
    array = np.array([[1, 0]], dtype=dtype)
    converted, note = coerce_dtype(array, spec)
    assert converted.dtype == np.float32
    np.testing.assert_array_equal(converted, [[1.0, 0.0]])
    assert note == f"input 'image': converted {np.dtype(dtype)} to float32"


def test_coerce_dtype_noop() -> None:
    array = np.zeros(3, np.float32)
    assert coerce_dtype(array, TensorSpec("x", (3,), F32)) == (array, None)
    ints = np.zeros(3, np.int64)
    same, note = coerce_dtype(ints, TensorSpec("ids", (3,), np.dtype(np.int64)))
    assert same is ints and note is None
    strings = np.array(["a"])
    assert coerce_dtype(strings, TensorSpec("x", (1,), F32))[1] is None


# --- random_inputs ----------------------------------------------------------------------


def test_random_inputs_symbolic(relu: Model) -> None:
    feeds = relu.random_inputs(batch=2, sizes={"H": 5, "W": 7})
    assert list(feeds) == ["image"]
    assert feeds["image"].shape == (2, 3, 5, 7) and feeds["image"].dtype == np.float32
    relu.validate(feeds)
    np.testing.assert_array_equal(relu.run(feeds)["out"], np.maximum(feeds["image"], 0))


def test_random_inputs_missing_symbol(relu: Model) -> None:
    with pytest.raises(InputError, match=r"symbolic dimension 'H'.*sizes=\{'H': 224\}"):
        relu.random_inputs()
    with pytest.raises(InputError, match="symbolic dimension 'W'"):
        relu.random_inputs(sizes={"H": 4})


def test_random_inputs_deterministic_normal() -> None:
    model = Model(relu_bytes(["N", 100, 100]), provider="cpu")
    first = model.random_inputs(batch=3, seed=7)["image"]
    np.testing.assert_array_equal(first, model.random_inputs(batch=3, seed=7)["image"])
    assert not np.array_equal(first, model.random_inputs(batch=3, seed=8)["image"])
    assert first.shape == (3, 100, 100)
    assert abs(float(first.mean())) < 0.05 and abs(float(first.std()) - 1.0) < 0.05


def test_random_inputs_shared_symbol_and_dtypes() -> None:
    feeds = Model(add_bytes(), provider="cpu").random_inputs(batch=4)
    assert feeds["a"].shape == feeds["b"].shape == (4, 2)
    model = Model(int_bytes(), provider="cpu")
    feeds = model.random_inputs(batch=2)
    assert feeds["ids"].dtype == np.int64 and feeds["ids"].shape == (2, 5)
    assert feeds["m"].dtype == np.bool_ and feeds["m"].shape == (2,)
    out = model.run(feeds)
    np.testing.assert_array_equal(out["o"], feeds["ids"])
    np.testing.assert_array_equal(out["nm"], ~feeds["m"])


def test_random_inputs_bad_batch(relu: Model) -> None:
    with pytest.raises(InputError, match="batch must be a positive integer, got 0"):
        relu.random_inputs(batch=0, sizes={"H": 1, "W": 1})


# --- digest ---------------------------------------------------------------------------


def test_digest_format() -> None:
    array = np.arange(4, dtype=np.float32)
    sha = hashlib.sha1(array.tobytes()).hexdigest()[:8]
    assert digest(array) == f"shape (4,) float32 mean=1.5 std=1.118 min=0 max=3 sha1={sha}"


def test_digest_pattern_and_sensitivity() -> None:
    rng = np.random.default_rng(0)
    array = rng.standard_normal((1, 1000)).astype(np.float32)
    text = digest(array)
    pattern = r"^shape \(1, 1000\) float32 mean=\S+ std=\S+ min=\S+ max=\S+ sha1=[0-9a-f]{8}$"
    assert re.match(pattern, text)
    changed = array.copy()
    changed[0, 0] += 1e-3
    assert digest(changed).split("sha1=")[1] != text.split("sha1=")[1]


def test_digest_edge_cases() -> None:
    assert digest(np.zeros((0, 3), np.float32)).startswith("shape (0, 3) float32 empty sha1=")
    text = digest(np.array([1.0, np.nan, 3.0]))
    assert "mean=2 " in text and "nonfinite=1" in text


# --- isolation from the compiler --------------------------------------------------------


def test_fresh_import_does_not_load_dslc() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(RUNTIME_DIR), env.get("PYTHONPATH")]))
    code = (
        "import sys, dslc_runtime\n"
        "bad = sorted(m for m in sys.modules if m == 'dslc' or m.startswith('dslc.'))\n"
        "print('BAD', bad, 'ONNX', 'onnx' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=str(RUNTIME_DIR),
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "BAD [] ONNX False"


def _imported_modules(tree: ast.AST) -> list[str]:
    """Absolute module names imported anywhere in `tree`."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_runtime_sources_never_import_dslc() -> None:
    sources = sorted(RUNTIME_DIR.rglob("*.py"))
    assert any(p.name == "session.py" for p in sources)
    for path in sources:
        for name in _imported_modules(ast.parse(path.read_text(), str(path))):
            assert name != "dslc" and not name.startswith("dslc."), f"{path} imports {name}"


def test_package_exports() -> None:
    for name in (
        "Model",
        "RunError",
        "InputError",
        "TensorSpec",
        "digest",
        "fit_rank",
        "coerce_dtype",
    ):
        assert name in dslc_runtime.__all__
