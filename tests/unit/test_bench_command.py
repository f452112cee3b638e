"""`dslc bench`: options, text and JSON reports, errors (on the CPU provider)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from dslc_runtime.bench import Progress
from onnx import TensorProto, helper

from dslc.cli import main
from dslc.cli.bench import ProgressLine, render

TINY = """network tiny
input image: 3 x 8 x 8
conv3x3(4) -> bn -> relu -> gap -> flatten -> dense(2)
"""
FCN = """network fcn
input image: 3 x H x W
conv3x3(4) -> relu
"""


def bench(*args: Any) -> Result:
    return CliRunner().invoke(main, ["bench", *map(str, args)])


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.xnet"
    path.write_text(TINY)
    return path


def onnx_file(tmp_path: Path, elem: int = TensorProto.FLOAT, divide_by_zero: bool = False) -> Path:
    """Relu (or x / 0) of 'x' (N, 4) as an .onnx file."""
    inits = [helper.make_tensor("zero", elem, [], [0.0])] if divide_by_zero else []
    node = (
        helper.make_node("Div", ["x", "zero"], ["y"])
        if divide_by_zero
        else helper.make_node("Relu", ["x"], ["y"])
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", elem, ["N", 4])],
        [helper.make_tensor_value_info("y", elem, ["N", 4])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_several_batches_after_one_flag(tmp_path: Path) -> None:
    data = as_json(
        bench(
            onnx_file(tmp_path),
            "--provider",
            "cpu",
            "--batch",
            "1",
            "8",
            "3",
            "--iterations",
            "4",
            "--json",
        )
    )
    assert [(r["batch"], r["runs"]) for r in data["results"]] == [(1, 4), (8, 4), (3, 4)]
    assert data["schema"] == 1
    assert data["model"] == {
        "path": str(tmp_path / "m.onnx"),
        "label": str(tmp_path / "m.onnx"),
        "compiled": False,
    }
    assert data["provider"]["used"] == "cpu"
    assert data["inputs"] == [{"name": "x", "shape": ["N", 4], "dtype": "float32"}]


def test_batch_lists_combine_and_repeats_are_dropped(tmp_path: Path) -> None:
    data = as_json(
        bench(
            "--batch",
            "2,3",
            "--batch",
            "3",
            "--batch",
            "5",
            "--provider",
            "cpu",
            "--iterations",
            "1",
            "--json",
            onnx_file(tmp_path),
        )
    )
    assert [r["batch"] for r in data["results"]] == [2, 3, 5]


def test_text_report(tmp_path: Path) -> None:
    result = bench(
        onnx_file(tmp_path),
        "--provider",
        "cpu",
        "--batch",
        "1",
        "2",
        "--iterations",
        "3",
        "--warmup",
        "2",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"model:    {tmp_path / 'm.onnx'}"
    assert lines[1] == "provider: CPUExecutionProvider (requested with provider 'cpu')"
    assert "input:    'x' (N, 4) float32, random normal (seed 0)" in lines
    assert "timing:   2 warm-up runs, then 3 timed runs per batch size" in lines
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == [
        "batch",
        "runs",
        "p50",
        "ms",
        "p90",
        "ms",
        "p99",
        "ms",
        "mean",
        "ms",
        "images/s",
    ]
    assert [row.split()[:2] for row in table[1:3]] == [["1", "3"], ["2", "3"]]
    assert table[3] == "latency: one run of the whole batch; images/s = batch / mean latency"


def test_xnet_is_compiled_in_memory(tiny: Path) -> None:
    data = as_json(bench(tiny, "--provider", "cpu", "--iterations", "2", "--json"))
    assert data["model"]["label"] == f"{tiny} (compiled in memory, float32, optimized)"
    assert data["model"]["compiled"] is True
    assert data["inputs"] == [{"name": "image", "shape": ["N", 3, 8, 8], "dtype": "float32"}]
    assert data["results"][0]["outputs_finite"] is True
    data = as_json(bench(tiny, "--provider", "cpu", "--iterations", "2", "--no-optimize", "--json"))
    assert data["model"]["label"] == f"{tiny} (compiled in memory, float32, not optimized)"


def test_xnet_in_float16(tiny: Path) -> None:
    data = as_json(
        bench(tiny, "--provider", "cpu", "--iterations", "2", "--dtype", "float16", "--json")
    )
    assert data["model"]["label"] == f"{tiny} (compiled in memory, float16, optimized)"
    assert data["inputs"][0]["dtype"] == "float16"
    assert data["results"][0]["outputs_finite"] is True
    data = as_json(
        bench(
            tiny,
            "--provider",
            "cpu",
            "--iterations",
            "2",
            "--dtype",
            "float16",
            "--io-dtype",
            "float32",
            "--json",
        )
    )
    assert data["model"]["label"] == (
        f"{tiny} (compiled in memory, float16 (float32 inputs and outputs), optimized)"
    )
    assert data["inputs"][0]["dtype"] == "float32"


def test_symbolic_sizes_default_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "fcn.xnet"
    path.write_text(FCN)
    result = bench(path, "--provider", "cpu", "--iterations", "1", "--size", "H=16", "--json")
    data = as_json(result)
    assert data["sizes"] == {"H": 16, "W": 224}
    assert result.stderr == "note: size W not given; used 224 (set it with --size W=...)\n"


def test_non_finite_outputs_warn(tmp_path: Path) -> None:
    result = bench(
        onnx_file(tmp_path, divide_by_zero=True), "--provider", "cpu", "--iterations", "1"
    )
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: batch 1: the outputs hold inf or NaN (with float16 random "
        "inputs, an overflow?); the timings are still valid\n"
    )


def test_float16_onnx_runs_in_its_own_type(tmp_path: Path) -> None:
    path = onnx_file(tmp_path, TensorProto.FLOAT16)
    data = as_json(bench(path, "--provider", "cpu", "--iterations", "1", "--json"))
    assert data["inputs"][0]["dtype"] == "float16"
    result = bench(path, "--provider", "cpu", "--dtype", "float16")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: --dtype applies when compiling an .xnet; {path} runs in "
        "the types it was compiled with\n"
    )
    result = bench(path, "--provider", "cpu", "--io-dtype", "float32")
    assert result.stderr.startswith("error: --io-dtype applies when compiling an .xnet;")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--iterations", "3", "--seconds", "1"],
            "give either --iterations or --seconds, not both",
        ),
        (
            ["--provider", "cpu", "--cuda-graph"],
            "--cuda-graph applies to the CUDA provider only; drop it or use --provider cuda",
        ),
        (
            ["--provider", "cpu", "--prefer-nhwc"],
            "--prefer-nhwc applies to the CUDA provider only; drop it or use --provider cuda",
        ),
        (
            ["--batch", "0"],
            (
                "Invalid value for '--batch': '0': batch sizes are positive integers, "
                "e.g. --batch 1 8 64"
            ),
        ),
        (["--seconds", "0"], "Invalid value for '--seconds'"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = bench(onnx_file(tmp_path), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_missing_model_and_unknown_size(tmp_path: Path) -> None:
    result = bench(tmp_path / "none.onnx", "--provider", "cpu")
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot load model '{tmp_path / 'none.onnx'}': file not found\n"
    result = bench(onnx_file(tmp_path), "--size", "H=x")
    assert result.exit_code == 2
    assert "Invalid value for '--size': H=x: a size is a positive integer" in result.stderr
    result = bench(onnx_file(tmp_path), "--size", "H=8", "--provider", "cpu", "--iterations", "1")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: no input has a size named 'H': the inputs' sizes are fixed ('x' (N, 4))\n",
    )


def test_progress_line_is_redrawn_and_erased(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    progress = ProgressLine(enabled=True)
    progress(Progress(8, "warm-up", 2, 5, 0.3, None))
    progress(Progress(8, "timed", 7, None, 1.25, 3.0))  # too soon: not drawn
    progress.last = 0.0
    progress(Progress(8, "timed", 9, None, 1.5, 3.0))
    progress.close()
    assert err.getvalue() == (
        "\rbatch 8: warm-up 2/5 runs\rbatch 8: timed 9 runs, 1.5/3 s\r" + " " * 30 + "\r"
    )
    drawn = err.getvalue()
    quiet = ProgressLine(enabled=False)
    quiet(Progress(1, "timed", 1, 2, 0.0, None))
    quiet.close()
    assert err.getvalue() == drawn


def test_render_shows_cuda_options_for_cuda_runs(tmp_path: Path) -> None:
    data = as_json(bench(onnx_file(tmp_path), "--provider", "cpu", "--iterations", "1", "--json"))
    assert "cuda:" not in render(data)
    data["provider"] |= {
        "used": "cuda",
        "device": "NVIDIA H100 80GB HBM3",
        "options": {"device_id": "0", "prefer_nhwc": "1", "gpu_mem_limit": "9"},
    }
    data["session"]["io_binding"] = "cuda:0"
    text = render(data).splitlines()
    assert "device:   NVIDIA H100 80GB HBM3" in text
    assert "cuda:     device_id=0 prefer_nhwc=1" in text
    assert any(line.endswith("inputs and outputs bound on cuda:0 (IO binding)") for line in text)
