"""Import torchvision where only a CPU build of torch is installed.

PyPI's torchvision wheels are built against CUDA torch: beside a CPU torch their C extension
does not load, and importing torchvision then fails while it registers fake kernels for
`torchvision::nms`. The models need none of those C ops, so the two schemas are declared
here and the import is tried again.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import pytest

_LIBRARY: list[Any] = []  # keeps the schema declarations alive


def import_torchvision() -> ModuleType:
    """torchvision itself, or a skip where torch or torchvision is not installed."""
    torch = pytest.importorskip("torch")
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIBRARY.append(lib)
        import torchvision
    return torchvision
