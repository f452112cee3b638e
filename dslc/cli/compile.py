"""`dslc compile`: an .xnet to an ONNX model with initialised or loaded weights."""

from __future__ import annotations

from pathlib import Path

import click

from dslc.backend.settings import DTYPES, SCHEMES
from dslc.cli.common import (
    SEED,
    SET_HELP,
    UserError,
    chosen_opset,
    debug_option,
    guard,
    limit_option,
    opset_options,
)
from dslc.cli.output import build_model, check_output, default_opset, save_model
from dslc.expand.limits import Limits

__all__ = ["compile"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Where to write the model [default: the file's name with .onnx, in the "
    "current directory].",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@opset_options
@click.option(
    "--seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed for the weight initialisation; same seed, same bytes.",
)
@click.option(
    "--init",
    type=click.Choice(SCHEMES),
    default=SCHEMES[0],
    show_default=True,
    help="Weight initialisation: PyTorch's defaults, He "
    "(Kaiming normal) or Xavier (Glorot uniform). Batch norm: gamma 1, beta 0.",
)
@click.option(
    "--weights",
    metavar="W",
    help="Load pretrained weights from a .safetensors or .npz file of named tensors "
    "(e.g. a torchvision state_dict; num_batches_tracked is ignored). Every tensor "
    "must match by name, shape and dtype; see 'dslc weights FILE'. Without it, "
    "weights are initialised from --seed.",
)
@click.option(
    "--optimize/--no-optimize",
    default=True,
    show_default=True,
    help="Write the inference graph: batch norm folded into the convolution before "
    "it, dropout and identities dropped (outputs equal up to float rounding). "
    "--no-optimize writes every layer as written, with its own parameters.",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default="float32",
    show_default=True,
    help="Type of the weights and of the computation.",
)
@click.option(
    "--io-dtype",
    type=click.Choice(DTYPES),
    default=None,
    help="Type of the model's inputs and outputs [default: --dtype]; "
    "'--dtype float16 --io-dtype float32' casts at the edges.",
)
@click.option(
    "--preprocess/--no-preprocess",
    default=True,
    show_default=True,
    help="Compile an input's declared preprocessing into the graph (from opset 18), so the "
    "model takes uint8 images of any size; --no-preprocess keeps the network's float input "
    "and records the pipeline in the metadata only (dslc run --image then applies it).",
)
@limit_option
@debug_option
def compile(
    file: str,
    output: str | None,
    sets: tuple[str, ...],
    opset: int | None,
    target: str | None,
    seed: int,
    init: str,
    weights: str | None,
    optimize: bool,
    dtype: str,
    io_dtype: str | None,
    preprocess: bool,
    limits: Limits,
    debug: bool,
) -> None:
    """Compile FILE.xnet to an ONNX model with initialised (or loaded) weights.

    Past 2 GiB of weights the weights go to OUT.onnx.data beside the model (ONNX external
    data); keep the two files together.
    """
    opset = chosen_opset(opset, target)
    with guard(debug):
        out = Path(output) if output else Path(Path(file).stem + ".onnx")
        if out.with_name(out.name + ".data").resolve() == Path(file).resolve():
            raise UserError(f"refusing to write the output over the input {file}")
        check_output(out, [file])
        if weights is not None and out.resolve() == Path(weights).resolve():
            raise UserError(f"refusing to write the output over the weights {weights}")
        analysis, model, arrays = build_model(
            file, sets, opset, seed, init, limits, weights, optimize, dtype, io_dtype, preprocess
        )
        opset = default_opset(analysis, preprocess) if opset is None else opset
        data = save_model(out, model, arrays)
        from dslc.passes.cost import total

        t = total(analysis.costs)
        size = out.stat().st_size + (data.stat().st_size if data else 0)
        extra = f", weights in {data}" if data else ""
        source = f", weights from {weights}" if weights else ""
        form = ("" if optimize else ", not optimised") + (
            "" if dtype == "float32" else f", {dtype}"
        )
        click.echo(
            f"wrote {out} ({size / 2**20:.1f} MiB{extra}, {t.params:,} params, "
            f"opset {opset}{form}{source})"
        )
