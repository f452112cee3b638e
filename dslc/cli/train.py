"""`dslc train`: train an .xnet classifier with PyTorch and save weights `dslc compile` loads."""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from dslc.backend.settings import SCHEMES
from dslc.cli.common import (
    SEED,
    SET_HELP,
    FiniteRange,
    UserError,
    analyse_file,
    debug_option,
    guard,
)
from dslc.cli.output import atomic_file, check_output

__all__ = ["train"]

OPTIMIZERS = ("sgd", "adam", "adamw")  # dslc.pytorch.train.OPTIMIZERS (no torch import here)
DATA_HELP = (
    "digits (scikit-learn's 1,797 8x8 handwritten digits, bundled; nothing is downloaded), "
    "folder:PATH (one sub-folder of images per class, as torchvision's ImageFolder) or "
    "npz:PATH (arrays x: N x H x W or N x C x H x W, y: N integer labels; uint8 images are "
    "scaled to [0, 1]). Images are "
    "resized bilinearly to the network's input, one channel copied if it wants 3."
)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise UserError("dslc train needs PyTorch: pip install 'dslc[train]'") from None
    return torch


def _classifier(analysis: Any, file: str) -> tuple[tuple[int, int, int], int, bool]:
    """(C, H, W) of the one input, the number of classes of the one output N x K, and whether
    the output is a softmax (probabilities) rather than logits."""
    g = analysis.graph
    in_shape: tuple[Any, ...] = analysis.shapes[g.inputs[0]] if len(g.inputs) == 1 else ()
    out_shape: tuple[Any, ...] = analysis.shapes[g.outputs[0]] if len(g.outputs) == 1 else ()
    fixed = len(in_shape) == 4 and all(isinstance(d, int) for d in in_shape[1:])
    if not fixed or len(out_shape) != 2 or not isinstance(out_shape[1], int):
        raise UserError(
            f"{file}: dslc train trains classifiers, with one input C x H x W of fixed size "
            "and one output N x classes"
        )
    last = next(n for n in g.nodes if n.id == g.outputs[0])
    return (in_shape[1], in_shape[2], in_shape[3]), out_shape[1], last.op.value == "softmax"


def _sets(items: tuple[str, ...]) -> dict[str, str]:
    """--set NAME=VALUE items (already checked by analyse_file) as a mapping."""
    return {name.strip(): value.strip() for name, _, value in (i.partition("=") for i in items)}


def _outputs(
    file: str, spec: str, output: str | None, metrics: str | None, plot: str | None
) -> list[Path]:
    out = Path(output) if output else Path(Path(file).stem + ".safetensors")
    if out.suffix != ".safetensors":
        raise UserError(f"-o {out}: the weights are written as a .safetensors file")
    paths = [out, Path(metrics or out.with_suffix(".json")), Path(plot or out.with_suffix(".png"))]
    if len({p.resolve() for p in paths}) != 3:
        raise UserError("the weights, metrics and plot need three different file names")
    kind, _, data = spec.partition(":")
    for p in paths:
        check_output(p, [file, data if kind == "npz" and data else None])
        if (
            kind == "folder"
            and data
            and Path(os.path.realpath(p)).is_relative_to(os.path.realpath(data))
        ):  # an image among the classes would be trained on next time
            raise UserError(f"refusing to write {p} inside the training data folder {data}")
    return paths


def _data(spec: str, shape: tuple[int, int, int], classes: int, val: float, seed: int) -> Any:
    from dslc.pytorch.data import DataError, load, split

    try:
        data = load(spec, shape, classes)
        folders = data.source.startswith("folder:") and len(data.classes) != classes
        if folders or data.y.min() < 0 or data.y.max() >= classes:
            raise DataError(
                f"--data {spec}: {len(data.classes)} classes ({', '.join(data.classes)[:200]}), "
                f"but the network has {classes} output classes (--set classes=N, where "
                "the network has that parameter?)"
            )
        return data, *split(data, val, seed)
    except DataError as exc:
        raise UserError(str(exc)) from None


def _device(torch: Any, device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError(
            f"--device cuda: this PyTorch ({torch.__version__}) sees no CUDA device; "
            "use --device cpu"
        )


def _bar(main: bool, epochs: int) -> Any:
    from tqdm import tqdm

    def bar(batches: Any, epoch: int) -> Any:
        return tqdm(
            batches,
            desc=f"epoch {epoch}/{epochs}",
            unit="batch",
            leave=False,
            disable=None if main else True,  # None: shown on a terminal only
            file=sys.stderr,
            dynamic_ncols=True,
        )

    return bar


def _save(paths: list[Path], result: Any, about: dict[str, Any], settings: Any) -> None:
    """The three files are made in memory, written to temporaries, then renamed together: a
    failure or a signal leaves none of them (never weights without their metrics)."""
    from contextlib import ExitStack

    from dslc.backend.weight_files import MissingSafetensors, safetensors_bytes
    from dslc.pytorch.report import metrics, plot_png

    state = {k: v for k, v in result.best_state.items() if not k.endswith("num_batches_tracked")}
    try:
        weights = safetensors_bytes(state)
    except MissingSafetensors:
        raise UserError("saving weights needs safetensors: pip install 'dslc[train]'") from None
    about = {**about, "weights": str(paths[0])}
    doc = _json_safe(metrics(result, settings, about))  # a diverged epoch's NaN: null
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    png = plot_png(result, f"{about['network']} on {about['data']['source']}")
    with ExitStack() as files:  # renamed on leaving, last first
        for path, data in zip(paths, (weights, text.encode(), png), strict=True):
            files.enter_context(atomic_file(path)).write(data)


def _json_safe(value: Any) -> Any:
    """`value` with NaN and infinite floats as None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--data", "spec", required=True, metavar="SOURCE", help=DATA_HELP)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The best weights, as .safetensors with dslc's weight names [default: the file's "
    "name with .safetensors, in the current directory].",
)
@click.option(
    "--metrics",
    type=click.Path(dir_okay=False),
    help="The metrics JSON [default: OUT with .json].",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="The learning curves, a PNG [default: OUT with .png].",
)
@click.option(
    "--val-fraction",
    type=FiniteRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Part of the data held out for validation (a seeded random split).",
)
@click.option(
    "--optimizer",
    type=click.Choice(OPTIMIZERS),
    default="adam",
    show_default=True,
    help="SGD with momentum, Adam or AdamW (PyTorch's).",
)
@click.option(
    "--lr",
    type=FiniteRange(0, 1e36, min_open=True),
    default=1e-3,
    show_default=True,
    help="Learning rate (at most 1e36: a larger step overflows float32 in the optimiser).",
)
@click.option(
    "--momentum",
    type=FiniteRange(0, 1),
    default=0.9,
    show_default=True,
    help="Momentum of sgd.",
)
@click.option(
    "--weight-decay",
    type=FiniteRange(0),
    default=0.0,
    show_default=True,
    help="L2 penalty of every parameter (adamw: decoupled weight decay).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=64,
    show_default=True,
    help="Images per step, in all processes together (torchrun: each takes its share).",
)
@click.option(
    "--epochs", type=click.IntRange(1), default=20, show_default=True, help="Most epochs to run."
)
@click.option(
    "--patience",
    type=click.IntRange(1),
    help="Early stopping: stop after this many epochs without a lower validation loss.",
)
@click.option(
    "--init",
    type=click.Choice(SCHEMES),
    default=SCHEMES[0],
    show_default=True,
    help="Weight initialisation, as dslc compile's.",
)
@click.option(
    "--seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed of the initial weights, the split, the shuffling and dropout.",
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where to train; cuda: one GPU per process (torchrun: one per local rank).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    help="CPU threads of PyTorch, at most 1024 [default: PyTorch's choice; torchrun: 1 per "
    "process].",
)
@click.option(
    "--grad-norms",
    is_flag=True,
    help="Log each layer's mean gradient norm per epoch in the metrics, and plot it.",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@debug_option
def train(file: str, spec: str, output: str | None, metrics: str | None, plot: str | None,
          val_fraction: float, optimizer: str, lr: float, momentum: float, weight_decay: float,
          batch_size: int, epochs: int, patience: int | None, init: str, seed: int,
          device: str, threads: int | None, grad_norms: bool, sets: tuple[str, ...], debug: bool) -> None:  # fmt: skip
    """Train FILE.xnet, a classifier, on --data with PyTorch; save the weights of the epoch
    with the lowest validation loss, the metrics (JSON) and the learning curves (PNG).

    Runs unchanged under `torchrun --nproc-per-node N` (DistributedDataParallel: gloo on
    CPUs, NCCL on GPUs); process 0 prints and writes the files. Needs pip install
    'dslc[train]'.
    """
    with guard(debug):
        torch = _torch()
        paths = _outputs(file, spec, output, metrics, plot)
        analysis = analyse_file(file, sets)
        shape, classes, probabilities = _classifier(analysis, file)
        data, train_set, val_set = _data(spec, shape, classes, val_fraction, seed)
        _device(torch, device)
        if threads:
            torch.set_num_threads(threads)
        from dslc.pytorch import build_module
        from dslc.pytorch.distributed import world
        from dslc.pytorch.report import epoch_line
        from dslc.pytorch.train import Settings, fit

        settings = Settings(optimizer, lr, momentum, weight_decay, batch_size, epochs, patience,
                            seed, device, grad_norms)  # fmt: skip
        with world(device) as w:
            torch.manual_seed(seed + w.rank)  # dropout: its own stream in each process
            module = build_module(Path(file), _sets(sets), init=init, seed=seed)
            module.to(w.device(device))
            s = Settings(**{**settings.__dict__, "device": w.device(device)})
            if w.main:
                click.echo(
                    f"{analysis.graph.name}: {len(train_set.y)} training and {len(val_set.y)} "
                    f"validation images from {data.source}"
                    + (f" ({data.note})" if data.note else "")
                    + (f"; {w.size} processes" if w.size > 1 else "")
                )
            best = [float("inf")]

            def report(e: Any) -> None:
                if w.main:
                    click.echo(epoch_line(e, epochs, e.val_loss < best[0]))
                best[0] = min(best[0], e.val_loss)

            result = fit(module, train_set, val_set, s, w, probabilities=probabilities,
                         bar=_bar(w.main, epochs), report=report)  # fmt: skip
            if not w.main:
                return
            _diverged(result, lr)
            about = {
                "file": file,
                "network": analysis.graph.name,
                "sets": list(sets),
                "data": {
                    "source": data.source,
                    "train": len(train_set.y),
                    "val": len(val_set.y),
                    "val_fraction": val_fraction,
                    "input": list(shape),
                    "classes": classes,
                    "class_names": list(data.classes),  # label i is class_names[i]
                    "preprocessing": data.note,
                },
                "processes": w.size,
                "torch": torch.__version__,
            }
            _save(paths, result, about, settings)
        _finish(file, sets, paths, result)


def _diverged(result: Any, lr: float) -> None:
    """No weights when no epoch gave finite ones; a warning when training stopped on NaN."""
    last = result.epochs[-1]
    if not result.best_epoch:
        raise UserError(
            f"training diverged: no epoch gave a finite validation loss (epoch {last.epoch}: "
            f"train loss {last.train_loss:.4g}, val loss {last.val_loss:.4g}); nothing was "
            f"written (try a lower --lr than {lr:g})"
        )
    if result.diverged:
        click.echo(
            f"warning: training diverged: the training loss was {last.train_loss:.4g} in epoch "
            f"{result.diverged}; training stopped, the weights of epoch {result.best_epoch} "
            "are kept",
            err=True,
        )


def _finish(file: str, sets: tuple[str, ...], paths: list[Path], result: Any) -> None:
    best = next(e for e in result.epochs if e.epoch == result.best_epoch)
    stop = " (stopped early)" if result.stopped_early else ""
    click.echo(
        f"best epoch {result.best_epoch}{stop}: val loss {best.val_loss:.4f}, accuracy "
        f"{best.val_accuracy:.2%}; {result.seconds:.1f} s"
    )
    click.echo(f"wrote {paths[0]} (weights), {paths[1]} (metrics), {paths[2]} (learning curves)")
    onnx = paths[0].with_suffix(".onnx")
    args = ["dslc", "compile", file, *(a for s in sets for a in ("--set", s))]
    args += ["--weights", str(paths[0]), "-o", str(onnx)]
    click.echo("compile it with:\n  " + shlex.join(args))
