"""On a GPU machine: `dslc bench`'s CUDA paths (IO binding on the GPU, CUDA graphs,
prefer_nhwc) run and compute what the CPU computes. Skipped without a working CUDA provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from zoo_bytes import model_bytes

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.skipif(
    "CUDAExecutionProvider" not in ort.get_available_providers(),
    reason="needs onnxruntime-gpu with a CUDA device",
)

ROOT = Path(__file__).resolve().parents[2]


def _bound_output(model: Any, feeds: dict[str, np.ndarray], runs: int) -> np.ndarray:
    """The output after `runs` runs on buffers bound on the model's device."""
    from dslc_runtime.bench import Bound, _device

    device, device_id = _device(model)
    bound = Bound(model, feeds, device, device_id)
    bound.probe()
    for _ in range(runs):
        bound.run()
    (out,) = bound.output_arrays()
    return out


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"prefer_nhwc": "1"},
        {"enable_cuda_graph": "1"},
        {"enable_cuda_graph": "1", "prefer_nhwc": "1"},
    ],
)
def test_bound_cuda_runs_match_cpu(options: dict[str, str]) -> None:
    from dslc_runtime import Model

    data = model_bytes("resnet18")
    gpu = Model(data, provider="cuda", cuda_options=options)
    assert gpu.session.get_provider_options()["CUDAExecutionProvider"].get(
        "prefer_nhwc", "0"
    ) == options.get("prefer_nhwc", "0")
    feeds = gpu.random_inputs(batch=4, seed=2)
    (expected,) = Model(data, provider="cpu").run(feeds).values()
    out = _bound_output(gpu, feeds, runs=5)  # past the CUDA graph's capture (third run)
    rel = float(np.linalg.norm(out - expected) / np.linalg.norm(expected))
    assert rel < 1e-2, f"{options}: relative difference {rel:.2e} from the CPU"


def test_bench_on_cuda_reports_the_gpu() -> None:
    from click.testing import CliRunner

    from dslc.cli import main

    args = [
        "bench",
        str(ROOT / "models/resnet18.xnet"),
        "--provider",
        "cuda",
        "--batch",
        "1",
        "8",
        "--iterations",
        "20",
        "--cuda-graph",
        "--prefer-nhwc",
        "--json",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["provider"]["used"] == "cuda"
    assert data["provider"]["device"]  # nvidia-smi's name of the card
    assert data["provider"]["options"]["enable_cuda_graph"] == "1"
    assert data["provider"]["options"]["prefer_nhwc"] == "1"
    assert data["session"]["io_binding"] == "cuda:0"
    assert [(r["batch"], r["runs"], r["warmup"]) for r in data["results"]] == [
        (1, 20, 5),
        (8, 20, 5),
    ]
    assert all(r["outputs_finite"] for r in data["results"])
