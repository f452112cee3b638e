"""A program's header, parameters, inputs and outputs, and the expansion of its body into a graph."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from dslc.diagnostics import AlreadyReported, DiagnosticError, Sink, did_you_mean
from dslc.expand.args import Arg, integer
from dslc.expand.class_labels import check_count, read_labels
from dslc.expand.evaluate import POISON, Env, Value, Word, evaluate
from dslc.expand.expander import Expander
from dslc.expand.imports import ImportRoot, collect_blocks
from dslc.expand.limits import Limits
from dslc.expand.preprocess import read_preprocess
from dslc.expand.scope import Frame, Scope, Tensor
from dslc.ir.dims import Dim, sym
from dslc.ir.graph import Graph
from dslc.ir.shapes import Shapes
from dslc.source import SourceFile, Span
from dslc.syntax import ast
from dslc.syntax.parser import parse

__all__ = ["Expansion", "build_graph"]


@dataclass(frozen=True, slots=True)
class Expansion:
    """What expanding a program gives: the graph, each node's shape (computed once, while
    expanding), and the network's parameter values."""

    graph: Graph
    shapes: Shapes
    params: dict[str, Value]


def build_graph(
    source: SourceFile,
    overrides: dict[str, ast.Expr],
    sink: Sink,
    limits: Limits | None = None,
    program: ast.Program | None = None,
    root: ImportRoot | None = None,
) -> Expansion:
    """Expand a program into an IR graph with every node's shape, reporting every independent
    problem to `sink` (after an error, some shapes are unknown: do not analyse the graph)."""
    program = program or parse(source)
    stack = (str(Path(source.path).resolve()),)
    root = root or ImportRoot.of(source)
    blocks = collect_blocks(program, source, sink, stack, root)
    header = _header(program, source, sink)
    params = _network_params(header, overrides, sink)
    ex = Expander(sink, blocks, params, limits, incomplete=bool(root.failed))
    x = _inputs(program, ex, params, sink, source)
    frame = Frame(Env(params), {})
    scope = Scope("")
    body = [s for s in program.statements if isinstance(s, ast.ChainStmt)]
    if not body and not sink.errors:
        sink.error(
            "E0505",
            "this file has no layers",
            Span(source, 1, 1, 1, 1),
            "write the network's chain after its 'input' line; a file of blocks only "
            "is meant to be imported",
        )
    try:
        for stmt in body:
            x = ex.chain(stmt.chain, x, frame, scope)
    except DiagnosticError as exc:  # a fatal one: nothing after it can be trusted, stop expanding
        sink.report(exc)
        graph = ex.graph(header.name if header else Path(source.path).stem, [], source.text)
        return Expansion(graph, ex.shapes, params)
    outputs = _outputs(program, ex, frame, x, sink)
    name = header.name if header else Path(source.path).stem
    graph = ex.graph(name, outputs, source.text)
    labels, where = read_labels(program, source, root, Env(dict(params)), sink)
    if where is not None:
        check_count(labels, where, [ex.shapes.get(i) for i in graph.outputs], sink)
    pre = read_preprocess(program, ex.inputs, params, sink)
    return Expansion(replace(graph, preprocess=pre, labels=labels), ex.shapes, params)


def _header(program: ast.Program, source: SourceFile, sink: Sink) -> ast.Network | None:
    headers = [s for s in program.statements if isinstance(s, ast.Network)]
    for extra in headers[1:]:
        sink.error(
            "E0506",
            "a file describes one network; this is a second 'network' line",
            extra.span,
            f"the first is at {headers[0].span}",
        )
    return headers[0] if headers else None


def _network_params(
    header: ast.Network | None, overrides: dict[str, ast.Expr], sink: Sink
) -> dict[str, Value]:
    declared = header.params if header else ()
    names = [p.name for p in declared]
    for name in overrides:
        if name not in names:
            sink.error(
                "E0502",
                f"--set {name}: the network has no parameter '{name}'",
                None,
                did_you_mean(name, names)
                or (
                    f"its parameters are: {', '.join(names)}"
                    if names
                    else "this network declares no parameters"
                ),
            )
    values: dict[str, Value] = {}
    for p in declared:
        expr = overrides.get(p.name, p.default)
        if expr is None:
            sink.error(
                "E0503",
                f"parameter '{p.name}' has no default value",
                p.span,
                f"give it one ({p.name} = ...) or pass --set {p.name}=VALUE",
            )
            values[p.name] = POISON
            continue
        try:
            values[p.name] = evaluate(expr, Env(dict(values)))
        except DiagnosticError as exc:
            sink.report(exc)
            values[p.name] = POISON  # reported once, not again at every use
            continue
        except AlreadyReported:
            values[p.name] = POISON
            continue
        value = values[p.name]
        if isinstance(value, Word) and value.text in names and value.text not in values:
            sink.error(
                "E0102",
                f"'{value.text}' is used before it is defined",
                value.span,
                f"a parameter can use only those declared before it; move "
                f"'{value.text}' ahead of '{p.name}'",
            )
            values[p.name] = POISON
    return values


def _inputs(
    program: ast.Program, ex: Expander, params: Mapping[str, Value], sink: Sink, source: SourceFile
) -> Tensor | None:
    first: Tensor | None = None
    for stmt in (s for s in program.statements if isinstance(s, ast.Input)):
        try:
            shape: list[Dim] = [sym("N")]
            for d in _without_batch(stmt, sink):
                shape.append(_dim(d, params))
            t = ex.add_input(stmt, tuple(shape))
            first = first or t
        except DiagnosticError as exc:
            sink.report(exc)
        except AlreadyReported:
            continue
    if first is None and not sink.errors:
        sink.error(
            "E0504",
            "the network has no input",
            Span(source, 1, 1, 1, 1),
            "declare one, e.g. 'input image: 3 x 224 x 224' (H and W may be names "
            "for any size: 'input image: 3 x H x W')",
        )
    return first


BATCH_NAMES = ("N", "B", "n", "b", "batch")


def _without_batch(stmt: ast.Input, sink: Sink) -> tuple[ast.Num | ast.Name, ...]:
    """The dimensions after the batch axis: a PyTorch-style `1 x 3 x H x W` is reported and
    read as `3 x H x W`, so the rest of the program is still checked."""
    first = stmt.dims[0] if len(stmt.dims) == 4 else None
    if (
        isinstance(first, ast.Num)
        and first.value == 1
        or (isinstance(first, ast.Name) and first.id in BATCH_NAMES)
    ):
        rest = " x ".join(_text(d) for d in stmt.dims[1:])
        sink.error(
            "E0507",
            f"input '{stmt.name}' writes out the batch axis: inputs are declared without it",
            stmt.span,
            f"write 'input {stmt.name}: {rest}' (the batch N is implicit and chosen at run time)",
        )
        return stmt.dims[1:]
    return stmt.dims


def _text(d: ast.Num | ast.Name) -> str:
    return str(d.value) if isinstance(d, ast.Num) else d.id


def _dim(d: ast.Num | ast.Name, params: Mapping[str, Value]) -> Dim:
    if isinstance(d, ast.Num):
        return integer(Arg(d.value, d.span), "a dimension")
    if d.id in params:
        if params[d.id] is POISON:
            raise AlreadyReported  # its error is reported: the input's shape is unknown
        return integer(Arg(params[d.id], d.span), f"dimension '{d.id}'")
    return sym(d.id)


def _outputs(
    program: ast.Program, ex: Expander, frame: Frame, last: Tensor | None, sink: Sink
) -> list[tuple[str, Tensor]]:
    stmts = [s for s in program.statements if isinstance(s, ast.Output)]
    if not stmts:
        return [("", last)] if last is not None else []
    out: list[tuple[str, Tensor]] = []
    for stmt in stmts:
        for name in stmt.names:
            t = frame.taps.get(name) or ex.inputs.get(name)
            if any(n == name for n, _ in out):
                sink.error("E0106", f"output '{name}' is listed twice", stmt.span)
            elif t is None:
                sink.error(
                    "E0101",
                    f"output '{name}' names no tensor",
                    stmt.span,
                    did_you_mean(name, list(frame.taps))
                    or "name a tensor with @name after a layer",
                )
            else:
                out.append((name, t))
    return out
