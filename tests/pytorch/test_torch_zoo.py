"""Every zoo model through the PyTorch bridge: the generated module's state_dict is exactly
`dslc weights`' list (names, shapes, dtypes), and in eval mode it computes what ONNX Runtime
computes on the compiled model with the same weights (batch-norm statistics randomised, so
folding shows). Symbolic-size models run at a small size; models over BIG parameters are
compared only with DSLC_LARGE_TESTS=1 (their state_dicts always)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from zoo import xnet_files

from dslc.backend.onnx import serialize, to_onnx
from dslc.backend.weights import expected
from dslc.compiler import compile_file, compile_source, fix_sizes
from dslc.diagnostics import CompileError
from dslc.passes import Analysis
from dslc.passes.cost import total
from dslc.pytorch import analysis_source, module_of
from dslc.pytorch.source import top_class
from dslc.source import SourceFile

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]
ZOO = xnet_files(ROOT / "models")
MODELS = [p for p in ZOO if "lib" not in p.relative_to(ROOT / "models").parts]
BIG = 12_000_000  # parameters: above this, outputs are compared only with DSLC_LARGE_TESTS=1
SMALL = {"H": 64, "W": 64}
INPUT = re.compile(r"^(input \w+: \d+) x \d+ x \d+", re.MULTILINE)


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT / "models")) for p in paths]


@pytest.mark.parametrize("path", MODELS, ids=_ids(MODELS))
def test_state_dict_is_dslc_weights(path: Path) -> None:
    analysis = compile_file(path)
    space: dict[str, object] = {}
    exec(compile(analysis_source(analysis, str(path)), str(path), "exec"), space)  # noqa: S102
    with torch.device("meta"):  # shapes without memory or initialisation
        net = space[top_class(analysis)]()  # type: ignore[operator]
    state = {k: (tuple(v.shape), v.dtype) for k, v in net.state_dict().items()}
    assert state == {e.name: (e.shape, torch.float32) for e in expected(analysis)}


def _small(path: Path) -> Analysis:
    """The model at a small input size: symbolic sizes set, or a fixed input's H and W
    rewritten to 64 where the network takes it (a global pool before its classifier)."""
    analysis = compile_file(path)
    if _sym(analysis):
        return fix_sizes(analysis, SMALL)
    text = INPUT.sub(r"\1 x 64 x 64", path.read_text(), count=1)
    try:
        return compile_source(SourceFile(str(path), text))
    except CompileError:
        return analysis


def _sym(analysis: Analysis) -> bool:
    return any(
        not isinstance(d, int) for i in analysis.graph.inputs for d in analysis.shapes[i][1:]
    )


def _randomised_norms(net: object) -> dict[str, np.ndarray]:
    """The module's weights with batch-norm statistics and affine terms drawn at random."""
    g = np.random.default_rng(5)
    state = {k: v.numpy().copy() for k, v in net.state_dict().items()}  # type: ignore[attr-defined]
    for k, v in state.items():
        if k.endswith(".running_var"):
            state[k] = g.uniform(0.5, 1.5, v.shape).astype(np.float32)
        elif k.endswith(".running_mean"):
            state[k] = g.normal(0.0, 0.1, v.shape).astype(np.float32)
        elif k.rsplit(".", 1)[0] + ".running_var" in state:  # bn weight and bias
            state[k] = g.uniform(0.5, 1.5, v.shape).astype(np.float32)
    return state


@pytest.mark.parametrize("path", MODELS, ids=_ids(MODELS))
def test_eval_outputs_equal_onnxruntime(path: Path) -> None:
    analysis = _small(path)
    if total(analysis.costs).params > BIG and os.environ.get("DSLC_LARGE_TESTS") != "1":
        pytest.skip("over 12M parameters: set DSLC_LARGE_TESTS=1 to compare the outputs")
    net = module_of(analysis, str(path), None, 0).eval()
    state = _randomised_norms(net)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    model = to_onnx(analysis, weights=state, optimize=True, preprocess=False)  # the network
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(serialize(model), options, providers=["CPUExecutionProvider"])
    g = np.random.default_rng(0)
    feeds = {
        analysis.graph.node(i).name: g.standard_normal(
            (1, *(int(d) for d in analysis.shapes[i][1:]))
        ).astype(np.float32)
        for i in analysis.graph.inputs
    }
    want = session.run(None, feeds)
    with torch.no_grad():
        got = net(*(torch.from_numpy(x) for x in feeds.values()))
    got = got if isinstance(got, tuple) else (got,)
    for y, ref in zip(got, want, strict=True):
        scale = float(np.abs(ref).max())
        assert scale > 1e-3, "outputs this small compare nothing"
        np.testing.assert_allclose(y.numpy(), ref, rtol=0, atol=1e-5 * scale)
