"""`dslc check`: every problem of one or more files, libraries of blocks included."""

from __future__ import annotations

import sys

import click

from dslc.cli.common import (
    SET_HELP,
    debug_option,
    guard,
    limit_option,
    print_diagnostics,
    size_option,
)
from dslc.diagnostics import CompileError
from dslc.expand.limits import Limits

__all__ = ["check"]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@size_option(
    "Check the networks at these values of their symbolic input sizes, e.g. "
    "--size H=224,W=224 (or --size H=224 --size W=224): a size a network is not valid for "
    "is an error."
)
@limit_option
@debug_option
def check(
    files: tuple[str, ...],
    sets: tuple[str, ...],
    sizes: dict[str, int],
    limits: Limits,
    debug: bool,
) -> None:
    """Check .xnet files (or .onnx models) and report every problem (exit status 1 if any
    error)."""
    from dslc.compiler import compile_file, fix_sizes, parse_overrides
    from dslc.expand.imports import check_library
    from dslc.passes.sizes import SizeError
    from dslc.passes.sizes import describe as describe_sizes

    failed = 0
    with guard(debug):
        overrides = parse_overrides(list(sets))
        for f in files:
            try:
                if _is_library_file(f, limits.source):
                    blocks = check_library(f, max_bytes=limits.source)
                    click.echo(
                        f"{f}: ok (block library: {len(blocks)} block"
                        f"{'s' if len(blocks) != 1 else ''})"
                    )
                    continue
                analysis = fix_sizes(compile_file(f, overrides, limits), sizes, limits)
            except CompileError as exc:
                print_diagnostics(exc.diagnostics)
                failed += 1
                continue
            except SizeError as exc:
                for problem in exc.problems:
                    click.echo(f"{f}: error: {problem}", err=True)
                failed += 1
                continue
            for d in analysis.warnings:
                click.echo(d.render() + "\n", err=True)
            if any(d.severity == "error" for d in analysis.warnings):  # an ONNX op not analysed
                print_diagnostics(())
                failed += 1
                continue
            n = len(analysis.graph.nodes) - len(analysis.graph.inputs)
            valid = describe_sizes(analysis.sizes)
            given = ", ".join(f"{k}={v}" for k, v in analysis.given)
            notes = (f"; at {given}" if given else "") + (f"; valid for {valid}" if valid else "")
            click.echo(f"{f}: ok ({n} layer{'s' if n != 1 else ''}{notes})")
    if failed:
        sys.exit(1)


def _is_library_file(path: str, max_bytes: int) -> bool:
    """True for a readable file of blocks only (a library to import)."""
    from dslc.expand.imports import is_library
    from dslc.source import SourceFile, UnreadableSource
    from dslc.syntax.parser import parse

    try:
        return is_library(parse(SourceFile.read(path, max_bytes)))
    except (UnreadableSource, CompileError):
        return False  # compile_file reports the problem
