"""dslc's own protobuf encoding (backend/proto.py) gives the bytes onnx gives for the same
message, field by field; and a compiled model reads back in onnx as the messages it holds."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from dslc.backend import proto
from dslc.backend.emitter import Lazy
from dslc.backend.serialize import write, write_external
from dslc.backend.settings import OPSETS
from dslc.compiler import compile_source
from dslc.source import SourceFile

ATTRS: list[dict[str, Any]] = [
    {},
    {"axis": 1},
    {"axis": -1},  # int64 as ten bytes
    {"alpha": 0.1, "beta": np.float32(2.5)},
    {"mode": "bilinear", "coordinate_transformation_mode": b"align_corners"},
    {"pads": [0, 0, 1, 1], "strides": (2, 2), "perm": [1, 0], "big": [2**40, -3]},
    {"scales": [1.0, 0.5], "mixed": [1, 2.5]},  # a list with a float is floats
    {"names": ["a", "b"], "flag": True, "unused": None},
]


@pytest.mark.parametrize("attrs", ATTRS)
@pytest.mark.parametrize("name", ["n.1", ""])
def test_node_matches_make_node(attrs: dict[str, Any], name: str) -> None:
    ours = proto.node("Conv", ["x", "w"], ["y"], name=name, **attrs)
    theirs = helper.make_node("Conv", ["x", "w"], ["y"], name=name, **attrs)
    assert ours == theirs.SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array(3, np.int64),
        np.array([], np.int64),
        np.ones((2, 1, 1), np.float16),
        np.array([True, False]),
        np.array([0.1], np.float64),
        np.array([1, -2], np.int32),
    ],
    ids=["f32", "scalar", "empty", "f16", "bool", "f64", "i32"],
)
def test_tensor_and_constant_match_onnx(array: np.ndarray) -> None:
    assert proto.tensor(array, "c") == numpy_helper.from_array(array, "c").SerializeToString()
    ours = proto.node("Constant", [], ["c"], name="c", value=proto.tensor(array, "c"))
    theirs = helper.make_node(
        "Constant", [], ["c"], name="c", value=numpy_helper.from_array(array, "c")
    )
    assert ours == theirs.SerializeToString(deterministic=True)


def test_big_endian_arrays_are_stored_little_endian() -> None:
    native = np.array([-1, 2**40], np.int64)
    assert proto.tensor(native.astype(">i8"), "c") == proto.tensor(native, "c")


def test_unencodable_values_are_refused() -> None:
    with pytest.raises(TypeError, match="dtype complex64"):
        proto.tensor(np.zeros(2, np.complex64), "z")
    with pytest.raises(TypeError, match="attribute empty"):
        proto.node("Foo", [], [], empty=[])


@pytest.mark.parametrize("dims", [[1, 3, 224, 224], ["N", 3, "H", "W"], []])
@pytest.mark.parametrize("elem", [proto.ELEM_FLOAT, proto.ELEM_FLOAT16])
def test_value_info_matches_onnx(dims: list[int | str], elem: int) -> None:
    theirs = helper.make_tensor_value_info("x", elem, dims)
    assert proto.value_info("x", elem, dims) == theirs.SerializeToString(deterministic=True)


@pytest.mark.parametrize("opset", list(OPSETS))
def test_ir_versions_are_onnx_minimum(opset: int) -> None:
    assert proto.IR_VERSIONS[opset] == helper.find_min_ir_version_for(
        [helper.make_opsetid("", opset)]
    )


def _reference(model: proto.Model, initializers: list[onnx.TensorProto]) -> onnx.ModelProto:
    """The same model built with onnx's own classes."""
    ref = onnx.ModelProto()
    ref.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", model.opset)])
    ref.producer_name, ref.producer_version = "dslc", model.producer_version
    ref.opset_import.append(helper.make_opsetid("", model.opset))
    ref.graph.name = model.graph_name
    ref.graph.node.extend(onnx.NodeProto.FromString(n) for n in model.nodes)
    ref.graph.initializer.extend(initializers)
    ref.graph.input.extend(onnx.ValueInfoProto.FromString(i) for i in model.inputs)
    ref.graph.output.extend(onnx.ValueInfoProto.FromString(o) for o in model.outputs)
    ref.graph.value_info.extend(onnx.ValueInfoProto.FromString(v) for v in model.value_info)
    helper.set_model_props(ref, model.metadata)
    return ref


SOURCE = "network tiny\ninput x: 3 x N x N\n\nconv3x3(4) -> bn -> relu -> conv3x3(2)\n"


def _tiny() -> tuple[proto.Model, list[tuple[str, Lazy]]]:
    from dslc.backend.onnx import build

    analysis = compile_source(SourceFile("tiny.xnet", SOURCE))
    return build(analysis, dtype="float16", io_dtype="float32")


def test_written_model_is_onnx_model() -> None:
    model, arrays = _tiny()
    assert len(model.value_info) >= 4  # the layers' outputs and the Cast's float16 input
    buffer = io.BytesIO()
    write(model, arrays, buffer)
    read = onnx.ModelProto.FromString(buffer.getvalue())
    ref = _reference(model, [numpy_helper.from_array(np.asarray(a), n) for n, a in arrays])
    assert read.SerializeToString(deterministic=True) == ref.SerializeToString(deterministic=True)
    assert model.SerializeToString() == _reference(model, []).SerializeToString(deterministic=True)
    onnx.checker.check_model(read, full_check=True)


def test_external_data_model_matches_onnx() -> None:
    model, arrays = _tiny()
    out, data = io.BytesIO(), io.BytesIO()
    write_external(model, arrays, out, data, "tiny.onnx.data")
    tensors, offset = [], 0
    for name, array in arrays:
        offset += -offset % 4096
        t = onnx.TensorProto(name=name, dims=array.shape, data_type=10)
        t.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (("location", "tiny.onnx.data"), ("offset", offset), ("length", array.nbytes)):
            entry = t.external_data.add()
            entry.key, entry.value = k, str(v)
        tensors.append(t)
        assert data.getvalue()[offset : offset + array.nbytes] == np.asarray(array).tobytes()
        offset += array.nbytes
    assert out.getvalue() == _reference(model, tensors).SerializeToString(deterministic=True)


def test_a_file_gets_exactly_the_bytes_of_a_buffer(tmp_path: Path) -> None:
    """A real file's blocks are reserved first (fallocate): what is written is all there is,
    also over an older, longer file's bytes."""
    model, arrays = _tiny()
    buffer = io.BytesIO()
    write(model, arrays, buffer)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\xff" * (len(buffer.getvalue()) * 3))
    with open(path, "r+b") as f:
        write(model, arrays, f)
    assert path.read_bytes() == buffer.getvalue()
