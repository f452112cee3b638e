"""The layers of issue 12 against PyTorch's modules: given the same weights (loaded through
`weights=` under the module's own state_dict names), each computes what PyTorch computes.

Optional: runs only where torch, torchvision and onnxruntime are installed (not in CI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torchvision_shim import import_torchvision

from dslc.backend.onnx import serialize, to_onnx
from dslc.backend.weights import expected
from dslc.compiler import compile_source
from dslc.source import SourceFile

torch = pytest.importorskip("torch")
tv = import_torchvision()
ort = pytest.importorskip("onnxruntime")
nn = torch.nn


class _ChannelsLast(nn.Module):  # type: ignore[misc]
    """Apply a module over the channels at every position (permute, module, permute)."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Any) -> Any:
        return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _Scale(nn.Module):  # type: ignore[misc]
    """torchvision ConvNeXt's layer scale: one [C, 1, 1] parameter named by itself."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full((c, 1, 1), 1e-6))

    def forward(self, x: Any) -> Any:
        return self.layer_scale * x


class _M(nn.Module):  # type: ignore[misc]
    """A module under the name `m` (state_dict keys m.weight, ...)."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.m = inner

    def forward(self, x: Any) -> Any:
        return self.m(x)


def _convnext_block() -> Any:
    return tv.models.convnext.CNBlock(8, 1e-6, 0.1)


# xnet layer (one element, input 8 x 6 x 7, or flat 8 features), the torch module
CASES: dict[str, tuple[str, Callable[[], Any], bool]] = {
    "silu": ("silu", nn.SiLU, False),
    "hardswish": ("hardswish", nn.Hardswish, False),
    "hardsigmoid": ("hardsigmoid", nn.Hardsigmoid, False),
    "gelu": ("gelu", nn.GELU, False),
    "gelu_tanh": ("gelu(approximate=tanh)", lambda: nn.GELU(approximate="tanh"), False),
    "prelu": ("m: prelu", lambda: _M(nn.PReLU(8)), False),
    "prelu_shared": ("m: prelu(shared=true)", lambda: _M(nn.PReLU()), False),
    "prelu_flat": ("m: prelu", lambda: _M(nn.PReLU(8)), True),
    "layernorm2d": (
        "m: layernorm",
        lambda: _M(tv.models.convnext.LayerNorm2d(8, eps=1e-6)),
        False,
    ),
    "layernorm_flat": (
        "m: layernorm(1e-5)",
        lambda: _M(nn.LayerNorm(8, eps=1e-5)),
        True,
    ),
    "linear": (
        "inner: linear(5)",
        lambda: _ChannelsLast(nn.Linear(8, 5)),
        False,
    ),
    "linear_flat": ("m: linear(5, bias=false)", lambda: _M(nn.Linear(8, 5, bias=False)), True),
    "scale": ("layer_scale: scale(1e-6)", lambda: _Scale(8), False),
    "stochastic_depth": (
        "stochastic_depth(0.3)",
        lambda: tv.ops.StochasticDepth(0.3, "row"),
        False,
    ),
    "squeeze_excitation": (
        "m: gate<gap -> fc1: conv1x1(2) -> relu -> fc2: conv1x1(8) -> hardsigmoid>",
        lambda: _M(tv.ops.SqueezeExcitation(8, 2, scale_activation=nn.Hardsigmoid)),
        False,
    ),
    "convnext_block": (
        (
            "residual<body: [conv7x7(C, groups=C) -> identity -> layernorm -> linear(4 * C)"
            " -> gelu -> linear(C / 4) -> identity] -> layer_scale: scale(1e-6)"
            " -> stochastic_depth(0.1)>"
        ),
        _convnext_block,
        False,
    ),
}


def _state(module: Any) -> dict[str, np.ndarray]:
    """The module's state_dict, with every floating tensor randomised (away from its init)."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for k, v in module.state_dict().items():
        v = torch.randn(v.shape, generator=g) * 0.5 + (1.0 if "weight" in k else 0.0)
        out[k] = v.numpy().astype(np.float32)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in out.items()})
    return out


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("opset", [17, 21])
def test_layer_computes_what_pytorch_computes(case: str, opset: int) -> None:
    layer, make, flat = CASES[case]
    module = make().eval()
    head = "input x: 8 x 1 x 1\nflatten ->" if flat else "input x: 8 x 6 x 7\n"
    analysis = compile_source(SourceFile("t.xnet", f"network t\n{head} {layer}\n"))
    # 'block' is a keyword: torchvision's CNBlock.block is written body (until quoted labels)
    state = {k.replace("block.", "body."): v for k, v in _state(module).items()}
    assert {e.name for e in expected(analysis)} == set(state), case
    model = to_onnx(analysis, weights=state, opset=opset)
    x = np.random.default_rng(1).standard_normal((2, 8, 1, 1) if flat else (2, 8, 6, 7))
    x = x.astype(np.float32)
    session = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    with torch.no_grad():
        tx = torch.from_numpy(x)
        want = module(tx.flatten(1) if flat else tx).numpy()
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale, err_msg=case)
