"""Every op of the IR (a closed enum) through the PyTorch bridge, each in a small network:
the generated module computes what ONNX Runtime computes on the compiled model, in eval mode,
with random weights and batch-norm statistics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dslc.backend.onnx import serialize, to_onnx
from dslc.backend.weights import expected
from dslc.compiler import compile_source
from dslc.ir.ops import Op
from dslc.pytorch import analysis_source, module_of
from dslc.source import SourceFile

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

# op: a chain on an input 6 x 9 x 10 that uses it (its unusual forms where it has them)
CASES: dict[Op, str] = {
    Op.INPUT: "identity",
    Op.CONV: "conv(6, k=(3, 2), stride=(2, 1), pad=(1, 0, 2, 1), dilation=(1, 2)) -> "
    "conv3x3(4, groups=2, bias=false) -> conv(4, k=3, pad=same) -> "
    "conv(kernel=[[0, 1, 0], [1, -4, 1], [0, 1, 0]], bias=0.5)",
    Op.DECONV: "deconv(4, k=3, stride=2, pad=1, output_pad=1) -> deconv(3, k=2, pad=(0, 1, 1, 0))",
    Op.MAXPOOL: "maxpool3(stride=2, pad=1, ceil=true) -> maxpool(2, stride=1, dilation=2)",
    Op.AVGPOOL: "avgpool3(stride=2, pad=1, ceil=true) -> avgpool(2, stride=1, pad=1, "
    "count_include_pad=false)",
    Op.GLOBAL_AVGPOOL: "gap",
    Op.GLOBAL_MAXPOOL: "gmp",
    Op.ADAPTIVE_AVGPOOL: "adaptive_avgpool((4, 3))",
    Op.BATCHNORM: "bn(eps=0.001, momentum=0.3) -> flatten -> bn",
    Op.LRN: "lrn(3, alpha=0.01, beta=0.5, k=2)",
    Op.DROPOUT: "dropout(0.3)",
    Op.RELU: "relu",
    Op.LEAKY_RELU: "leakyrelu(0.2)",
    Op.RELU6: "relu6",
    Op.SIGMOID: "sigmoid",
    Op.TANH: "tanh",
    Op.ELU: "elu(0.7)",
    Op.SOFTMAX: "softmax",
    Op.FLATTEN: "flatten",
    Op.DENSE: "flatten -> dense(7) -> dense(3, bias=false)",
    Op.UPSAMPLE: "upsample(2) -> upsample(2, mode=bilinear) -> upsample((1.5, 0.5)) "
    "-> upsample(to=x, mode=bilinear, align_corners=true)",
    Op.IDENTITY: "identity",
    Op.ADD: "add<relu | tanh | identity> -> residual<conv3x3(6)>",
    Op.CONCAT: "concat<relu | conv1x1(3)> -> dense<conv3x3(2)>",
    Op.CHANNELS: "chunk(3, 1) -> channels(-1)",
    Op.SHUFFLE: "shuffle(3) -> flatten -> shuffle(2)",
    Op.SPACE_TO_DEPTH: "maxpool(2, stride=1, pad=(1, 1, 1, 0)) -> avgpool(2, stride=1, pad=(1, 1, 0, 0), "
    "count_include_pad=false) -> space_to_depth(2)",
    Op.DEPTH_TO_SPACE: "conv1x1(8) -> depth_to_space(2)",
    Op.PAD_CHANNELS: "pad_channels(1, 2) -> flatten -> pad_channels(3)",
    Op.MUL: "mul<identity | sigmoid> -> gate<gap -> conv1x1(6) -> sigmoid>",
    Op.SILU: "silu",
    Op.HARDSWISH: "hardswish",
    Op.HARDSIGMOID: "hardsigmoid",
    Op.GELU: "gelu -> gelu(approximate=tanh)",
    Op.PRELU: "prelu -> prelu(shared=true) -> flatten -> prelu",
    Op.LAYERNORM: "layernorm -> flatten -> layernorm(1e-5)",
    Op.LINEAR: "linear(4) -> flatten -> linear(5, bias=false)",
    Op.SCALE: "s: scale(0.5) -> flatten -> t: scale(2)",
    Op.STOCHASTIC_DEPTH: "stochastic_depth(0.2) -> stochastic_depth(0.5, mode=batch)",
}


def test_every_op_has_a_case() -> None:
    assert set(CASES) == set(Op)


@pytest.mark.parametrize("op", list(Op), ids=[op.value for op in Op])
def test_op_computes_what_onnxruntime_computes(op: Op) -> None:
    torch.set_num_threads(1)
    text = f"network t\ninput x: 6 x 9 x 10\n{CASES[op]}\n"
    analysis = compile_source(SourceFile("t.xnet", text))
    assert op in {n.op for n in analysis.graph.nodes}
    net = module_of(analysis, "t.xnet", None, 0).eval()
    g = np.random.default_rng(2)
    state = {}
    for e in expected(analysis):
        a = g.standard_normal(e.shape).astype(np.float32) * np.float32(0.5)
        state[e.name] = np.abs(a) + np.float32(0.5) if e.name.endswith("running_var") else a
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    x = g.standard_normal((2, 6, 9, 10)).astype(np.float32)
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    for optimize in (False, True):
        model = to_onnx(analysis, weights=state, optimize=optimize)
        session = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
        (want,) = session.run(None, {"x": x})
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale)


def test_every_op_case_writes_a_ruff_clean_formatted_file(tmp_path: Path) -> None:
    for op, chain in CASES.items():
        analysis = compile_source(
            SourceFile("t.xnet", f"network t\ninput x: 6 x 9 x 10\n{chain}\n")
        )
        (tmp_path / f"{op.value}.py").write_text(analysis_source(analysis, "t.xnet"))
    for args in (["check"], ["format", "--diff"]):
        run = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "--isolated", "--no-cache", str(tmp_path)],
            check=False,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout + run.stderr
