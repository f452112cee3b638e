"""What the weights readers share: their limits, and their E0705 diagnostics."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from dslc.diagnostics import CompileError, Diagnostic

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "INSTALL",
    "MAX_BYTES",
    "MAX_HEADER",
    "MAX_TENSORS",
    "MOST",
    "Want",
    "all_bad",
    "bad",
    "count",
    "placeholder",
]

MAX_HEADER = 16 * 2**20  # a safetensors header (or zip directory); a ResNet-50's is 30 KiB
MAX_TENSORS = 50_000  # tensors in one file; a large language model has a few thousand
MAX_BYTES = 8 * 2**30  # all the data read where no network bounds it
MOST = 8  # problems listed one by one; the rest are counted
INSTALL = "pip install 'dslc[weights]'"
Want = Mapping[str, tuple[int, ...]]  # the network's float32 tensors: name -> shape


def bad(path: Path, why: str, hint: str | None = None) -> CompileError:
    message = f"cannot read weights from {path}: {why}"
    return CompileError([Diagnostic("E0705", message, None, (hint,) if hint else ())])


def all_bad(path: Path, problems: list[str], hint: str | None = None) -> CompileError:
    """One diagnostic per problem, the first MOST of them; the rest counted."""
    shown = [bad(path, why).diagnostics[0] for why in problems[:MOST]]
    if len(problems) > MOST:
        shown.append(bad(path, f"and {len(problems) - MOST} more problems").diagnostics[0])
    if hint:
        last = shown[-1]
        shown[-1] = Diagnostic(last.code, last.message, None, (hint,))
    return CompileError(shown)


def placeholder(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """An array of the shape and dtype that holds no memory (for a tensor not read)."""
    import numpy as np

    return np.broadcast_to(np.zeros((), dtype), shape)


def count(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
