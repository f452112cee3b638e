"""The pipeline in one place: source -> AST -> IR graph -> analysis. No onnx here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dslc.diagnostics import CompileError, Diagnostic, Sink, unreadable
from dslc.expand.imports import ImportRoot
from dslc.expand.limits import Limits
from dslc.expand.program import build_graph
from dslc.passes import Analysis, analyse
from dslc.source import SourceFile, UnreadableSource
from dslc.syntax import ast
from dslc.syntax.parser import parse, parse_expr

__all__ = ["compile_file", "compile_source", "parse_overrides"]


def parse_overrides(pairs: list[str]) -> dict[str, ast.Expr]:
    """`name=value` strings from --set, parsed as .xnet expressions."""
    out: dict[str, ast.Expr] = {}
    for pair in pairs:
        name, eq, text = pair.partition("=")
        if not eq or not name.strip().isidentifier():
            raise CompileError([Diagnostic("E0502", f"--set takes NAME=VALUE, got '{pair}'", None)])
        out[name.strip()] = parse_expr(SourceFile("--set", text.strip()))
    return out


def compile_file(
    path: str | Path,
    overrides: Mapping[str, ast.Expr] | None = None,
    limits: Limits | None = None,
    import_root: str | Path | None = None,
) -> Analysis:
    """Read, check and analyse a .xnet file; raise CompileError listing every problem.
    Imports must lie inside `import_root`, by default the file's own folder."""
    limits = limits or Limits()
    try:
        source = SourceFile.read(path, limits.source)
    except UnreadableSource as exc:
        raise CompileError([unreadable(path, exc)]) from None
    return compile_source(source, overrides, limits, import_root)


def compile_source(
    source: SourceFile,
    overrides: Mapping[str, ast.Expr] | None = None,
    limits: Limits | None = None,
    import_root: str | Path | None = None,
) -> Analysis:
    """Check and analyse .xnet text; imports must lie inside `import_root`, by default the
    folder of `source.path`."""
    sink = Sink()
    limits = limits or Limits()
    program = parse(source)
    root = ImportRoot.of(source, import_root, limits.source)
    expansion = build_graph(source, dict(overrides or {}), sink, limits, program, root)
    if any(d.code == "E0305" for d in sink.errors):
        from dslc.expand.collapse import smallest_input_hint

        smallest_input_hint(program, source, dict(overrides or {}), sink, limits, root)
    sink.raise_if_errors()
    return analyse(expansion.graph, expansion.shapes, expansion.params, limits, sink)
