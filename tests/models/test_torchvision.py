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


class _BasicCifar(torch.nn.Module):
    """He et al.'s CIFAR unit with an option-A shortcut, as akamaster/pytorch_resnet_cifar10
    writes it (its state_dict names: conv1, bn1, conv2, bn2; the shortcut holds nothing)."""

    def __init__(self, c_in: int, c: int, stride: int) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(c_in, c, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.pad = c // 4 if stride != 1 or c_in != c else None

    def forward(self, x: Any) -> Any:
        f = torch.nn.functional
        out = self.bn2(self.conv2(f.relu(self.bn1(self.conv1(x)))))
        if self.pad is not None:  # subsample, then zero channels on each side
            x = f.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)
        return f.relu(out + x)


class _ResNetCifar(torch.nn.Module):
    """ResNet-(6n+2) for CIFAR-10, akamaster's ResNet: 3 stages of n units, 16/32/64 wide."""

    def __init__(self, n: int, classes: int = 10) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        widths = [(16, 16, 1), (16, 32, 2), (32, 64, 2)]
        for i, (c_in, c, stride) in enumerate(widths, 1):
            units = [_BasicCifar(c_in, c, stride)] + [_BasicCifar(c, c, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*units))
        self.linear = nn.Linear(64, classes)

    def forward(self, x: Any) -> Any:
        f = torch.nn.functional
        out = f.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = f.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


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
    # the CIFAR ResNet-20 has no torchvision model: the port below
    **{
        n: (_plain(n), (224, 224))
        for n in ("shufflenet_v2_x1_0", "regnet_y_400mf", "regnet_x_400mf")
    },
    "resnet20_cifar": (lambda: _ResNetCifar(3), (32, 32)),
    **{
        n: (_plain(n), (224, 224))
        for n in ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large")
    },
    "lraspp_mobilenet_v3_large": (
        lambda: segmentation.lraspp_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=21
        ),
        (161, 243),  # not multiples of the backbone's stride 16: any size works
    ),
    "convnext_tiny": (_plain("convnext_tiny"), (224, 224)),
    "deeplabv3_resnet50": (
        lambda: segmentation.deeplabv3_resnet50(
            weights=None, weights_backbone=None, aux_loss=False, num_classes=21
        ),
        (160, 240),
    ),
}


def _randomise_norms(model: Any) -> None:
    """Give every BN non-trivial statistics and affine parameters, every LayerNorm non-trivial
    affine parameters, and ConvNeXt's layer scales values near 1 (torchvision starts them at
    1e-6, which would hide a wrong block under the tolerance), so their order matters."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
        elif isinstance(m, torch.nn.LayerNorm):
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    for name, p in model.named_parameters():
        if name.endswith("layer_scale"):
            p.data.copy_(torch.rand(p.shape, generator=g) + 0.5)


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
        _randomise_norms(model)
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
            "--no-preprocess",  # the network's own float input, as torchvision's model takes
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


def test_a_photo_through_the_compiled_pipeline_classifies_as_torchvision(tmp_path: Path) -> None:
    """resnet18 with its declared preprocessing in the graph, fed the photo's uint8 pixels,
    against torchvision's model on its weights' own transforms of the same PIL image."""
    image = pytest.importorskip("PIL.Image")
    torch.manual_seed(0)
    model = tv.resnet18(weights=None).eval()
    with torch.no_grad():
        _randomise_norms(model)
    weights = tmp_path / "w.safetensors"
    _save(model, weights)
    onnx_path = tmp_path / "resnet18.onnx"
    args = ["compile", str(ROOT / "models" / "resnet18.xnet"), "-o", str(onnx_path)]
    result = CliRunner().invoke(main, [*args, "--weights", str(weights)])
    assert result.exit_code == 0, result.output
    yy, xx = np.mgrid[0:333, 0:500]
    photo = np.stack([127 + 120 * np.sin(xx / 29 + c) * np.cos(yy / 41) for c in range(3)], -1)
    photo = photo.clip(0, 255).astype(np.uint8)
    transforms = tv.ResNet18_Weights.DEFAULT.transforms()
    with torch.no_grad():
        ref = model(transforms(image.fromarray(photo))[None]).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": photo[None]})
    # the pipelines agree up to one 8-bit level in some pixels; the logits follow closely
    # (measured: max |difference| 0.004-0.007 at a scale of 9), so the five classes ranked
    # first score, in torchvision's logits, what its own five best do (near-ties may swap)
    tol = 1e-2 * float(np.abs(ref).max())
    assert float(np.abs(out - ref).max()) <= tol
    ours, theirs = np.argsort(-out[0])[:5], np.argsort(-ref[0])[:5]
    assert np.abs(ref[0][ours] - ref[0][theirs]).max() <= 2 * tol
