"""Random valid programs through the PyTorch bridge: the generated module's state_dict is
`dslc weights`' list (names, shapes, dtypes), and in eval mode it computes what ONNX Runtime
computes on the compiled model with the same (random) weights, batch norm folded or not."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from strategies import Program, programs

from dslc.backend.onnx import serialize, to_onnx
from dslc.backend.weights import expected
from dslc.compiler import compile_source
from dslc.ir.ops import Op
from dslc.passes import Analysis
from dslc.pytorch import module_of
from dslc.source import SourceFile

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")


def _random_weights(analysis: Analysis) -> dict[str, np.ndarray]:
    g = np.random.default_rng(1)
    out = {}
    for e in expected(analysis):
        a = g.standard_normal(e.shape).astype(np.float32) * np.float32(0.5)
        out[e.name] = np.abs(a) + np.float32(0.5) if e.name.endswith(".running_var") else a
    return out


def _run_ort(
    analysis: Analysis, weights: dict[str, np.ndarray], x: np.ndarray, opt: bool
) -> np.ndarray:
    model = to_onnx(analysis, weights=weights, optimize=opt)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(serialize(model), options, providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {model.graph.input[0].name: x})
    return np.asarray(y)


@given(programs())
def test_random_program_state_dict_and_outputs(program: Program) -> None:
    torch.set_num_threads(1)  # more threads spin against each other on a small machine
    analysis = compile_source(SourceFile("prop.xnet", program.text))
    net = module_of(analysis, "prop.xnet", None, 0).eval()
    state = {k: (tuple(v.shape), v.dtype) for k, v in net.state_dict().items()}
    want = {e.name: (e.shape, torch.float32) for e in expected(analysis)}
    assert state == want, program.text
    if not any(n.op is Op.SCALE for n in analysis.graph.nodes):  # a bare parameter comes
        assert list(state) == list(want)  # first in its module, as PyTorch lists them
    weights = _random_weights(analysis)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    x = np.random.default_rng(0).standard_normal((2, *program.input_shape), np.float32)
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
        exact = net.double()(torch.from_numpy(x).double()).numpy()
    # deep random programs cancel: float32's own rounding (torch's, measured against float64)
    # can pass 1e-5 of the largest output, so the bound is that or three times the rounding
    rounding = float(np.abs(got - exact).max())
    for optimize in (False, True):
        ref = _run_ort(analysis, weights, x, optimize)
        scale = max(float(np.abs(ref).max()), 1.0)
        bound = max(1e-5 * scale, 3 * rounding)
        np.testing.assert_allclose(got, ref, rtol=0, atol=bound, err_msg=program.text)
