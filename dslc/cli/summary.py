"""`dslc summary`: every layer's shape, parameters, cost, memory and receptive field."""

from __future__ import annotations

import click

from dslc.cli.common import (
    SET_HELP,
    SIZE_HELP,
    analyse_file,
    debug_option,
    guard,
    limit_option,
    size_option,
)
from dslc.expand.limits import Limits

__all__ = ["summary"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON (a stable contract) instead of a table; the same as --format json.",
)
@click.option(
    "--format",
    "fmt_",
    type=click.Choice(["table", "json", "markdown", "csv"]),
    default="table",
    show_default=True,
    help="Output format; json is the contract "
    "document with every layer (--depth and --columns shape the other formats).",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Collapse blocks nested deeper than N name levels into one row with their "
    "totals [default: show every layer].",
)
@click.option(
    "--columns",
    metavar="COL,...",
    default=None,
    help="Columns to show, from: op, shape, params, macs, flops, memory, rf, jump, "
    "line, source [default: op,shape,params,macs,flops,memory,rf,line].",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "bfloat16", "float64", "int8"]),
    default="float32",
    show_default=True,
    help="Element type for the byte counts (parameters and activations).",
)
@size_option(SIZE_HELP)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@limit_option
@debug_option
def summary(
    file: str,
    as_json: bool,
    fmt_: str,
    depth: int | None,
    columns: str | None,
    dtype: str,
    sizes: dict[str, int],
    sets: tuple[str, ...],
    limits: Limits,
    debug: bool,
) -> None:
    """Print every layer's shape, params, MACs, FLOPs, memory and receptive field as a tree."""
    from dslc.report.summary import summary_json
    from dslc.report.table import build_rows, parse_columns, render_csv, render_table

    try:
        cols = parse_columns(columns)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--columns") from None
    with guard(debug):
        analysis = analyse_file(file, sets, limits, sizes)
        if as_json or fmt_ == "json":
            import json

            click.echo(json.dumps(summary_json(analysis, dtype), indent=1))
            return
        rows = build_rows(analysis, depth)
        if fmt_ == "csv":
            click.echo(render_csv(analysis, rows, cols, dtype), nl=False)
        else:
            click.echo(render_table(analysis, rows, cols, dtype, fmt_ == "markdown"), nl=False)
