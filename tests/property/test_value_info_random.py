"""Shapes inside every compiled model (issue 14, part 3): random programs compiled at any
opset, plain or optimised, in float32 or float16, carry value_info for every tensor a node
computes, and ONNX's inference agrees with it (tests/value_info.py)."""

from __future__ import annotations

import onnx
from hypothesis import given
from hypothesis import strategies as st
from strategies import Program, programs
from value_info import assert_value_info

from dslc.backend.onnx import to_onnx
from dslc.backend.settings import OPSETS
from dslc.compiler import compile_source
from dslc.source import SourceFile

TYPES = [("float32", None), ("float16", None), ("float16", "float32")]


@given(programs(), st.sampled_from(list(OPSETS)), st.booleans(), st.sampled_from(TYPES))
def test_every_tensor_carries_a_shape_onnx_agrees_with(
    program: Program, opset: int, optimize: bool, types: tuple[str, str | None]
) -> None:
    analysis = compile_source(SourceFile("prop.xnet", program.text))
    dtype, io_dtype = types
    model = to_onnx(analysis, opset=opset, optimize=optimize, dtype=dtype, io_dtype=io_dtype)
    onnx.checker.check_model(model, full_check=True)
    # the sizes are fixed but the batch: ONNX finds every number dslc writes
    assert_value_info(model, fixed=True)
    infos = {v.name: v for v in model.graph.value_info}
    out = analysis.graph.outputs[0]
    for node in analysis.graph.nodes:
        info = infos.get(node.name)
        if info is None or node.id == out:
            continue  # an input, a layer scale (`.scaled`), or one --optimize passed through
        dims = info.type.tensor_type.shape.dim
        assert dims[0].dim_param == "N", node.name
        assert [d.dim_value for d in dims[1:]] == list(analysis.shapes[node.id][1:]), node.name
