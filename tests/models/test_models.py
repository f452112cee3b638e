"""Every file in models/ compiles, passes the ONNX checker, runs on ONNX Runtime CPU, and its
summary matches a golden file (refresh with --update-golden)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from value_info import assert_value_info
from zoo import xnet_files

from dslc.backend.onnx import build, serialize, to_onnx, write
from dslc.compiler import compile_file, compile_source, parse_overrides
from dslc.report.summary import summary_json
from dslc.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ROOT / "models" / "lib"  # blocks imported by the zoo files, not networks
MODELS = sorted(
    p.relative_to(ROOT).as_posix()
    for p in xnet_files(ROOT / "models")
    if LIBRARIES not in p.parents
)
GOLDEN = Path(__file__).parent / "golden"

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # summaries name sources as models/..., relative to the root


_COMPILED: dict[str, Path] = {}


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Compile a zoo model once per test session, the way `dslc compile` writes it."""
    folder = tmp_path_factory.mktemp("zoo")

    def get(path: str) -> Path:
        if path not in _COMPILED:
            model, arrays = build(compile_file(ROOT / path))
            out = folder / (Path(path).stem + ".onnx")
            with out.open("wb") as f:
                write(model, arrays, f)
            _COMPILED[path] = out
        return _COMPILED[path]

    return get


def _feeds(session: Any, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in session.get_inputs():
        dims = [d if isinstance(d, int) else 32 for d in inp.shape]
        dims[0] = batch
        if inp.type == "tensor(uint8)":  # a photo, preprocessed in the graph
            feeds[inp.name] = rng.integers(0, 256, dims, dtype=np.uint8)
        else:
            feeds[inp.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


@pytest.mark.parametrize("path", MODELS)
def test_compiles_checks_and_runs(path: str, compiled: Callable[[str], Path]) -> None:
    onnx_path = compiled(path)
    onnx.checker.check_model(str(onnx_path), full_check=True)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, _feeds(session, batch=2))
    analysis = compile_file(path)
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
    constants = summary["totals"].get("constants", 0)
    assert sum(layer.get("constants", 0) for layer in layers) == constants
    if isinstance(summary["totals"]["macs"], int):
        assert sum(layer["macs"] for layer in layers) == summary["totals"]["macs"]


def _fixed(model: onnx.ModelProto) -> bool:
    """Whether every input's size is fixed but the batch's."""
    dims = [d for v in model.graph.input for d in v.type.tensor_type.shape.dim[1:]]
    return all(d.HasField("dim_value") for d in dims)


@pytest.mark.parametrize("path", MODELS)
def test_every_tensor_carries_its_shape(path: str, compiled: Callable[[str], Path]) -> None:
    # issue 14: the shape of every edge, as a viewer (Netron) shows it, in the file as written
    plain = onnx.load(str(compiled(path)))
    assert_value_info(plain, fixed=_fixed(plain))
    # folded, in float16 with float32 inputs, at the lowest opset (GELU written out)
    built, arrays = build(
        compile_file(path), optimize=True, dtype="float16", io_dtype="float32", opset=17
    )
    model = onnx.ModelProto.FromString(built.SerializeToString())  # the graph, no weights
    for name, array in arrays:  # inference needs the weights' dims, not their bytes
        model.graph.initializer.add(name=name, data_type=onnx.TensorProto.FLOAT16, dims=array.shape)
    assert_value_info(model, fixed=_fixed(model))


def test_shapes_inside_an_fcn_are_dslcs() -> None:
    built, _ = build(compile_file("models/fcn_resnet50.xnet"), optimize=True)
    model = onnx.ModelProto.FromString(built.SerializeToString())
    shapes = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in model.graph.value_info
    }
    assert shapes["backbone.bn1"] == ["N", 64, "H/2", "W/2"]  # the folded conv's output
    assert "backbone.conv1" not in shapes
    assert shapes["backbone.maxpool"] == ["N", 64, "H/4", "W/4"]
    assert shapes["classifier.4"] == ["N", 21, "H/8", "W/8"]


# The zoo as issue 3 lists it: torchvision's parameter counts, inputs and outputs.
ZOO = {
    "lenet5": (61_706, [1, 32, 32], 10),
    "alexnet": (61_100_840, [3, 224, 224], 1000),
    "vgg11": (132_863_336, [3, 224, 224], 1000),
    "vgg16": (138_357_544, [3, 224, 224], 1000),
    "vgg19": (143_667_240, [3, 224, 224], 1000),
    "vgg16_bn": (138_365_992, [3, 224, 224], 1000),
    "nin": (7_595_176, [3, 224, 224], 1000),
    "googlenet": (6_624_904, [3, 224, 224], 1000),
    "inception_v3": (23_834_568, [3, 299, 299], 1000),
    "resnet18": (11_689_512, [3, 224, 224], 1000),
    "resnet34": (21_797_672, [3, 224, 224], 1000),
    "resnet50": (25_557_032, [3, 224, 224], 1000),
    "resnet101": (44_549_160, [3, 224, 224], 1000),
    "resnet152": (60_192_808, [3, 224, 224], 1000),
    "wide_resnet50_2": (68_883_240, [3, 224, 224], 1000),
    "resnext50_32x4d": (25_028_904, [3, 224, 224], 1000),
    "densenet121": (7_978_856, [3, 224, 224], 1000),
    "densenet169": (14_149_480, [3, 224, 224], 1000),
    "densenet201": (20_013_928, [3, 224, 224], 1000),
    "squeezenet1_0": (1_248_424, [3, 224, 224], 1000),
    "squeezenet1_1": (1_235_496, [3, 224, 224], 1000),
    "fcn_resnet50": (32_957_013, [3, "H", "W"], 21),
    "fcn8s": (None, [3, "H", "W"], 21),
    "mnasnet1_0": (4_383_312, [3, 224, 224], 1000),
    "mobilenet_v2": (3_504_872, [3, 224, 224], 1000),
    "mobilenet_v3_small": (2_542_856, [3, 224, 224], 1000),
    "mobilenet_v3_large": (5_483_032, [3, 224, 224], 1000),
    "lraspp_mobilenet_v3_large": (3_221_538, [3, "H", "W"], 21),
    "efficientnet_b0": (5_288_548, [3, 224, 224], 1000),
    "efficientnet_b1": (7_794_184, [3, 240, 240], 1000),
    "efficientnet_v2_s": (21_458_488, [3, 384, 384], 1000),
    "shufflenet_v2_x1_0": (2_278_604, [3, 224, 224], 1000),
    "regnet_y_400mf": (4_344_144, [3, 224, 224], 1000),
    "regnet_x_400mf": (5_495_976, [3, 224, 224], 1000),
    "convnext_tiny": (28_589_128, [3, 224, 224], 1000),
    "deeplabv3_resnet50": (39_638_869, [3, "H", "W"], 21),
    # issue 12: the papers' own counts where torchvision has no such model
    "inception_v2": (11_295_240, [3, 224, 224], 1000),
    "wrn28_10": (36_479_194, [3, 32, 32], 10),
    "unet": (31_030_658, [1, "H", "W"], 2),
    "resnet20_cifar": (269_722, [3, 32, 32], 10),
}


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_parameters_inputs_and_outputs(name: str) -> None:
    params, image, classes = ZOO[name]
    s = summary_json(compile_file(f"models/{name}.xnet"))
    if params is not None:
        assert s["totals"]["params"] == params
    assert s["inputs"][0]["shape"] == ["N", *image]
    expected = ["N", classes, "H", "W"] if "H" in image else ["N", classes]  # per pixel or not
    assert s["outputs"][0]["shape"] == expected


def test_every_zoo_file_is_in_the_table() -> None:
    assert sorted(Path(m).stem for m in MODELS if "/" not in m[len("models/") :]) == sorted(ZOO)


# torchvision's published GMACs (a multiply-add counted once) at the listed input size.
@pytest.mark.parametrize(
    ("name", "gmacs"),
    [
        ("alexnet", 0.714),
        ("vgg16", 15.47),
        ("googlenet", 1.498),
        ("inception_v3", 5.713),
        ("resnet18", 1.814),
        ("resnet50", 4.089),
        ("resnet152", 11.514),
        ("densenet121", 2.834),
        ("squeezenet1_1", 0.349),
        ("mnasnet1_0", 0.314),
        ("mobilenet_v2", 0.301),
        ("mobilenet_v3_small", 0.057),
        ("mobilenet_v3_large", 0.217),
        ("efficientnet_b0", 0.386),
        ("efficientnet_b1", 0.687),
        ("efficientnet_v2_s", 8.366),
        ("shufflenet_v2_x1_0", 0.145),
        ("regnet_y_400mf", 0.402),
        ("regnet_x_400mf", 0.414),
        ("convnext_tiny", 4.456),
    ],
)
def test_macs_match_torchvision(name: str, gmacs: float) -> None:
    macs = summary_json(compile_file(f"models/{name}.xnet"))["totals"]["macs"]
    decimals = len(str(gmacs).partition(".")[2])  # as precise as the published figure
    assert round(macs / 1e9, decimals) == gmacs


@pytest.mark.parametrize(
    "name", ["fcn_resnet50", "fcn8s", "lraspp_mobilenet_v3_large", "deeplabv3_resnet50"]
)
def test_fcn_models_run_at_any_size(name: str, compiled: Callable[[str], Path]) -> None:
    session = ort.InferenceSession(
        str(compiled(f"models/{name}.xnet")), providers=["CPUExecutionProvider"]
    )
    for size in [(224, 224), (320, 480), (97, 131)]:
        image = np.random.default_rng(1).standard_normal((1, 3, *size)).astype(np.float32)
        (out,) = session.run(None, {"image": image})
        assert out.shape == (1, 21, *size)
        assert np.isfinite(out).all()


def test_lraspp_macs_at_520_match_torchvision() -> None:
    # torchvision publishes 2.086 GMACs at 520 x 520, a size its stride 16 does not divide
    path = "models/lraspp_mobilenet_v3_large.xnet"
    text = Path(path).read_text().replace("3 x H x W", "3 x 520 x 520")
    macs = summary_json(compile_source(SourceFile(path, text)))["totals"]["macs"]
    assert macs == 2_086_219_688  # torchvision's conv multiply-accumulates, counted there


@pytest.mark.parametrize(
    ("width", "params"), [(0.5, 1_968_680), (0.75, 2_636_424), (1.4, 6_108_776)]
)
def test_mobilenet_v2_width_multiplier(width: float, params: int) -> None:
    # torchvision's mobilenet_v2(width_mult=...) counts: widths rounded by make_divisible
    overrides = parse_overrides([f"width={width}"])
    s = summary_json(compile_file("models/mobilenet_v2.xnet", overrides))
    assert s["totals"]["params"] == params


def test_resnet50_bn_buffers_are_separate() -> None:
    totals = summary_json(compile_file("models/resnet50.xnet"))["totals"]
    assert totals["buffers"] == 53_120  # running mean + var of every batch norm


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("models/lecture/stacked_3x3.xnet", 20, 5),
        ("models/lecture/single_5x5.xnet", 26, 5),
        ("models/lecture/factorised_1x3.xnet", 16, 5),
        ("models/lecture/rf_pool.xnet", 20, 8),
    ],
)
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


@pytest.mark.parametrize(
    ("name", "stages", "rate", "total"),
    [
        ("convnext_tiny", [3, 3, 9, 3], 0.1, 17),  # features.1, .3, .5, .7
        ("efficientnet_b0", [1, 2, 2, 3, 3, 4, 1], 0.2, 16),  # features.1 .. 7
    ],
)
def test_stochastic_depth_rates_are_torchvisions(
    name: str, stages: list[int], rate: float, total: int
) -> None:
    # block k of the network (counted from 0 over all stages) drops its branch with
    # probability rate * k / total, as torchvision sets it
    from dslc.ir.ops import StochasticDepthAttrs

    graph = compile_file(f"models/{name}.xnet").graph
    got = {n.name: n.attrs.p for n in graph.nodes if isinstance(n.attrs, StochasticDepthAttrs)}
    first = [sum(stages[:s]) for s in range(len(stages))]
    feature = (lambda s: 2 * s + 1) if name.startswith("convnext") else (lambda s: s + 1)
    want = {}
    for s, n in enumerate(stages):
        for i in range(n):
            key = f"features.{feature(s)}.{i}.stochastic_depth"
            if key in got:
                want[key] = rate * (first[s] + i) / total
    assert len(want) == len(got) >= 9
    assert got == pytest.approx(want)
