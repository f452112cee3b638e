"""Pooling in ceil mode matches PyTorch's rule exactly (windows, sizes and divisors) on every
opset, including where PyTorch drops a last window that would start in the padding."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest

from dslc.backend.onnx import serialize, to_onnx
from dslc.compiler import compile_source
from dslc.ir import dims
from dslc.ir.shapes import conv_out
from dslc.source import SourceFile

ort = pytest.importorskip("onnxruntime")


def _reference(x: np.ndarray, k: int, s: int, p: int, kind: str, cip: bool) -> np.ndarray:
    """PyTorch's pooling along one axis in ceil mode (aten's pooling_output_shape + kernels)."""
    n = x.shape[0]
    out = math.ceil((n + 2 * p - k) / s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    values = []
    for i in range(out):
        start, end = i * s - p, min(i * s - p + k, n + p)
        lo, hi = max(start, 0), min(end, n)
        if kind == "max":
            values.append(x[lo:hi].max())
        else:
            values.append(x[lo:hi].sum() / ((end - start) if cip else (hi - lo)))
    return np.array(values)


CASES = [
    (n, k, s, p)
    for n in range(3, 14)
    for k, s, p in ((3, 2, 1), (2, 2, 1), (3, 3, 1), (3, 2, 0), (2, 2, 0))
    if p * 2 <= k
]


@pytest.mark.parametrize("opset", [17, 21, 22])
@pytest.mark.parametrize("kind", ["max", "avg", "avg_nopad"])
def test_ceil_mode_matches_pytorch(kind: str, opset: int) -> None:
    rng = np.random.default_rng(0)
    for n, k, s, p in CASES:
        cip = kind == "avg"
        op = "maxpool" if kind == "max" else "avgpool"
        extra = "" if kind == "max" else f", count_include_pad={'true' if cip else 'false'}"
        src = (
            f"input x: 1 x {n} x 5\n"
            f"{op}(k=({k}, 1), stride=({s}, 1), pad=({p}, 0), ceil=true{extra})\n"
        )
        model = to_onnx(compile_source(SourceFile("t.xnet", src)), opset=opset)
        onnx.checker.check_model(model, full_check=True)
        x = rng.standard_normal((1, 1, n, 5)).astype(np.float32)
        (y,) = ort.InferenceSession(serialize(model)).run(None, {"x": x})
        want = _reference(x[0, 0, :, 0].astype(np.float64), k, s, p, kind[:3], cip)
        assert y.shape[2] == want.shape[0], (n, k, s, p)
        np.testing.assert_allclose(y[0, 0, :, 0], want, atol=1e-6, err_msg=str((n, k, s, p)))


@pytest.mark.parametrize(
    ("k", "s", "p"), [(2, 3, 0), (1, 2, 0), (3, 2, 1), (3, 3, 1), (2, 2, 0), (3, 4, 1), (5, 3, 2)]
)
def test_symbolic_ceil_size_drops_the_last_window_as_a_fixed_size_does(
    k: int, s: int, p: int
) -> None:
    # `maxpool2(stride=3, ceil=true)` on 3 x H x W said H/3+1, but at H = 33 PyTorch and
    # ONNX Runtime give 11: the last window would start past the input (found by the fuzzer)
    sym = conv_out(dims.sym("H"), k, s, 1, p, p, ceil=True)
    for h in range(s, 60, s):  # where the formula is exact: H a multiple of s
        assert dims.substitute(sym, {"H": h}) == conv_out(h, k, s, 1, p, p, ceil=True), h
