"""`dslc fmt`: files rewritten in the canonical layout, comments kept."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dslc.cli.common import debug_option, guard
from dslc.cli.output import write_atomic

__all__ = ["fmt"]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file is not formatted."
)
@click.option("--stdout", is_flag=True, help="Print the formatted text instead of rewriting.")
@debug_option
def fmt(files: tuple[str, ...], check_only: bool, stdout: bool, debug: bool) -> None:
    """Rewrite .xnet files in the canonical layout (comments are kept)."""
    from dslc.diagnostics import CompileError, unreadable
    from dslc.source import SourceFile, UnreadableSource
    from dslc.syntax.format import format_program
    from dslc.syntax.parser import parse

    unformatted = []
    with guard(debug):
        for f in files:
            try:
                source = SourceFile.read(f)
            except UnreadableSource as exc:
                raise CompileError([unreadable(f, exc)]) from None
            text = format_program(parse(source))
            if stdout:
                click.echo(text, nl=False)
            elif text != source.text:
                unformatted.append(f)
                if not check_only:
                    write_atomic(Path(f), text.encode("utf-8"))
                    click.echo(f"formatted {f}")
    if check_only and unformatted:
        for f in unformatted:
            click.echo(f"would reformat {f}", err=True)
        sys.exit(1)
