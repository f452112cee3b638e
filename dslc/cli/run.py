"""`dslc run`: a model (.onnx, or an .xnet compiled in memory) run on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dslc.cli.classify import classify
from dslc.cli.common import (
    DEFAULT_SIZE,
    UserError,
    check_model_file,
    guard,
    load_runtime,
    model_source_options,
    size_option,
)
from dslc.cli.output import check_output, compile_in_memory, write_atomic
from dslc.expand.limits import Limits

if TYPE_CHECKING:
    import numpy as np

__all__ = ["run"]


def _feeds(
    model: Any, rt: Any, inputs: tuple[str, ...], batch: int, seed: int, sizes: dict[str, int]
) -> tuple[dict[str, np.ndarray], list[str]]:
    notes: list[str] = []
    specs = {s.name: s for s in model.inputs}
    given: dict[str, np.ndarray] = {}
    for item in inputs:
        name, eq, path = item.partition("=")
        if not eq:
            if len(specs) != 1:
                raise UserError(
                    f"this model has inputs {', '.join(specs)}: write --input NAME=FILE.npy"
                )
            name, path = next(iter(specs)), item
        if name not in specs:
            raise UserError(f"no input named '{name}'; the model's inputs are {', '.join(specs)}")
        read = array = rt.read_array(path)
        for fix in (rt.fit_rank, rt.coerce_dtype):
            array, note = fix(array, specs[name])
            notes += [note] if note else []
        rt.check_values(array, specs[name], read)
        given[name] = array
    missing = [n for n in specs if n not in given]
    if missing:
        symbols = {d for n in missing for d in specs[n].shape[1:] if isinstance(d, str)}
        for s in sorted(symbols - set(sizes)):
            sizes[s] = DEFAULT_SIZE
            notes.append(f"size {s} not given; using {DEFAULT_SIZE} (set it with --size {s}=...)")
        rand = model.random_inputs(batch=batch, seed=seed, sizes=sizes)
        for n in missing:
            given[n] = rand[n]
            kind = rt.random_kind(rand[n].dtype)
            notes.append(f"input '{n}': {kind} {tuple(rand[n].shape)} (seed {seed})")
    return given, notes


def _model_bytes(
    path: str, sets: tuple[str, ...], seed: int, limits: Limits, scratch: Path
) -> tuple[bytes | str, str]:
    if Path(path).suffix != ".xnet":
        return path, path
    model = compile_in_memory(path, sets, seed, limits, scratch)
    if isinstance(model, Path):
        return str(model), f"{path} (compiled)"
    return model, f"{path} (compiled in memory)"


def _check_output(output: str, model: str, inputs: tuple[str, ...]) -> None:
    """Before running: only .npy/.npz (numpy would append its own suffix to any other name),
    never over the model or an input, never onto a FIFO, device or directory."""
    suffix = Path(output).suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise UserError(
            f"--output {output}: write a .npy file (one output) or an .npz file (all outputs), "
            f"not {suffix or 'a name without a suffix'}"
        )
    check_output(Path(output), [model, *(item.rpartition("=")[2] for item in inputs)])


def _save(path: str, outputs: dict[str, np.ndarray]) -> None:
    """Write exactly `path`, atomically: .npy for one output, .npz for all of them."""
    import numpy as np

    if path.lower().endswith(".npz"):
        write_atomic(Path(path), lambda f: np.savez(f, **outputs))  # type: ignore[arg-type]
    else:
        value = next(iter(outputs.values()))
        write_atomic(Path(path), lambda f: np.save(f, value, allow_pickle=False))


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="[NAME=]FILE",
    help="Input tensor from a .npy (or .txt/.csv) file; missing leading axes are "
    "added, integers become float32. Default: random data (normal floats; uint8 image "
    "inputs: pixels 0-255).",
)
@click.option(
    "--batch",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Batch size for random inputs.",
)
@size_option(
    "Values for the inputs' symbolic sizes, for random inputs, e.g. --size H=224,W=224 "
    f"(or --size H=224 --size W=224) [default: {DEFAULT_SIZE}]; sizes the model is not "
    "valid for are refused."
)
@click.option(
    "--provider",
    type=click.Choice(["auto", "cuda", "cpu"]),
    default="auto",
    show_default=True,
    help="Execution provider: CUDA when present and working, else CPU.",
)
@click.option(
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    help="Save the output to .npy (or all outputs to .npz).",
)
@click.option("--print", "print_values", is_flag=True, help="Print the output values too.")
@click.option(
    "--image",
    "images",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Classify a photo (JPEG, PNG, ...; needs Pillow): the model's declared preprocessing "
    "is applied, its top classes printed with their labels. Repeatable.",
)
@click.option(
    "--top",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="With --image: how many classes to print per image.",
)
@model_source_options
def run(
    model: str,
    inputs: tuple[str, ...],
    batch: int,
    sizes: dict[str, int],
    provider: str,
    output: str | None,
    print_values: bool,
    images: tuple[str, ...],
    top: int,
    sets: tuple[str, ...],
    seed: int,
    limits: Limits,
    debug: bool,
) -> None:
    """Run MODEL (.xnet, compiled in memory, or .onnx) on ONNX Runtime."""
    import tempfile

    with guard(debug), tempfile.TemporaryDirectory(prefix="dslc-run-") as scratch:
        if images and (inputs or output or print_values):
            raise UserError("--image runs photos: use it without --input, --output and --print")
        _run(
            model,
            inputs,
            batch,
            sizes,
            provider,
            output,
            print_values,
            (images, top),
            sets,
            seed,
            limits,
            Path(scratch),
        )


def _run(
    model: str,
    inputs: tuple[str, ...],
    batch: int,
    sizes: dict[str, int],
    provider: str,
    output: str | None,
    print_values: bool,
    images: tuple[tuple[str, ...], int],
    sets: tuple[str, ...],
    seed: int,
    limits: Limits,
    scratch: Path,
) -> None:
    import numpy as np

    rt = load_runtime()
    if output:
        _check_output(output, model, inputs)
    try:
        if Path(model).exists():
            check_model_file(model)
        source, label = _model_bytes(model, sets, seed, limits, scratch)
        m = rt.Model(source, provider=provider)
        if output and len(m.outputs) > 1 and not output.lower().endswith(".npz"):
            names = ", ".join(s.name for s in m.outputs)
            raise UserError(f"--output {output}: the model has outputs {names}; use an .npz file")
        if images[0]:
            click.echo(f"model:    {label}")
            click.echo(f"provider: {m.provider_note}")
            classify(m, rt, *images)
            return
        try:
            rt.check_size_names(m.inputs, sizes)
        except rt.InputError as exc:
            raise UserError(f"--size: {exc}") from None
        feeds, notes = _feeds(m, rt, inputs, batch, seed, dict(sizes))
        results = m.run(feeds)
    except rt.RunError as exc:
        raise UserError(str(exc)) from None
    click.echo(f"model:    {label}")
    click.echo(f"provider: {m.provider_note}")
    for note in notes:
        click.echo(f"note:     {note}")
    for name, value in results.items():
        click.echo(f"output {name}: {rt.digest(value)}")
        if print_values:
            click.echo(np.array2string(value, precision=4, suppress_small=True))
    if output:
        _save(output, results)
        click.echo(f"saved {output}")
