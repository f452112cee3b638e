"""Zoo models compiled in memory, for the GPU tests (imported by them; not a test module)."""

from __future__ import annotations

import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def model_bytes(name: str) -> bytes:
    """models/NAME.xnet compiled (as written, not optimised) to ONNX bytes: the network alone,
    its float input (a declared image preprocessing left out)."""
    from dslc.backend.onnx import build, write
    from dslc.compiler import compile_file

    model, arrays = build(compile_file(ROOT / "models" / f"{name}.xnet"), preprocess=False)
    buffer = io.BytesIO()
    write(model, arrays, buffer)
    return buffer.getvalue()
