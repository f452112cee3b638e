"""The trainer's tests run PyTorch on one thread: on a small shared machine two threads wait
for each other far longer than the work takes (measured: 20 s instead of 3 s for two epochs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
