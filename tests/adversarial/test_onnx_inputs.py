"""Every command that reads an ONNX model fed hostile and unlucky .onnx files: bytes that are
not a model, graphs ONNX Runtime would refuse, malformed nodes, stored tensors whose data does
not fit, external data pointing out of the model's folder, names with terminal escapes.

Decisions tested here: a file that is not a model is E0801; a graph ONNX Runtime would not
run (a name nothing defines, a tensor defined twice, a node without output, a cycle) is E0804,
and nodes merely out of order are sorted as ONNX Runtime sorts them; stored data that does not
fit its dims is E0805; external data is read as ONNX Runtime reads it (a regular file inside
the model's folder, no absolute path, no `..`, no link out), and only when a value is needed
(`dslc weights --save` says E0805 when it cannot be); a malformed node is an E0802 opaque node;
names are shown with control characters escaped. Never exit 3, never a hang."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner, Result
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

from dslc.cli import main

ANALYSES = ("summary", "check", "rf", "graph", "decompile", "weights")


def _model(
    nodes: list[onnx.NodeProto] | None = None,
    inits: list[TensorProto] | None = None,
    shape: list[int | str] | None = None,
    out: list[int | str] | None = None,
) -> onnx.ModelProto:
    """x (N x 3 x 8 x 8) through a 1x1 conv with 2 filters, unless told otherwise."""
    w = nh.from_array(np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1), "w")
    nodes = nodes if nodes is not None else [h.make_node("Conv", ["x", "w"], ["y"], name="conv")]
    graph = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info("x", TensorProto.FLOAT, shape or ["N", 3, 8, 8])],
        [h.make_tensor_value_info("y", TensorProto.FLOAT, out)],
        initializer=[w, *(inits or [])],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _save(tmp_path: Path, model: onnx.ModelProto | bytes, name: str = "m.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    return path


def _invoke(command: str, path: Path, tmp_path: Path) -> Result:
    extra = {
        "graph": ["-o", str(tmp_path / "g.dot")],
        "decompile": ["-o", str(tmp_path / "d.xnet")],
        "weights": ["--save", str(tmp_path / "w.safetensors")],
    }.get(command, [])
    return CliRunner().invoke(main, [command, str(path), *extra])


def _clean(result: Result) -> None:
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    assert "\x1b" not in result.output


def _refused(result: Result, code: str, *words: str) -> None:
    _clean(result)
    assert result.exit_code == 1, result.output
    assert code in result.output, result.output
    for word in words:
        assert word in result.output, result.output


# ---- bytes that are not a model ----


def _truncations() -> list[bytes]:
    data = _model().SerializeToString()
    return [data[:k] for k in (1, 2, 5, 10, len(data) // 2, len(data) - 1)]


NOT_MODELS: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "random": lambda: np.random.default_rng(0).bytes(4096),
    "tensor proto": lambda: nh.from_array(np.ones(3, np.float32), "t").SerializeToString(),
    "11-byte varint": lambda: b"\x08" + b"\xff" * 10 + b"\x01",
    "length 2^63": lambda: b"\x3a" + b"\xff" * 8 + b"\x7f",
    "deep nesting": lambda: _nested(3000),
}


def _varint(n: int) -> bytes:
    out = b""
    while n > 0x7F:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def _nested(depth: int) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = b"\x2a" + _varint(len(inner)) + inner
    return b"\x08\x08\x3a" + _varint(len(inner)) + inner


@pytest.mark.parametrize("kind", sorted(NOT_MODELS))
def test_bytes_that_are_not_a_model(tmp_path: Path, kind: str) -> None:
    path = _save(tmp_path, NOT_MODELS[kind]())
    for command in ("summary", "decompile", "weights"):
        _refused(_invoke(command, path, tmp_path), "E0801", "not an ONNX model")


def test_a_model_truncated_anywhere(tmp_path: Path) -> None:
    for k, data in enumerate(_truncations()):
        path = _save(tmp_path, data, f"t{k}.onnx")
        _refused(_invoke("summary", path, tmp_path), "E0801")


# ---- graphs ONNX Runtime would refuse ----

MALFORMED: dict[str, tuple[list[onnx.NodeProto], str]] = {
    "cycle": (
        [
            h.make_node("Conv", ["x", "w"], ["c"]),
            h.make_node("Add", ["c", "z"], ["y"]),
            h.make_node("Relu", ["y"], ["z"]),
        ],
        "cycle",
    ),
    "self loop": ([h.make_node("Add", ["x", "y"], ["y"])], "cycle"),
    "dangling": (
        [h.make_node("Conv", ["x", "w"], ["c"]), h.make_node("Add", ["c", "ghost"], ["y"])],
        "reads 'ghost', which nothing defines",
    ),
    "defined twice": (
        [h.make_node("Conv", ["x", "w"], ["y"]), h.make_node("Relu", ["x"], ["y"])],
        "tensor 'y' is defined twice",
    ),
    "redefines an input": (
        [h.make_node("Relu", ["x"], ["x"]), h.make_node("Conv", ["x", "w"], ["y"])],
        "tensor 'x' is defined twice",
    ),
    "no output": (
        [h.make_node("Conv", ["x", "w"], ["y"]), h.make_node("Relu", ["y"], [])],
        "node 2 (Relu) has no output",
    ),
    "one node name twice": (
        [
            h.make_node("Conv", ["x", "w"], ["c"], name="n"),
            h.make_node("Relu", ["c"], ["y"], name="n"),
        ],
        "two nodes are named 'n'",
    ),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_graphs_onnx_runtime_refuses(tmp_path: Path, kind: str) -> None:
    nodes, words = MALFORMED[kind]
    path = _save(tmp_path, _model(nodes))
    for command in ANALYSES:
        _refused(_invoke(command, path, tmp_path), "E0804", words)


def test_graph_inputs_and_outputs_onnx_runtime_refuses(tmp_path: Path) -> None:
    """An input declared twice and an output nothing computes were analysed as if fine."""
    model = _model()
    model.graph.input.append(model.graph.input[0])
    _refused(
        _invoke("check", _save(tmp_path, model), tmp_path), "E0804", "input 'x' is declared twice"
    )
    model = _model()
    model.graph.output.append(h.make_tensor_value_info("z", TensorProto.FLOAT, None))
    path = _save(tmp_path, model, "z.onnx")
    _refused(_invoke("summary", path, tmp_path), "E0804", "output 'z' is a name nothing defines")


def test_a_tensor_stored_twice_is_read_as_onnx_runtime_reads_it(tmp_path: Path) -> None:
    """ONNX Runtime takes the last of two stored tensors of one name (with a warning)."""
    model = _model(out=["N", 2, 8, 8])
    model.graph.initializer.insert(0, nh.from_array(np.zeros((2, 3, 1, 1), np.float32), "w"))
    path = _save(tmp_path, model)
    result = _invoke("weights", path, tmp_path)
    _clean(result)
    from safetensors.numpy import load_file

    saved = load_file(str(tmp_path / "w.safetensors"))
    assert saved["conv.weight"].reshape(-1).tolist() == list(range(6))


def _summary(path: Path) -> dict[str, object]:
    result = CliRunner().invoke(main, ["summary", str(path), "--json"])
    _clean(result)
    out: dict[str, object] = json.loads(result.stdout)
    return out


def _ort_shape(path: Path, batch: int = 2) -> tuple[int, ...]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((batch, 3, 8, 8)).astype(np.float32)
    return tuple(session.run(None, {"x": x})[0].shape)


def _dslc_shape(path: Path, batch: int = 2) -> tuple[int, ...]:
    outputs = _summary(path)["outputs"]
    assert isinstance(outputs, list) and len(outputs) == 1, outputs
    return tuple(batch if d == "N" else d for d in outputs[0]["shape"])


UNUSUAL: dict[str, list[onnx.NodeProto]] = {
    # legal, and ONNX Runtime sorts it: the nodes in reverse order
    "out of order": [
        h.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
    ],
    "same-upper padding, stride 3": [
        h.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[3, 3]),
    ],
    "identity chain, unnamed nodes": [
        h.make_node("Identity", ["x"], ["a"]),
        h.make_node("Identity", ["a"], ["b"]),
        h.make_node("Conv", ["b", "w"], ["c"], dilations=[1, 1], group=1),
        h.make_node("AveragePool", ["c"], ["y"], kernel_shape=[3, 3], ceil_mode=1, strides=[2, 2]),
    ],
}


@pytest.mark.parametrize("kind", sorted(UNUSUAL))
def test_accepted_unusual_models_agree_with_onnx_runtime(tmp_path: Path, kind: str) -> None:
    path = _save(tmp_path, _model(UNUSUAL[kind]))
    assert _dslc_shape(path) == _ort_shape(path)
    assert _summary(path)["totals"]["params"] == 6  # type: ignore[index]


def _run_ort(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(None, {session.get_inputs()[0].name: x})[0]
    return out


@pytest.mark.parametrize("kind", sorted(UNUSUAL))
def test_accepted_unusual_models_decompile_and_compile_back(tmp_path: Path, kind: str) -> None:
    """decompile, weights --save, compile --weights: the model ONNX Runtime computes again,
    also with names full of quotes, slashes and braces."""
    nodes = UNUSUAL[kind]
    for k, node in enumerate(nodes):
        node.name = f'/m"od\\ule{{{k}}}/{node.op_type}'
    path = _save(tmp_path, _model(nodes))
    runner = CliRunner()
    xnet, weights, back = tmp_path / "m.xnet", tmp_path / "w.safetensors", tmp_path / "c.onnx"
    for args in (
        ["decompile", str(path), "-o", str(xnet)],
        ["weights", str(path), "--save", str(weights)],
        ["compile", str(xnet), "--weights", str(weights), "-o", str(back)],
    ):
        result = runner.invoke(main, args)
        _clean(result)
        assert result.exit_code == 0, result.output
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run_ort(back, x), _run_ort(path, x), atol=1e-5)


# ---- malformed nodes: opaque, never a crash ----

ODD_NODES: dict[str, list[onnx.NodeProto]] = {
    "Shape without input": [
        h.make_node("Conv", ["x", "w"], ["y"]),
        h.make_node("Shape", [], ["s"]),
    ],
    "CastLike with one input": [
        h.make_node("Conv", ["x", "w"], ["y"]),
        h.make_node("Constant", [], ["k"], value=nh.from_array(np.ones(1, np.float32))),
        h.make_node("CastLike", ["k"], ["s"]),
    ],
    "Gather past a shape's end": [
        h.make_node("Conv", ["x", "w"], ["y"]),
        h.make_node("Shape", ["x"], ["s"]),
        h.make_node("Constant", [], ["i"], value=nh.from_array(np.array(99, np.int64))),
        h.make_node("Gather", ["s", "i"], ["g"]),
    ],
    "If reading the outer scope": [
        h.make_node("Conv", ["x", "w"], ["y"]),
        h.make_node("Constant", [], ["c"], value=nh.from_array(np.array(True))),
        h.make_node(
            "If",
            ["c"],
            ["s"],
            then_branch=h.make_graph(
                [h.make_node("Relu", ["y"], ["b"])],
                "t",
                [],
                [h.make_tensor_value_info("b", TensorProto.FLOAT, None)],
            ),
            else_branch=h.make_graph(
                [h.make_node("Sigmoid", ["y"], ["b"])],
                "e",
                [],
                [h.make_tensor_value_info("b", TensorProto.FLOAT, None)],
            ),
        ),
    ],
}


@pytest.mark.parametrize("kind", sorted(ODD_NODES))
def test_malformed_nodes_are_opaque(tmp_path: Path, kind: str) -> None:
    path = _save(tmp_path, _model(ODD_NODES[kind]))
    for command in ANALYSES:
        _clean(_invoke(command, path, tmp_path))
    result = _invoke("summary", path, tmp_path)
    assert "E0802" in result.output, result.output
    assert "N x 2 x 8 x 8" in result.output  # the conv is still analysed


def test_decompile_with_every_output_left_out(tmp_path: Path) -> None:
    nodes = ODD_NODES["If reading the outer scope"]
    if_node = onnx.NodeProto()
    if_node.CopyFrom(nodes[2])
    if_node.output[0] = "y"  # the If is the model's output: nothing dslc knows computes it
    model = _model([h.make_node("Conv", ["x", "w"], ["y0"]), nodes[1], if_node])
    result = _invoke("decompile", _save(tmp_path, model), tmp_path)
    _refused(result, "error", "cannot write", "no output the network computes is known")
    assert not (tmp_path / "d.xnet").exists()


# ---- stored tensors ----


def _weight(**fields: object) -> TensorProto:
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3, 1, 1])
    for key, value in fields.items():
        if key == "float_data":
            t.float_data.extend(value)  # type: ignore[call-overload]
        else:
            setattr(t, key, value)
    return t


def _with_weight(t: TensorProto) -> onnx.ModelProto:
    model = _model()
    model.graph.initializer[0].CopyFrom(t)
    return model


BAD_DATA = {
    "7 raw bytes": (_weight(raw_data=b"\0" * 7), "7 bytes of data"),
    "4000 raw bytes": (_weight(raw_data=b"\0" * 4000), "4000 bytes of data"),
    "5 floats": (_weight(float_data=[1.0] * 5), "5 values of data"),
}


@pytest.mark.parametrize("kind", sorted(BAD_DATA))
def test_stored_data_that_does_not_fit_its_dims(tmp_path: Path, kind: str) -> None:
    t, words = BAD_DATA[kind]
    path = _save(tmp_path, _with_weight(t))
    for command in ("summary", "weights"):
        _refused(_invoke(command, path, tmp_path), "E0805", words, "need")


def _external(location: str, offset: str | None = None) -> TensorProto:
    t = _weight(data_location=TensorProto.EXTERNAL)
    t.external_data.add(key="location", value=location)
    if offset is not None:
        t.external_data.add(key="offset", value=offset)
    return t


@pytest.fixture
def beside(tmp_path: Path) -> Path:
    """A model folder with a data file, a folder, a FIFO and links in and out of it."""
    folder = tmp_path / "model"
    folder.mkdir()
    np.arange(6, dtype=np.float32).tofile(folder / "ok.bin")
    (tmp_path / "secret.bin").write_bytes(b"s" * 64)
    (folder / "sub").mkdir()
    (folder / "sub" / "in.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    os.symlink(tmp_path / "secret.bin", folder / "out.bin")
    os.symlink("ok.bin", folder / "in.bin")
    os.mkfifo(folder / "fifo.bin")
    os.symlink("loop.bin", folder / "loop.bin")
    return folder


EXTERNAL_REFUSED = {
    "absolute": ("/etc/passwd", None, "outside the model's folder"),
    "climbing": ("../secret.bin", None, "outside the model's folder"),
    "link out": ("out.bin", None, "links outside the model's folder"),
    "/dev/zero": ("/dev/zero", None, "outside the model's folder"),
    "FIFO": ("fifo.bin", None, "not a regular file"),
    "folder": ("sub", None, "not a regular file"),
    "missing": ("gone.bin", None, "No such file"),
    "link loop": ("loop.bin", None, "cannot be read"),
    "offset not a number": ("ok.bin", "abc", "offset is not a number"),
    "offset 2^70": ("ok.bin", str(2**70), "out of range"),
    "offset past the end": ("ok.bin", "8", "holds 24 bytes"),
    "no location": ("", None, "names no file"),
}


@pytest.mark.parametrize("kind", sorted(EXTERNAL_REFUSED))
def test_external_data_outside_the_folder_is_never_read(beside: Path, kind: str) -> None:
    location, offset, words = EXTERNAL_REFUSED[kind]
    path = _save(beside, _with_weight(_external(location, offset)))
    _clean(_invoke("summary", path, beside))  # analyses need no weights
    _refused(_invoke("weights", path, beside), "E0805", words)
    assert not (beside / "w.safetensors").exists()


@pytest.mark.parametrize("location", ["ok.bin", "in.bin", "sub/in.bin"])
def test_external_data_inside_the_folder_is_read(beside: Path, location: str) -> None:
    path = _save(beside, _with_weight(_external(location)))
    result = _invoke("weights", path, beside)
    _clean(result)
    assert result.exit_code == 0, result.output
    from safetensors.numpy import load_file

    saved = load_file(str(beside / "w.safetensors"))
    assert saved["conv.weight"].reshape(-1).tolist() == list(range(6))


# ---- names ----


def test_names_with_control_characters_are_escaped(tmp_path: Path) -> None:
    w = nh.from_array(np.ones((2, 3, 1, 1), np.float32), "w\x1b[31m")
    nodes = [
        h.make_node("Conv", ["x\x1b[2J", "w\x1b[31m"], ["c"], name="\x1b[2Jconv\nfake: line"),
        h.make_node("Sin", ["c"], ["y"], name="sin\x1b]0;title\x07"),
    ]
    graph = h.make_graph(
        nodes,
        "g\x1b[5m",
        [h.make_tensor_value_info("x\x1b[2J", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [h.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 8, 8])],
        initializer=[w],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    path = _save(tmp_path, model)
    for command in ANALYSES:
        _clean(_invoke(command, path, tmp_path))
    result = _invoke("summary", path, tmp_path)
    assert "sin\\x1b]0;title\\x07" in result.output  # the diagnostic's line, escaped
    assert "3 | " in result.output  # the node's line is line 3: the newline did not shift it


def test_a_symbolic_dim_with_a_newline_keeps_the_lines(tmp_path: Path) -> None:
    path = _save(tmp_path, _model(shape=["N\n\x1b[31mX", 3, 8, 8]))
    result = _invoke("summary", path, tmp_path)
    _clean(result)
    assert result.exit_code == 0


# ---- the runtime commands ----

RUNTIME = {
    "run": ["--provider", "cpu"],
    "bench": ["--provider", "cpu", "--warmup", "1", "--iterations", "1"],
    "quantize": ["--calibrate", "digits", "--samples", "2"],
    "export": ["--triton"],
}


def _runtime(command: str, path: Path, tmp_path: Path, *extra: str) -> Result:
    args = [command, str(path), *RUNTIME[command]]
    if command == "export":
        args.append(str(tmp_path / "repo"))
    if command == "quantize":
        args += ["-o", str(tmp_path / "q.onnx")]
    return CliRunner().invoke(main, [*args, *extra])


def _nothing_written(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert not repo.exists() or not any(repo.rglob("*"))
    assert not (tmp_path / "q.onnx").exists()


@pytest.mark.parametrize("command", sorted(RUNTIME))
def test_runtime_commands_say_what_is_wrong_with_the_graph(tmp_path: Path, command: str) -> None:
    """ONNX Runtime's own words for these are a C++ source path and a class name."""
    path = _save(tmp_path, _model(MALFORMED["defined twice"][0], out=["N", 2, 8, 8]))
    _refused(_runtime(command, path, tmp_path), "E0804", "tensor 'y' is defined twice")
    path = _save(tmp_path, _with_weight(BAD_DATA["7 raw bytes"][0]), "short.onnx")
    _refused(_runtime(command, path, tmp_path), "E0805", "7 bytes of data")
    _nothing_written(tmp_path)


def test_quantize_a_model_onnx_runtime_cannot_load(tmp_path: Path) -> None:
    """The quantizer printed its own traceback, then failed with exit 3."""
    model = _model(out=["N", 2, 8, 8])
    model.ir_version = 99
    result = _runtime("quantize", _save(tmp_path, model), tmp_path)
    _refused(result, "error", "ONNX Runtime cannot load")
    _nothing_written(tmp_path)


@pytest.mark.parametrize("command", ["run", "bench", "quantize"])
@pytest.mark.parametrize("size", [2**40, -5])
def test_a_declared_size_no_machine_holds(tmp_path: Path, command: str, size: int) -> None:
    """N x 3 x 2^40 x 2^40: numpy's 'array is too big' and Pillow's overflow were exit 3;
    a negative dim: numpy's and Pillow's ValueError (ONNX Runtime loads such a model)."""
    path = _save(tmp_path, _model(shape=["N", 3, size, size]))
    result = _runtime(command, path, tmp_path)
    words = {"quantize": "no size to prepare images for"}
    if size < 0:
        words = {"run": "no fixed size", "bench": "no fixed size", **words}
    _refused(result, "error", words.get(command, "too large for random data"))


@pytest.mark.parametrize("command", sorted(RUNTIME))
def test_a_model_path_that_is_a_fifo(tmp_path: Path, command: str) -> None:
    """bench handed the FIFO to ONNX Runtime, which blocked on it forever."""
    os.mkfifo(tmp_path / "m.onnx")
    _refused(_runtime(command, tmp_path / "m.onnx", tmp_path), "error", "not a regular file")


def _classifier(tmp_path: Path, **metadata: str) -> Path:
    """A 2-class network with its preprocessing and labels, compiled, its metadata replaced."""
    source = tmp_path / "n.xnet"
    (tmp_path / "labels.txt").write_text("cat\ndog\n", encoding="utf-8")
    source.write_text(
        "network n(classes = 2)\ninput image: 3 x 16 x 16\n"
        "preprocess image: resize(16) -> center_crop(16)\n"
        'labels "labels.txt"\nconv3x3(4) -> relu -> gap -> flatten -> dense(classes)\n',
        encoding="utf-8",
    )
    path = tmp_path / "n.onnx"
    assert CliRunner().invoke(main, ["compile", str(source), "-o", str(path)]).exit_code == 0
    model = onnx.load(str(path))
    for key, value in metadata.items():
        found = [p for p in model.metadata_props if p.key == key]
        entry = found[0] if found else model.metadata_props.add(key=key)
        entry.value = value
    onnx.save(model, str(path))
    return path


def _image(tmp_path: Path) -> Path:
    from PIL import Image

    image = tmp_path / "i.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(image)
    return image


def test_run_image_labels_with_terminal_escapes(tmp_path: Path) -> None:
    labels = "\x1b[2Jcat\x07\ndog\x1b]0;title\x07" + "x" * 10_000
    path = _classifier(tmp_path, **{"dslc.labels": labels})
    args = ["run", str(path), "--provider", "cpu", "--image", str(_image(tmp_path))]
    result = CliRunner().invoke(main, args)
    _clean(result)
    assert result.exit_code == 0, result.output
    assert "\\x1b[2Jcat\\x07" in result.output
    assert "x" * 200 not in result.output  # a label is cut at 100 characters


NESTED = "[" * 100_000 + "]" * 100_000
HOSTILE_META = {
    "sizes: period 0": (
        "dslc.sizes",
        json.dumps({"N": {"period": 0, "residues": [0], "minimum": 1, "text": "x"}}),
        0,
        "",
    ),
    "sizes: nested JSON": ("dslc.sizes", NESTED, 0, ""),
    "sizes: escapes in the rule's text": (
        "dslc.sizes",
        json.dumps(
            {"N": {"period": 7, "residues": [3], "minimum": 1, "text": "\x1b[2J" + "y" * 1000}}
        ),
        1,
        "valid only for N \\x1b[2Jyyy",
    ),
    "preprocess: nested JSON": ("dslc.preprocess", NESTED, 1, "JSON nested too deep"),
    "preprocess: a list of numbers": ("dslc.preprocess", "[1, 2]", 1, "not the list of pipelines"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_META))
def test_dslc_metadata_malformed_or_hostile(tmp_path: Path, kind: str) -> None:
    """A period of 0 divided by zero and nested JSON overflowed Python's recursion: exit 3.
    Sizes dslc did not write are not enforced; preprocessing it cannot read is refused."""
    key, value, status, words = HOSTILE_META[kind]
    path = _classifier(tmp_path, **{key: value})
    args = ["run", str(path), "--provider", "cpu", "--image", str(_image(tmp_path))]
    result = CliRunner().invoke(main, args)
    _clean(result)
    assert result.exit_code == status, result.output
    assert words in result.output
    assert "y" * 200 not in result.output


def test_export_never_copies_a_file_a_link_points_to(beside: Path) -> None:
    """`out.bin` links to a file outside the model's folder: export copied it into the
    repository; ONNX Runtime refuses to load such a model."""
    model = _with_weight(_external("out.bin"))
    model.graph.output[0].CopyFrom(h.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 8, 8]))
    path = _save(beside, model)
    result = _runtime("export", path, beside)
    _refused(result, "E0805", "links outside the model's folder")
    _nothing_written(beside)
    model = _with_weight(_external("in.bin"))  # a link inside the folder is fine
    model.graph.output[0].CopyFrom(h.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 8, 8]))
    result = _runtime("export", _save(beside, model), beside)
    _clean(result)
    assert result.exit_code == 0, result.output


# ---- small files that asked for a lot of work ----


def _within(seconds: int, command: str, path: Path, tmp_path: Path) -> Result:
    """The command's result, after asserting it took under `seconds` of this process's CPU
    time (each case takes about a second; before the fixes they took 20 and 40). CPU time,
    not wall time: a busy machine's queue does not count; conftest.py stops a hang."""
    start = time.process_time()
    result = _invoke(command, path, tmp_path)
    assert time.process_time() - start < seconds
    return result


def test_a_tensor_with_a_million_dims(tmp_path: Path) -> None:
    """2 MB of dims of 2: their product has a million bits, and was computed one dim at a time."""
    t = TensorProto(name="big", data_type=TensorProto.FLOAT, dims=[2] * 1_000_000)
    path = _save(tmp_path, _model(inits=[t]))
    result = _within(10, "summary", path, tmp_path)
    _clean(result)
    assert result.exit_code == 0, result.output


def test_thirty_thousand_nodes(tmp_path: Path) -> None:
    """Each node's line was found by splitting the whole listing again: quadratic."""
    k = 30_000
    nodes = [h.make_node("Conv", ["x", "w"], ["r0"])]
    nodes += [h.make_node("Relu", [f"r{i}"], [f"r{i + 1}"]) for i in range(k)]
    nodes.append(h.make_node("Relu", [f"r{k}"], ["y"]))
    path = _save(tmp_path, _model(nodes))
    result = _within(15, "check", path, tmp_path)
    _clean(result)
    assert result.exit_code == 0, result.output


def test_an_opaque_output_whose_first_dim_is_not_the_batch(tmp_path: Path) -> None:
    """Flatten(axis=2) makes 3N x 16 of N x 3 x 4 x 4; its shape, from ONNX inference, was
    read with the batch N first: `summary` said N x 16, ONNX Runtime computes 6 x 16 at N=2."""
    path = _save(
        tmp_path, _model([h.make_node("Flatten", ["x"], ["y"], axis=2)], shape=["N", 3, 4, 4])
    )
    assert _ort_shape_of(path, (2, 3, 4, 4)) == (6, 16)
    result = _invoke("summary", path, tmp_path)
    _clean(result)
    assert "E0802" in result.output
    assert "N x 16" not in result.output, result.output


def _ort_shape_of(path: Path, shape: tuple[int, ...]) -> tuple[int, ...]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return tuple(session.run(None, {"x": np.zeros(shape, np.float32)})[0].shape)


def test_a_shape_of_many_dims_takes_little_memory(tmp_path: Path) -> None:
    """200,000 dims in a value_info (0.8 MB): every field was held as a view object at
    once, about 50 MB; Python's allocations stay a few MB now."""
    import tracemalloc

    vi = h.make_tensor_value_info("y", TensorProto.FLOAT, [2] * 200_000)
    model = _model()
    model.graph.value_info.append(vi)
    path = _save(tmp_path, model)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        result = _invoke("check", path, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _clean(result)
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB"


def test_a_model_without_ir_version_is_read_as_onnx_runtime_reads_it(tmp_path: Path) -> None:
    """ONNX Runtime runs a model whose ir_version is unset; the importer called it 'not an
    ONNX model (no graph)'."""
    model = _model(out=["N", 2, 8, 8])
    model.ir_version = 0
    path = _save(tmp_path, model)
    assert _dslc_shape(path) == _ort_shape(path) == (2, 2, 8, 8)


# ---- ONNX text syntax (.onnxtxt) ----

HEAD = '<ir_version: 8, opset_import: ["" : 17]>\n'
TEXTS = {
    "30,000 nested seq types": (
        HEAD + "net (" + "seq(" * 30_000 + "float[N,3,8,8]" + ")" * 30_000 + " x) => "
        "(float[N,3,8,8] y)\n{\n    y = Relu (x)\n}\n",
        "nested 30002 deep",
    ),
    "a dim past int64": (
        HEAD + "net (float[N,3,99999999999999999999999,8] x) => (float[N,3,8,8] y)\n"
        "{\n    y = Relu (x)\n}\n",
        "a number out of range",
    ),
    "terminal escapes": ("\x1b[2J\x1b]0;title\x07 garbage", "not ONNX text syntax"),
}


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_hostile_onnx_text(tmp_path: Path, kind: str) -> None:
    """onnx's C++ parser recursed 30,000 deep and crashed the interpreter (SIGSEGV): run in
    a child process, so that a crash fails this test instead of the test run."""
    import subprocess
    import sys

    text, words = TEXTS[kind]
    path = tmp_path / "m.onnxtxt"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "dslc", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 1, done.stderr
    assert "E0801" in done.stderr and words in done.stderr, done.stderr
    assert "\x1b" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["run", "bench", "export"])
@pytest.mark.parametrize("kind", ["link out", "FIFO", "folder", "missing"])
def test_runtime_commands_refuse_external_data_onnx_runtime_cannot_read(
    beside: Path, command: str, kind: str
) -> None:
    """ONNX Runtime refused these in its own words (a C++ source path, a logged dump)."""
    location, offset, words = EXTERNAL_REFUSED[kind]
    model = _with_weight(_external(location, offset))
    model.graph.output[0].CopyFrom(h.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 8, 8]))
    result = _runtime(command, _save(beside, model), beside)
    _refused(result, "E0805", words)
    assert "onnxruntime" not in result.output.lower()
    _nothing_written(beside)


@pytest.mark.parametrize("command", ["run", "bench", "export"])
def test_runtime_commands_run_external_data_inside_the_folder(beside: Path, command: str) -> None:
    model = _with_weight(_external("sub/in.bin"))
    model.graph.output[0].CopyFrom(h.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 8, 8]))
    result = _runtime(command, _save(beside, model), beside)
    _clean(result)
    assert result.exit_code == 0, result.output


def test_a_sparse_initializer_is_defined(tmp_path: Path) -> None:
    """A node reading a sparse initializer (ONNX Runtime densifies it) is no dangling name."""
    values = nh.from_array(np.array([1.0, 2.0], np.float32), "s")
    indices = nh.from_array(np.array([0, 1], np.int64), "")
    sparse = h.make_sparse_tensor(values, indices, [1, 2, 1, 1])
    model = _model([h.make_node("Conv", ["x", "w"], ["c"]), h.make_node("Add", ["c", "s"], ["y"])])
    model.graph.sparse_initializer.append(sparse)
    path = _save(tmp_path, model)
    assert _ort_shape(path) == (2, 2, 8, 8)
    result = _invoke("summary", path, tmp_path)
    _clean(result)
    assert "E0804" not in result.output, result.output


@pytest.mark.parametrize("size", [0, None])
def test_quantize_an_input_of_no_size_and_no_name(tmp_path: Path, size: int | None) -> None:
    """An H of 0 (or left unknown) was read as unknown and answered '--size None=...'."""
    model = _model(shape=["N", 3, size, 8])  # type: ignore[list-item]
    result = _runtime("quantize", _save(tmp_path, model), tmp_path)
    _refused(result, "error", "no size and no name", "npz:PATH")
    assert "None=" not in result.output


def _const(name: str, values: list[int]) -> onnx.NodeProto:
    return h.make_node("Constant", [], [name], value=nh.from_array(np.array(values, np.int64)))


MADE_FROM_NOTHING = {
    "ConstantOfShape": [
        _const("s", [8000, 8000]),
        h.make_node("ConstantOfShape", ["s"], ["c"], value=nh.from_array(np.ones(1, np.float32))),
    ],
    "Expand then Mul": [
        h.make_node("Constant", [], ["o"], value=nh.from_array(np.ones(1, np.float32))),
        _const("s", [8000, 8000]),
        h.make_node("Expand", ["o", "s"], ["e"]),
        h.make_node("Mul", ["e", "e"], ["c"]),
    ],
    "one constant concatenated 200 times": [
        h.make_node("Constant", [], ["k"], value=nh.from_array(np.ones(100_000, np.float32))),
        h.make_node("Concat", ["k"] * 200, ["c"], axis=0),
    ],
    "Gather of 2000 rows of 10000": [
        h.make_node("Constant", [], ["k"], value=nh.from_array(np.ones((10, 10_000), np.float32))),
        _const("n", [2000]),
        h.make_node("ConstantOfShape", ["n"], ["i"], value=nh.from_array(np.zeros(1, np.int64))),
        h.make_node("Gather", ["k", "i"], ["c"]),
    ],
}


@pytest.mark.parametrize("kind", sorted(MADE_FROM_NOTHING))
def test_a_constant_made_from_nothing_is_not_folded(tmp_path: Path, kind: str) -> None:
    """A 200-byte file asked the importer to fold a 8000 x 8000 constant (256 MB; 20000 x
    20000 took 1.6 GB), a 400 KB one a 20M-element concatenation or gather: constants past
    16M elements made from nothing stay unfolded."""
    import tracemalloc

    nodes = [*MADE_FROM_NOTHING[kind], h.make_node("Shape", ["c"], ["sc"])]
    path = _save(tmp_path, _model([*nodes, h.make_node("Conv", ["x", "w"], ["y"])]))
    assert path.stat().st_size < 500_000
    tracemalloc.start()
    try:
        result = _invoke("summary", path, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _clean(result)
    assert "N x 2 x 8 x 8" in result.output
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB"
