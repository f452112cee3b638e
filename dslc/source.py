"""Source files and locations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SourceFile", "Span"]


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A piece of .xnet text and the name it is reported under."""

    path: str
    text: str

    @classmethod
    def read(cls, path: str | Path) -> SourceFile:
        """Read a file as UTF-8."""
        return cls(str(path), Path(path).read_text(encoding="utf-8"))

    def line(self, n: int) -> str:
        """Return line n (1-based) without its newline, or '' past the end."""
        lines = self.text.splitlines()
        return lines[n - 1] if 0 < n <= len(lines) else ""


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file; end is exclusive. expanded_from links to the call site."""

    source: SourceFile
    line: int
    col: int
    end_line: int
    end_col: int
    expanded_from: Span | None = None
    expansion_note: str = ""

    def __str__(self) -> str:
        return f"{self.source.path}:{self.line}:{self.col}"

    def via(self, site: Span | None, note: str) -> Span:
        """Return this span as seen through an expansion at `site`."""
        if site is None:
            return self
        return Span(self.source, self.line, self.col, self.end_line, self.end_col, site, note)

    def chain(self) -> list[tuple[str, Span]]:
        """Expansion sites from innermost to outermost, each with its note."""
        out: list[tuple[str, Span]] = []
        span: Span | None = self
        while span is not None and span.expanded_from is not None:
            out.append((span.expansion_note, span.expanded_from))
            span = span.expanded_from
        return out
