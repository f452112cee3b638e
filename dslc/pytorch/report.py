"""What `dslc train` leaves besides the weights: the metrics JSON and the learning-curve PNG."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from typing import Any

from dslc.pytorch.train import Epoch, Result, Settings

__all__ = ["epoch_line", "metrics", "plot_png"]


def epoch_line(e: Epoch, epochs: int, best: bool) -> str:
    """One line per epoch: what the progress bar showed, kept."""
    return (
        f"epoch {e.epoch:>{len(str(epochs))}}/{epochs}  train loss {e.train_loss:.4f} "
        f"acc {e.train_accuracy:.2%}  val loss {e.val_loss:.4f} acc {e.val_accuracy:.2%}  "
        f"{e.seconds:.1f} s{'  *' if best else ''}"
    )


def metrics(result: Result, settings: Settings, about: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics JSON: `about` (file, network, data, sizes), the settings, each epoch's
    figures, the best epoch (lowest validation loss) and its figures."""
    best = next((e for e in result.epochs if e.epoch == result.best_epoch), None)
    return {
        "schema": 1,
        **about,
        "settings": dataclasses.asdict(settings),
        "epochs": [dataclasses.asdict(e) for e in result.epochs],
        "best_epoch": result.best_epoch,
        "best_val_loss": best.val_loss if best else None,
        "best_val_accuracy": best.val_accuracy if best else None,
        "stopped_early": result.stopped_early,
        "seconds": round(result.seconds, 3),
    }


def plot_png(result: Result, title: str) -> bytes:
    """Loss and accuracy against epochs (train and validation, the best epoch marked); with
    gradient norms, a third panel of each layer's mean gradient norm in the first and last
    epochs, input side left."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [e.epoch for e in result.epochs]
    norms = [e.grad_norms for e in result.epochs if e.grad_norms]
    fig, axes = plt.subplots(1, 3 if norms else 2, figsize=(15 if norms else 10, 4))
    for ax, what in zip(axes, ("loss", "accuracy"), strict=False):
        ax.plot(epochs, [getattr(e, f"train_{what}") for e in result.epochs], label="train")
        ax.plot(epochs, [getattr(e, f"val_{what}") for e in result.epochs], label="validation")
        ax.axvline(result.best_epoch, color="grey", linestyle=":", label="best epoch")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(what)
        ax.legend()
        ax.grid(alpha=0.3)
    if norms:
        _norms_panel(axes[2], norms[0], norms[-1], len(norms))
    fig.suptitle(title)
    # fixed margins: tight_layout measured every tick label, most of the time of a short run
    fig.subplots_adjust(left=0.06, right=0.98, top=0.88, bottom=0.25 if norms else 0.13, wspace=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _norms_panel(ax: Any, first: dict[str, float], last: dict[str, float], n: int) -> None:
    layers = list(first)
    ax.semilogy(range(len(layers)), [first[k] for k in layers], "o-", label="epoch 1")
    if n > 1:
        ax.semilogy(range(len(layers)), [last.get(k, 0) for k in layers], "s-", label=f"epoch {n}")
    ax.set_xticks(range(len(layers)), layers, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("mean ||gradient|| per layer")
    ax.set_title("gradient norms (input side left)")
    ax.legend()
    ax.grid(alpha=0.3)
