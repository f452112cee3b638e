"""`preprocess` and `labels`: parsed and formatted, compiled into the graph, equal to
torchvision.transforms on the same photos, and `dslc run --image --top` on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from dslc.cli import main
from dslc.compiler import compile_file
from dslc.source import SourceFile
from dslc.syntax.format import format_program
from dslc.syntax.parser import parse

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
Image = pytest.importorskip("PIL.Image")

NORM = "normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))"
LEVEL = 1 / 255 / 0.224  # one 8-bit level after normalisation (the smallest std)


def _net(folder: Path, resize: str = "256", crop: int = 224, extra: str = "") -> Path:
    (folder / "classes.txt").write_text("".join(f"class {i}\n" for i in range(10)))
    path = folder / "net.xnet"
    path.write_text(
        f"network net(classes = 10)\ninput image: 3 x {crop} x {crop}\n"
        f"preprocess image: resize({resize}) -> center_crop({crop}) -> {NORM}\n"
        f'labels "classes.txt"{extra}\n'
        "conv3x3(4, stride=4) -> relu -> gap -> flatten -> dense(classes)\n"
    )
    return path


def _compile(path: Path, *args: str) -> Path:
    out = path.with_suffix(".onnx")
    result = CliRunner().invoke(main, ["compile", str(path), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return out


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth pattern with noise: edges and flat parts, as in a photo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = [127 + 120 * np.sin(xx / 17 + c) * np.cos(yy / 23) for c in range(3)]
    return (np.stack(base, -1) + rng.normal(0, 20, (h, w, 3))).clip(0, 255).astype(np.uint8)


def _preprocessed(model: Path) -> Any:
    """A session whose extra output is the network's input: the pipeline's result."""
    m = onnx.load(str(model))
    m.graph.output.append(onnx.helper.make_tensor_value_info("image.image", 1, None))
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def test_the_statements_parse_and_format_back() -> None:
    text = (
        "network n(classes = 10)\ninput image: 3 x 32 x 32\n"
        "preprocess image: image(uint8, hwc) -> resize(36, mode=bicubic) -> center_crop(32)"
        " -> bgr\n"
        '    -> normalize(mean=0.5, std=0.25)\nlabels "c.txt" if classes == 10\nrelu\n'
    )
    program = parse(SourceFile("n.xnet", text))
    again = format_program(program)
    assert parse(SourceFile("n.xnet", again)) == program
    assert format_program(parse(SourceFile("n.xnet", again))) == again


def test_the_model_takes_uint8_images_of_any_size_and_records_its_pipeline(
    tmp_path: Path,
) -> None:
    model = onnx.load(str(_compile(_net(tmp_path))))
    onnx.checker.check_model(model, full_check=True)
    (inp,) = model.graph.input
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert (inp.type.tensor_type.elem_type, dims) == (2, ["N", "height", "width", 3])
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["dslc.labels"].split("\n") == [f"class {i}" for i in range(10)]
    (record,) = json.loads(meta["dslc.preprocess"])
    assert record["resize"] == [256] and record["crop"] == [224, 224] and record["in_graph"]
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for h, w in ((300, 451), (640, 257)):
        assert s.run(None, {"image": _photo(h, w)[None]})[0].shape == (1, 10)


@pytest.mark.parametrize(
    ("resize", "crop", "mode"),
    [(256, 224, "bilinear"), (342, 299, "bilinear"), (256, 224, "bicubic")],
)
def test_the_graph_computes_torchvision_transforms(
    tmp_path: Path, resize: int, crop: int, mode: str
) -> None:
    from torchvision_shim import import_torchvision

    import_torchvision()
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms._presets import ImageClassification

    interp = InterpolationMode.BILINEAR if mode == "bilinear" else InterpolationMode.BICUBIC
    reference = ImageClassification(crop_size=crop, resize_size=resize, interpolation=interp)
    session = _preprocessed(_compile(_net(tmp_path, f"{resize}, mode={mode}", crop)))
    # odd sizes, portrait and landscape, smaller than the resize (upsampling) and square
    for i, (h, w) in enumerate(((301, 457), (600, 333), (199, 511), (257, 260), (255, 255))):
        photo = _photo(h, w, i)
        want = reference(Image.fromarray(photo)).numpy()
        got = session.run(["image.image"], {"image": photo[None]})[0][0]
        assert got.shape == want.shape == (3, crop, crop)
        diff = np.abs(got - want)
        # bilinear: PIL's filter exactly, up to one 8-bit level of rounding; bicubic: a few
        # pixels differ by up to 5 levels (PIL's fixed-point cubic weights)
        assert diff.max() <= (1 if mode == "bilinear" else 6) * LEVEL + 1e-5
        assert diff.mean() <= 0.005


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, ["run", *args])


def test_run_image_prints_the_top_labels_with_probabilities(tmp_path: Path) -> None:
    model = _compile(_net(tmp_path))
    for name, (h, w) in {"cat.jpg": (300, 451), "dog.png": (500, 280)}.items():
        Image.fromarray(_photo(h, w)).save(tmp_path / name)
    result = _run(
        str(model),
        "--image",
        str(tmp_path / "cat.jpg"),
        "--image",
        str(tmp_path / "dog.png"),
        "--top",
        "5",
    )
    assert result.exit_code == 0, result.output
    blocks = result.output.split("image ")[1:]
    assert [b.splitlines()[0].split(":")[0] for b in blocks] == [
        str(tmp_path / "cat.jpg"),
        str(tmp_path / "dog.png"),
    ]
    for block in blocks:
        rows = [line.split() for line in block.splitlines()[1:]]
        assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]
        assert all(r[1] == "class" and 0 <= int(r[2]) < 10 for r in rows)
        probs = [float(r[3]) for r in rows]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    # the same photo through the network's float input, preprocessed by torchvision's rules
    # in Python (opset 17: no antialiased Resize in the graph), ranks the same classes
    old = _compile(tmp_path / "net.xnet", "--opset", "17")
    again = _run(str(old), "--image", str(tmp_path / "cat.jpg"), "--top", "5")
    assert again.exit_code == 0, again.output
    assert "done here with Pillow" in again.output
    rows = [line.split() for line in again.output.split("image ")[1].splitlines()[1:]]
    first = [line.split() for line in blocks[0].splitlines()[1:]]
    assert [r[:3] for r in rows] == [r[:3] for r in first]
    assert np.allclose([float(r[3]) for r in rows], [float(r[3]) for r in first], atol=2e-3)


def test_run_image_errors_are_plain(tmp_path: Path) -> None:
    model = _compile(_net(tmp_path))
    (tmp_path / "notes.jpg").write_text("not a photo")
    bad = _run(str(model), "--image", str(tmp_path / "notes.jpg"))
    assert bad.exit_code == 1 and "not an image format Pillow reads" in bad.output
    missing = _run(str(model), "--image", str(tmp_path / "none.jpg"))
    assert missing.exit_code == 1 and "cannot read image" in missing.output
    plain = tmp_path / "plain.xnet"
    plain.write_text("network p\ninput x: 3 x 8 x 8\ngap -> flatten -> dense(4)\n")
    none = _run(str(plain), "--image", str(tmp_path / "notes.jpg"))
    assert none.exit_code == 1 and "add a 'preprocess' line" in none.output
    both = _run(str(model), "--image", "a.jpg", "--input", "x.npy")
    assert both.exit_code == 1 and "without --input" in both.output


def test_labels_follow_their_condition_and_the_import_rules(tmp_path: Path) -> None:
    path = _net(tmp_path, extra=" if classes == 1000")
    assert compile_file(path).graph.labels == ()
    for where, why in (("/etc/hostname", "relative path"), ("../x.txt", "outside")):
        path.write_text(path.read_text().replace('"classes.txt" if classes == 1000', f'"{where}"'))
        result = CliRunner().invoke(main, ["check", str(path)])
        assert result.exit_code == 1 and "E0904" in result.output and why in result.output
        path = _net(tmp_path, extra=" if classes == 1000")


def test_the_zoo_declares_torchvision_transforms_and_labels() -> None:
    from torchvision_shim import import_torchvision

    models = import_torchvision().models
    root = Path(__file__).resolve().parents[2] / "models"
    labels = (root / "imagenet_classes.txt").read_text().splitlines()
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    assert labels == list(_IMAGENET_CATEGORIES)
    declared = [p for p in sorted(root.glob("*.xnet")) if "preprocess image" in p.read_text()]
    assert len(declared) == 30
    for path in declared:
        graph = compile_file(path).graph
        (p,) = graph.preprocess
        t = models.get_model_weights(path.stem).DEFAULT.transforms()
        assert (p.resize, p.crop) == (tuple(t.resize_size), (t.crop_size[0],) * 2), path.stem
        assert p.interpolation == t.interpolation.value and graph.labels == tuple(labels)
        assert (list(p.mean), list(p.std)) == (t.mean, t.std)


@pytest.mark.parametrize(
    ("steps", "code", "message"),
    [
        ("resize(36) -> resize(40) -> center_crop(32)", "E0901", "'resize' comes after 'resize'"),
        ("(resize(36) -> center_crop(32)) * 2", "E0901", "a plain call"),
        ("resize(36, size=40) -> center_crop(32)", "E0902", "'size' is given twice"),
        ("resize(36, 1, 2) -> center_crop(32)", "E0902", "at most 2 arguments"),
        ("resize(0) -> center_crop(32)", "E0902", "a side of 1 to 16384 pixels"),
        ("resize(36) -> center_crop(32) -> normalize(mean=(0, 0, 0))", "E0902", "needs 'std'"),
        ("image(layout=nhwc)", "E0902", "image layout must be hwc or chw"),
        ("resize(30) -> center_crop(32)", "E0903", "larger than the resized image's shorter"),
        ("resize((32, 40))", "E0903", "ends at 32 x 40, the input 'image' is 32 x 32"),
        ("center_crop(32)", "E0903", "needs a resize before it"),
    ],
)
def test_each_wrong_pipeline_is_refused_with_its_reason(
    tmp_path: Path, steps: str, code: str, message: str
) -> None:
    path = tmp_path / "n.xnet"
    path.write_text(f"network n\ninput image: 3 x 32 x 32\npreprocess image: {steps}\nrelu\n")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert f"error[{code}]" in result.output and message in result.output, result.output


def test_a_float_chw_pipeline_without_resize_takes_images_at_the_input_size(
    tmp_path: Path,
) -> None:
    path = tmp_path / "n.xnet"
    path.write_text(
        "network n\ninput image: 1 x 8 x 8\n"
        "preprocess image: image(float32, chw) -> normalize(mean=0.5, std=0.25)\nrelu\n"
    )
    model = onnx.load(str(_compile(path)))
    (inp,) = model.graph.input
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert (inp.type.tensor_type.elem_type, dims) == (1, ["N", 1, 8, 8])
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 1, 8, 8)
    (out,) = s.run(None, {"image": x})
    assert np.allclose(out, np.maximum((x - 0.5) / 0.25, 0), atol=1e-6)
