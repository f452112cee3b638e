"""Reading and writing weights files: .safetensors through the `safetensors` package, .npz
through numpy and zipfile, every malformed file a diagnostic (E0705).

Hostile files are refused before they cost time or memory: the path must be a regular file
(never opened when it is a FIFO or a device), the safetensors header is read with one bounded
read after its length is checked against the file and MAX_HEADER, every entry is checked
before the package maps the data, and an .npz's zip directory (member count, declared sizes)
is checked before anything is inflated. Only tensors the network can use (right name, shape
and float32) are read; the others are zero-memory placeholders of their shape and dtype, which
is all the matching needs to report them. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import stat
import struct
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from dslc.backend.file_checks import (
    INSTALL,
    MAX_BYTES,
    MAX_HEADER,
    MAX_TENSORS,
    Want,
    all_bad,
    bad,
    placeholder,
)
from dslc.backend.npz_files import read_npz
from dslc.diagnostics import CompileError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "INSTALL",
    "MAX_BYTES",
    "MAX_HEADER",
    "MAX_TENSORS",
    "MissingSafetensors",
    "Want",
    "read",
    "safetensors_bytes",
    "save_safetensors",
    "write_safetensors",
]


# safetensors dtype names -> numpy dtype strings (little-endian)
_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}
_SIZES = {"F64": 8, "F32": 4, "F16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


class MissingSafetensors(ImportError):
    """The optional `safetensors` package is not installed."""


def _package() -> ModuleType:
    try:
        import safetensors.numpy
    except ImportError:
        raise MissingSafetensors(
            f".safetensors files need the safetensors package: {INSTALL}"
        ) from None
    return safetensors.numpy


def read(path: str | Path, want: Want | None = None) -> dict[str, np.ndarray]:
    """The named tensors of a .safetensors or .npz file. With `want`, only the tensors the
    network can use are read; without it every tensor is (MAX_BYTES in all)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".safetensors", ".npz"):
        raise bad(
            p,
            f"unknown format '{p.suffix or p.name}'",
            "give a .safetensors file (e.g. safetensors.torch.save_file("
            "model.state_dict(), 'w.safetensors')) or a .npz (numpy.savez)",
        )
    with os.fdopen(_open(p), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise bad(p, "the file is empty")
        if suffix == ".npz":
            return read_npz(p, f, size, want)
        return _safetensors(p, f, size, want)


def _open(p: Path) -> int:
    """A descriptor of the regular file at p; a FIFO or a device is refused unopened."""
    try:
        _regular(p, os.stat(p).st_mode)
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise bad(p, "no such file") from None
    except OSError as exc:
        raise bad(p, exc.strerror or str(exc)) from None
    try:
        _regular(p, os.fstat(fd).st_mode)  # it may have changed since the stat
    except CompileError:
        os.close(fd)
        raise
    return fd


def _regular(p: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise bad(p, "it is a directory", "give the path of a .safetensors or .npz file")
    if not stat.S_ISREG(mode):
        raise bad(p, "it is not a regular file (a FIFO, a device or a socket)")


# ---- safetensors ----


class _Twice(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Twice(key)
        out[key] = value
    return out


def _header(p: Path, f: IO[bytes], size: int) -> tuple[dict[str, Any], int]:
    """The JSON header, read with one bounded read, and its length."""
    if size < 8:
        raise bad(p, f"the file is too short to be safetensors ({size} bytes)")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > size - 8:
        raise bad(
            p,
            f"the header length is corrupt: {n:,} bytes, but the file holds {size - 8:,} "
            "after it (truncated, or not a safetensors file?)",
        )
    if n > MAX_HEADER:
        raise bad(p, f"the header is {n:,} bytes, more than the {MAX_HEADER:,} dslc reads")
    raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique)
    except RecursionError:
        raise bad(p, "the header's JSON is nested too deeply") from None
    except _Twice as exc:
        raise bad(p, f"the header names '{exc}' twice") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad(p, "the header is not valid JSON (not a safetensors file?)") from None
    if not isinstance(header, dict):
        raise bad(p, "the header is not a JSON object")
    return header, n


def _entry(info: object, body: int) -> tuple[str, tuple[str, tuple[int, ...], int, int] | None]:
    """What is wrong with one header entry ('' for nothing), and the entry parsed."""
    if (
        not isinstance(info, dict)
        or set(info) - {"dtype", "shape", "data_offsets"}
        or len(info) < 3
    ):
        return "has a malformed entry (it needs dtype, shape and data_offsets)", None
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        return f"has dtype {str(dtype)[:20]}, which dslc does not read", None
    if not isinstance(shape, list) or len(shape) > 32 or not all(_whole(d) for d in shape):
        return f"has a bad shape {json.dumps(shape)[:40]} (not whole numbers >= 0)", None
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_whole, offsets)):
        return f"has bad data_offsets {json.dumps(offsets)[:40]}", None
    begin, end = offsets
    if begin > end or end > body:
        return f"has data at bytes {begin:,}..{end:,}, past the end of the file (truncated?)", None
    count = 1
    for d in shape:
        count *= d
    need = count * _SIZES[dtype]
    if end - begin != need:
        return f"has {end - begin:,} bytes of data, its shape and dtype need {need:,}", None
    return "", (dtype, tuple(shape), begin, end)


def _whole(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _safetensors(p: Path, f: IO[bytes], size: int, want: Want | None) -> dict[str, np.ndarray]:
    header, n = _header(p, f, size)
    meta = header.pop("__metadata__", {})
    if len(header) > MAX_TENSORS:
        raise bad(p, f"it holds {len(header):,} tensors, more than the {MAX_TENSORS:,} dslc reads")
    problems = []
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        problems.append("its __metadata__ is not an object of strings")
    body = size - 8 - n
    entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    unknown = False
    for name, info in header.items():
        why, parsed = _entry(info, body)
        if parsed is None:
            problems.append(f"tensor '{name[:80]}' {why}")
            unknown = unknown or "dtype" in why
        else:
            entries[name] = parsed
    if not problems:
        problems = _layout(entries, body)
    if problems:
        raise all_bad(p, problems, "convert the weights to float32" if unknown else None)
    return _load_safetensors(p, entries, want)


def _layout(entries: Mapping[str, tuple[str, tuple[int, ...], int, int]], body: int) -> list[str]:
    """The data must tile the bytes after the header: no overlap, no gap, nothing left over."""
    problems = []
    at, last = 0, ""
    for begin, end, name in sorted((e[2], e[3], k) for k, e in entries.items()):
        if begin < at:
            problems.append(f"the data of '{last}' and '{name}' overlap")
        elif begin > at:
            problems.append(f"{begin - at:,} bytes before '{name}' belong to no tensor")
        at, last = max(at, end), name
    if not problems and at != body:
        problems.append(f"{body - at:,} bytes after the last tensor belong to no tensor")
    return problems


def _load_safetensors(
    p: Path, entries: Mapping[str, tuple[str, tuple[int, ...], int, int]], want: Want | None
) -> dict[str, np.ndarray]:
    try:
        _package()
    except MissingSafetensors as exc:
        raise bad(p, str(exc), "or save the weights as .npz (numpy.savez)") from None
    from safetensors import SafetensorError, safe_open

    load = [k for k, (dt, shape, _, _) in entries.items() if _wanted(k, shape, dt, want)]
    if want is None and sum(entries[k][3] - entries[k][2] for k in load) > MAX_BYTES:
        raise bad(p, f"its tensors hold more than the {MAX_BYTES:,} bytes dslc reads")
    out = {k: placeholder(_DTYPES[dt], shape) for k, (dt, shape, _, _) in entries.items()}
    try:
        with safe_open(str(p), framework="numpy") as sf:
            for name in load:
                out[name] = sf.get_tensor(name)
    except (SafetensorError, OSError, ValueError) as exc:
        raise bad(p, f"the safetensors package refuses it ({exc})") from None
    return out


def _wanted(name: str, shape: tuple[int, ...], dtype: str, want: Want | None) -> bool:
    return want is None or (want.get(name) == shape and dtype in ("F32", "<f4"))


# ---- writing ----


def safetensors_bytes(tensors: Mapping[str, np.ndarray]) -> bytes:
    """Named tensors in the safetensors format (MissingSafetensors without the package)."""
    import numpy as np

    package = _package()
    return bytes(package.save({k: np.ascontiguousarray(v) for k, v in tensors.items()}))


def save_safetensors(path: str | Path, tensors: Mapping[str, np.ndarray]) -> None:
    """Write named tensors as a .safetensors file."""
    with open(path, "wb") as f:
        write_safetensors(f, tensors)


def write_safetensors(f: BinaryIO, tensors: Mapping[str, np.ndarray]) -> None:
    """Write named tensors in the safetensors format to an open binary file."""
    f.write(safetensors_bytes(tensors))
