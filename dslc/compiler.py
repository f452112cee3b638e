"""The pipeline in one place: source -> AST -> IR graph -> analysis. No onnx here."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

from dslc.diagnostics import CompileError, Diagnostic, DiagnosticError, Sink, unreadable
from dslc.expand.imports import ImportRoot
from dslc.expand.limits import Limits, tensor_too_large
from dslc.expand.program import build_graph
from dslc.ir import dims
from dslc.ir.dims import Dim, Sym
from dslc.ir.graph import Graph
from dslc.ir.ops import InputAttrs, Op
from dslc.ir.shapes import Shapes, node_shape
from dslc.passes import Analysis, analyse
from dslc.passes.sizes import check_given
from dslc.source import SourceFile, UnreadableSource
from dslc.syntax import ast
from dslc.syntax.parser import parse, parse_expr

__all__ = ["compile_file", "compile_source", "fix_sizes", "parse_overrides"]


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
    """Read, check and analyse a .xnet file (or import an .onnx model: dslc.importer); raise
    CompileError listing every problem. Imports must lie inside `import_root`, by default the
    file's own folder."""
    limits = limits or Limits()
    if str(path).lower().endswith((".onnx", ".onnxtxt")):  # an .xnet imports no numerics
        from dslc.importer.model import import_onnx

        return import_onnx(path, limits)
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


def fix_sizes(
    analysis: Analysis, sizes: Mapping[str, int], limits: Limits | None = None
) -> Analysis:
    """The same network with values for symbolic input sizes (`--size H=224,W=224`): numbers
    instead of formulas. Raise SizeError (dslc.passes.sizes) for a name the inputs lack or a
    value the network is not valid for, CompileError for a tensor over the limits."""
    if not sizes:
        return analysis
    check_given(analysis.sizes, dict(sizes), analysis.graph.name)
    graph = _fixed_inputs(analysis.graph, sizes)
    limits = limits or Limits()
    sink = Sink()
    shapes: Shapes = {}
    for node in graph.nodes:  # the sizes are valid: shape inference succeeds (passes.sizes)
        try:
            shapes[node.id] = node_shape(node, [shapes[i] for i in node.inputs])
        except DiagnosticError as exc:
            sink.error(exc.code, exc.message, exc.span or node.span, *exc.hints)
            break
        too_large = tensor_too_large(node.name, shapes[node.id], limits)
        if too_large:
            sink.error("E0605", too_large[0], node.span, too_large[1])
            break
    sink.raise_if_errors()
    fixed = analyse(graph, shapes, analysis.params, limits, sink)
    return dataclasses.replace(fixed, given=(*analysis.given, *sorted(sizes.items())))


def _fixed_inputs(graph: Graph, sizes: Mapping[str, int]) -> Graph:
    """The graph with the inputs' symbolic sizes replaced by their values."""

    def fixed(d: Dim) -> Dim:
        if not isinstance(d, Sym) or any(s not in sizes for m, _ in d.terms for s in m):
            return d
        value: Fraction = dims.substitute(d, dict(sizes))
        return int(value) if value.denominator == 1 else d

    nodes = tuple(
        dataclasses.replace(n, attrs=InputAttrs(tuple(fixed(d) for d in n.attrs.shape)))
        if n.op is Op.INPUT and isinstance(n.attrs, InputAttrs)
        else n
        for n in graph.nodes
    )
    return dataclasses.replace(graph, nodes=nodes)
