"""The pipeline in one place: source -> AST -> IR graph -> analysis. No onnx here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dslc import ast
from dslc.args import Arg, integer
from dslc.diagnostics import CompileError, Diagnostic, Sink, did_you_mean
from dslc.dims import Dim, sym
from dslc.evaluate import POISON, Env, EvalError, Value, Word, evaluate
from dslc.expand import Expander, Frame, Scope, Tensor, TooLarge
from dslc.ir import Graph
from dslc.limits import Limits, check_limits
from dslc.parser import parse, parse_expr
from dslc.passes.cost import Costs, count_costs
from dslc.passes.receptive_field import RFs, alignment_warnings, receptive_fields
from dslc.passes.shapes import Shapes, infer_shapes
from dslc.source import SourceFile, Span


@dataclass(frozen=True, slots=True)
class Analysis:
    """A checked graph and everything the passes found out about it."""

    graph: Graph
    shapes: Shapes
    costs: Costs
    rfs: RFs
    params: Mapping[str, Value]
    warnings: tuple[Diagnostic, ...]


def parse_overrides(pairs: list[str]) -> dict[str, ast.Expr]:
    """`name=value` strings from --set, parsed as .xnet expressions."""
    out: dict[str, ast.Expr] = {}
    for pair in pairs:
        name, eq, text = pair.partition("=")
        if not eq or not name.strip().isidentifier():
            raise CompileError([Diagnostic("E0502", f"--set takes NAME=VALUE, got '{pair}'",
                                           None)])
        out[name.strip()] = parse_expr(SourceFile("--set", text.strip()))
    return out


def compile_file(path: str | Path, overrides: Mapping[str, ast.Expr] | None = None,
                 limits: Limits | None = None) -> Analysis:
    """Read, check and analyse a .xnet file; raise CompileError listing every problem."""
    try:
        source = SourceFile.read(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CompileError([Diagnostic("E0402", f"cannot read {path}: "
                                       f"{getattr(exc, 'strerror', None) or exc}", None)]) from None
    return compile_source(source, overrides, limits)


def compile_source(source: SourceFile, overrides: Mapping[str, ast.Expr] | None = None,
                   limits: Limits | None = None) -> Analysis:
    """Check and analyse .xnet text."""
    sink = Sink()
    limits = limits or Limits()
    program = parse(source)
    graph, params = build_graph(source, dict(overrides or {}), sink, limits, program)
    if any(d.code == "E0305" for d in sink.errors):
        from dslc.collapse import smallest_input_hint
        smallest_input_hint(program, source, dict(overrides or {}), sink, limits)
    sink.raise_if_errors()
    shapes = infer_shapes(graph)
    costs = count_costs(graph, shapes)
    check_limits(graph, costs, limits, sink)
    sink.raise_if_errors()
    rfs = receptive_fields(graph, shapes)
    warnings = (*sink.items, *alignment_warnings(graph, rfs))
    return Analysis(graph, shapes, costs, rfs, params, warnings)


def is_library(program: ast.Program) -> bool:
    """A file of blocks (and imports) only: meant to be imported, not compiled."""
    return any(isinstance(s, ast.BlockDef) for s in program.statements) and all(
        isinstance(s, ast.Import | ast.BlockDef) for s in program.statements)


def check_library(path: str | Path) -> list[str]:
    """Check a block library: it parses, its imports resolve, no block is defined twice.
    Returns the names of the blocks it makes available; raises CompileError otherwise."""
    try:
        source = SourceFile.read(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CompileError([Diagnostic("E0402", f"cannot read {path}: "
                                       f"{getattr(exc, 'strerror', None) or exc}", None)]) from None
    sink = Sink()
    blocks = _collect_blocks(parse(source), source, sink, (str(Path(source.path).resolve()),))
    sink.raise_if_errors()
    return list(blocks)


def build_graph(source: SourceFile, overrides: dict[str, ast.Expr], sink: Sink,
                limits: Limits | None = None, program: ast.Program | None = None
                ) -> tuple[Graph, dict[str, Value]]:
    """Expand a program into an IR graph, reporting every independent problem to `sink`."""
    program = program or parse(source)
    blocks = _collect_blocks(program, source, sink, (str(Path(source.path).resolve()),))
    header = _header(program, source, sink)
    params = _network_params(header, overrides, sink)
    ex = Expander(sink, blocks, params, limits)
    x = _inputs(program, ex, params, sink, source)
    frame = Frame(Env(params), {})
    scope = Scope("")
    body = [s for s in program.statements if isinstance(s, ast.ChainStmt)]
    if not body and not sink.errors:
        sink.error("E0505", "this file has no layers", Span(source, 1, 1, 1, 1),
                   "write the network's chain after its 'input' line; a file of blocks only "
                   "is meant to be imported")
    try:
        for stmt in body:
            x = ex.chain(stmt.chain, x, frame, scope)
    except TooLarge as exc:  # nothing after it can be trusted: stop expanding
        sink.error(exc.code, exc.message, exc.span, *exc.hints)
        return ex.graph(header.name if header else Path(source.path).stem, [], source.text), params
    outputs = _outputs(program, ex, frame, x, sink)
    name = header.name if header else Path(source.path).stem
    return ex.graph(name, outputs, source.text), params


def _header(program: ast.Program, source: SourceFile, sink: Sink) -> ast.Network | None:
    headers = [s for s in program.statements if isinstance(s, ast.Network)]
    for extra in headers[1:]:
        sink.error("E0506", "a file describes one network; this is a second 'network' line",
                   extra.span, f"the first is at {headers[0].span}")
    return headers[0] if headers else None


def _network_params(header: ast.Network | None, overrides: dict[str, ast.Expr],
                    sink: Sink) -> dict[str, Value]:
    declared = header.params if header else ()
    names = [p.name for p in declared]
    for name in overrides:
        if name not in names:
            sink.error("E0502", f"--set {name}: the network has no parameter '{name}'", None,
                       did_you_mean(name, names) or
                       (f"its parameters are: {', '.join(names)}" if names else
                        "this network declares no parameters"))
    values: dict[str, Value] = {}
    for p in declared:
        expr = overrides.get(p.name, p.default)
        if expr is None:
            sink.error("E0503", f"parameter '{p.name}' has no default value", p.span,
                       f"give it one ({p.name} = ...) or pass --set {p.name}=VALUE")
            values[p.name] = POISON
            continue
        try:
            values[p.name] = evaluate(expr, Env(dict(values)))
        except EvalError as exc:
            sink.error(exc.code, exc.message, exc.span, *exc.hints)
            values[p.name] = POISON  # reported once, not again at every use
            continue
        value = values[p.name]
        if isinstance(value, Word) and value.text in names and value.text not in values:
            sink.error("E0102", f"'{value.text}' is used before it is defined", value.span,
                       f"a parameter can use only those declared before it; move "
                       f"'{value.text}' ahead of '{p.name}'")
            values[p.name] = POISON
    return values


def _inputs(program: ast.Program, ex: Expander, params: Mapping[str, Value], sink: Sink,
            source: SourceFile) -> Tensor | None:
    first: Tensor | None = None
    for stmt in (s for s in program.statements if isinstance(s, ast.Input)):
        try:
            shape: list[Dim] = [sym("N")]
            for d in stmt.dims:
                shape.append(_dim(d, params))
            t = ex.add_input(stmt, tuple(shape))
            first = first or t
        except EvalError as exc:
            sink.error(exc.code, exc.message, exc.span, *exc.hints)
    if first is None and not sink.errors:
        sink.error("E0504", "the network has no input", Span(source, 1, 1, 1, 1),
                   "declare one, e.g. 'input image: 3 x 224 x 224' (H and W may be names "
                   "for any size: 'input image: 3 x H x W')")
    return first


def _dim(d: ast.Num | ast.Name, params: Mapping[str, Value]) -> Dim:
    if isinstance(d, ast.Num):
        return integer(Arg(d.value, d.span), "a dimension")
    if d.id in params:
        return integer(Arg(params[d.id], d.span), f"dimension '{d.id}'")
    return sym(d.id)


def _outputs(program: ast.Program, ex: Expander, frame: Frame, last: Tensor | None,
             sink: Sink) -> list[tuple[str, Tensor]]:
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
                sink.error("E0101", f"output '{name}' names no tensor", stmt.span,
                           did_you_mean(name, list(frame.taps)) or
                           "name a tensor with @name after a layer")
            else:
                out.append((name, t))
    return out


def _collect_blocks(program: ast.Program, source: SourceFile, sink: Sink,
                    stack: tuple[str, ...]) -> dict[str, ast.BlockDef]:
    blocks: dict[str, ast.BlockDef] = {}
    for stmt in program.statements:
        if isinstance(stmt, ast.Import):
            for d in _import(stmt, source, sink, stack).values():
                _define(blocks, d, sink)
        elif isinstance(stmt, ast.BlockDef):
            _define(blocks, stmt, sink)
    return blocks


def _define(blocks: dict[str, ast.BlockDef], d: ast.BlockDef, sink: Sink) -> None:
    from dslc.layers import lookup
    if d.name in blocks:
        sink.error("E0106", f"block '{d.name}' is defined twice", d.span,
                   f"the other definition is at {blocks[d.name].span}")
    elif lookup(d.name) is not None or d.name in ("residual", "concat", "add", "project"):
        sink.error("E0106", f"block '{d.name}' would hide the built-in layer of that name",
                   d.span, "choose another name")
    seen: set[str] = set()
    for p in d.params:
        if p.name in seen:
            sink.error("E0106", f"parameter '{p.name}' is declared twice", p.span)
        seen.add(p.name)
    blocks.setdefault(d.name, d)


def _import(stmt: ast.Import, source: SourceFile, sink: Sink, stack: tuple[str, ...]
            ) -> dict[str, ast.BlockDef]:
    path = (Path(source.path).parent / stmt.path).resolve()
    if str(path) in stack:
        chain = " -> ".join(Path(p).name for p in (*stack[stack.index(str(path)):], str(path)))
        sink.error("E0403", f"import cycle: {chain}", stmt.span)
        return {}
    try:
        imported = SourceFile(str(Path(source.path).parent / stmt.path),
                              path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        sink.error("E0402", f"cannot import \"{stmt.path}\": it is not UTF-8 text", stmt.span)
        return {}
    except OSError:
        where = Path(source.path).parent.as_posix()
        sink.error("E0402", f"cannot import \"{stmt.path}\": no such file", stmt.span,
                   f"import paths are relative to the importing file's folder ({where}/)")
        return {}
    try:
        program = parse(imported)
    except CompileError as exc:
        sink.items.extend(exc.diagnostics)
        return {}
    for s in program.statements:
        if not isinstance(s, ast.Import | ast.BlockDef):
            sink.error("E0404", "an imported file may only define blocks (and import others)",
                       s.span, f"imported from {stmt.span}")
    return _collect_blocks(program, imported, sink, (*stack, str(path)))
