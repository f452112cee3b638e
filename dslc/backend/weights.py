"""Pretrained weights: reading .safetensors and .npz files of named tensors, and matching them
against the tensors a network expects (its layers' hierarchical names, which the zoo models
choose to equal torchvision's state_dict keys).

Nothing here can execute code: safetensors is a JSON header and raw bytes, and .npz files are
opened with allow_pickle=False.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dslc.diagnostics import CompileError, Diagnostic, did_you_mean

__all__ = [
    "MAX_HEADER",
    "Expected",
    "expected",
    "match",
    "read",
    "save_safetensors",
    "write_safetensors",
]

if TYPE_CHECKING:
    import numpy as np

    from dslc.passes import Analysis

# safetensors dtype names -> numpy dtype strings (little-endian)
_SAFETENSORS = {
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
_IGNORED = ("num_batches_tracked",)  # PyTorch's BN step counter: no place in inference
MAX_HEADER = 100 * 2**20


@dataclass(frozen=True, slots=True)
class Expected:
    """One tensor a network expects from a weights file."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


def expected(analysis: Analysis) -> list[Expected]:
    """Every loadable tensor of the network, in graph order (hand-written kernels excluded)."""
    from dslc.backend.init import specs

    return [
        Expected(s.name, s.shape)
        for node in analysis.graph.nodes
        for s in specs(node)
        if not s.fixed
    ]


def _bad(path: Path, why: str, hint: str | None = None) -> CompileError:
    return CompileError(
        [
            Diagnostic(
                "E0705", f"cannot read weights from {path}: {why}", None, (hint,) if hint else ()
            )
        ]
    )


def read(path: str | Path) -> dict[str, np.ndarray]:
    """The named tensors of a .safetensors or .npz file."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".safetensors", ".npz"):
        raise _bad(
            p,
            f"unknown format '{p.suffix or p.name}'",
            "give a .safetensors file (e.g. safetensors.torch.save_file("
            "model.state_dict(), 'w.safetensors')) or a .npz (numpy.savez)",
        )
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise _bad(p, exc.strerror or str(exc)) from None
    return _safetensors(p, data) if suffix == ".safetensors" else _npz(p)


def _safetensors(p: Path, data: bytes) -> dict[str, np.ndarray]:
    import numpy as np

    if len(data) < 8:
        raise _bad(p, "the file is too short to be safetensors")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(MAX_HEADER, len(data) - 8):
        raise _bad(p, "the header length is corrupt (not a safetensors file?)")
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad(p, "the header is not valid JSON (not a safetensors file?)") from None
    if not isinstance(header, dict):
        raise _bad(p, "the header is not a JSON object")
    body = memoryview(data)[8 + n :]
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
            shape = tuple(int(d) for d in shape)
        except (KeyError, TypeError, ValueError):
            raise _bad(p, f"the entry for '{name}' is malformed") from None
        if dtype not in _SAFETENSORS:
            raise _bad(
                p,
                f"tensor '{name}' has dtype {dtype}, which dslc does not read",
                "convert the weights to float32 before saving them",
            )
        np_dtype = np.dtype(_SAFETENSORS[dtype])
        count = 1
        for d in shape:
            count *= d
        if not (0 <= begin <= end <= len(body)) or end - begin != count * np_dtype.itemsize:
            raise _bad(p, f"the data of '{name}' lies outside the file or has the wrong size")
        out[name] = np.frombuffer(body[begin:end], np_dtype).reshape(shape)
    return out


def _npz(p: Path) -> dict[str, np.ndarray]:
    import zipfile

    import numpy as np

    try:
        with np.load(p, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError:  # object arrays need pickle: refused
        raise _bad(
            p,
            "it holds object arrays, which only pickle can load (refused: unpickling can run code)",
            "save plain numeric arrays (numpy.savez without objects)",
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _bad(p, f"not a readable .npz archive ({exc})") from None


def match(
    analysis: Analysis, tensors: dict[str, np.ndarray], source: str | Path
) -> dict[str, np.ndarray]:
    """Check a weights file against the network; every problem is reported at once.

    Returns the tensors by name, as float32, ready for the backend.
    """
    import numpy as np

    want = {e.name: e for e in expected(analysis)}
    given = {k: v for k, v in tensors.items() if not k.endswith(_IGNORED)}
    errors: list[Diagnostic] = []
    missing = [n for n in want if n not in given]
    unexpected = [n for n in given if n not in want]
    if missing:
        errors.append(
            Diagnostic(
                "E0701",
                f"{source} lacks {len(missing)} tensor{'s' * (len(missing) != 1)} the "
                f"network needs: {_listing(missing)}",
                None,
                ("list what the network expects with 'dslc weights FILE.xnet'",),
            )
        )
    for name in unexpected:
        # a misnamed tensor most likely stands for one that is missing
        hint = (
            did_you_mean(name, missing)
            or did_you_mean(name, list(want))
            or ("the network has no layer of that name; 'dslc weights FILE.xnet' lists its tensors")
        )
        errors.append(
            Diagnostic(
                "E0702",
                f"{source} has a tensor the network does not "
                f"expect: '{name}' {_shape(given[name].shape)}",
                None,
                (hint,),
            )
        )
    for name, e in want.items():
        if name not in given:
            continue
        array = given[name]
        if tuple(array.shape) != e.shape:
            errors.append(
                Diagnostic(
                    "E0703",
                    f"'{name}' has shape {_shape(array.shape)} in "
                    f"{source}, the network expects {_shape(e.shape)}",
                    None,
                )
            )
        elif array.dtype != np.float32:
            errors.append(
                Diagnostic(
                    "E0704",
                    f"'{name}' is {array.dtype} in {source}, the network expects {e.dtype}",
                    None,
                    ("save the weights as float32",),
                )
            )
    if errors:
        raise CompileError(errors)
    return {name: np.ascontiguousarray(given[name], np.float32) for name in want}


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _listing(names: list[str], most: int = 8) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def save_safetensors(path: str | Path, tensors: dict[str, np.ndarray]) -> None:
    """Write named tensors as a .safetensors file."""
    with open(path, "wb") as f:
        write_safetensors(f, tensors)


def write_safetensors(f: BinaryIO, tensors: dict[str, np.ndarray]) -> None:
    """Write named tensors in the safetensors format to an open binary file."""
    import numpy as np

    header: dict[str, object] = {}
    offset = 0
    blobs = []
    for name, array in tensors.items():
        a = np.ascontiguousarray(array)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        kind = next((k for k, v in _SAFETENSORS.items() if np.dtype(v) == a.dtype), None)
        if kind is None:
            raise ValueError(f"dtype {a.dtype} cannot be written as safetensors")
        raw = a.tobytes()
        header[name] = {
            "dtype": kind,
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    f.write(struct.pack("<Q", len(text)) + text)
    for raw in blobs:
        f.write(raw)
