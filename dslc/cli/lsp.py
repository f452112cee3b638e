"""`dslc lsp`: the language server over stdio, for editors (needs the `lsp` extra: pygls)."""

from __future__ import annotations

import sys

import click

__all__ = ["lsp"]

MISSING = (
    "dslc lsp needs pygls, which is not installed; install the language server's extra:\n"
    "    pip install 'dslc[lsp]'"
)


@click.command()
@click.option(
    "--debounce-ms",
    type=click.IntRange(0, 10_000),
    default=25,
    show_default=True,
    help="Check a buffer this long after the last keystroke.",
)
def lsp(debounce_ms: int) -> None:
    """Serve the Language Server Protocol over stdin/stdout (diagnostics, hover with shapes,
    completion, go to definition, outline, formatting, quick fixes)."""
    try:
        import pygls  # noqa: F401
    except ImportError:
        click.echo(f"error: {MISSING}", err=True)
        sys.exit(1)
    from dslc.lsp.server import main

    main(debounce_ms)
