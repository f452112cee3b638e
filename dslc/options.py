"""Command-line options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from dslc.expand.limits import Limits, option_help, parse_limits

F = TypeVar("F", bound=Callable[..., Any])


def _to_limits(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> Limits:
    try:
        return parse_limits(list(items))
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def limit_option(f: F) -> F:
    """The --limit NAME=VALUE option, parsed into Limits."""
    return click.option(
        "--limit",
        "limits",
        multiple=True,
        metavar="NAME=VALUE",
        callback=_to_limits,
        help=option_help(),
    )(f)


def model_source_options(f: F) -> F:
    """--set, --seed, --limit and --debug of the commands that take an .onnx or an .xnet
    (run, bench): how an .xnet is compiled in memory."""
    f = click.option("--debug", is_flag=True, help="Show Python tracebacks of internal errors.")(f)
    f = limit_option(f)
    f = click.option(
        "--seed",
        type=int,
        default=0,
        show_default=True,
        help="Seed for weights (.xnet) and random inputs.",
    )(f)
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override a network parameter (for .xnet models).",
    )(f)
