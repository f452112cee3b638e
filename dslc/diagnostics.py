"""Diagnostics: located errors and warnings, and their rendering with carets."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from dslc.codes import Severity, severity
from dslc.source import SourceFile, Span, UnreadableSource

__all__ = [
    "AlreadyReported",
    "CompileError",
    "Diagnostic",
    "DiagnosticError",
    "Severity",
    "Sink",
    "did_you_mean",
    "unreadable",
]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a program; its code must be registered in dslc.codes."""

    code: str
    message: str
    span: Span | None
    hints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        severity(self.code)  # an unregistered code is a bug in dslc: fail here, loudly

    @property
    def severity(self) -> Severity:
        """Error or warning, as the registry says for the code."""
        return severity(self.code)

    def render(self) -> str:
        """Format as `file:line:col: error[E0101]: message`, source line, carets, help and notes."""
        where = f"{self.span}: " if self.span is not None else ""
        lines = [f"{where}{self.severity}[{self.code}]: {self.message}"]
        if self.span is not None:
            lines.extend(_excerpt(self.span))
        lines.extend(f"help: {h}" for h in self.hints)
        if self.span is not None:
            for note, site in self.span.chain():
                lines.append(f"note: {note} at {site}")
        return "\n".join(lines)


def _excerpt(span: Span) -> list[str]:
    text = span.source.line(span.line)
    if not text and span.line > len(span.source.text.splitlines()):
        return []
    end = span.end_col if span.end_line == span.line else len(text) + 1
    width = max(1, end - span.col)
    gutter = str(span.line)
    pad = " " * len(gutter)
    caret = " " * (span.col - 1) + "^" * width
    return [f"{pad} |", f"{gutter} | {text}", f"{pad} | {caret}"]


class DiagnosticError(Exception):
    """A problem found where it cannot be reported, raised to a caller that reports it to a
    sink and goes on. `fatal`: a limit was hit, so the caller stops instead of going on (and
    on) after the error. A span of None is filled in by the caller (a shape rule knows no
    source)."""

    def __init__(
        self, code: str, message: str, span: Span | None = None, *hints: str, fatal: bool = False
    ) -> None:
        severity(code)  # an unregistered code is a bug in dslc: fail where it is raised
        super().__init__(message)
        self.code, self.message, self.span, self.hints = code, message, span, hints
        self.fatal = fatal


class AlreadyReported(Exception):
    """A consequence of an error already reported (a value that error made unknown): the
    caller gives up on what it was computing and reports nothing more."""


class CompileError(Exception):
    """Raised when a program has errors; carries every diagnostic found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n\n".join(d.render() for d in self.diagnostics))


@dataclass
class Sink:
    """Collects diagnostics so a pass can report a problem and keep going."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, span: Span | None, *hints: str) -> None:
        """Record an error, once per place (a block expanded twice reports its mistake once)."""
        if severity(code) != "error":
            raise AssertionError(f"{code} is registered as a {severity(code)}, not an error")
        key = (code, message, _where(span))
        if any((d.code, d.message, _where(d.span)) == key for d in self.items):
            return
        self.items.append(Diagnostic(code, message, span, tuple(h for h in hints if h)))

    def report(self, exc: DiagnosticError) -> None:
        """Record the error a DiagnosticError carries."""
        self.error(exc.code, exc.message, exc.span, *exc.hints)

    def warning(self, code: str, message: str, span: Span | None, *hints: str) -> None:
        """Record a warning."""
        if severity(code) != "warning":
            raise AssertionError(f"{code} is registered as an {severity(code)}, not a warning")
        self.items.append(Diagnostic(code, message, span, tuple(h for h in hints if h)))

    @property
    def errors(self) -> list[Diagnostic]:
        """The errors so far."""
        return [d for d in self.items if d.severity == "error"]

    def raise_if_errors(self) -> None:
        """Raise CompileError when any error was recorded."""
        if self.errors:
            raise CompileError(self.items)


def _where(span: Span | None) -> tuple[str, int, int] | None:
    return None if span is None else (span.source.path, span.line, span.col)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return a 'did you mean' hint for a misspelt name, or ''."""
    others = sorted(set(candidates) - {name})
    close = difflib.get_close_matches(name, others, n=3, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def unreadable(path: object, exc: UnreadableSource, *hints: str) -> Diagnostic:
    """E0402 for a file that cannot be read as .xnet text, at the bad byte when it has one."""
    span = None
    if exc.at is not None:
        line, col = exc.at
        span = Span(SourceFile(str(path), exc.text), line, col, line, col + 1)
    return Diagnostic("E0402", f"cannot read {path}: {exc.why}", span, hints)
