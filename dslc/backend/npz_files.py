"""Reading .npz weights files with zipfile and numpy's .npy header reader, never unpickling:
the zip's end records (member count) and directory (names, declared sizes) are checked before
anything is inflated, and only the members the network can use are read in full."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING

from dslc.backend.file_checks import (
    MAX_BYTES,
    MAX_HEADER,
    MAX_TENSORS,
    Want,
    all_bad,
    bad,
    count,
    placeholder,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ["read_npz"]

_SLACK = 2**16  # an .npy member's header, beyond its data


def _zipcount(p: Path, f: IO[bytes], size: int) -> int:
    """The member count the zip's end records declare, read without reading the directory."""
    f.seek(max(0, size - 22 - 2**16))
    tail = f.read()
    i = tail.rfind(b"PK\x05\x06")
    if i < 0 or len(tail) - i < 22:
        raise bad(p, "not a zip archive, as an .npz is (truncated, or another format?)")
    count, directory = struct.unpack("<HI", tail[i + 10 : i + 16])
    if (count == 0xFFFF or directory == 0xFFFFFFFF) and tail[i - 20 : i - 16] == b"PK\x06\x07":
        (at,) = struct.unpack("<Q", tail[i - 12 : i - 4])
        f.seek(at)
        record = f.read(56)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            count, directory = struct.unpack("<QQ", record[32:48])
    if directory > MAX_HEADER:
        raise bad(p, f"its zip directory is {directory:,} bytes, more than {MAX_HEADER:,}")
    return int(count)


def read_npz(p: Path, f: IO[bytes], size: int, want: Want | None) -> dict[str, np.ndarray]:
    count = _zipcount(p, f, size)
    if count > MAX_TENSORS:
        raise bad(p, f"it holds {count:,} members, more than the {MAX_TENSORS:,} dslc reads")
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise bad(p, f"not a readable .npz archive ({exc})") from None
    with archive:
        members = archive.infolist()
        problems = _members(members, want)
        if problems:
            raise all_bad(p, problems)
        out: dict[str, np.ndarray] = {}
        for m in members:
            try:
                with archive.open(m) as stream:
                    found = _npy(m, stream, want)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
                found = f"member '{m.filename[:80]}' cannot be read ({exc})"
            if isinstance(found, str):
                problems.append(found)
            else:
                out[m.filename[:-4]] = found
    if problems:
        pickled = any("pickle" in why for why in problems)
        hint = "save plain numeric arrays (numpy.savez without objects)" if pickled else None
        raise all_bad(p, problems, hint)
    return out


def _members(members: list[zipfile.ZipInfo], want: Want | None) -> list[str]:
    """Names and declared sizes, from the zip directory alone: nothing inflated yet."""
    problems, seen = [], set()
    total = 0
    for m in members:
        name = m.filename[:80]
        if m.filename in seen:
            problems.append(f"the archive holds '{name}' twice")
        seen.add(m.filename)
        if m.is_dir() or not m.filename.endswith(".npy"):
            problems.append(f"member '{name}' is not a .npy array")
            continue
        shape = None if want is None else want.get(m.filename[:-4])
        cap = MAX_BYTES if shape is None else 8 * count(shape) + _SLACK
        if want is None or shape is not None:
            total += m.file_size
        if m.file_size > cap:
            problems.append(
                f"member '{name}' would inflate to {m.file_size:,} bytes, more than the "
                f"{cap:,} its tensor can need (a zip bomb?)"
            )
    if total > MAX_BYTES:
        problems.append(f"its members would inflate to {total:,} bytes, more than {MAX_BYTES:,}")
    return problems


def _npy(m: zipfile.ZipInfo, stream: IO[bytes], want: Want | None) -> np.ndarray | str:
    """The member's array (a placeholder where the network cannot use it), or what is wrong."""
    import numpy as np
    from numpy.lib import format as npy

    name = m.filename[:80]
    version = npy.read_magic(stream)
    reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, fortran, dtype = reader(stream, max_header_size=_SLACK)
    if dtype.hasobject:
        return (
            f"member '{name}' holds object arrays, which only pickle can load "
            "(refused: unpickling can run code)"
        )
    if dtype.kind not in "biufc":
        return f"member '{name}' holds {dtype} data, not numbers"
    need = count(shape) * dtype.itemsize
    if need > m.file_size:
        return f"member '{name}' declares shape {shape} but holds only {m.file_size:,} bytes"
    if want is not None and (want.get(m.filename[:-4]) != tuple(shape) or dtype != np.float32):
        return placeholder(dtype.str, tuple(shape))
    data = stream.read(need)
    if len(data) != need:
        return f"member '{name}' is truncated"
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
