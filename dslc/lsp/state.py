"""One editor buffer checked: its diagnostics, its syntax tree and blocks in scope, and the
analysis when it compiles. No pygls here, so the bench and the server share it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dslc.compiler import compile_source
from dslc.diagnostics import CompileError, Diagnostic, Sink
from dslc.expand.imports import ImportRoot, collect_blocks, is_library
from dslc.passes import Analysis
from dslc.source import MAX_SOURCE_BYTES, SourceFile, Span
from dslc.syntax import ast
from dslc.syntax.parser import parse

__all__ = ["Checked", "check_text", "norm", "scope_of"]


def norm(path: str) -> str:
    """A path as diagnostics and the editor should both name it (`lib/../x.xnet` → `x.xnet`)."""
    return os.path.normpath(os.path.abspath(path))


@dataclass(frozen=True, slots=True)
class Checked:
    """What the compiler says about one version of a buffer.

    `program` is the buffer's syntax tree (None when it does not parse); `blocks` the blocks in
    scope, imported ones included; `analysis` is None unless the whole network compiles."""

    source: SourceFile
    version: int
    diagnostics: tuple[Diagnostic, ...]
    program: ast.Program | None = None
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)
    analysis: Analysis | None = None
    imports: dict[str, str] = field(default_factory=dict)  # import text -> resolved path

    @property
    def library(self) -> bool:
        """A file of blocks only: checked as a library, not compiled."""
        return self.program is not None and is_library(self.program)


def check_text(path: str, text: str, version: int = 0) -> Checked:
    """Check a buffer's text as `dslc check` checks the file (imports read from disk, parsed
    once per process while unchanged: the parser caches by path and text)."""
    source = SourceFile(norm(path), text.replace("\r\n", "\n").replace("\r", "\n"))
    too_large = _too_large(source)
    if too_large is not None:
        return Checked(source, version, (too_large,))
    try:
        program = parse(source)
    except CompileError as exc:
        return Checked(source, version, exc.diagnostics)
    sink = Sink()
    root = ImportRoot.of(source, None)
    blocks = collect_blocks(program, source, sink, (str(Path(source.path).resolve()),), root)
    imports = _imports(program, source)
    if is_library(program):
        return Checked(source, version, tuple(sink.items), program, blocks, None, imports)
    try:
        analysis = compile_source(source)
    except CompileError as exc:
        return Checked(source, version, exc.diagnostics, program, blocks, None, imports)
    return Checked(source, version, analysis.warnings, program, blocks, analysis, imports)


def _too_large(source: SourceFile) -> Diagnostic | None:
    """A buffer past the size `dslc check` reads is refused as the file would be (parsing a
    5 MB buffer held the server for minutes), at its first character."""
    size = len(source.text.encode("utf-8"))
    if size <= MAX_SOURCE_BYTES:
        return None
    return Diagnostic(
        "E0402",
        f"cannot read {source.path}: it is {size:,} bytes, more than the "
        f"{MAX_SOURCE_BYTES:,} an .xnet file may have (dslc check refuses it too)",
        Span(source, 1, 1, 1, 2),
    )


def _imports(program: ast.Program, source: SourceFile) -> dict[str, str]:
    here = Path(source.path).parent
    return {
        s.path: norm(str(here / s.path)) for s in program.statements if isinstance(s, ast.Import)
    }


def scope_of(path: str, text: str, line: int) -> Checked | None:
    """The names in scope of a buffer being typed (it may not parse): its syntax tree and
    blocks, from the text as it is, else with the 0-based line cut at its last `->`, else
    without that line. None when none of them parses."""
    if len(text.encode("utf-8")) > MAX_SOURCE_BYTES:
        return None
    lines = text.split("\n")
    tries = [text]
    if 0 <= line < len(lines):
        cut = lines[line].rpartition("->")[0]
        tries.append("\n".join([*lines[:line], cut, *lines[line + 1 :]]))
        tries.append("\n".join([*lines[:line], *lines[line + 1 :]]))
    for attempt in tries:
        source = SourceFile(norm(path), attempt)
        try:
            program = parse(source)
        except CompileError:
            continue
        root = ImportRoot.of(source, None)
        stack = (str(Path(source.path).resolve()),)
        blocks = collect_blocks(program, source, Sink(), stack, root)
        return Checked(source, -1, (), program, blocks, None, _imports(program, source))
    return None
