"""Issue 14: `dslc summary MODEL.onnx`. torchvision's counterparts of zoo models, exported
with torch.onnx.export, give the zoo .xnet's params, MACs, output shapes and receptive field;
and what `dslc compile` writes comes back with the source's summary.

The torchvision part is a representative subset, each exporter at least once (CI time);
bench/onnx_import.py checks every model with every exporter (bench/README.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dslc.cli import main
from dslc.compiler import compile_file
from dslc.report.summary import summary_json

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

SUBSET = [
    ("resnet18", "ts17"),
    ("mobilenet_v2", "ts18"),
    ("googlenet", "ts18"),
    ("squeezenet1_0", "dynamo"),
    ("shufflenet_v2_x1_0", "ts17"),
    ("efficientnet_b0", "ts17"),
]  # densenet121 and the dynamo exports of the larger models: bench/onnx_import.py


def _figures(analysis: Any) -> dict[str, Any]:
    s = summary_json(analysis)
    return {
        "params": s["totals"]["params"],
        "buffers": s["totals"]["buffers"],
        "macs": s["totals"]["macs"],
        "outputs": [o["shape"] for o in s["outputs"]],
        "rf": s["receptive_field"],
    }


def _export(name: str, exporter: str, folder: Path) -> Path:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript" if exporter == "dynamo" else "onnx")
    from onnx_export import export
    from test_torchvision import MODELS

    path = folder / f"{name}.{exporter}.onnx"
    if not path.exists():
        make, size = MODELS[name]
        torch.manual_seed(0)
        export(make().eval(), size, exporter, path)
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.mark.parametrize(("name", "exporter"), SUBSET, ids=[f"{n}-{e}" for n, e in SUBSET])
def test_torchvision_export_has_the_zoo_figures(name: str, exporter: str, exports: Path) -> None:
    path = _export(name, exporter, exports)
    analysis = compile_file(path)
    assert analysis.warnings == ()
    assert _figures(analysis) == _figures(compile_file(ROOT / "models" / f"{name}.xnet"))


def test_torchscript_scopes_become_the_module_tree(exports: Path) -> None:
    path = _export("resnet18", "ts17", exports)
    result = CliRunner().invoke(main, ["summary", str(path), "--depth", "1"])
    assert result.exit_code == 0, result.output
    rows = [line.split()[0] for line in result.stdout.splitlines()[4:15]]
    assert rows == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "flatten",
        "fc",
    ]
    names = [n.name for n in compile_file(path).graph.nodes]
    assert "layer2.0.downsample.0" in names and "layer1.0.add" in names


def _strip(analysis: Any) -> dict[str, Any]:
    d: dict[str, Any] = json.loads(json.dumps(summary_json(analysis)))
    d.pop("network")
    d.pop("preprocess", None)  # the pipeline and labels stay in the .xnet (compiled with
    d.pop("labels", None)  # --no-preprocess below): the network is what is read back
    for layer in d["layers"]:
        layer.pop("source")
    return d


# What compiling lowers, so that the file read back names it otherwise (its figures agree, but
# the summary's op column and the FLOPs of a no-op do not): an adaptive pool written as
# Identity or AveragePool, stochastic depth as Identity, ConvNeXt's linear layers as 1x1
# convs, and deeplab's peak (ASPP's resize written with the Shape it reads keeps a tensor
# alive longer).
CHANGED_BY_COMPILE = {
    "alexnet", "vgg11", "vgg16", "vgg16_bn", "vgg19", "squeezenet1_0", "squeezenet1_1",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_v2_s", "convnext_tiny",
    "deeplabv3_resnet50",
}  # fmt: skip
ZOO = sorted(p.stem for p in (ROOT / "models").glob("*.xnet"))


@pytest.mark.parametrize("name", [n for n in ZOO if n not in CHANGED_BY_COMPILE])
def test_compiled_zoo_model_reads_back_with_the_same_summary(name: str, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.onnx"
    result = CliRunner().invoke(
        main,
        [
            "compile",
            str(ROOT / "models" / f"{name}.xnet"),
            *("-o", str(out), "--no-optimize", "--no-preprocess"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert _strip(compile_file(out)) == _strip(compile_file(ROOT / "models" / f"{name}.xnet"))


def test_weights_of_an_onnx_model_compile_back_to_its_outputs(exports: Path) -> None:
    """`dslc weights MODEL.onnx --save W` writes the model's own weights under dslc's names;
    compiling the model with them computes what the exported model computes."""
    np = pytest.importorskip("numpy")
    ort = pytest.importorskip("onnxruntime")
    path = _export("resnet18", "ts17", exports)
    w, out = exports / "resnet18.safetensors", exports / "resnet18.dslc.onnx"
    runner = CliRunner()
    result = runner.invoke(main, ["weights", str(path), "--save", str(w)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout and "(102 tensors)" in result.stdout
    result = runner.invoke(main, ["compile", str(path), "--weights", str(w), "-o", str(out)])
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    ys = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
        for p in (path, out)
    ]
    assert ys[0].shape == ys[1].shape == (2, 1000)
    np.testing.assert_allclose(ys[1], ys[0], rtol=1e-4, atol=1e-4)


def test_an_op_without_a_layer_is_named_and_the_rest_analysed(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "odd.onnxtxt"
    path.write_text(
        '<ir_version: 8, opset_import: ["" : 17]>\n'
        "odd (float[N,3,16,16] image) => (float[N,4] out)\n"
        "<float[4,3,3,3] conv_w = {"
        + ", ".join(["1"] * 108)
        + "}, float[4] conv_b = {0, 0, 0, 0}>\n"
        "{\n    c = Conv <pads = [1, 1, 1, 1]> (image, conv_w, conv_b)\n"
        "    s = Sin (c)\n    g = GlobalAveragePool (s)\n    out = Flatten (g)\n}\n"
    )
    result = CliRunner().invoke(main, ["summary", str(path)])
    assert result.exit_code == 0, result.output
    assert "error[E0802]: 's' (ai.onnx Sin) is not analysed: dslc has no layer for this op" in (
        result.stderr
    )
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[4:8]}
    assert rows["conv1"][2:9] == ["N", "x", "4", "x", "16", "x", "16"]
    assert rows["sin1"][1] == "onnx_op" and rows["sin1"][-2] == "-"  # its field is unknown
    assert "Trainable params:  112" in result.stdout
    check = CliRunner().invoke(main, ["check", str(path)])
    assert check.exit_code == 1
    compiled = CliRunner().invoke(main, ["compile", str(path), "-o", str(tmp_path / "o.onnx")])
    assert compiled.exit_code == 1 and "E0802" in compiled.stderr


def test_named_dims_stay_symbolic_and_take_sizes(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "fcn.onnxtxt"
    weights = ", ".join(["1"] * 4 * 3 * 9)
    path.write_text(
        '<ir_version: 8, opset_import: ["" : 17]>\n'
        "fcn (float[batch,3,H,W] image) => (float[batch,4,H,W] out)\n"
        f"<float[4,3,3,3] down_w = {{{weights}}}>\n"
        "{\n    d = Conv <pads = [1, 1, 1, 1], strides = [2, 2]> (image, down_w)\n"
        "    r = Relu (d)\n"
        "    s = Constant <value = float[4] {1, 1, 2, 2}> ()\n"
        '    out = Resize <mode = "nearest"> (r, , s)\n}\n'
    )
    analysis = compile_file(path)
    s = summary_json(analysis)
    assert s["inputs"][0]["shape"] == ["N", 3, "H", "W"]
    assert [layer["output_shape"] for layer in s["layers"]] == [
        ["N", 4, "H/2", "W/2"],
        ["N", 4, "H/2", "W/2"],
        ["N", 4, "H", "W"],
    ]
    assert s["totals"]["macs"] == "27*H*W"
    result = CliRunner().invoke(main, ["summary", str(path), "--size", "H=64,W=32", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["macs"] == 27 * 64 * 32


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "no graph"),
        (b"hello world", "wire type 4"),
        (bytes(range(256)) * 40, "not an ONNX model"),
        (b"\x08\x08\x3a\xff\xff\x03", "truncated"),
    ],
)
def test_a_file_that_is_not_an_onnx_model_is_e0801(
    content: bytes, why: str, tmp_path: Path
) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["summary", str(path)])
    assert result.exit_code == 1
    assert "error[E0801]" in result.stderr and why in result.stderr
    assert "Traceback" not in result.output


def test_a_malformed_node_is_named_not_a_crash(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "bad.onnxtxt"
    path.write_text(
        '<ir_version: 8, opset_import: ["" : 17]>\n'
        "bad (float[N,3,8,8] image) => (float[N,3,8,8] out)\n"
        "{\n    c = Conv (image)\n    out = Relu (c)\n}\n"
    )
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert "'c' (ai.onnx Conv) is not analysed: its inputs or attributes are not" in result.stderr
    assert "the 1 node computed from it is not analysed" in result.stderr


def test_a_model_with_its_preprocessing_in_the_graph_reads_back_as_the_network(
    tmp_path: Path,
) -> None:
    src = ROOT / "models" / "resnet18.xnet"
    with_pre, without = tmp_path / "with.onnx", tmp_path / "without.onnx"
    for out, extra in ((with_pre, ()), (without, ("--no-preprocess",))):
        args = ["compile", str(src), "-o", str(out), "--no-optimize", *extra]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    analysis = compile_file(with_pre)
    assert not analysis.warnings  # no E0802 for the pipeline's Cast, Resize, Slice ...
    assert _strip(analysis) == _strip(compile_file(without))
    assert [n.name for n in analysis.graph.nodes][:2] == ["image", "conv1"]
