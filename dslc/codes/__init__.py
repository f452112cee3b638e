"""Every diagnostic code in one registry, plain data: its severity, title, explanation, an
example that produces it and the fix. The Sink refuses a code that is not here, `dslc explain`
prints these entries, and the tests check that each has a golden case.

Codes: E00 syntax, E01 names and arguments, E02 arithmetic, E03 shapes, E04 blocks and
imports, E05 the program's parts, E06 resource limits, E07 weights files, E08 ONNX models read
by the importer, E09 preprocessing and labels; W07 receptive fields.
"""

from __future__ import annotations

from collections.abc import Mapping

from dslc.codes import language, onnx_import, preprocess, program, shapes, weights
from dslc.codes.entry import CodeEntry, Severity

__all__ = ["BY_CODE", "ENTRIES", "CodeEntry", "Severity", "severity"]

ENTRIES: tuple[CodeEntry, ...] = tuple(
    sorted(
        (
            *language.CODES,
            *shapes.CODES,
            *program.CODES,
            *weights.CODES,
            *onnx_import.CODES,
            *preprocess.CODES,
        ),
        key=lambda e: e.code,
    )
)
BY_CODE: Mapping[str, CodeEntry] = {e.code: e for e in ENTRIES}


def severity(code: str) -> Severity:
    """The severity of a registered code; an AssertionError (a bug in dslc) for any other."""
    found = BY_CODE.get(code)
    if found is None:
        raise AssertionError(f"diagnostic code {code!r} is not registered in dslc.codes")
    return found.severity
