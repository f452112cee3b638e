"""The values an analysis needs from an ONNX graph: initializers and Constant nodes, and the
small computations exporters build from them (shape arithmetic for a Reshape's target, a
Resize's sizes, zero biases); a shape's symbolic dims (the batch `N`) are carried as dims.

Values are decoded when asked for, so a model's weights are never read unless a value is
used (a Clip's bounds, a Reshape's target).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dslc.importer.wire import Node, Tensor
from dslc.ir import dims
from dslc.ir.dims import Dim

__all__ = [
    "DTYPES",
    "SymVec",
    "TensorError",
    "Value",
    "decode",
    "external_problem",
    "fold",
    "read_tensor",
    "stored_problem",
]

DTYPES: dict[int, type] = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    5: np.int16,
    6: np.int32,
    7: np.int64,
    9: np.bool_,
    10: np.float16,
    11: np.float64,
}


@dataclass(frozen=True, slots=True)
class SymVec:
    """A 1-D int tensor some of whose elements are symbolic dims (a Shape of `N x C x H x W`)."""

    items: tuple[Dim, ...]


Value = np.ndarray | SymVec


class TensorError(Exception):
    """A stored tensor whose data cannot be read; the message says why."""


def decode(t: Tensor, folder: Path | None) -> np.ndarray | None:
    """A tensor's data, or None where it cannot be read (an unknown type, a missing file)."""
    try:
        return read_tensor(t, folder)
    except TensorError:
        return None


def stored_problem(t: Tensor) -> str | None:
    """Why the data stored in the file for `t` does not fit its dims (None when it does, or
    when it lies in an external file): ONNX Runtime refuses such a model."""
    if any(d < 0 for d in t.dims):
        return f"its dims {list(t.dims)} are negative"
    kind = DTYPES.get(t.dtype)
    if kind is None or t.external:
        return None
    if t.raw is not None:
        have, need = len(t.raw), t.size * np.dtype(kind).itemsize
        unit = "bytes"
    else:
        have = len(t.floats if t.dtype in (1, 11) else t.ints)
        need, unit = t.size, "values"
        if have == 0 and need > 0:
            return None  # no data at all: an empty tensor proto (a shape only)
    if have != need:
        return f"it stores {have} {unit} of data, its dims {list(t.dims)} need {need}"
    return None


def read_tensor(t: Tensor, folder: Path | None) -> np.ndarray:
    """A tensor's data; TensorError saying why it cannot be read."""
    kind = DTYPES.get(t.dtype)
    if kind is None:
        raise TensorError(f"dslc reads no tensors of ONNX element type {t.dtype}")
    problem = stored_problem(t)
    if problem:
        raise TensorError(problem)
    if t.external:
        out = _external(t, kind, folder)
        assert out is not None
        return out
    if t.raw is not None:
        return np.frombuffer(t.raw, dtype=kind).reshape(t.dims)
    data = t.floats if t.dtype in (1, 11) else t.ints
    if len(data) != t.size:
        raise TensorError("it stores no data")
    if t.dtype == 10:  # float16 values arrive as their bits in int32_data
        return np.array(t.ints, dtype=np.uint16).view(np.float16).reshape(t.dims)
    return np.array(data, dtype=kind).reshape(t.dims)


def external_problem(t: Tensor, folder: Path) -> str | None:
    """Why ONNX Runtime could not read the external data of `t` (None when it can, or
    when the tensor keeps its data inside the model): checked, not read."""
    if not t.external:
        return None
    kind = DTYPES.get(t.dtype)
    try:
        _external(t, kind, folder, read=False)
    except TensorError as exc:
        return str(exc)
    return None


def _external(
    t: Tensor, kind: type | None, folder: Path | None, read: bool = True
) -> np.ndarray | None:
    """Data in a file beside the model, read as ONNX Runtime reads it: a regular file inside
    the model's folder (no absolute path, no climbing out, no link out), never blocking; with
    `read` false only checked (`kind` None: a type whose size dslc does not know)."""
    location = t.external.get("location", "")
    if folder is None or not location:
        raise TensorError("its external data names no file")
    if Path(location).is_absolute() or ".." in Path(location).parts:
        raise TensorError(f"its external data file '{location}' is outside the model's folder")
    try:
        offset = int(t.external.get("offset", "0") or 0)
    except ValueError:
        raise TensorError("its external data offset is not a number") from None
    need = t.size * np.dtype(kind).itemsize if kind is not None else 0
    if not 0 <= offset < 1 << 62:
        raise TensorError(f"its external data offset {offset} is out of range")
    path = folder / location
    try:
        if not path.resolve().is_relative_to(folder.resolve()):
            raise TensorError(
                f"its external data file '{location}' links outside the model's folder"
            )
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise TensorError(f"its external data '{location}' is not a regular file")
            if info.st_size < offset + need:
                raise TensorError(
                    f"its external data file '{location}' holds {info.st_size} bytes; "
                    f"{need} from offset {offset} are asked for"
                )
            data = os.pread(fd, need, offset) if need and read else b""
        finally:
            os.close(fd)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop in resolve()
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TensorError(f"its external data file '{location}' cannot be read: {why}") from None
    return np.frombuffer(data, dtype=kind).reshape(t.dims) if read else None


def _ints(v: Value) -> list[Dim] | None:
    """A 1-D or scalar int value as dims."""
    if isinstance(v, SymVec):
        return list(v.items)
    if v.dtype.kind not in "iu" or v.ndim > 1:
        return None
    return [int(x) for x in v.reshape(-1)]


def _vec(items: list[Dim]) -> Value:
    if all(isinstance(d, int) for d in items):
        return np.array(items, dtype=np.int64)
    return SymVec(tuple(items))


def _attr_ints(node: Node, name: str) -> list[int] | None:
    a = node.attrs.get(name)
    return list(a.ints) if a is not None else None


def fold(node: Node, args: list[Value | None], folder: Path | None) -> Value | None:
    """The output of a node whose inputs are all known, for the ops exporters use in shape
    and constant arithmetic; None for anything else."""
    op = node.op_type
    if op == "Constant":
        return _constant(node, folder)
    if any(a is None for a in args):
        return None
    vals = [a for a in args if a is not None]
    try:
        if any(isinstance(v, SymVec) for v in vals):
            return _fold_sym(node, vals)
        arrays = [v for v in vals if isinstance(v, np.ndarray)]
        out = _fold_array(node, arrays)
        return None if out is None else np.asarray(out)
    except (ValueError, IndexError, TypeError, KeyError, OverflowError, ZeroDivisionError):
        return None  # a malformed node: the op's handler says so


def _constant(node: Node, folder: Path | None) -> Value | None:
    for key, a in node.attrs.items():
        if key == "value" and a.t is not None:
            return decode(a.t, folder)
        if key == "value_int":
            return np.array(a.i, dtype=np.int64)
        if key == "value_ints":
            return np.array(a.ints, dtype=np.int64)
        if key == "value_float":
            return np.array(a.f, dtype=np.float32)
        if key == "value_floats":
            return np.array(a.floats, dtype=np.float32)
    return None


def _fold_sym(node: Node, vals: list[Value]) -> Value | None:
    """Shape arithmetic on vectors holding symbolic dims."""
    op = node.op_type
    items = [_ints(v) for v in vals]
    if any(i is None for i in items):
        return None
    lists = [i for i in items if i is not None]
    if op in ("Identity", "Cast", "Squeeze", "Unsqueeze") or (op == "Reshape" and len(lists) == 2):
        return _vec(lists[0])
    if op == "Concat":
        return _vec([d for i in lists for d in i])
    if op == "Gather" and len(lists) == 2:
        src, idx = lists
        where = [i for i in idx if isinstance(i, int)]
        if len(where) == len(idx):
            picked = [src[i] for i in where]
            scalar = isinstance(vals[1], np.ndarray) and vals[1].ndim == 0
            if scalar:
                one = picked[0]  # a symbolic scalar is carried as a vector of one
                return np.array(one, np.int64) if isinstance(one, int) else SymVec((one,))
            return _vec(picked)
    if op == "Slice" and len(lists) >= 3:
        src = lists[0]
        s, e = lists[1], lists[2]
        step = lists[4] if len(lists) > 4 else [1]
        b, f, k = s[0], e[0], step[0]
        if len(s) == 1 and isinstance(b, int) and isinstance(f, int) and isinstance(k, int):
            stop = max(min(f, len(src)), -len(src) - 1)
            return _vec(src[b:stop:k])
    if op in ("Mul", "Div", "Add", "Sub") and len(lists) == 2 and len(lists[0]) == len(lists[1]):
        return _vec([_arith(op, a, b) for a, b in zip(lists[0], lists[1])])
    return None


def _arith(op: str, a: Dim, b: Dim) -> Dim:
    if op == "Mul":
        return dims.mul(a, b)
    if op == "Add":
        return dims.add(a, b)
    if op == "Sub":
        return dims.sub(a, b)
    return dims.floordiv(a, int(b)) if isinstance(b, int) else a


MAX_MADE = 1 << 24  # elements a fold may make beyond what the file stores


def _made(node: Node, a: list[np.ndarray]) -> int:
    """Elements the fold of `op` would make from nothing (a 229-byte ConstantOfShape of
    20000 x 20000 took 1.6 GB)."""
    op = node.op_type
    if op == "ConstantOfShape":
        target = [int(d) for d in a[0].reshape(-1)]
        return int(np.prod(target, dtype=object)) if all(d >= 0 for d in target) else 0
    if op == "Expand":
        shape = np.broadcast_shapes(a[0].shape, tuple(int(d) for d in a[1].reshape(-1)))
    elif op in ("Add", "Sub", "Mul", "Div") and len(a) == 2:
        shape = np.broadcast_shapes(a[0].shape, a[1].shape)
    elif op == "Concat":  # one stored tensor named a thousand times
        shape = (sum(x.size for x in a),)
    elif op == "Gather" and len(a) == 2 and a[0].ndim > 0:
        axis = node.attrs["axis"].i if "axis" in node.attrs else 0
        rows = a[0].shape[axis] if -a[0].ndim <= axis < a[0].ndim else 1
        shape = (a[1].size, a[0].size // max(rows, 1))
    else:
        return 0
    stored = {id(x): x.size for x in a}  # each array once, however often it is named
    return int(np.prod(shape, dtype=object)) - sum(stored.values())


def _fold_array(node: Node, a: list[np.ndarray]) -> np.ndarray | None:
    op = node.op_type
    if _made(node, a) > MAX_MADE:
        return None  # not a constant an exporter builds: the node is left to its handler
    if op in ("Identity", "Dropout"):
        return a[0]
    if op == "Cast":
        to = DTYPES.get(node.attrs["to"].i) if "to" in node.attrs else None
        return a[0].astype(to) if to else None
    if op == "CastLike":
        return a[0].astype(a[1].dtype)
    if op == "Shape":
        start = node.attrs["start"].i if "start" in node.attrs else 0
        end = node.attrs["end"].i if "end" in node.attrs else None
        return np.array(a[0].shape[start:end], dtype=np.int64)
    if op == "Expand":
        return np.broadcast_to(a[0], np.broadcast_shapes(a[0].shape, tuple(a[1].tolist())))
    if op == "Reshape":
        return a[0].reshape(_target(a[0], [int(x) for x in a[1]]))
    if op in ("Unsqueeze", "Squeeze"):
        axes = [int(x) for x in a[1]] if len(a) > 1 else _attr_ints(node, "axes")
        if op == "Squeeze":
            return np.squeeze(a[0], axis=tuple(axes) if axes else None)
        return np.expand_dims(a[0], tuple(axes or ()))
    if op == "Concat":
        return np.concatenate(a, axis=node.attrs["axis"].i)
    if op == "Gather":
        axis = node.attrs["axis"].i if "axis" in node.attrs else 0
        return np.take(a[0], a[1], axis=axis)
    if op == "ConstantOfShape":
        fill = node.attrs.get("value")
        value = decode(fill.t, None) if fill is not None and fill.t is not None else None
        if value is None:
            return np.zeros(tuple(a[0].tolist()), dtype=np.float32)
        return np.full(tuple(a[0].tolist()), value.reshape(-1)[0], dtype=value.dtype)
    if op in ("Add", "Sub", "Mul", "Div"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
        out: np.ndarray = np.asarray(f(a[0], a[1]))
        return out.astype(a[0].dtype) if a[0].dtype.kind in "iu" else out
    if op == "Transpose":
        return np.asarray(np.transpose(a[0], _attr_ints(node, "perm")))
    if op == "Slice" and len(a) >= 3:
        return _slice(a)
    if op == "Sqrt":
        return np.asarray(np.sqrt(a[0]))
    return None


def _slice(a: list[np.ndarray]) -> np.ndarray:
    axes = [int(x) for x in a[3]] if len(a) > 3 else list(range(len(a[1])))
    steps = [int(x) for x in a[4]] if len(a) > 4 else [1] * len(axes)
    index = [slice(None)] * a[0].ndim
    for axis, b, e, k in zip(axes, a[1], a[2], steps):
        index[axis] = slice(int(b), int(max(min(int(e), 2**62), -(2**62))), k)
    return np.asarray(a[0][tuple(index)])


def _target(x: np.ndarray, shape: list[int]) -> tuple[int, ...]:
    return tuple(x.shape[i] if d == 0 else d for i, d in enumerate(shape))
