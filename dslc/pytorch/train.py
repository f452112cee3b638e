"""The training loop of `dslc train`: plain PyTorch (an optimiser, cross-entropy, early stopping
on the validation loss), one process or DistributedDataParallel under torchrun."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, TensorDataset

from dslc.pytorch.distributed import World

if TYPE_CHECKING:
    from dslc.pytorch.data import Dataset

__all__ = ["OPTIMIZERS", "Epoch", "Result", "Settings", "evaluate", "fit"]

OPTIMIZERS = ("sgd", "adam", "adamw")
EVAL_BATCH = 512


@dataclass(frozen=True)
class Settings:
    """What `dslc train` was asked for; stored in the metrics JSON."""

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    batch_size: int = 64  # the global batch: each of N processes takes batch_size / N
    epochs: int = 20
    patience: int | None = None  # early stopping: epochs without a better validation loss
    seed: int = 0
    device: str = "cpu"
    grad_norms: bool = False


@dataclass
class Epoch:
    """One epoch's figures (losses are means per sample, accuracies fractions)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    grad_norms: dict[str, float] | None = None  # per layer: mean over steps of ||grad||_2


@dataclass
class Result:
    epochs: list[Epoch] = field(default_factory=list)
    best_epoch: int = 0
    best_state: dict[str, np.ndarray] = field(default_factory=dict)
    stopped_early: bool = False
    seconds: float = 0.0
    diverged: int = 0  # the epoch whose training loss was NaN or infinite (training stopped)


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
Bar = Callable[[Batches, int], Batches]  # wraps an epoch's batches: a progress bar


def loss_function(probabilities: bool) -> Loss:
    """Cross-entropy on logits; on a network that ends in softmax, on its probabilities."""
    if not probabilities:
        return nn.functional.cross_entropy
    return lambda p, y: nn.functional.nll_loss(torch.log(p.clamp_min(1e-12)), y)


def _optimizer(module: nn.Module, s: Settings) -> torch.optim.Optimizer:
    params = module.parameters()
    match s.optimizer:
        case "sgd":
            return torch.optim.SGD(params, s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        case "adam":
            return torch.optim.Adam(params, s.lr, weight_decay=s.weight_decay)
        case "adamw":
            return torch.optim.AdamW(params, s.lr, weight_decay=s.weight_decay)
    raise ValueError(f"unknown optimiser {s.optimizer!r}")


def _loader(data: Dataset, s: Settings, world: World) -> DataLoader[tuple[torch.Tensor, ...]]:
    ds = TensorDataset(torch.from_numpy(data.x), torch.from_numpy(data.y))
    # a batch beyond the data is all of it (a huge --batch-size overflowed islice's limit)
    per_process = max(1, min(math.ceil(s.batch_size / world.size), len(data.y)))
    if world.size > 1:
        sampler: DistributedSampler[tuple[torch.Tensor, ...]] | RandomSampler = DistributedSampler(
            ds, world.size, world.rank, shuffle=True, seed=s.seed
        )
    else:
        sampler = RandomSampler(ds, generator=torch.Generator().manual_seed(s.seed))
    return DataLoader(ds, batch_size=per_process, sampler=sampler)


def evaluate(module: nn.Module, data: Dataset, loss: Loss, device: str) -> tuple[float, float]:
    """Mean loss and accuracy of the module in eval mode on all of `data`."""
    module.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(data.y), EVAL_BATCH):
            x = torch.from_numpy(data.x[i : i + EVAL_BATCH]).to(device)
            y = torch.from_numpy(data.y[i : i + EVAL_BATCH]).to(device)
            out = module(x)
            total += float(loss(out, y)) * len(y)
            correct += int((out.argmax(1) == y).sum())
    return total / len(data.y), correct / len(data.y)


def _layer_norms(module: nn.Module) -> dict[str, float]:
    """Per layer (parameters grouped by the name before .weight/.bias): ||grad||_2."""
    squares: dict[str, float] = {}
    for name, p in module.named_parameters():
        if p.grad is not None:
            layer = name.rpartition(".")[0] or name
            squares[layer] = squares.get(layer, 0.0) + float(p.grad.detach().pow(2).sum())
    return {k: math.sqrt(v) for k, v in squares.items()}


def _train_epoch(
    model: nn.Module,
    loader: Batches,
    opt: torch.optim.Optimizer,
    loss: Loss,
    s: Settings,
    bar: Bar,
    world: World,
    epoch: int,
) -> tuple[float, float, dict[str, float] | None]:
    model.train()
    sums = torch.zeros(3, dtype=torch.float64, device=s.device)  # loss, correct, count
    norms: dict[str, float] = {}
    steps = 0
    progress = bar(loader, epoch)
    for x, y in progress:
        x, y = x.to(s.device), y.to(s.device)
        opt.zero_grad(set_to_none=True)
        out = model(x)
        value = loss(out, y)
        value.backward()  # type: ignore[no-untyped-call]
        if s.grad_norms:
            for k, v in _layer_norms(model).items():
                norms[k.removeprefix("module.")] = norms.get(k.removeprefix("module."), 0.0) + v
            steps += 1
        opt.step()
        sums += torch.stack(
            [value.detach() * len(y), (out.argmax(1) == y).sum(), torch.tensor(len(y))]
        ).to(sums)
        if hasattr(progress, "set_postfix"):
            progress.set_postfix(loss=f"{sums[0] / sums[2]:.4f}", acc=f"{sums[1] / sums[2]:.4f}")
    world.sum(sums)
    grad = {k: v / steps for k, v in norms.items()} if s.grad_norms and steps else None
    return float(sums[0] / sums[2]), float(sums[1] / sums[2]), grad


def fit(
    module: nn.Module,
    train: Dataset,
    val: Dataset,
    s: Settings,
    world: World,
    *,
    probabilities: bool = False,
    bar: Bar = lambda batches, epoch: batches,
    report: Callable[[Epoch], None] = lambda e: None,
) -> Result:
    """Train `module` (already on s.device); keep the weights of the epoch with the lowest
    validation loss. `bar(batches, epoch)` wraps each epoch's batches (a progress bar);
    `report` is called after each epoch."""
    start = time.perf_counter()
    model = world.wrap(module, s.device)
    loader = _loader(train, s, world)
    opt = _optimizer(model, s)
    loss = loss_function(probabilities)
    result = Result()
    best_loss = math.inf
    for epoch in range(1, s.epochs + 1):
        t0 = time.perf_counter()
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        train_loss, train_acc, norms = _train_epoch(model, loader, opt, loss, s, bar, world, epoch)
        world.share_buffers(module)
        val_loss, val_acc = evaluate(module, val, loss, s.device)
        record = Epoch(
            epoch, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - t0, norms
        )
        result.epochs.append(record)
        report(record)
        if val_loss < best_loss:
            state = {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
            if all(np.isfinite(v).all() for v in state.values() if v.dtype.kind == "f"):
                best_loss, result.best_epoch, result.best_state = val_loss, epoch, state
        if not math.isfinite(train_loss):  # NaN weights stay NaN: no later epoch can recover
            result.diverged = epoch
            break
        if s.patience is not None and epoch - result.best_epoch >= s.patience:
            result.stopped_early = epoch < s.epochs
            break
    result.seconds = time.perf_counter() - start
    return result
