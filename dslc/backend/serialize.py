"""ModelProto and named arrays to bytes: one protobuf file, or the graph plus an external
data file past 2 GiB, written without a second copy of the weights."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
import onnx
from onnx import TensorProto

__all__ = ["serialize", "write", "write_external"]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(field_number: int, length: int) -> bytes:
    """The key and length prefix of a length-delimited protobuf field."""
    return _varint(field_number << 3 | 2) + _varint(length)


def write(model: onnx.ModelProto, arrays: list[tuple[str, np.ndarray]], out: BinaryIO) -> None:
    """Stream a model and its initializers as protobuf without copying the weights in memory.

    The graph field is written last and each tensor's raw bytes straight from numpy; protobuf
    readers accept fields in any order, and the bytes are deterministic.
    """
    head = onnx.ModelProto()
    head.CopyFrom(model)
    head.ClearField("graph")
    graph = model.graph.SerializeToString(deterministic=True)
    tensors = []
    for name, array in arrays:
        proto = onnx.TensorProto(name=name, dims=array.shape, data_type=_elem(array))
        header = proto.SerializeToString(deterministic=True) + _key(9, array.nbytes)
        tensors.append((header, array))
    sizes = [len(h) + a.nbytes for h, a in tensors]
    total = len(graph) + sum(len(_key(5, n)) + n for n in sizes)
    out.write(head.SerializeToString(deterministic=True))
    out.write(_key(7, total))
    out.write(graph)
    for (header, array), size in zip(tensors, sizes):
        out.write(_key(5, size))
        out.write(header)
        raw = _little(array)
        out.write(memoryview(raw).cast("B"))  # type: ignore[arg-type]


def write_external(
    model: onnx.ModelProto,
    arrays: list[tuple[str, np.ndarray]],
    out: BinaryIO,
    data: BinaryIO,
    location: str,
) -> None:
    """Write a model whose initializers live in a separate file (ONNX external data).

    `location` is the data file's name relative to the model, as ONNX Runtime resolves it.
    Each tensor starts at a multiple of 4096 bytes, so it can be memory-mapped.
    """
    model = _shallow_copy(model)
    offset = 0
    for name, array in arrays:
        pad = -offset % 4096
        data.write(b"\0" * pad)
        offset += pad
        raw = _little(array)
        data.write(memoryview(raw).cast("B"))  # type: ignore[arg-type]
        tensor = model.graph.initializer.add()
        tensor.name, tensor.data_type = name, _elem(array)
        tensor.dims.extend(array.shape)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (
            ("location", location),
            ("offset", str(offset)),
            ("length", str(raw.nbytes)),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        offset += raw.nbytes
    out.write(model.SerializeToString(deterministic=True))


def _elem(array: np.ndarray) -> int:
    """The ONNX element type of a float32 or float16 array."""
    return TensorProto.FLOAT16 if array.dtype == np.float16 else TensorProto.FLOAT


def _little(array: np.ndarray) -> np.ndarray:
    """The array's bytes in little-endian order, as ONNX's raw_data stores them."""
    return np.ascontiguousarray(array, array.dtype.newbyteorder("<"))


def _shallow_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def serialize(model: onnx.ModelProto) -> bytes:
    """Deterministic bytes of a model."""
    data: bytes = model.SerializeToString(deterministic=True)
    return data
