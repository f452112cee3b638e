"""Layer for layer: with torchvision's own state_dict loaded through `--weights`, every zoo model
with a torchvision counterpart computes what torchvision computes.

Optional: runs only where torch, torchvision and onnxruntime are installed (not in CI, which has
no torch); see README.md ("Checking the zoo against torchvision") for the command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from torchvision_shim import import_torchvision

from dslc.backend.weights import save_safetensors
from dslc.cli import main

torch = pytest.importorskip("torch")
tv = import_torchvision().models
segmentation = tv.segmentation
ort = pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]


def _plain(name: str) -> Callable[[], Any]:
    return lambda: getattr(tv, name)(weights=None)


MODELS: dict[str, tuple[Callable[[], Any], tuple[int, int]]] = {
    **{
        n: (_plain(n), (224, 224))
        for n in (
            "alexnet",
            "vgg11",
            "vgg16",
            "vgg19",
            "vgg16_bn",
            "resnet18",
            "resnet34",
            "resnet50",
            "resnet101",
            "resnet152",
            "wide_resnet50_2",
            "resnext50_32x4d",
            "densenet121",
            "densenet169",
            "densenet201",
            "squeezenet1_0",
            "squeezenet1_1",
            "mnasnet1_0",
        )
    },
    "googlenet": (
        lambda: tv.googlenet(weights=None, aux_logits=False, init_weights=False),
        (224, 224),
    ),
    "inception_v3": (
        lambda: tv.inception_v3(weights=None, aux_logits=False, init_weights=False),
        (299, 299),
    ),
    "fcn_resnet50": (
        lambda: segmentation.fcn_resnet50(
            weights=None, weights_backbone=None, aux_loss=False, num_classes=21
        ),
        (160, 240),
    ),
    "efficientnet_b0": (_plain("efficientnet_b0"), (224, 224)),
    "efficientnet_b1": (_plain("efficientnet_b1"), (240, 240)),
    "efficientnet_v2_s": (_plain("efficientnet_v2_s"), (384, 384)),
}


def _randomise_batch_norm(model: Any) -> None:
    """Give every BN non-trivial statistics and affine parameters, so their order matters."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def _save(model: Any, path: Path) -> None:
    try:
        from safetensors.torch import save_file  # the way users will do it

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    except ImportError:
        save_safetensors(path, {k: v.numpy() for k, v in model.state_dict().items()})


@pytest.mark.parametrize("name", list(MODELS))
def test_same_outputs_as_torchvision(name: str, tmp_path: Path) -> None:
    make, (h, w) = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        _randomise_batch_norm(model)
    weights = tmp_path / "w.safetensors"
    _save(model, weights)
    onnx_path = tmp_path / f"{name}.onnx"
    result = CliRunner().invoke(
        main,
        [
            "compile",
            str(ROOT / "models" / f"{name}.xnet"),
            "-o",
            str(onnx_path),
            "--weights",
            str(weights),
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    x = np.random.default_rng(0).standard_normal((2, 3, h, w)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    ref = (ref["out"] if isinstance(ref, dict) else ref).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": x})
    assert out.shape == ref.shape
    scale = float(np.abs(ref).max())
    assert float(np.abs(out - ref).max()) <= 1e-4 * max(scale, 1.0), (
        f"max |diff| {np.abs(out - ref).max():.3g} at output scale {scale:.3g}"
    )
