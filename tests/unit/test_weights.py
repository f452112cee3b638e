"""Pretrained weights: `dslc weights`, `dslc compile --weights`, the .safetensors/.npz readers,
and every way a weights file can fail to fit."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner, Result
from onnx import numpy_helper

from dslc.backend.weights import read, save_safetensors
from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "models" / "lenet5.xnet"
NET = """network small(classes = 3)
input x: 2 x 8 x 8
block unit(c) = conv1: conv3x3(c, bias=false) -> bn1: bn -> relu
stem: [conv3x3(4) -> relu] -> layer1: unit(4) -> gap -> flatten -> fc: dense(classes)
"""
EXPECTED = [
    ("stem.0.weight", [4, 2, 3, 3]),
    ("stem.0.bias", [4]),
    ("layer1.conv1.weight", [4, 4, 3, 3]),
    ("layer1.bn1.weight", [4]),
    ("layer1.bn1.bias", [4]),
    ("layer1.bn1.running_mean", [4]),
    ("layer1.bn1.running_var", [4]),
    ("fc.weight", [3, 4]),
    ("fc.bias", [3]),
]
ort = pytest.importorskip("onnxruntime")


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def net(tmp_path: Path) -> Path:
    path = tmp_path / "small.xnet"
    path.write_text(NET, encoding="utf-8")
    return path


def _random(seed: int = 7) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    out = {name: g.standard_normal(shape).astype(np.float32) for name, shape in EXPECTED}
    out["layer1.bn1.running_var"] = np.abs(out["layer1.bn1.running_var"]) + 0.5
    return out


def _initializers(path: Path) -> dict[str, np.ndarray]:
    model = onnx.load(str(path))
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return np.asarray(out)


# ---- dslc weights ----


def test_weights_lists_names_shapes_and_dtypes(net: Path) -> None:
    result = _invoke("weights", net, "--json")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [(t["name"], t["shape"]) for t in listed] == EXPECTED
    assert {t["dtype"] for t in listed} == {"float32"}


def test_weights_table(net: Path) -> None:
    result = _invoke("weights", net)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Name", "Shape", "Dtype"]
    assert lines[1].split() == ["stem.0.weight", "(4,", "2,", "3,", "3)", "float32"]
    assert lines[-1] == "9 tensors, 251 values"


def test_weights_of_a_fixed_kernel_network() -> None:
    result = _invoke("weights", ROOT / "models" / "lecture" / "laplacian.xnet")
    assert result.exit_code == 0
    assert "expects no weights" in result.stdout


def test_zoo_names_are_torchvision_state_dict_keys() -> None:
    listed = json.loads(_invoke("weights", ROOT / "models" / "resnet50.xnet", "--json").stdout)
    names = {t["name"]: t["shape"] for t in listed}
    assert names["layer3.4.conv2.weight"] == [256, 256, 3, 3]
    assert names["layer2.0.downsample.0.weight"] == [512, 256, 1, 1]
    assert names["layer2.0.downsample.1.running_var"] == [512]
    assert names["bn1.running_var"] == [64] and names["fc.weight"] == [1000, 2048]
    assert len(names) == 267  # torchvision's 320 state_dict entries less 53 num_batches_tracked
    vgg = json.loads(_invoke("weights", ROOT / "models" / "vgg16.xnet", "--json").stdout)
    assert [t["name"] for t in vgg][:2] == ["features.0.weight", "features.0.bias"]
    assert [t["name"] for t in vgg][-2:] == ["classifier.6.weight", "classifier.6.bias"]


# ---- round trips ----


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_round_trip_initializers_and_outputs(net: Path, tmp_path: Path, suffix: str) -> None:
    weights = _random()
    weights["layer1.bn1.num_batches_tracked"] = np.array(12, np.int64)  # ignored
    w = tmp_path / f"w{suffix}"
    if suffix == ".npz":
        np.savez(w, **weights)  # type: ignore[arg-type]
    else:
        save_safetensors(w, weights)
    out = tmp_path / "loaded.onnx"
    result = _invoke("compile", net, "-o", out, "--weights", w, "--no-optimize")
    assert result.exit_code == 0, result.stderr
    assert f"weights from {w}" in result.stdout
    inits = _initializers(out)
    assert set(inits) == {name for name, _ in EXPECTED}
    for name, _ in EXPECTED:
        assert np.array_equal(inits[name], weights[name]), name
    # the outputs are those of the same graph with the initializers replaced by hand
    plain = tmp_path / "plain.onnx"
    assert _invoke("compile", net, "-o", plain, "--no-optimize").exit_code == 0
    model = onnx.load(str(plain))
    for t in model.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(weights[t.name], t.name))
    by_hand = tmp_path / "by_hand.onnx"
    onnx.save(model, str(by_hand))
    x = np.random.default_rng(0).standard_normal((2, 2, 8, 8)).astype(np.float32)
    assert np.array_equal(_run(out, x), _run(by_hand, x))
    assert not np.allclose(_run(out, x), _run(plain, x))
    # the optimised graph (batch norm folded into the conv) computes the same up to rounding
    folded = tmp_path / "folded.onnx"
    assert _invoke("compile", net, "-o", folded, "--weights", w).exit_code == 0
    assert "layer1.bn1.running_var" not in _initializers(folded)
    np.testing.assert_allclose(_run(folded, x), _run(by_hand, x), rtol=1e-5, atol=1e-5)


def test_save_then_load_is_the_identity(tmp_path: Path) -> None:
    saved = tmp_path / "init.safetensors"
    assert _invoke("weights", LENET, "--save", saved, "--seed", "5").exit_code == 0
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    assert _invoke("compile", LENET, "-o", a, "--seed", "5").exit_code == 0
    assert _invoke("compile", LENET, "-o", b, "--weights", saved, "--seed", "5").exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert _invoke("weights", LENET, "--check", saved).exit_code == 0


def test_safetensors_reader_matches_the_format(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "I64", "shape": [], "data_offsets": [16, 24]},
        "__metadata__": {"format": "pt"},
    }
    text = json.dumps(header).encode()
    body = np.arange(4, dtype="<f4").tobytes() + np.array(9, "<i8").tobytes()
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    out = read(path)
    assert out["a"].tolist() == [[0, 1], [2, 3]] and out["b"].tolist() == 9


# ---- weights that do not fit: reported together, before anything is written ----


def _fails(net: Path, tmp_path: Path, weights: dict[str, np.ndarray]) -> Result:
    w = tmp_path / "bad.safetensors"
    save_safetensors(w, weights)
    out = tmp_path / "out.onnx"
    out.write_bytes(b"previous")
    result = _invoke("compile", net, "-o", out, "--weights", w)
    assert result.exit_code == 1
    assert out.read_bytes() == b"previous"  # untouched
    assert "Traceback" not in result.output
    return result


def test_missing_tensor(net: Path, tmp_path: Path) -> None:
    weights = _random()
    del weights["fc.bias"], weights["layer1.bn1.running_mean"]
    result = _fails(net, tmp_path, weights)
    assert (
        "error[E0701]: " + str(tmp_path / "bad.safetensors") + " lacks 2 tensors the "
        "network needs: 'layer1.bn1.running_mean', 'fc.bias'"
    ) in result.stderr
    assert "help: list what the network expects with 'dslc weights FILE.xnet'" in result.stderr


def test_unexpected_tensor_with_a_close_match(net: Path, tmp_path: Path) -> None:
    weights = _random()
    weights["layer1.bn1.runing_var"] = weights.pop("layer1.bn1.running_var")
    weights["head.weight"] = np.zeros((3, 4), np.float32)
    result = _fails(net, tmp_path, weights)
    err = result.stderr
    assert "error[E0702]: " in err and "does not expect: 'layer1.bn1.runing_var' (4)" in err
    assert "help: did you mean 'layer1.bn1.running_var'?" in err
    assert "does not expect: 'head.weight' (3, 4)" in err
    assert "lacks 1 tensor the network needs: 'layer1.bn1.running_var'" in err
    assert "3 errors found" in err


def test_shape_and_dtype_mismatch(net: Path, tmp_path: Path) -> None:
    weights = _random()
    weights["fc.weight"] = np.zeros((4, 3), np.float32)
    weights["stem.0.bias"] = weights["stem.0.bias"].astype(np.float16)
    err = _fails(net, tmp_path, weights).stderr
    assert (
        "error[E0703]: 'fc.weight' has shape (4, 3) in " in err
        and "the network expects (3, 4)" in err
    )
    assert "error[E0704]: 'stem.0.bias' is float16 in " in err
    assert "help: save the weights as float32" in err


def test_not_a_weights_file(net: Path, tmp_path: Path) -> None:
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"\xff" * 64)
    result = _invoke("compile", net, "-o", tmp_path / "o.onnx", "--weights", bad)
    assert result.exit_code == 1
    assert "error[E0705]: cannot read weights from" in result.stderr
    assert "header length is corrupt" in result.stderr
    other = tmp_path / "w.pt"
    other.write_bytes(b"x")
    result = _invoke("compile", net, "-o", tmp_path / "o.onnx", "--weights", other)
    assert "unknown format '.pt'" in result.stderr and result.exit_code == 1
    assert not (tmp_path / "o.onnx").exists()


def test_npz_with_objects_is_refused_without_unpickling(net: Path, tmp_path: Path) -> None:
    w = tmp_path / "w.npz"
    np.savez(w, **{"fc.weight": np.array([object()], dtype=object)})
    result = _invoke("compile", net, "-o", tmp_path / "o.onnx", "--weights", w)
    assert result.exit_code == 1
    assert "error[E0705]" in result.stderr and "pickle" in result.stderr


def test_without_the_safetensors_package_the_error_names_the_extra(
    net: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = tmp_path / "w.safetensors"
    save_safetensors(w, _random())
    for name in ("safetensors", "safetensors.numpy"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    result = _invoke("compile", net, "-o", tmp_path / "o.onnx", "--weights", w)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error[E0705]" in result.stderr and "pip install 'dslc[weights]'" in result.stderr
    result = _invoke("weights", net, "--save", tmp_path / "s.safetensors")
    assert result.exit_code == 1
    assert "pip install 'dslc[weights]'" in result.stderr
    assert not (tmp_path / "o.onnx").exists() and not (tmp_path / "s.safetensors").exists()
    assert _invoke("weights", net, "--save", tmp_path / "s.npz").exit_code == 0  # npz: numpy
