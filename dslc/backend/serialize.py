"""A model and named arrays to bytes: one protobuf file, or the graph plus an external data
file past 2 GiB, written without a second copy of the weights."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from typing import BinaryIO, Protocol

import numpy as np

from dslc.backend.emitter import Lazy
from dslc.backend.proto import ELEM_FLOAT, ELEM_FLOAT16, Model, external_tensor, key, tensor_header

__all__ = ["Initializer", "serialize", "write", "write_external"]

Initializer = np.ndarray | Lazy  # values, or values computed as they are written


class _Message(Protocol):
    def SerializeToString(self, deterministic: bool = ...) -> bytes: ...


def write(
    model: Model,
    arrays: Sequence[tuple[str, Initializer]],
    out: BinaryIO,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Stream a model and its initializers as protobuf without copying the weights in memory;
    `progress(bytes done, bytes in all)` is called after each tensor.

    The graph field is written last and each tensor's raw bytes straight from numpy; protobuf
    readers accept fields in any order, and the bytes are deterministic.
    """
    graph = model.graph()
    tensors = []
    for name, array in arrays:
        header = tensor_header(name, array.shape, _elem(array)) + key(9, array.nbytes)
        tensors.append((header, array))
    sizes = [len(h) + a.nbytes for h, a in tensors]
    total = len(graph) + sum(len(key(5, n)) + n for n in sizes)
    head = model.head() + key(7, total)
    reserved = _reserve(out, len(head) + total)
    out.write(head)
    out.write(graph)
    done = 0
    for (header, array), size in zip(tensors, sizes):
        out.write(key(5, size))
        out.write(header)
        raw = _little(array)
        out.write(memoryview(raw).cast("B"))  # type: ignore[arg-type]
        done += size
        if progress is not None:
            progress(done, sum(sizes))
    if reserved:
        out.truncate()  # exactly what was written, whatever was reserved


def write_external(
    model: Model,
    arrays: Sequence[tuple[str, Initializer]],
    out: BinaryIO,
    data: BinaryIO,
    location: str,
) -> None:
    """Write a model whose initializers live in a separate file (ONNX external data).

    `location` is the data file's name relative to the model, as ONNX Runtime resolves it.
    Each tensor starts at a multiple of 4096 bytes, so it can be memory-mapped.
    """
    offset = 0
    initializers = []
    for name, array in arrays:
        pad = -offset % 4096
        data.write(b"\0" * pad)
        offset += pad
        raw = _little(array)
        data.write(memoryview(raw).cast("B"))  # type: ignore[arg-type]
        where = {"location": location, "offset": str(offset), "length": str(raw.nbytes)}
        initializers.append(external_tensor(name, array.shape, _elem(array), where))
        offset += raw.nbytes
    out.write(model.head(model.graph(initializers)))


def _reserve(out: BinaryIO, size: int) -> bool:
    """Allocate a file's blocks up front: a full disk is an error before any weight is drawn,
    and the file system maps the blocks once, not page by page (229 MiB: 0.05 -> 0.04 s).
    Not files (pipes, buffers), and file systems or systems without fallocate: False."""
    fallocate = getattr(os, "posix_fallocate", None)
    try:
        fd, at = out.fileno(), out.tell()
    except (AttributeError, OSError, ValueError):
        return False
    if fallocate is None:
        return False
    try:
        fallocate(fd, at, size)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        return False
    return True


def _elem(array: Initializer) -> int:
    """The ONNX element type of a float32 or float16 array."""
    return ELEM_FLOAT16 if array.dtype == np.float16 else ELEM_FLOAT


def _little(array: Initializer) -> np.ndarray:
    """The array's bytes in little-endian order, as ONNX's raw_data stores them."""
    return np.ascontiguousarray(array, array.dtype.newbyteorder("<"))


def serialize(model: _Message) -> bytes:
    """Deterministic bytes of a model (dslc's own, or an onnx.ModelProto)."""
    return model.SerializeToString(deterministic=True)
