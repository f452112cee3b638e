"""One thread for torch and ONNX Runtime: on a small shared machine more threads spin against
each other (a model's forward pass takes twenty times as long on 2 threads as on one)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
