"""`dslc torch`: an .xnet as a readable, self-contained PyTorch model.py."""

from __future__ import annotations

from pathlib import Path

import click

from dslc.backend.settings import SCHEMES
from dslc.cli.common import SET_HELP, UserError, analyse_file, debug_option, guard
from dslc.cli.output import check_output, write_atomic

__all__ = ["torch"]


def _require_torch() -> None:
    """Refuse early, without importing torch (seconds), when it is not installed."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        from dslc.pytorch import TORCH_HINT

        raise UserError(
            f"dslc torch writes a PyTorch model, and torch is not installed: {TORCH_HINT}"
        )


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where to write the module [default: the file's name with .py, in the current "
    "directory]; '-' prints it.",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@click.option(
    "--init",
    type=click.Choice(SCHEMES),
    default=SCHEMES[0],
    show_default=True,
    help="How the module initialises its weights on its own, as dslc compile --init "
    "(through torch.nn.init); dslc.pytorch.build_module loads dslc's exact seeded values.",
)
@debug_option
def torch(file: str, output: str | None, sets: tuple[str, ...], init: str, debug: bool) -> None:
    """Write FILE.xnet as a PyTorch module: one nn.Module class per block, nn.Sequential for
    numbered sequences, forward methods that read like the .xnet.

    \b
    Its state_dict() keys, shapes and dtypes are those 'dslc weights FILE' lists, so
      dslc torch models/resnet18.xnet -o resnet18.py
      python -c "import torch, resnet18; print(resnet18.Resnet18()(torch.zeros(1, 3, 224, 224)).shape)"
    and a trained state_dict saved with safetensors loads into 'dslc compile --weights'.
    The file needs only torch; in eval mode it computes what the compiled ONNX model does.
    """
    with guard(debug):
        _require_torch()
        out = None if output == "-" else Path(output or Path(file).stem + ".py")
        if out is not None:
            check_output(out, [file])
        analysis = analyse_file(file, sets)
        from dslc.pytorch import analysis_source
        from dslc.pytorch.source import top_class

        text = analysis_source(analysis, file, init)
        if out is None:
            click.echo(text, nl=False)
            return
        write_atomic(out, text.encode("utf-8"))
        tensors = sum(1 for _ in _tensors(analysis))
        click.echo(
            f"wrote {out} (class {top_class(analysis)}, {len(text.splitlines())} lines, "
            f"{tensors} tensors in its state_dict)"
        )


def _tensors(analysis: object) -> list[str]:
    from dslc.backend.weights import expected

    return [e.name for e in expected(analysis)]  # type: ignore[arg-type]
