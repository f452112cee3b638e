"""`dslc diff`: two networks side by side: params, MACs, FLOPs, receptive field, output shape
and activation memory, in total and per top-level stage."""

from __future__ import annotations

import click

from dslc.cli.common import (
    SET_HELP,
    analyse_file,
    debug_option,
    guard,
    limit_option,
    size_option,
    with_sizes,
)
from dslc.expand.limits import Limits

__all__ = ["diff"]


@click.command()
@click.argument("file_a", metavar="A.xnet", type=click.Path(dir_okay=False))
@click.argument("file_b", metavar="B.xnet", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "bfloat16", "float64", "int8"]),
    default="float32",
    show_default=True,
    help="Element type for the byte counts.",
)
@click.option(
    "--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP + " Applies to both."
)
@size_option(
    "Values for symbolic input sizes, e.g. --size H=224,W=224 (or --size H=224 --size W=224), "
    "for each network that has them (a network of fixed size is compared as it is)."
)
@limit_option
@debug_option
def diff(
    file_a: str,
    file_b: str,
    as_json: bool,
    dtype: str,
    sets: tuple[str, ...],
    sizes: dict[str, int],
    limits: Limits,
    debug: bool,
) -> None:
    """Compare two networks side by side, in total and per stage (top-level block or layer,
    as summary --depth 1 groups them): params, MACs, FLOPs, receptive field, output shape and
    activation memory. A report, not a check: the exit status is 0 whatever differs.

    \b
    Example (the lecture's point: the same field with fewer parameters):
      dslc diff models/lecture/stacked_3x3.xnet models/lecture/single_5x5.xnet
    """
    from dslc.report.diff import diff_json, render_diff

    with guard(debug):
        pair = [analyse_file(f, sets, limits) for f in (file_a, file_b)]
        if sizes:
            symbolic = [x for x in pair if x.sizes]
            if not symbolic:  # neither takes them: the usual error, about the first
                with_sizes(pair[0], sizes, limits)
            pair = [with_sizes(x, sizes, limits) if x.sizes else x for x in pair]
            for f, x in zip((file_a, file_b), pair):
                if not x.given:
                    click.echo(f"note: {f}: input sizes fixed; --size does not apply", err=True)
        doc = diff_json(pair[0], pair[1], (file_a, file_b), dtype)
        if as_json:
            import json

            click.echo(json.dumps(doc, indent=1))
        else:
            click.echo(render_diff(doc), nl=False)
