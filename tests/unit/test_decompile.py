"""Issue 14: `dslc decompile MODEL.onnx`. The program it writes checks, compiles with the
weights `dslc weights MODEL.onnx --save` extracts, and gives the model's outputs on ONNX
Runtime, under the model's own weight names."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
ort = pytest.importorskip("onnxruntime")


def _dslc(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _outputs(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def _names(path: Path) -> list[str]:
    result = _dslc("weights", path, "--json")
    assert result.exit_code == 0, result.output
    return sorted(t["name"] for t in json.loads(result.stdout))


def _round_trip(model: Path, tmp: Path, shape: tuple[int, ...]) -> str:
    """Decompile, check, compile back with the extracted weights; the program's text."""
    program, weights, back = tmp / "back.xnet", tmp / "w.safetensors", tmp / "back.onnx"
    result = _dslc("decompile", model, "-o", program)
    assert result.exit_code == 0, result.output
    assert _dslc("check", program).exit_code == 0
    assert _dslc("weights", model, "--save", weights).exit_code == 0
    result = _dslc("compile", program, "--weights", weights, "-o", back)
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    want, got = _outputs(model, x), _outputs(back, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert _names(program) == _names(model)
    return program.read_text()


@pytest.mark.parametrize(
    ("zoo", "shape", "combinators"),
    [
        ("lenet5", (1, 32, 32), ()),
        ("resnet18", (3, 224, 224), ("residual<", "add<")),
        ("googlenet", (3, 224, 224), ("concat<",)),
    ],
)
def test_a_compiled_zoo_model_comes_back(
    zoo: str, shape: tuple[int, ...], combinators: tuple[str, ...], tmp_path: Path
) -> None:
    model = tmp_path / f"{zoo}.onnx"
    # without the declared preprocessing: the round trip compares float inputs
    src = ROOT / "models" / f"{zoo}.xnet"
    assert _dslc("compile", src, "-o", model, "--no-preprocess").exit_code == 0
    text = _round_trip(model, tmp_path, shape)
    assert all(c in text for c in combinators)


def test_decompile_prints_canonical_text(tmp_path: Path) -> None:
    model = tmp_path / "lenet5.onnx"
    assert _dslc("compile", ROOT / "models" / "lenet5.xnet", "-o", model).exit_code == 0
    text = _dslc("decompile", model).stdout
    assert text.startswith("network lenet5\ninput digit: 1 x 32 x 32\n")
    assert "conv5x5(6, pad=0)" in text and "avgpool2" in text and "dense(10)" in text
    (tmp_path / "p.xnet").write_text(text)
    assert _dslc("fmt", "--check", tmp_path / "p.xnet").exit_code == 0


def test_torchvision_resnet18_export_comes_back(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT / "tests"))
    from onnx_export import export
    from torchvision_shim import import_torchvision

    tv = import_torchvision()
    torch.manual_seed(0)
    path = tmp_path / "resnet18.onnx"
    export(tv.models.resnet18().eval(), (64, 64), "ts17", path)
    text = _round_trip(path, tmp_path, (3, 64, 64))
    assert text.startswith("network resnet18\ninput image: 3 x 64 x 64\n\nblock layer_unit =")
    # layer2, layer3 and layer4 are one block, up to their channels; layer1's units another
    assert "block layer(c) =" in text and text.count("residual<") == 2
    assert '-> layer1: ("0": layer_unit -> "1": layer_unit)' in text
    assert "-> layer3: layer(256)" in text and "-> layer4: layer(512)" in text


def test_no_folding_writes_every_layer(tmp_path: Path) -> None:
    model = tmp_path / "googlenet.onnx"
    assert _dslc("compile", ROOT / "models" / "googlenet.xnet", "-o", model).exit_code == 0
    folded, flat = _dslc("decompile", model).stdout, _dslc("decompile", model, "--no-fold").stdout
    assert "block inception(c, c2, c3, c4, c5, c6) =" in folded
    assert "inception4e: inception(256, 160, 320, 32, 128, 128)" in folded
    assert "block" not in flat and flat.count("concat<") == 9


def test_an_op_without_words_is_an_error_naming_it(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    node = helper.make_node("Sin", ["x"], ["y"], name="/features/wave/Sin")
    graph = helper.make_graph([node], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "sin.onnx"
    onnx.save(model, str(path))
    result = _dslc("decompile", path)
    assert result.exit_code == 1
    assert "features.wave" in result.output and "onnx_op" in result.output


def test_skips_and_a_resize_to_the_input_come_back(tmp_path: Path) -> None:
    source = tmp_path / "seg.xnet"
    source.write_text(
        "network seg\ninput image: 3 x 32 x 32\n"
        "conv3x3(8) -> relu -> maxpool2\n"
        "-> add<identity | conv3x3(8) -> relu -> conv1x1(8)>\n"
        "-> concat<conv1x1(4) | maxpool3(stride=1, pad=1) | identity>\n"
        "-> upsample(to=image, mode=bilinear) -> conv1x1(2)\n"
    )
    model = tmp_path / "seg.onnx"
    assert _dslc("compile", source, "-o", model).exit_code == 0
    text = _round_trip(model, tmp_path, (3, 32, 32))
    assert "residual<" in text and "concat<" in text and "upsample(to=image" in text


def test_torchvision_densenet_export_comes_back(tmp_path: Path) -> None:
    # each dense layer concatenates every earlier output: written with taps, in order
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT / "tests"))
    import torch
    from onnx_export import export
    from torchvision_shim import import_torchvision

    tv = import_torchvision()
    torch.manual_seed(0)
    net = tv.models.DenseNet(
        growth_rate=8, block_config=(3, 2), num_init_features=8, bn_size=2, num_classes=5
    )
    path = tmp_path / "densenet.onnx"
    export(net.eval(), (64, 64), "ts17", path)
    text = _round_trip(path, tmp_path, (3, 64, 64))
    assert "-> pool0: maxpool3(stride=2, pad=1) @t4" in text
    # the third layer reads the block's input and the first two layers' outputs
    assert text.count("concat<t4 | t11 | identity>") == 1
    assert text.count("concat<t4 | t11 | t18 | identity>") == 1
    assert "denselayer1: (\n            norm1: bn" in text  # its one-input concat left out


def test_crossing_skips_come_back_in_order_with_taps(tmp_path: Path) -> None:
    # relu's two readers do not meet again before `a`'s do: no nesting closes them
    source = tmp_path / "cross.xnet"
    source.write_text(
        "network cross\ninput image: 3 x 16 x 16\n"
        "conv3x3(8) @a -> relu @b -> conv3x3(8) -> add<identity | a>\n"
        "-> mul<identity | b -> conv1x1(8)> -> concat<identity | image>\n"
    )
    model = tmp_path / "cross.onnx"
    assert _dslc("compile", source, "-o", model).exit_code == 0
    text = _round_trip(model, tmp_path, (3, 16, 16))
    assert "-> add<identity | t1> @t4\n    -> t2\n    -> conv3: conv1x1(8)\n" in text
    assert "-> mul<t4 | identity>\n    -> concat<identity | image>\n" in text
