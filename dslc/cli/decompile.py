"""`dslc decompile`: an ONNX model written back as an .xnet program."""

from __future__ import annotations

from pathlib import Path

import click

from dslc.cli.common import UserError, debug_option, guard
from dslc.cli.output import check_output, write_atomic

__all__ = ["decompile"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="OUT",
    help="Write the program to OUT.xnet [default: print it].",
)
@click.option(
    "--no-fold",
    is_flag=True,
    help="Write every layer in place: no blocks for scopes that repeat (layer3.0 ... 3.5).",
)
@debug_option
def decompile(file: str, output: str | None, no_fold: bool, debug: bool) -> None:
    """Write the ONNX model FILE as an .xnet program.

    \b
    Its layers are named as the model's (their weight names are what
      dslc weights FILE --save w.safetensors
    writes), so compiling the program with those weights gives the model back:
      dslc decompile model.onnx -o model.xnet
      dslc compile model.xnet --weights w.safetensors
    Scopes whose layers repeat up to their channel numbers become one block.
    A layer the language has no words for (or branches that never meet again) is an error.
    """
    from dslc.importer.decompile import Inexpressible
    from dslc.importer.decompile import decompile as write
    from dslc.importer.model import is_onnx, onnx_graph

    with guard(debug):
        if not is_onnx(file):
            raise UserError(f"{file}: decompile reads .onnx models")
        if output is not None:
            check_output(Path(output), [file])
        try:
            text = write(onnx_graph(file), fold=not no_fold)
        except Inexpressible as exc:
            raise UserError(f"cannot write {exc} as .xnet") from None
        if output is None:
            click.echo(text, nl=False)
            return
        write_atomic(Path(output), text.encode("utf-8"))
        click.echo(f"wrote {output}")
