"""Reading named arrays from an .npz that may be hostile: a regular file only, never unpickled,
each member's declared shape checked against the bytes the archive holds and against this
machine's memory before anything is inflated, and a zip bomb (a small file inflating to
gigabytes) refused from the zip directory alone."""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from .errors import InputError
from .files import open_regular

__all__ = ["memory_bytes", "read_npz_arrays"]

_MAX_HEADER = 2**16
BOMB_RATIO = 250  # deflate tops out near 1030:1; image data compresses far less than this
BOMB_BYTES = 2**26  # members inflating to less than this are read whatever their ratio


def memory_bytes() -> int:
    """This machine's physical memory in bytes (a large figure where it cannot be asked)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**44


def read_npz_arrays(path: str, names: Sequence[str], what: str) -> dict[str, np.ndarray[Any, Any]]:
    """The arrays `names` of the .npz at `path`, numeric only; errors are InputError, one
    line, starting with `what` (how the user named the file)."""
    try:
        f = open_regular(path, "file")
    except InputError as exc:  # said once, as the user named the file
        raise InputError(f"{what}: {str(exc).removeprefix(f'cannot read file {path}: ')}") from None
    with f:
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise InputError(f"{what}: cannot read it as an .npz archive ({exc})") from None
        with archive:
            members = {m.filename: m for m in archive.infolist()}
            missing = [n for n in names if f"{n}.npy" not in members]
            if missing:
                found = ", ".join(m[:-4] for m in members if m.endswith(".npy")) or "none"
                raise InputError(f"{what}: no array {' or '.join(missing)} (it has {found[:200]})")
            return {n: _member(archive, members[f"{n}.npy"], f"{what}: array '{n}'") for n in names}


def _member(archive: zipfile.ZipFile, m: zipfile.ZipInfo, what: str) -> np.ndarray[Any, Any]:
    if m.file_size > BOMB_BYTES and m.file_size > BOMB_RATIO * max(m.compress_size, 1):
        raise InputError(
            f"{what} would inflate {m.compress_size:,} bytes to {m.file_size:,}, more than "
            f"{BOMB_RATIO}:1 (a zip bomb?); an uncompressed numpy.savez file is read at any size"
        )
    try:
        with archive.open(m) as stream:
            return _read(stream, m.file_size, what)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
        raise InputError(f"{what} cannot be read ({exc})") from None


def _read(stream: IO[bytes], size: int, what: str) -> np.ndarray[Any, Any]:
    from numpy.lib import format as npy

    version = npy.read_magic(stream)
    reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, fortran, dtype = reader(stream, max_header_size=_MAX_HEADER)
    if dtype.hasobject:
        raise InputError(
            f"{what} holds Python objects, which only pickle can load (refused: unpickling "
            "can run code); save plain numeric arrays"
        )
    if dtype.kind not in "biuf":
        raise InputError(f"{what} holds {dtype} values, not real numbers")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if need > memory_bytes():
        raise InputError(
            f"{what} declares shape {tuple(shape)}: {need / 2**30:,.1f} GiB, more than this "
            f"machine's {memory_bytes() / 2**30:,.1f} GiB of memory"
        )
    if need > size:
        raise InputError(
            f"{what} declares shape {tuple(shape)} ({need:,} bytes) but holds only {size:,}"
        )
    data = bytearray(need)  # read in place: one allocation, a writable array
    view, got = memoryview(data), 0
    while got < need:
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise InputError(f"{what} is truncated: {got:,} of {need:,} bytes")
        got += n
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
