"""`dslc explain`: what a diagnostic code means, with an example and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dslc.cli.common import guard

__all__ = ["explain"]


@click.command()
@click.argument("code", required=False)
def explain(code: str | None) -> None:
    """Explain a diagnostic code (e.g. E0301) with an example; without CODE, list them all."""
    with guard(False):
        _explain(code)


def _explain(code: str | None) -> None:
    from dslc.report.explain import explain_text, listing

    if code is None:
        click.echo(listing(), nl=False)
        return

    def check_weights(analysis: Any, path: Path) -> tuple[Any, ...]:
        from dslc.backend.weights import match, nonfinite, read

        return nonfinite(match(analysis, read(path), path.name), path.name)

    try:
        text = explain_text(code, check_weights)
    except LookupError as exc:
        raise click.BadParameter(str(exc), param_hint="CODE") from None
    click.echo(text, nl=False)
