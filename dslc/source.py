"""Source files and locations."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MAX_SOURCE_BYTES", "SourceFile", "Span", "UnreadableSource"]

MAX_SOURCE_BYTES = 2**20  # no hand-written network comes near; parsing 1 MiB takes seconds


class UnreadableSource(Exception):
    """A file that is not .xnet text: missing, not a regular file, too large, binary or not
    UTF-8. `at` is the (line, col) of the first undecodable byte, with the text decoded with
    replacement characters, when the problem has a place."""

    def __init__(self, why: str, at: tuple[int, int] | None = None, text: str = "") -> None:
        super().__init__(why)
        self.why, self.at, self.text = why, at, text


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A piece of .xnet text and the name it is reported under. The text is kept as a file
    read from disk gives it, whether it came from one or from the API: a leading BOM is
    dropped and CR LF and lone CR become LF, so columns and excerpts never count a CR."""

    path: str
    text: str

    def __post_init__(self) -> None:
        if "\r" in self.text or self.text.startswith("\ufeff"):
            object.__setattr__(self, "text", _newlines(self.text.removeprefix("\ufeff")))

    @classmethod
    def read(cls, path: str | Path, max_bytes: int = MAX_SOURCE_BYTES) -> SourceFile:
        """Read a regular file of UTF-8 text (a BOM is dropped; CR LF and lone CR end lines
        as LF does). Raise UnreadableSource for anything else: a FIFO or device is refused
        before it is opened, so nothing blocks, and no more than max_bytes are read."""
        return cls(str(path), _decode(_read_bytes(Path(path), max_bytes)))

    def line(self, n: int) -> str:
        """Return line n (1-based) without its newline, or '' past the end. Lines end at LF
        only, as the parser counts them (a form feed or vertical tab is not a line break)."""
        lines = self.text.split("\n")
        return lines[n - 1].removesuffix("\r") if 0 < n <= len(lines) else ""


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableSource(_kind(info.st_mode))
        if info.st_size > max_bytes:
            raise UnreadableSource(_too_large(info.st_size, max_bytes))
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, opening it
        # does not wait for a writer; fstat below then refuses it
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except RuntimeError:  # Python 3.11's resolve() of a symlink loop
        raise UnreadableSource("it is a symbolic link loop") from None
    except OSError as exc:
        raise UnreadableSource(_os_reason(exc)) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnreadableSource("it is not a regular file")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnreadableSource(_too_large(len(data), max_bytes))
    return data


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a regular file"
    return "it is not a regular file"


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"it is {size:,} bytes, more than the {max_bytes:,} an .xnet file may have "
        "(raise it with --limit source=...)"
    )


def _os_reason(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return "it is a symbolic link loop"
    if exc.errno == errno.ENOENT:
        return "no such file"
    return (exc.strerror or str(exc)).lower() if exc.strerror else str(exc)


def _decode(data: bytes) -> str:
    if b"\0" in data:
        raise UnreadableSource("it is a binary file (it holds NUL bytes), not .xnet text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        shown = data.decode("utf-8-sig", errors="replace")
        before = data[: exc.start].decode("utf-8-sig", errors="replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        raise UnreadableSource(
            f"it is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, column {col})",
            (line, col),
            _newlines(shown),
        ) from None
    return _newlines(text)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


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
