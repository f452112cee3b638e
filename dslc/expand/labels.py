"""Labels with holes: `"block{i}-{#}": unit(w) * d` names the instances block1-0, block1-1, ...

A hole holds an expression over the names in scope; `#` stands for the index of the instance
in a labelled repetition (0, 1, ...). A label without holes is used as written.
"""

from __future__ import annotations

import re

from dslc.diagnostics import CompileError, DiagnosticError
from dslc.expand.evaluate import Env, Word, describe, evaluate
from dslc.source import SourceFile, Span
from dslc.syntax.parser import parse_expr

__all__ = ["INDEX", "fill", "has_holes"]

INDEX = "__index__"  # what `#` means inside a hole, a name no program needs
_HOLE = re.compile(r"\{([^{}]*)\}")


def has_holes(label: str) -> bool:
    """Whether the label is a pattern to fill in (with `#` in a hole, one name per instance
    of a repetition; without, one name for the element)."""
    return "{" in label


def fill(label: str, env: Env, span: Span, index: int | None) -> str:
    """The label with every hole replaced by its value (a whole number or a word)."""
    return _HOLE.sub(lambda m: _hole(m.group(1), env, span, index), label)


def _hole(text: str, env: Env, span: Span, index: int | None) -> str:
    if "#" in text and index is None:
        raise DiagnosticError(
            "E0105",
            f"'#' in the label {{{text}}} numbers the instances of a repetition",
            span,
            'repeat the element: "name-{#}": block(...) * n',
        )
    try:
        expr = parse_expr(SourceFile("<label>", text.replace("#", INDEX)))
    except CompileError:
        raise DiagnosticError(
            "E0001", f"the label's {{{text}}} is not an expression", span
        ) from None
    names = dict(env.names) if index is None else {**env.names, INDEX: index}
    try:
        value = evaluate(expr, Env(names, env.shape, shape_lost=env.shape_lost))
    except DiagnosticError as exc:  # located in the hole's own text: point at the label
        raise DiagnosticError(exc.code, f"in the label's {{{text}}}: {exc.message}", span) from None
    if isinstance(value, Word):
        return value.text
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DiagnosticError(
            "E0105",
            f"the label's {{{text}}} is {describe(value)}; a label takes whole numbers and names",
            span,
        )
    return str(value)
