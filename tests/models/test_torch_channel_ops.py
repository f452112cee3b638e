"""The channel and block layers compute exactly PyTorch's operations: chunk = torch.chunk,
channels = a slice, shuffle = torchvision's shufflenetv2.channel_shuffle, space_to_depth =
pixel_unshuffle, depth_to_space = pixel_shuffle, pad_channels = F.pad on the channels (and
avgpool(1, stride=2) = x[:, :, ::2, ::2], the CIFAR ResNet's option-A shortcut), on ONNX
Runtime CPU at every opset dslc emits, in float32 and float16, for fixed and symbolic sizes.

Optional: runs only where torch is installed (torchvision for channel_shuffle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from torchvision_shim import import_torchvision

from dslc.backend.onnx import serialize, to_onnx
from dslc.backend.settings import OPSETS
from dslc.compiler import compile_source
from dslc.source import SourceFile

torch = pytest.importorskip("torch")
F = torch.nn.functional

Ref = Callable[[Any], Any]


def _channel_shuffle(x: Any, groups: int) -> Any:
    tv = import_torchvision()
    return tv.models.shufflenetv2.channel_shuffle(x, groups)


# (layer chain, input C x H x W, the reference on a torch tensor)
CASES: list[tuple[str, tuple[int, int, int], Ref]] = [
    ("chunk(4, 0)", (12, 5, 6), lambda x: torch.chunk(x, 4, dim=1)[0]),
    ("chunk(4, 2)", (12, 5, 6), lambda x: torch.chunk(x, 4, dim=1)[2]),
    ("chunk(3, -1)", (12, 5, 6), lambda x: torch.chunk(x, 3, dim=1)[-1]),
    ("channels(2, 7)", (12, 5, 6), lambda x: x[:, 2:7]),
    ("channels(-5)", (12, 5, 6), lambda x: x[:, -5:]),
    ("channels(-5, -1)", (12, 5, 6), lambda x: x[:, -5:-1]),
    ("channels(0, C / 2)", (12, 5, 6), lambda x: x[:, :6]),
    ("shuffle(2)", (12, 5, 6), lambda x: _channel_shuffle(x, 2)),
    ("shuffle(3)", (12, 7, 3), lambda x: _channel_shuffle(x, 3)),
    ("shuffle(12)", (12, 2, 2), lambda x: _channel_shuffle(x, 12)),
    ("space_to_depth(2)", (3, 6, 8), lambda x: F.pixel_unshuffle(x, 2)),
    ("space_to_depth(3)", (5, 9, 6), lambda x: F.pixel_unshuffle(x, 3)),
    ("depth_to_space(2)", (12, 3, 5), lambda x: F.pixel_shuffle(x, 2)),
    ("depth_to_space(3)", (18, 2, 3), lambda x: F.pixel_shuffle(x, 3)),
    ("space_to_depth(2) -> depth_to_space(2)", (3, 4, 6), lambda x: x),
    ("pad_channels(2)", (3, 5, 6), lambda x: F.pad(x, (0, 0, 0, 0, 2, 2))),
    ("pad_channels(0, 3)", (3, 5, 6), lambda x: F.pad(x, (0, 0, 0, 0, 0, 3))),
    # the CIFAR ResNet's option-A shortcut, odd sizes included (floor mode keeps ceil(H/2))
    (
        "avgpool(1, stride=2) -> pad_channels(C / 2)",
        (8, 7, 9),
        lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 4, 4)),
    ),
]
DTYPES = {"float32": np.float32, "float16": np.float16}


def _model(chain: str, chw: tuple[int, int, int] | str, opset: int, dtype: str) -> bytes:
    shape = chw if isinstance(chw, str) else " x ".join(map(str, chw))
    text = f"network t\ninput x: {shape}\n{chain}\n"
    model = to_onnx(compile_source(SourceFile("t.xnet", text)), opset=opset, dtype=dtype)
    onnx.checker.check_model(model, full_check=True)  # strict shape inference included
    return serialize(model)


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"x": x})
    return np.asarray(y)


@pytest.mark.parametrize("chain, chw, ref", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("opset", list(OPSETS))
def test_layer_equals_pytorch_at_every_opset(
    chain: str, chw: tuple[int, int, int], ref: Ref, opset: int
) -> None:
    for dtype, np_type in DTYPES.items():
        x = np.random.default_rng(opset).standard_normal((2, *chw)).astype(np_type)
        got = _run(_model(chain, chw, opset, dtype), x)
        want = ref(torch.from_numpy(x)).numpy()
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, err_msg=f"{chain}, {dtype}")


@pytest.mark.parametrize(
    "chain, ref",
    [
        ("shuffle(4)", lambda x: _channel_shuffle(x, 4)),
        ("space_to_depth(2)", lambda x: F.pixel_unshuffle(x, 2)),
        ("depth_to_space(2)", lambda x: F.pixel_shuffle(x, 2)),
        ("chunk(2, 1) -> pad_channels(1, 3)", lambda x: F.pad(x[:, 4:], (0, 0, 0, 0, 1, 3))),
    ],
)
def test_one_model_serves_every_batch_and_size(chain: str, ref: Ref) -> None:
    model = _model(chain, "8 x H x W", 21, "float32")
    for n, h, w in ((1, 2, 2), (3, 6, 4), (2, 10, 14)):
        x = np.random.default_rng(h).standard_normal((n, 8, h, w)).astype(np.float32)
        np.testing.assert_array_equal(_run(model, x), ref(torch.from_numpy(x)).numpy())


def test_channel_layers_on_a_flat_tensor() -> None:
    chain = "flatten -> chunk(2, 1) -> shuffle(3) -> pad_channels(1) -> channels(1, -1)"
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2)).astype(np.float32)
    t = torch.from_numpy(x).flatten(1)[:, 6:]
    want = t.view(2, 3, 2).transpose(1, 2).reshape(2, 6)
    np.testing.assert_array_equal(_run(_model(chain, (3, 2, 2), 21, "float32"), x), want.numpy())
