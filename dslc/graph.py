"""`dslc graph`: the network as a Graphviz diagram, blocks as clusters, edges labelled with
shapes. Writes .dot itself; .svg and .png go through Graphviz's `dot` when it is installed."""

from __future__ import annotations

from pathlib import Path

import click

from dslc.report.dot import render


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="OUT.svg|.png|.dot",
    help="Where to write [default: the file's name with .svg]; .svg and .png need "
    "Graphviz's dot, else a .dot file is written instead.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a network parameter, e.g. --set classes=10 (repeatable).",
)
@click.option("--debug", is_flag=True, help="Show Python tracebacks of internal errors.")
def graph(file: str, output: str | None, sets: tuple[str, ...], debug: bool) -> None:
    """Draw the network: blocks as clusters, edges labelled with tensor shapes."""
    from dslc.cli import _analyse, _guard

    with _guard(debug):
        analysis = _analyse(file, sets)
        _, message = render(analysis, Path(output) if output else Path(Path(file).stem + ".svg"))
        click.echo(message)
