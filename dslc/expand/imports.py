"""Blocks and imports: which blocks a file makes available, and library checks.

The import policy: an import names a relative path to an `.xnet` file; it resolves (symbolic
links followed) against the importing file's folder and must land inside the import root,
the top-level file's folder unless the caller (or $DSLC_IMPORT_ROOT) widens it; only regular files of at most
`limits.source` bytes of UTF-8 text are read, so a FIFO or a device never blocks and no other
file's lines are ever printed. A file imported along two paths (a diamond) is read once and
defines its blocks once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dslc.diagnostics import CompileError, Sink, unreadable
from dslc.source import MAX_SOURCE_BYTES, SourceFile, UnreadableSource
from dslc.syntax import ast
from dslc.syntax.parser import parse

__all__ = ["ROOT_VARIABLE", "ImportRoot", "check_library", "collect_blocks", "is_library"]

ROOT_VARIABLE = "DSLC_IMPORT_ROOT"  # widens the import root for every command


@dataclass(frozen=True, slots=True)
class ImportRoot:
    """Where imports may come from, and the files read so far (by resolved path)."""

    folder: Path
    max_bytes: int = MAX_SOURCE_BYTES
    explicit: bool = False
    loaded: dict[str, dict[str, ast.BlockDef]] = field(default_factory=dict)
    failed: list[ast.Import] = field(default_factory=list)  # imports that made no blocks

    @classmethod
    def of(
        cls, source: SourceFile, folder: str | Path | None = None, max_bytes: int = MAX_SOURCE_BYTES
    ) -> ImportRoot:
        """The root for a top-level file: `folder` if given, else $DSLC_IMPORT_ROOT if set,
        else the file's own folder."""
        folder = folder if folder is not None else os.environ.get(ROOT_VARIABLE) or None
        if folder is not None:
            return cls(Path(folder).resolve(), max_bytes, explicit=True)
        return cls(Path(source.path).parent.resolve(), max_bytes)


def is_library(program: ast.Program) -> bool:
    """A file of blocks (and imports) only: meant to be imported, not compiled."""
    return any(isinstance(s, ast.BlockDef) for s in program.statements) and all(
        isinstance(s, ast.Import | ast.BlockDef) for s in program.statements
    )


def check_library(
    path: str | Path, import_root: str | Path | None = None, max_bytes: int = MAX_SOURCE_BYTES
) -> list[str]:
    """Check a block library: it parses, its imports resolve, no block is defined twice.
    Returns the names of the blocks it makes available; raises CompileError otherwise."""
    try:
        source = SourceFile.read(path, max_bytes)
    except UnreadableSource as exc:
        raise CompileError([unreadable(path, exc)]) from None
    sink = Sink()
    root = ImportRoot.of(source, import_root, max_bytes)
    blocks = collect_blocks(parse(source), source, sink, (str(Path(source.path).resolve()),), root)
    sink.raise_if_errors()
    return list(blocks)


def collect_blocks(
    program: ast.Program,
    source: SourceFile,
    sink: Sink,
    stack: tuple[str, ...],
    root: ImportRoot | None = None,
) -> dict[str, ast.BlockDef]:
    """The blocks a file defines and imports, by name; problems go to `sink`."""
    root = root or ImportRoot.of(source)
    blocks: dict[str, ast.BlockDef] = {}
    for stmt in program.statements:
        if isinstance(stmt, ast.Import):
            errors = len(sink.errors)
            for d in _import(stmt, source, sink, stack, root).values():
                _define(blocks, d, sink)
            if len(sink.errors) > errors:
                root.failed.append(stmt)
        elif isinstance(stmt, ast.BlockDef):
            _define(blocks, stmt, sink)
    return blocks


def _define(blocks: dict[str, ast.BlockDef], d: ast.BlockDef, sink: Sink) -> None:
    from dslc.expand.combinators import RESERVED
    from dslc.expand.layers import lookup

    if blocks.get(d.name) is d:  # the same file reached by two imports: one definition
        return
    if d.name in blocks:
        sink.error(
            "E0106",
            f"block '{d.name}' is defined twice",
            d.span,
            f"the other definition is at {blocks[d.name].span}",
        )
    elif lookup(d.name) is not None or d.name in RESERVED:
        sink.error(
            "E0106",
            f"block '{d.name}' would hide the built-in layer of that name",
            d.span,
            "choose another name",
        )
    seen: set[str] = set()
    for p in d.params:
        if p.name in seen:
            sink.error("E0106", f"parameter '{p.name}' is declared twice", p.span)
        seen.add(p.name)
    blocks.setdefault(d.name, d)


def _import(
    stmt: ast.Import, source: SourceFile, sink: Sink, stack: tuple[str, ...], root: ImportRoot
) -> dict[str, ast.BlockDef]:
    here = Path(source.path).parent
    quoted = f'"{stmt.path}"'
    if Path(stmt.path).is_absolute() or not stmt.path.endswith(".xnet"):
        sink.error(
            "E0405",
            f"cannot import {quoted}: an import names a relative path to an .xnet file",
            stmt.span,
            f"import paths are relative to the importing file's folder ({here.as_posix()}/)",
        )
        return {}
    try:
        path = (here / stmt.path).resolve()
    except (RuntimeError, OSError):  # a symbolic link loop (RuntimeError before Python 3.13)
        sink.error("E0402", f"cannot import {quoted}: it is a symbolic link loop", stmt.span)
        return {}
    if not path.is_relative_to(root.folder):
        sink.error(
            "E0405",
            f"cannot import {quoted}: it lies outside {_shown(root.folder)}, "
            "the folder imports are confined to",
            stmt.span,
            f"set {ROOT_VARIABLE}=DIR to allow imports from anywhere inside DIR"
            if not root.explicit
            else f"choose a wider {ROOT_VARIABLE}",
        )
        return {}
    if str(path) in stack:
        chain = " -> ".join(Path(p).name for p in (*stack[stack.index(str(path)) :], str(path)))
        sink.error("E0403", f"import cycle: {chain}", stmt.span)
        return {}
    if str(path) in root.loaded:
        return root.loaded[str(path)]
    root.loaded[str(path)] = {}  # a file that fails to load is reported once
    try:
        imported = SourceFile.read(here / stmt.path, root.max_bytes)
    except UnreadableSource as exc:
        hint = (
            f"import paths are relative to the importing file's folder ({here.as_posix()}/)"
            if exc.why == "no such file"
            else ""
        )
        sink.error("E0402", f"cannot import {quoted}: {exc.why}", stmt.span, hint)
        return {}
    try:
        program = parse(imported)
    except CompileError as exc:
        sink.items.extend(exc.diagnostics)
        return {}
    for s in program.statements:
        if not isinstance(s, ast.Import | ast.BlockDef):
            sink.error(
                "E0404",
                "an imported file may only define blocks (and import others)",
                s.span,
                f"imported from {stmt.span}",
            )
    blocks = collect_blocks(program, imported, sink, (*stack, str(path)), root)
    root.loaded[str(path)] = blocks
    return blocks


def _shown(folder: Path) -> str:
    """A folder as the user would write it: relative to the working folder when inside it."""
    try:
        rel = folder.relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return folder.as_posix() + "/"
    return rel.as_posix() + "/" if rel.parts else "./"
