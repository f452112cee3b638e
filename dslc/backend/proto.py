"""The ONNX protobuf messages the emitter writes, encoded directly: compiling needs neither the
onnx package nor its dependencies (importing onnx costs 0.1-0.7 s, mostly ml_dtypes).

Each function returns a message's bytes exactly as onnx.helper's builder of the same name
serialises with `deterministic=True` (fields in field-number order, proto2 presence);
tests/unit/test_proto.py compares them with onnx for every kind of field used.
"""

from __future__ import annotations

import numbers
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ELEM_BOOL",
    "ELEM_FLOAT",
    "ELEM_FLOAT16",
    "ELEM_INT64",
    "EXTERNAL",
    "IR_VERSIONS",
    "Model",
    "Node",
    "Tensor",
    "external_tensor",
    "key",
    "node",
    "tensor",
    "tensor_header",
    "value_info",
]

ELEM_FLOAT, ELEM_FLOAT16, ELEM_INT64, ELEM_BOOL = 1, 10, 7, 9  # TensorProto.DataType
EXTERNAL = 1  # TensorProto.DataLocation
# onnx.helper.find_min_ir_version_for, for the opsets the emitter supports
IR_VERSIONS = {17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11, 24: 12, 25: 13, 26: 13}

_ELEMS = {
    np.dtype(np.float32): 1,
    np.dtype(np.uint8): 2,
    np.dtype(np.int8): 3,
    np.dtype(np.int32): 6,
    np.dtype(np.int64): 7,
    np.dtype(np.bool_): 9,
    np.dtype(np.float16): 10,
    np.dtype(np.float64): 11,
}
# AttributeProto.AttributeType
_FLOAT, _INT, _STRING, _TENSOR, _FLOATS, _INTS, _STRINGS = 1, 2, 3, 4, 6, 7, 8


def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # int64: negative numbers as ten bytes, two's complement
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(number: int, length: int) -> bytes:
    """The key and length prefix of a length-delimited field."""
    return _varint(number << 3 | 2) + _varint(length)


def _bytes(number: int, value: bytes) -> bytes:
    return key(number, len(value)) + value


def _str(number: int, value: str) -> bytes:
    # names are ASCII; only text given through the API (the source kept in the metadata) can
    # hold a lone surrogate, which UTF-8 cannot encode: it is written as '?'
    return _bytes(number, value.encode("utf-8", "replace"))


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _float(number: int, value: float) -> bytes:
    return _varint(number << 3 | 5) + struct.pack("<f", value)


class Tensor(bytes):
    """An encoded TensorProto (so that an attribute holding one is not taken for a string)."""


class Node(bytes):
    """An encoded NodeProto that remembers the names of its outputs."""

    outputs: tuple[str, ...] = ()


def _attribute(name: str, value: Any) -> bytes:
    """onnx.helper.make_attribute for the values the emitter uses."""
    out = _str(1, name)
    if isinstance(value, numbers.Integral):
        return out + _int(3, int(value)) + _int(20, _INT)
    if isinstance(value, numbers.Real):
        return out + _float(2, float(value)) + _int(20, _FLOAT)
    if isinstance(value, Tensor):
        return out + _bytes(5, value) + _int(20, _TENSOR)
    if isinstance(value, str | bytes):
        text = value.encode() if isinstance(value, str) else value
        return out + _bytes(4, text) + _int(20, _STRING)
    values = list(value)
    if values and all(isinstance(v, numbers.Integral) for v in values):
        return out + b"".join(_int(8, int(v)) for v in values) + _int(20, _INTS)
    if values and all(isinstance(v, numbers.Real) for v in values):
        return out + b"".join(_float(7, float(v)) for v in values) + _int(20, _FLOATS)
    if values and all(isinstance(v, str) for v in values):
        return out + b"".join(_str(9, v) for v in values) + _int(20, _STRINGS)
    raise TypeError(f"attribute {name}: cannot encode {value!r}")


def node(
    op_type: str, inputs: Iterable[str], outputs: Iterable[str], name: str = "", **attrs: Any
) -> Node:
    """A NodeProto (onnx.helper.make_node): attributes sorted by name, None ones left out."""
    outputs = tuple(outputs)
    out = b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs)
    out += (_str(3, name) if name else b"") + _str(4, op_type)
    for k, v in sorted(attrs.items()):
        if v is not None:
            out += _bytes(5, _attribute(k, v))
    encoded = Node(out)
    encoded.outputs = outputs
    return encoded


def tensor_header(name: str, dims: Sequence[int], elem: int) -> bytes:
    """A TensorProto's fields before raw_data (dims, data_type, name)."""
    out = b"".join(_int(1, d) for d in dims) + _int(2, elem)
    return out + (_str(8, name) if name else b"")


def tensor(array: np.ndarray, name: str) -> Tensor:
    """A TensorProto holding the array's bytes (onnx.numpy_helper.from_array)."""
    native = array.dtype.newbyteorder("=")
    if native not in _ELEMS:
        raise TypeError(f"tensor {name}: cannot encode dtype {array.dtype}")
    raw = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
    return Tensor(tensor_header(name, array.shape, _ELEMS[native]) + _bytes(9, raw))


def external_tensor(name: str, dims: Sequence[int], elem: int, entries: Mapping[str, str]) -> bytes:
    """A TensorProto whose data lives in an external file."""
    out = tensor_header(name, dims, elem)
    out += b"".join(_bytes(13, _str(1, k) + _str(2, v)) for k, v in entries.items())
    return out + _int(14, EXTERNAL)


def value_info(name: str, elem: int, dims: Sequence[int | str]) -> bytes:
    """A ValueInfoProto of a tensor (onnx.helper.make_tensor_value_info)."""
    shape = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _str(2, d)) for d in dims)
    return _str(1, name) + _bytes(2, _bytes(1, _int(1, elem) + _bytes(2, shape)))


@dataclass
class Model:
    """A ModelProto built by the emitter: nodes, inputs and outputs already encoded."""

    opset: int
    producer_version: str
    graph_name: str
    nodes: list[Node] = field(default_factory=list)
    inputs: list[bytes] = field(default_factory=list)
    outputs: list[bytes] = field(default_factory=list)
    value_info: list[bytes] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def head(self, graph: bytes | None = None) -> bytes:
        """The model's fields, with the graph's bytes in place when given."""
        out = _int(1, IR_VERSIONS[self.opset]) + _str(2, "dslc") + _str(3, self.producer_version)
        if graph is not None:
            out += _bytes(7, graph)
        out += _bytes(8, _str(1, "") + _int(2, self.opset))
        return out + b"".join(_bytes(14, _str(1, k) + _str(2, v)) for k, v in self.metadata.items())

    def graph(self, initializers: Sequence[bytes] = ()) -> bytes:
        """The GraphProto's bytes."""
        out = b"".join(_bytes(1, n) for n in self.nodes) + _str(2, self.graph_name)
        out += b"".join(_bytes(5, t) for t in initializers)
        return (
            out
            + b"".join(_bytes(11, i) for i in self.inputs)
            + b"".join(_bytes(12, o) for o in self.outputs)
            + b"".join(_bytes(13, v) for v in self.value_info)
        )

    def SerializeToString(self, deterministic: bool = True) -> bytes:
        """The whole model without initializers, as a protobuf message would give it."""
        return self.head(self.graph())
