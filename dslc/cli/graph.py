"""`dslc graph`: the network as a Graphviz diagram, blocks as clusters, edges labelled with
shapes. Writes .dot itself; .svg, .png and .pdf go through Graphviz's `dot` when it is
installed, and whatever `dot` warns about is passed on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dslc.cli.common import (
    SET_HELP,
    SIZE_HELP,
    UserError,
    analyse_file,
    debug_option,
    guard,
    size_option,
)
from dslc.cli.output import check_output, write_atomic
from dslc.passes import Analysis
from dslc.report.dot import MAX_NODES, RANKDIRS, DotError, DotOptions, default_depth, to_dot

__all__ = ["graph"]

FORMATS = ("dot", "gv", "svg", "png", "pdf")


def _depth(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """--depth N (N >= 1) or all; None when not given (the default depends on the size)."""
    if value is None:
        return None
    if value == "all":
        return 0
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise click.BadParameter(f"'{value}': give a positive integer or 'all'", ctx, param)
    return n


def _format(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and Path(value).suffix.lower().lstrip(".") not in FORMATS:
        raise click.BadParameter(
            f"{Path(value).name}: choose a name ending in .svg, .png, .pdf or .dot", ctx, param
        )
    return value


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    callback=_format,
    metavar="OUT.svg|.png|.pdf|.dot",
    help="Where to write [default: the file's name with .svg]; .svg, .png and .pdf need "
    "Graphviz's dot, else a .dot file is written instead.",
)
@click.option(
    "--depth",
    callback=_depth,
    metavar="N|all",
    help="Collapse blocks nested deeper than N name levels into one node with their totals, "
    f"as summary --depth does [default: every layer, or for more than {MAX_NODES} layers the "
    "deepest level that fits in as many nodes]; 'all' draws every layer.",
)
@click.option(
    "--block",
    metavar="NAME",
    help="Draw only this block (e.g. layer3.1), with the tensors entering and leaving it.",
)
@click.option(
    "--rankdir",
    type=click.Choice(RANKDIRS, case_sensitive=False),
    metavar="TB|LR|BT|RL",
    default="TB",
    show_default=True,
    help="Direction of the flow: top to bottom, left to right, ...",
)
@size_option(SIZE_HELP)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@debug_option
def graph(
    file: str,
    output: str | None,
    depth: int | None,
    block: str | None,
    rankdir: str,
    sizes: dict[str, int],
    sets: tuple[str, ...],
    debug: bool,
) -> None:
    """Draw the network: blocks as clusters, layers with kernel, stride, channels and params,
    edges labelled with tensor shapes, input and output nodes with their shapes."""
    with guard(debug):
        out = Path(output) if output else Path(Path(file).stem + ".svg")
        check_output(out, [file])
        check_output(out.with_suffix(".dot"), [file])  # where it falls back without Graphviz
        analysis = analyse_file(file, sets, sizes=sizes)
        if depth is None and block is None:
            depth = default_depth(analysis)
            if depth is not None:
                click.echo(
                    f"note: {analysis.graph.name} has more than {MAX_NODES} layers; drawn with "
                    f"blocks below level {depth} collapsed (--depth all draws every layer)",
                    err=True,
                )
        opts = DotOptions(depth or None, block, rankdir.upper())
        try:
            text = to_dot(analysis, opts)
        except DotError as exc:
            raise UserError(str(exc)) from None
        _, message = draw(analysis, out, text)
        click.echo(message)


def draw(analysis: Analysis, out: Path, text: str | None = None) -> tuple[Path, str]:
    """Write the diagram; returns the path written and a message for the user."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UserError(f"{out}: choose an output ending in .svg, .png, .pdf or .dot")
    text = text if text is not None else to_dot(analysis)
    if fmt in ("dot", "gv"):
        write_atomic(out, text.encode())
        return out, f"wrote {out}"
    import shutil

    dot = shutil.which("dot")
    if dot is None:
        fallback = out.with_suffix(".dot")
        write_atomic(fallback, text.encode())
        return fallback, (
            f"Graphviz's 'dot' is not installed, so {out} was not drawn; wrote "
            f"{fallback} instead (install Graphviz, e.g. apt install graphviz, "
            f"or render it with: dot -T{fmt} {fallback} -o {out})"
        )
    write_atomic(out, _render(dot, fmt, text))
    return out, f"wrote {out}"


def _render(dot: str, fmt: str, text: str) -> bytes:
    """Run Graphviz; its warnings go to stderr, its failure is an error."""
    import subprocess

    done: Any = subprocess.run(
        [dot, f"-T{fmt}"], input=text.encode(), capture_output=True, check=False, timeout=300
    )
    said = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0:
        raise UserError(f"Graphviz's dot failed: {said or f'exit status {done.returncode}'}")
    for line in said.splitlines():
        click.echo(f"dot: {line}", err=True)
    return bytes(done.stdout)
