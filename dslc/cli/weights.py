"""`dslc weights`: the tensors a model expects from a weights file; check or write one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dslc.backend.settings import SCHEMES
from dslc.backend.weight_files import MissingSafetensors
from dslc.cli.common import SEED, SET_HELP, UserError, analyse_file, debug_option, guard
from dslc.cli.output import check_output, write_atomic

__all__ = ["weights"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list of {name, shape, dtype} instead of a table.",
)
@click.option(
    "--check",
    "check_file",
    metavar="W",
    help="Check a .safetensors/.npz file against the list, without "
    "compiling (exit status 1 on any mismatch).",
)
@click.option(
    "--save",
    type=click.Path(dir_okay=False),
    metavar="OUT",
    help="Write the initial weights (from --seed/--init) to OUT.safetensors or "
    "OUT.npz, e.g. to start training elsewhere; for an .onnx model, the weights it stores.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for --save.")
@click.option(
    "--init",
    type=click.Choice(SCHEMES),
    default=SCHEMES[0],
    show_default=True,
    help="Initialisation for --save.",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@debug_option
def weights(
    file: str,
    as_json: bool,
    check_file: str | None,
    save: str | None,
    seed: int,
    init: str,
    sets: tuple[str, ...],
    debug: bool,
) -> None:
    """List every tensor FILE.xnet expects from a weights file: name, shape, dtype.

    \b
    The names are the layers' hierarchical names plus .weight, .bias, .running_mean or
    .running_var; the zoo models use torchvision's state_dict keys, so
      safetensors.torch.save_file(model.state_dict(), "w.safetensors")
      dslc compile models/resnet50.xnet --weights w.safetensors
    just works.
    """
    from dslc.backend import weights as w

    with guard(debug):
        if save is not None:
            check_output(Path(save), [file, check_file])
        analysis = analyse_file(file, sets)
        tensors = w.expected(analysis)
        if check_file is not None:
            loaded = w.match(analysis, w.read(check_file, w.wanted(analysis)), check_file)
            for d in w.nonfinite(loaded, check_file):
                click.echo(d.render() + "\n", err=True)
            click.echo(f"{check_file}: ok ({len(tensors)} tensors match {file})")
            return
        if save is not None:
            _save_initial(analysis, Path(save), seed, init, file)
            click.echo(f"wrote {save} ({len(tensors)} tensors)")
            return
        if not tensors and not as_json:
            click.echo(f"{file} expects no weights: it has no layer with learned parameters")
            return
        if as_json:
            import json

            click.echo(
                json.dumps(
                    [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in tensors],
                    indent=1,
                )
            )
            return
        width = max((len(t.name) for t in tensors), default=4)
        click.echo(f"{'Name':<{width}}  {'Shape':<20} Dtype")
        for t in tensors:
            shape = "(" + ", ".join(map(str, t.shape)) + ")"
            click.echo(f"{t.name:<{width}}  {shape:<20} {t.dtype}")
        import math

        values = sum(math.prod(t.shape) for t in tensors)
        click.echo(f"{len(tensors)} tensors, {values:,} values")


def _save_initial(analysis: Any, out: Path, seed: int, init: str, file: str) -> None:
    """Write the initial weights (an ONNX model's own) as .safetensors or .npz, atomically."""
    import io

    import numpy as np

    from dslc.backend import weights as w
    from dslc.backend.init import draw_all

    if out.suffix.lower() not in (".safetensors", ".npz"):
        raise UserError(f"--save writes .safetensors or .npz files, not '{out.suffix or out}'")
    arrays = draw_all(analysis.graph.nodes, init, seed)
    from dslc.importer.model import is_onnx, onnx_weights

    if is_onnx(file):  # the model's stored weights, shaped as dslc's layers hold them
        stored = onnx_weights(file)
        missing = [n for n in arrays if n not in stored or stored[n].size != arrays[n].size]
        if missing:
            raise UserError(f"{file} does not store {', '.join(missing[:5])}")
        arrays = {n: stored[n].reshape(arrays[n].shape) for n in arrays}
    if out.suffix.lower() == ".npz":
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        write_atomic(out, buf.getvalue())
    else:
        try:
            data = w.safetensors_bytes(arrays)
        except MissingSafetensors as exc:
            raise UserError(f"{exc} (or --save OUT.npz)") from None
        write_atomic(out, data)
