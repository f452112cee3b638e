"""On a GPU machine: models compiled by dslc run on ONNX Runtime's CUDA provider and agree
with the CPU provider. Skipped where onnxruntime has no working CUDA provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from zoo_bytes import model_bytes

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.skipif(
    "CUDAExecutionProvider" not in ort.get_available_providers(),
    reason="needs onnxruntime-gpu with a CUDA device",
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vgg16", "lenet5"])
def test_cuda_runs_and_matches_cpu(name: str) -> None:
    from dslc_runtime import Model

    data = model_bytes(name)
    gpu, cpu = Model(data, provider="cuda"), Model(data, provider="cpu")
    assert gpu.provider == "cuda" and "CUDAExecutionProvider" in gpu.provider_note
    feeds = gpu.random_inputs(batch=4, seed=1)
    (y_gpu,) = gpu.run(feeds).values()
    (y_cpu,) = cpu.run(feeds).values()
    assert y_gpu.shape == y_cpu.shape
    rel = float(np.linalg.norm(y_gpu - y_cpu) / np.linalg.norm(y_cpu))
    assert rel < 1e-2, f"{name}: relative difference {rel:.2e} between CUDA and CPU"


def test_auto_picks_cuda_and_cli_says_so() -> None:
    from click.testing import CliRunner

    from dslc.cli import main

    result = CliRunner().invoke(main, ["run", str(ROOT / "models/resnet18.xnet")])
    assert result.exit_code == 0, result.output
    assert "CUDAExecutionProvider" in result.output
