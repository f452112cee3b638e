"""`dslc graph`: the network as a Graphviz diagram, blocks as clusters, edges labelled with
shapes. Writes .dot itself; .svg and .png go through Graphviz's `dot` when it is installed."""

from __future__ import annotations

from pathlib import Path

import click

from dslc.cli.common import UserError, analyse_file, guard
from dslc.cli.output import check_output, write_atomic
from dslc.passes import Analysis
from dslc.report.dot import to_dot

__all__ = ["graph"]


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
    with guard(debug):
        out = Path(output) if output else Path(Path(file).stem + ".svg")
        check_output(out, [file])
        check_output(out.with_suffix(".dot"), [file])  # where it falls back without Graphviz
        analysis = analyse_file(file, sets)
        _, message = draw(analysis, out)
        click.echo(message)


def draw(analysis: Analysis, out: Path) -> tuple[Path, str]:
    """Write the diagram; returns the path written and a message for the user."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("dot", "gv", "svg", "png"):
        raise UserError(f"{out}: choose an output ending in .svg, .png or .dot")
    text = to_dot(analysis)
    if fmt in ("dot", "gv"):
        write_atomic(out, text.encode())
        return out, f"wrote {out}"
    import shutil
    import subprocess

    dot = shutil.which("dot")
    if dot is None:
        fallback = out.with_suffix(".dot")
        write_atomic(fallback, text.encode())
        return fallback, (
            f"Graphviz's 'dot' is not installed, so {out} was not drawn; wrote "
            f"{fallback} instead (install Graphviz, e.g. apt install graphviz, "
            f"or render it with: dot -T{fmt} {fallback} -o {out})"
        )
    done = subprocess.run(
        [dot, f"-T{fmt}"], input=text.encode(), capture_output=True, check=False, timeout=300
    )
    if done.returncode != 0:
        raise UserError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    write_atomic(out, done.stdout)
    return out, f"wrote {out}"
