"""The record of one diagnostic code: what it means, a program that produces it, and its fix.

Plain data: nothing here runs the compiler (dslc.report.explain does, to show the example).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["HEAD", "CodeEntry", "Severity", "Weights", "entry"]

Severity = Literal["error", "warning"]
Weights = tuple[tuple[str, tuple[int, ...], str], ...]  # name, shape, dtype

HEAD = "network example\ninput image: 3 x 32 x 32\n"


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """A diagnostic code: its severity and title, what it means, an example and its fix."""

    code: str
    severity: Severity
    title: str
    explanation: str
    example: str  # an example.xnet that produces the code
    fix: str | None = None  # None where the fix is outside the file (a missing import)
    files: tuple[tuple[str, str], ...] = ()  # other files beside example.xnet
    sets: tuple[str, ...] = ()  # --set options the example is compiled with
    weights: Weights = ()  # the example is compiled with --weights w.npz holding these
    fixed_weights: Weights = ()  # ... and its fix with these
    onnx: bool = False  # example and fix are ONNX text syntax (example.onnxtxt)


def entry(
    code: str,
    title: str,
    explanation: str,
    example: str,
    fix: str | None = None,
    *,
    severity: Severity = "error",
    files: tuple[tuple[str, str], ...] = (),
    sets: tuple[str, ...] = (),
    head: bool = True,
    weights: Weights = (),
    fixed_weights: Weights = (),
    onnx: bool = False,
) -> CodeEntry:
    """An entry whose explanation is joined into one paragraph; `head` puts HEAD before the
    example and the fix."""
    pre = HEAD if head else ""
    return CodeEntry(
        code,
        severity,
        title,
        " ".join(explanation.split()),
        pre + example,
        None if fix is None else pre + fix,
        files,
        sets,
        weights,
        fixed_weights,
        onnx,
    )
