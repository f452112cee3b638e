"""One process or several under torchrun: the process group (gloo on CPUs, NCCL on GPUs), the
DistributedDataParallel wrapper and the sums of figures across processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["World", "world"]


@dataclass(frozen=True)
class World:
    """This process's place: rank 0 of 1 without torchrun."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that prints, writes metrics and saves the weights."""
        return self.rank == 0

    def device(self, kind: str) -> str:
        """cuda:LOCAL_RANK for each process on a machine's GPUs; cpu as it is."""
        return f"cuda:{self.local_rank}" if kind == "cuda" else kind

    def wrap(self, module: nn.Module, device: str) -> nn.Module:
        """The module itself, or in DistributedDataParallel when there are several processes."""
        if self.size == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [torch.device(device).index] if device.startswith("cuda") else None
        return DistributedDataParallel(module, device_ids=ids)

    def share_buffers(self, module: nn.Module) -> None:
        """Give every process rank 0's buffers (batch norm's running statistics, which each
        process updated on its own batches), so all evaluate the same model and agree on
        early stopping."""
        if self.size > 1:
            for b in module.buffers():
                dist.broadcast(b, 0)

    def sum(self, t: torch.Tensor) -> None:
        """Sum `t` in place across processes (all of them get the total)."""
        if self.size > 1:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)


@contextmanager
def world(device: str) -> Iterator[World]:
    """The process group torchrun asks for (its RANK and WORLD_SIZE variables), torn down on
    the way out; a single process without them."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        yield World()
        return
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        torch.cuda.set_device(local)
    dist.init_process_group(backend)
    try:
        yield World(rank, size, local)
    finally:
        dist.destroy_process_group()
