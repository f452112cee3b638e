"""`dslc export --triton`: every config.pbtxt parses with Triton's own model_config protobuf
(tritonclient's) and agrees with the ONNX graph it sits beside: names, data types, dims without
the batch dimension, max_batch_size; the client example's inputs run on the model; the rules
for fixed batch dimensions, labels, existing folders and inputs."""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from click.testing import CliRunner, Result
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as mc

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"

# ONNX element type -> Triton data type, written out here independently of dslc's table
TRITON_TYPE = {
    TensorProto.FLOAT: mc.TYPE_FP32,
    TensorProto.FLOAT16: mc.TYPE_FP16,
    TensorProto.INT64: mc.TYPE_INT64,
    TensorProto.UINT8: mc.TYPE_UINT8,
}


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _config(folder: Path) -> Any:
    """config.pbtxt parsed strictly (an unknown field or a bad value raises)."""
    text = (folder / "config.pbtxt").read_text(encoding="utf-8")
    return text_format.Parse(text, mc.ModelConfig())


def _onnx_dims(value: onnx.ValueInfoProto) -> list[int]:
    return [
        d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim
    ]


def _assert_matches_graph(folder: Path) -> tuple[Any, onnx.ModelProto]:
    """The config against the ONNX model under 1/: what Triton checks when it loads it."""
    cfg = _config(folder)
    model = onnx.load(str(folder / "1" / "model.onnx"), load_external_data=False)
    weights = {i.name for i in model.graph.initializer}
    graph_inputs = [v for v in model.graph.input if v.name not in weights]
    assert cfg.name == folder.name
    assert cfg.backend == "onnxruntime"
    for tensors, values in ((cfg.input, graph_inputs), (cfg.output, model.graph.output)):
        assert [t.name for t in tensors] == [v.name for v in values]
        for t, v in zip(tensors, values, strict=True):
            assert t.data_type == TRITON_TYPE[v.type.tensor_type.elem_type]
            dims = _onnx_dims(v)
            if cfg.max_batch_size > 0:
                assert dims[0] == -1, f"{v.name}: batching needs a symbolic batch dimension"
                dims = dims[1:]
            assert list(t.dims) == dims
    return cfg, model


def _client(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"client_{folder.name}", folder / "client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_client_inputs(folder: Path, cfg: Any, batch: int, size: int) -> dict[str, np.ndarray]:
    """The client's example inputs, run on the model with ONNX Runtime: outputs have the
    config's dims (a -1 takes any size) after the batch dimension."""
    feeds = _client(folder).make_inputs(batch, size)
    session = ort.InferenceSession(
        str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in cfg.output]
    results = dict(zip(names, session.run(names, feeds), strict=True))
    for out in cfg.output:
        shape = list(results[out.name].shape)
        if cfg.max_batch_size > 0:
            assert shape[0] == batch
            shape = shape[1:]
        assert len(shape) == len(out.dims)
        assert all(d in (-1, s) for d, s in zip(out.dims, shape, strict=True))
    return results


# ---- zoo models: fixed-size classifier, symbolic-size segmentation, float16 I/O ----


def test_fixed_size_classifier(tmp_path: Path) -> None:
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path / "repo")
    assert r.exit_code == 0, r.output
    folder = tmp_path / "repo" / "lenet5"
    cfg, _ = _assert_matches_graph(folder)
    assert cfg.max_batch_size == 8
    assert list(cfg.input[0].dims) == [1, 32, 32]
    assert list(cfg.output[0].dims) == [10]
    assert cfg.HasField("dynamic_batching")
    assert [(g.kind, g.count) for g in cfg.instance_group] == [(mc.ModelInstanceGroup.KIND_GPU, 1)]
    assert not cfg.optimization.execution_accelerators.gpu_execution_accelerator
    assert not (folder / "labels.txt").exists()
    assert sorted(p.name for p in folder.iterdir()) == [
        "1",
        "client.py",
        "config.pbtxt",
        "inferenceservice.yaml",
    ]
    _run_client_inputs(folder, cfg, batch=3, size=32)
    assert "wrote" in r.output and "max_batch_size 8" in r.output


def test_symbolic_size_segmentation(tmp_path: Path) -> None:
    r = _invoke(
        "export", MODELS / "unet.xnet", "--triton", tmp_path, "--cpu", "--instances", "3",
        "--max-batch", "16", "--preferred-batch", "8", "--preferred-batch", "4",
        "--max-queue-delay", "500",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    cfg, _ = _assert_matches_graph(tmp_path / "unet")
    assert cfg.max_batch_size == 16
    assert list(cfg.input[0].dims) == [1, -1, -1]  # H and W are symbolic
    assert list(cfg.output[0].dims) == [2, -1, -1]
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4, 8]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 500
    assert [(g.kind, g.count) for g in cfg.instance_group] == [(mc.ModelInstanceGroup.KIND_CPU, 3)]
    out = _run_client_inputs(tmp_path / "unet", cfg, batch=2, size=64)
    assert out["output"].shape[2:] == (64, 64)


def test_float16_io_with_tensorrt_fp16(tmp_path: Path) -> None:
    r = _invoke(
        "export", MODELS / "lenet5.xnet", "--triton", tmp_path, "--dtype", "float16",
        "--tensorrt-fp16", "--name", "lenet5_fp16", "--opset", "17",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    cfg, model = _assert_matches_graph(tmp_path / "lenet5_fp16")
    assert [o.version for o in model.opset_import if o.domain == ""] == [17]
    assert cfg.input[0].data_type == mc.TYPE_FP16
    assert cfg.output[0].data_type == mc.TYPE_FP16
    (accel,) = cfg.optimization.execution_accelerators.gpu_execution_accelerator
    assert accel.name == "tensorrt"
    assert accel.parameters["precision_mode"] == "FP16"
    out = _run_client_inputs(tmp_path / "lenet5_fp16", cfg, batch=2, size=32)
    assert out["output"].dtype == np.float16


def test_float16_inside_float32_edges(tmp_path: Path) -> None:
    r = _invoke(
        "export", MODELS / "lenet5.xnet", "--triton", tmp_path, "--dtype", "float16",
        "--io-dtype", "float32",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    cfg, _ = _assert_matches_graph(tmp_path / "lenet5")
    assert cfg.input[0].data_type == mc.TYPE_FP32


# ---- ONNX files: the batch dimension rule ----


def _onnx_file(path: Path, batch: int | str, *, external: bool = False) -> Path:
    """y = relu(x + b) on [batch, 3, 8, 8]; b as external data if asked."""
    shape = [batch, 3, 8, 8]
    values = np.array([0.5, -0.5, 1.0], np.float32).tobytes()
    b = helper.make_tensor("b", TensorProto.FLOAT, [3, 1, 1], values, raw=True)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["s"]), helper.make_node("Relu", ["s"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        [b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if external:
        onnx.save(model, str(path), save_as_external_data=True, location="b.bin",
                  size_threshold=0)  # fmt: skip
    else:
        onnx.save(model, str(path))
    return path


def test_fixed_batch_is_served_unbatched_with_full_dims(tmp_path: Path) -> None:
    model = _onnx_file(tmp_path / "fixed.onnx", 1)
    r = _invoke("export", model, "--triton", tmp_path / "repo")
    assert r.exit_code == 0, r.output
    assert "'x' has a fixed batch dimension: max_batch_size 0" in r.output
    cfg, _ = _assert_matches_graph(tmp_path / "repo" / "fixed")
    assert cfg.max_batch_size == 0
    assert list(cfg.input[0].dims) == [1, 3, 8, 8]
    assert not cfg.HasField("dynamic_batching")  # Triton refuses it without batching
    _run_client_inputs(tmp_path / "repo" / "fixed", cfg, batch=1, size=8)


def test_batching_a_fixed_batch_is_refused(tmp_path: Path) -> None:
    model = _onnx_file(tmp_path / "fixed.onnx", 4)
    r = _invoke("export", model, "--triton", tmp_path / "repo", "--max-batch", "8")
    assert r.exit_code == 1
    assert "'x' has shape [4, 3, 8, 8]: its batch dimension is fixed" in r.stderr
    assert "--max-batch 0" in r.stderr
    assert not (tmp_path / "repo" / "fixed").exists()


def test_symbolic_batch_onnx_with_external_data(tmp_path: Path) -> None:
    model = _onnx_file(tmp_path / "ext.onnx", "batch", external=True)
    r = _invoke("export", model, "--triton", tmp_path / "repo", "--max-batch", "2")
    assert r.exit_code == 0, r.output
    folder = tmp_path / "repo" / "ext"
    assert (folder / "1" / "b.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
    cfg, _ = _assert_matches_graph(folder)
    assert cfg.max_batch_size == 2
    out = _run_client_inputs(folder, cfg, batch=2, size=8)
    assert out["y"].min() >= 0


def test_usage_conflicts(tmp_path: Path) -> None:
    fixed = _onnx_file(tmp_path / "fixed.onnx", 1)
    cases = [
        ([fixed, "--preferred-batch", "4"], "need batching"),
        ([MODELS / "lenet5.xnet", "--max-batch", "4", "--preferred-batch", "8"], "exceeds"),
        ([MODELS / "lenet5.xnet", "--cpu", "--tensorrt-fp16"], "cannot go with --cpu"),
    ]
    for args, message in cases:
        r = _invoke("export", *args, "--triton", tmp_path / "repo")
        assert r.exit_code == 2, r.output
        assert message in r.stderr
    r = _invoke("export", fixed, "--triton", tmp_path / "repo", "--dtype", "float16")
    assert r.exit_code == 1 and "--dtype: these compile an .xnet" in r.stderr
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())


# ---- labels ----


def test_labels_go_to_the_output_with_as_many_values(tmp_path: Path) -> None:
    labels = tmp_path / "digits.txt"
    labels.write_text("".join(f"digit {i}\n" for i in range(10)) + "\n", encoding="utf-8")
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path / "repo", "--labels", labels)
    assert r.exit_code == 0, r.output
    folder = tmp_path / "repo" / "lenet5"
    cfg, _ = _assert_matches_graph(folder)
    assert cfg.output[0].label_filename == "labels.txt"
    assert (folder / "labels.txt").read_text(encoding="utf-8").splitlines()[9] == "digit 9"
    client = _client(folder)
    assert client.top(np.arange(10.0), ["a"] * 9 + ["best"], 1) == ["best: 9.0000"]


def test_labels_that_fit_no_output_are_refused(tmp_path: Path) -> None:
    labels = tmp_path / "l.txt"
    labels.write_text("cat\ndog\n", encoding="utf-8")
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path / "repo", "--labels", labels)
    assert r.exit_code == 1
    assert "2 labels, but no output has 2 values per item ('output' ['N', 10])" in r.stderr


# ---- the KServe manifest ----


def test_kserve_manifest(tmp_path: Path) -> None:
    r = _invoke(
        "export", MODELS / "lenet5.xnet", "--triton", tmp_path, "--name", "LeNet_5.v1",
        "--storage-uri", "gs://bucket/repo",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load((tmp_path / "LeNet_5.v1" / "inferenceservice.yaml").read_text())
    assert doc["kind"] == "InferenceService"
    assert doc["metadata"]["name"] == "lenet-5-v1"  # a valid Kubernetes name
    model = doc["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "triton"
    assert model["storageUri"] == "gs://bucket/repo"
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path, "--cpu")
    doc = yaml.safe_load((tmp_path / "lenet5" / "inferenceservice.yaml").read_text())
    assert "nvidia.com/gpu" not in doc["spec"]["predictor"]["model"]["resources"]["limits"]


# ---- existing folders, inputs, names ----


def test_an_existing_model_folder_is_replaced_only_with_force(tmp_path: Path) -> None:
    folder = tmp_path / "lenet5"
    folder.mkdir()
    (folder / "old.txt").write_text("keep me")
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path)
    assert r.exit_code == 1
    assert "exists; pass --force" in r.stderr
    assert (folder / "old.txt").exists()
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path, "--force")
    assert r.exit_code == 0, r.output
    assert not (folder / "old.txt").exists()
    _assert_matches_graph(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5"]  # no staging left over


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_file_at_the_model_folder_is_never_replaced(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "lenet5")
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path, "--force")
    assert r.exit_code == 1
    assert "is a FIFO; dslc does not replace it" in r.stderr
    assert stat.S_ISFIFO(os.lstat(tmp_path / "lenet5").st_mode)
    (tmp_path / "repo").write_text("a file")
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path / "repo")
    assert r.exit_code == 2  # click: REPO must be a folder


def test_odd_repository_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty REPO is no folder (it meant the current one); a broken symlink says so (it
    said 'File exists'); the serve line quotes a folder a shell would split."""
    monkeypatch.chdir(tmp_path)
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", "")
    assert r.exit_code == 2 and "an empty name is no folder" in r.stderr
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path / "gone")
    assert r.exit_code == 1
    assert f"gone is a broken symbolic link (to {tmp_path / 'nowhere'})" in r.stderr
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path / "my repo")
    assert r.exit_code == 0, r.output
    assert f"serve: tritonserver '--model-repository={tmp_path / 'my repo'}'" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gone", "my repo"]


def test_the_input_inside_the_folder_it_replaces_is_refused(tmp_path: Path) -> None:
    model = _onnx_file(tmp_path / "m.onnx", "N")
    assert _invoke("export", model, "--triton", tmp_path / "repo").exit_code == 0
    inside = tmp_path / "repo" / "m" / "1" / "model.onnx"
    r = _invoke("export", inside, "--triton", tmp_path / "repo", "--name", "m", "--force")
    assert r.exit_code == 1
    assert "lies inside" in r.stderr and "which would be replaced" in r.stderr
    assert inside.exists()


def test_bad_names_and_inputs(tmp_path: Path) -> None:
    r = _invoke("export", MODELS / "lenet5.xnet", "--triton", tmp_path, "--name", "../up")
    assert r.exit_code == 1 and "model name '../up'" in r.stderr
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    r = _invoke("export", tmp_path / "bad.onnx", "--triton", tmp_path / "repo")
    assert r.exit_code == 1 and "is not an ONNX model" in r.stderr
    assert "Traceback" not in r.output + r.stderr


def test_help_names_the_files_and_the_batch_rule() -> None:
    r = _invoke("export", "--help")
    assert r.exit_code == 0
    for text in ("config.pbtxt", "1/model.onnx", "max_batch_size 0", "--tensorrt-fp16", "--force"):
        assert text in r.output


def test_the_config_module_is_tritons(tmp_path: Path) -> None:
    """The parser really checks: a field Triton does not know is an error."""
    (tmp_path / "config.pbtxt").write_text('name: "x"\nmax_batch: 4\n')
    with pytest.raises(text_format.ParseError):
        _config(tmp_path)
    assert "tritonclient" in sys.modules
