"""Blocks and imports: which blocks a file makes available, and library checks."""

from __future__ import annotations

from pathlib import Path

from dslc.diagnostics import CompileError, Diagnostic, Sink
from dslc.source import SourceFile
from dslc.syntax import ast
from dslc.syntax.parser import parse

__all__ = ["check_library", "collect_blocks", "is_library"]


def is_library(program: ast.Program) -> bool:
    """A file of blocks (and imports) only: meant to be imported, not compiled."""
    return any(isinstance(s, ast.BlockDef) for s in program.statements) and all(
        isinstance(s, ast.Import | ast.BlockDef) for s in program.statements
    )


def check_library(path: str | Path) -> list[str]:
    """Check a block library: it parses, its imports resolve, no block is defined twice.
    Returns the names of the blocks it makes available; raises CompileError otherwise."""
    try:
        source = SourceFile.read(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CompileError(
            [
                Diagnostic(
                    "E0402", f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}", None
                )
            ]
        ) from None
    sink = Sink()
    blocks = collect_blocks(parse(source), source, sink, (str(Path(source.path).resolve()),))
    sink.raise_if_errors()
    return list(blocks)


def collect_blocks(
    program: ast.Program, source: SourceFile, sink: Sink, stack: tuple[str, ...]
) -> dict[str, ast.BlockDef]:
    """The blocks a file defines and imports, by name; problems go to `sink`."""
    blocks: dict[str, ast.BlockDef] = {}
    for stmt in program.statements:
        if isinstance(stmt, ast.Import):
            for d in _import(stmt, source, sink, stack).values():
                _define(blocks, d, sink)
        elif isinstance(stmt, ast.BlockDef):
            _define(blocks, stmt, sink)
    return blocks


def _define(blocks: dict[str, ast.BlockDef], d: ast.BlockDef, sink: Sink) -> None:
    from dslc.expand.combinators import RESERVED
    from dslc.expand.layers import lookup

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
    stmt: ast.Import, source: SourceFile, sink: Sink, stack: tuple[str, ...]
) -> dict[str, ast.BlockDef]:
    path = (Path(source.path).parent / stmt.path).resolve()
    if str(path) in stack:
        chain = " -> ".join(Path(p).name for p in (*stack[stack.index(str(path)) :], str(path)))
        sink.error("E0403", f"import cycle: {chain}", stmt.span)
        return {}
    try:
        imported = SourceFile(
            str(Path(source.path).parent / stmt.path), path.read_text(encoding="utf-8")
        )
    except UnicodeDecodeError:
        sink.error("E0402", f'cannot import "{stmt.path}": it is not UTF-8 text', stmt.span)
        return {}
    except OSError:
        where = Path(source.path).parent.as_posix()
        sink.error(
            "E0402",
            f'cannot import "{stmt.path}": no such file',
            stmt.span,
            f"import paths are relative to the importing file's folder ({where}/)",
        )
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
    return collect_blocks(program, imported, sink, (*stack, str(path)))
