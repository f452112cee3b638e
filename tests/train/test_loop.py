"""dslc.pytorch's data sources, split and training loop, on a tiny hand-written module."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dslc.pytorch.data import DataError, Dataset, load, split
from dslc.pytorch.distributed import World
from dslc.pytorch.report import metrics, plot_png
from dslc.pytorch.train import Settings, fit


def test_digits_are_resized_to_the_network_input() -> None:
    data = load("digits", (3, 16, 16))
    assert data.x.shape == (1797, 3, 16, 16) and data.x.dtype == np.float32
    assert data.y.shape == (1797,) and set(data.y.tolist()) == set(range(10))
    assert np.array_equal(data.x[:, 0], data.x[:, 2])  # the one channel copied
    assert 0.0 <= data.x.min() and data.x.max() <= 1.0
    assert "8x8 to 16x16" in data.note


def test_split_is_seeded_and_disjoint() -> None:
    data = load("digits", (1, 8, 8))
    a_train, a_val = split(data, 0.25, seed=3)
    _, b_val = split(data, 0.25, seed=3)
    _, c_val = split(data, 0.25, seed=4)
    assert (len(a_train.y), len(a_val.y)) == (1348, 449)
    assert np.array_equal(a_val.x, b_val.x) and not np.array_equal(a_val.x, c_val.x)
    rows = {r.tobytes() for r in a_train.x} & {r.tobytes() for r in a_val.x}
    assert len(rows) < 5  # the digits data has a few duplicate images, no shared rows else


def test_npz_and_folder_sources(tmp_path: Path) -> None:
    from PIL import Image

    x = np.arange(4 * 6 * 6, dtype=np.uint8).reshape(4, 6, 6)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 0, 1]))
    data = load(f"npz:{tmp_path / 'd.npz'}", (1, 6, 6))
    assert data.x.shape == (4, 1, 6, 6) and np.allclose(data.x[0, 0], x[0] / 255)
    for name, value in (("cat", 0), ("dog", 255)):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (10, 7), (value, value, value)).save(
                tmp_path / "imgs" / name / f"{i}.png"
            )
    data = load(f"folder:{tmp_path / 'imgs'}", (3, 4, 5))
    assert data.x.shape == (4, 3, 4, 5) and data.classes == ("cat", "dog")
    assert data.y.tolist() == [0, 0, 1, 1] and data.x[3].min() == 1.0 and data.x[0].max() == 0.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mnist", "--data mnist: not a data source"),
        ("folder:/nonexistent/x", "no such folder"),
        ("npz:/nonexistent/x.npz", "no such file"),
        ("npz:{tmp}/noy.npz", "no array y (it has x)"),
        ("npz:{tmp}/bad.npz", "cannot read it as an .npz archive"),
        ("npz:{tmp}/flat.npz", "want x of shape (N, H, W) or (N, C, H, W)"),
    ],
)
def test_bad_sources_are_one_line_errors(tmp_path: Path, spec: str, message: str) -> None:
    np.savez(tmp_path / "noy.npz", x=np.zeros((2, 4, 4)))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    np.savez(tmp_path / "flat.npz", x=np.zeros((2, 16)), y=np.zeros(2, dtype=int))
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        load(spec.format(tmp=tmp_path), (1, 4, 4))
    assert "\n" not in str(e.value)


class Tiny(nn.Module):
    """A small classifier of 8x8 digits with a batch norm (running stats in the state)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.fc(x.flatten(1))  # type: ignore[no-any-return]


def _digits(n: int = 1797) -> tuple[Dataset, Dataset]:
    data = load("digits", (1, 8, 8))
    return split(Dataset(data.x[:n], data.y[:n], data.classes, "digits", ""), 0.2, seed=0)


def test_fit_learns_digits_and_keeps_the_best_epoch() -> None:
    train, val = _digits()
    torch.manual_seed(0)
    seen: list[int] = []
    s = Settings(optimizer="adam", lr=3e-3, epochs=3, grad_norms=True)
    result = fit(Tiny(), train, val, s, World(), report=lambda e: seen.append(e.epoch))
    assert seen == [1, 2, 3] and len(result.epochs) == 3
    assert result.epochs[-1].val_accuracy > 0.9  # 10 classes: chance is 0.1
    best = min(result.epochs, key=lambda e: e.val_loss)
    assert result.best_epoch == best.epoch
    assert set(result.best_state) >= {"conv.weight", "bn.running_mean", "bn.running_var"}
    assert set(result.epochs[0].grad_norms or {}) == {"conv", "bn", "fc"}
    doc = metrics(result, s, {"network": "tiny"})
    assert json.loads(json.dumps(doc))["epochs"][0]["grad_norms"]["fc"] > 0
    assert plot_png(result, "tiny").startswith(b"\x89PNG")


def test_early_stopping_stops_after_patience() -> None:
    train, val = _digits(300)
    torch.manual_seed(0)
    # a learning rate this high makes the validation loss stop improving quickly
    s = Settings(optimizer="sgd", lr=5.0, momentum=0.9, epochs=30, patience=2)
    result = fit(Tiny(), train, val, s, World())
    assert result.stopped_early
    assert len(result.epochs) == result.best_epoch + 2 < 30


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_same_seed_same_training(optimizer: str) -> None:
    train, val = _digits(300)
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        s = Settings(optimizer=optimizer, lr=0.01, epochs=1, seed=5, weight_decay=1e-4)
        runs.append(fit(Tiny(), train, val, s, World()))
    assert runs[0].epochs[0].val_loss == runs[1].epochs[0].val_loss
    assert np.array_equal(runs[0].best_state["fc.weight"], runs[1].best_state["fc.weight"])


def test_the_command_offers_the_loop_s_optimizers() -> None:
    from dslc.cli.train import OPTIMIZERS as OFFERED
    from dslc.pytorch.train import OPTIMIZERS

    assert OFFERED == OPTIMIZERS
