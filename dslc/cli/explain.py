"""`dslc explain`: what a diagnostic code means, with an example and the fix."""

from __future__ import annotations

import click

__all__ = ["explain"]


@click.command()
@click.argument("code", required=False)
def explain(code: str | None) -> None:
    """Explain a diagnostic code (e.g. E0301) with an example; without CODE, list them all."""
    from dslc.codes import BY_CODE, listing, render, run_example

    if code is None:
        click.echo(listing(), nl=False)
        return
    key = code.strip().upper()
    key = key if key.startswith("E") else f"E{key}"
    if key not in BY_CODE:
        from dslc.diagnostics import did_you_mean

        hint = did_you_mean(key, BY_CODE) or "run 'dslc explain' for the list"
        raise click.BadParameter(f"no diagnostic has the code '{code}'; {hint}", param_hint="CODE")
    e = BY_CODE[key]
    click.echo(render(e, run_example(e)[0]), nl=False)
