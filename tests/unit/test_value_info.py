"""value_info inside compiled models (issue 14, part 3) where the input's size is symbolic:
the helper tensors a layer computes on the way carry shapes too, in dslc's symbols; ONNX's
inference does not contradict them, and ONNX Runtime, at a concrete size, computes tensors of
exactly those shapes."""

from __future__ import annotations

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from value_info import assert_value_info

from dslc.backend.onnx import to_onnx
from dslc.compiler import compile_source
from dslc.source import SourceFile

BODIES = {
    "adaptive": "conv3x3(4) -> adaptive_avgpool(3)",  # averaging matrices built at run time
    "shuffle": "conv1x1(8) -> shuffle(2)",
    "space_to_depth": "conv1x1(2, stride=2) -> space_to_depth(2)",
    "gelu": "conv1x1(4) -> gelu -> gelu(approximate=tanh)",
    "layernorm": "conv1x1(4) -> layernorm -> silu -> hardswish",
    "product": "conv1x1(4) -> mul<relu | sigmoid | gap>",
    "upsample": "conv1x1(4) -> relu @skip -> maxpool2 -> upsample(to=skip) -> upsample(2)",
    "pool": "avgpool3(stride=2, pad=1, ceil=true) -> maxpool3(stride=2, pad=1, ceil=true)",
}
FIXED = {"pool"}  # the padded average pool of ceil mode needs the sizes
SIZES = {"N": 3, "H": 12, "W": 20}


def _size(dim: int | str) -> int:
    """A dim at SIZES: `H/2` -> 6, `N*2` -> 6."""
    if isinstance(dim, int):
        return dim
    text = re.sub(r"[NHW]", lambda m: str(SIZES[m.group()]), dim)
    assert re.fullmatch(r"[0-9+\-*/ ]+", text), dim
    value = eval(text, {"__builtins__": {}})  # digits and operators only
    assert value == int(value), dim
    return int(value)


def _every_tensor(model: onnx.ModelProto) -> tuple[ort.InferenceSession, list[str]]:
    """A session whose outputs are every tensor that carries value_info."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = [v.name for v in model.graph.value_info]
    probe.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session, names


@pytest.mark.parametrize("opset", [17, 26])
@pytest.mark.parametrize("kind", list(BODIES))
def test_symbolic_shapes_inside_layers(kind: str, opset: int) -> None:
    size = f"{SIZES['H']} x {SIZES['W']}" if kind in FIXED else "H x W"
    text = f"input x: 2 x {size}\n{BODIES[kind]}\n"
    model = to_onnx(compile_source(SourceFile("t.xnet", text)), opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert assert_value_info(model) >= 2
    session, names = _every_tensor(model)
    x = np.random.default_rng(0).standard_normal((SIZES["N"], 2, SIZES["H"], SIZES["W"]))
    got = session.run(names, {"x": x.astype(np.float32)})
    for v, value in zip(model.graph.value_info, got, strict=True):
        dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        assert list(np.shape(value)) == [_size(d) for d in dims], (v.name, dims)
        assert value.dtype == onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)
