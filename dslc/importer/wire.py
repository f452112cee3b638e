"""ONNX's protobuf messages read straight from the bytes: analysing a model needs neither the
onnx package nor its start-up (0.1-0.7 s), and a weight's bytes are never copied, only its
dims and dtype read (its data is decoded when a value is needed: shapes, slopes, constants).

Only the fields an analysis uses are read; every other field is skipped by its wire type.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "Attr",
    "Graph",
    "Model",
    "Node",
    "Tensor",
    "ValueInfo",
    "WireError",
    "read_model",
]


class WireError(Exception):
    """Bytes that are not an ONNX model."""


@dataclass(slots=True)
class Tensor:
    """A TensorProto: name, dims, element type and where its data lies."""

    name: str = ""
    dims: tuple[int, ...] = ()
    dtype: int = 0
    raw: memoryview | None = None
    floats: tuple[float, ...] = ()
    ints: tuple[int, ...] = ()  # int32_data and int64_data
    external: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of elements; past 2^64 it stays at 2^64 (a million dims of 2 in a 2 MB file
        made a million-bit product, quadratic time)."""
        if 0 in self.dims:
            return 0
        n = 1
        for d in self.dims:
            n *= d
            if abs(n) > 1 << 64:
                return 1 << 64
        return n


@dataclass(slots=True)
class Attr:
    """An AttributeProto, with the value of whichever field is set."""

    name: str = ""
    f: float = 0.0
    i: int = 0
    s: bytes = b""
    t: Tensor | None = None
    floats: list[float] = field(default_factory=list)
    ints: list[int] = field(default_factory=list)
    has_graph: bool = False


@dataclass(slots=True)
class Node:
    """A NodeProto with its metadata properties (the exporter's module scopes live there)."""

    op_type: str = ""
    domain: str = ""
    name: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    attrs: dict[str, Attr] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ValueInfo:
    """A ValueInfoProto: name and dims (an int, a symbol's name, or None when unnamed)."""

    name: str = ""
    elem: int = 0
    dims: tuple[int | str | None, ...] | None = None  # None: rank unknown


@dataclass(slots=True)
class Graph:
    """A GraphProto."""

    name: str = ""
    nodes: list[Node] = field(default_factory=list)
    initializers: list[Tensor] = field(default_factory=list)
    inputs: list[ValueInfo] = field(default_factory=list)
    outputs: list[ValueInfo] = field(default_factory=list)
    value_info: list[ValueInfo] = field(default_factory=list)
    sparse: list[str] = field(default_factory=list)  # sparse initializers' names


@dataclass(slots=True)
class Model:
    """A ModelProto: opsets by domain and the graph."""

    ir_version: int = 0
    opsets: dict[str, int] = field(default_factory=dict)
    graph: Graph = field(default_factory=Graph)
    producer: str = ""


def _varint(b: memoryview, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if i >= len(b):
            raise WireError("truncated varint")
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            return n, i
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _fields(b: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of every field of a message, one at a time (a list
    of a million tiny fields held a view object each: 300 MB for a 4 MB file)."""
    i, end = 0, len(b)
    while i < end:
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
            yield num, wt, v
        elif wt == 2:
            n, i = _varint(b, i)
            if i + n > end:
                raise WireError("truncated field")
            yield num, wt, b[i : i + n]
            i += n
        elif wt in (1, 5):
            size = 8 if wt == 1 else 4
            if i + size > end:
                raise WireError("truncated field")
            yield num, wt, b[i : i + size]
            i += size
        else:
            raise WireError(f"wire type {wt}")


def _str(v: int | memoryview) -> str:
    assert isinstance(v, memoryview)
    return bytes(v).decode("utf-8", errors="replace")


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def _ints(wt: int, v: int | memoryview) -> list[int]:
    """A repeated int64 field's element(s): packed or one by one."""
    if wt == 0:
        assert isinstance(v, int)
        return [_signed(v)]
    assert isinstance(v, memoryview)
    out, i = [], 0
    while i < len(v):
        n, i = _varint(v, i)
        out.append(_signed(n))
    return out


def _floats(wt: int, v: int | memoryview) -> list[float]:
    assert isinstance(v, memoryview)
    if wt == 5:
        return [struct.unpack("<f", v)[0]]
    return list(struct.unpack(f"<{len(v) // 4}f", v))


def _tensor(b: memoryview) -> Tensor:
    t = Tensor()
    dims: list[int] = []
    for num, wt, v in _fields(b):
        if num == 1:
            dims += _ints(wt, v)
        elif num == 2:
            assert isinstance(v, int)
            t.dtype = v
        elif num == 4:
            t.floats += tuple(_floats(wt, v))
        elif num in (5, 7):
            t.ints += tuple(_ints(wt, v))
        elif num == 8:
            t.name = _str(v)
        elif num == 9:
            assert isinstance(v, memoryview)
            t.raw = v
        elif num == 13:
            assert isinstance(v, memoryview)
            name, value = _entry(v)
            t.external[name] = value
    t.dims = tuple(dims)
    return t


def _entry(b: memoryview) -> tuple[str, str]:
    """A StringStringEntryProto: (key, value)."""
    entry = {k: _str(x) for k, _, x in _fields(b)}
    return entry.get(1, ""), entry.get(2, "")


def _attr(b: memoryview) -> Attr:
    a = Attr()
    for num, wt, v in _fields(b):
        if num == 1:
            a.name = _str(v)
        elif num == 2:
            a.f = _floats(wt, v)[0]
        elif num == 3:
            a.i = _ints(wt, v)[0]
        elif num == 4:
            assert isinstance(v, memoryview)
            a.s = bytes(v)
        elif num == 5:
            assert isinstance(v, memoryview)
            a.t = _tensor(v)
        elif num in (6, 11):
            a.has_graph = True
        elif num == 7:
            a.floats += _floats(wt, v)
        elif num == 8:
            a.ints += _ints(wt, v)
    return a


def _node(b: memoryview) -> Node:
    n = Node()
    for num, _, v in _fields(b):
        if num == 1:
            n.inputs.append(_str(v))
        elif num == 2:
            n.outputs.append(_str(v))
        elif num == 3:
            n.name = _str(v)
        elif num == 4:
            n.op_type = _str(v)
        elif num == 5:
            assert isinstance(v, memoryview)
            a = _attr(v)
            n.attrs[a.name] = a
        elif num == 7:
            n.domain = _str(v)
        elif num == 9:
            assert isinstance(v, memoryview)
            name, value = _entry(v)
            n.meta[name] = value
    return n


def _value_info(b: memoryview) -> ValueInfo:
    vi = ValueInfo()
    for num, _, v in _fields(b):
        if num == 1:
            vi.name = _str(v)
        elif num == 2:  # TypeProto -> tensor_type (1) -> elem_type (1), shape (2)
            assert isinstance(v, memoryview)
            for tn, _, tv in _fields(v):
                if tn == 1 and isinstance(tv, memoryview):
                    _tensor_type(tv, vi)
    return vi


def _tensor_type(b: memoryview, vi: ValueInfo) -> None:
    for num, _, v in _fields(b):
        if num == 1 and isinstance(v, int):
            vi.elem = v
        elif num == 2 and isinstance(v, memoryview):
            found: list[int | str | None] = []
            for dn, _, dv in _fields(v):
                if dn == 1 and isinstance(dv, memoryview):
                    found.append(_dim(dv))
            vi.dims = tuple(found)


def _dim(b: memoryview) -> int | str | None:
    for num, wt, v in _fields(b):
        if num == 1:
            return _ints(wt, v)[0]
        if num == 2:
            return _str(v)
    return None


def _graph(b: memoryview) -> Graph:
    g = Graph()
    for num, _, v in _fields(b):
        if not isinstance(v, memoryview):
            continue
        if num == 1:
            g.nodes.append(_node(v))
        elif num == 2:
            g.name = _str(v)
        elif num == 5:
            g.initializers.append(_tensor(v))
        elif num == 11:
            g.inputs.append(_value_info(v))
        elif num == 12:
            g.outputs.append(_value_info(v))
        elif num == 13:
            g.value_info.append(_value_info(v))
        elif num == 15:  # SparseTensorProto: its values (1) carry the name
            g.sparse += [_tensor(x).name for k, _, x in _fields(v) if isinstance(x, memoryview)]
    return g


def read_model(data: bytes | memoryview | mmap.mmap) -> Model:
    """Decode a serialised ModelProto; WireError for bytes that are not one."""
    m = Model()
    try:
        for num, _, v in _fields(memoryview(data)):
            if num == 1 and isinstance(v, int):
                m.ir_version = v
            elif num == 2:
                m.producer = _str(v)
            elif num == 7 and isinstance(v, memoryview):
                m.graph = _graph(v)
            elif num == 8 and isinstance(v, memoryview):
                entry = {k: x for k, _, x in _fields(v)}
                domain = _str(entry[1]) if 1 in entry else ""
                version = entry.get(2, 0)
                m.opsets[domain] = version if isinstance(version, int) else 0
    except (WireError, IndexError, struct.error, AssertionError) as exc:
        raise WireError(str(exc) or "malformed") from None
    if not m.graph.nodes:
        raise WireError("no graph")
    if m.ir_version == 0 and not m.opsets:  # ONNX Runtime runs a model without ir_version
        raise WireError("neither an IR version nor an opset")
    return m
