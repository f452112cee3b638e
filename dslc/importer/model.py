"""An ONNX model into the IR and through every analysis: `dslc summary model.onnx`.

Each ONNX node becomes the IR layer it computes (Conv -> conv, Gemm -> dense, ...), named by
the exporter's module scopes; constants and shape arithmetic are folded away. The model is
listed one node a line (the `source` a diagnostic or a summary row points into).
"""

from __future__ import annotations

import dataclasses
import mmap
import os
import re
import stat
from pathlib import Path

import numpy as np

from dslc.diagnostics import CompileError, Diagnostic, Sink, unreadable
from dslc.expand.limits import Limits
from dslc.importer.consts import (
    SymVec,
    TensorError,
    external_problem,
    fold,
    read_tensor,
    stored_problem,
)
from dslc.importer.elements import ELEMENT_OPS
from dslc.importer.layers import WINDOW_OPS
from dslc.importer.names import module_path, weight_owner
from dslc.importer.opaque import opaque, prune
from dslc.importer.patterns import PATTERN_OPS
from dslc.importer.state import State, Unsupported
from dslc.importer.wellformed import Malformed, printable, sorted_model
from dslc.importer.wire import Model, Node, ValueInfo, WireError, read_model
from dslc.ir.dims import Dim, sym
from dslc.ir.graph import Graph as IRGraph
from dslc.ir.graph import Node as IRNode
from dslc.ir.ops import InputAttrs, Op
from dslc.ir.shapes import Shapes
from dslc.passes import Analysis, analyse
from dslc.source import SourceFile, Span, UnreadableSource

__all__ = [
    "ONNX_SUFFIXES",
    "check_onnx",
    "import_onnx",
    "is_onnx",
    "onnx_graph",
    "onnx_weights",
    "read_onnx",
]

ONNX_SUFFIXES = (".onnx", ".onnxtxt")
OPS = {**WINDOW_OPS, **ELEMENT_OPS, **PATTERN_OPS}


def is_onnx(path: str | Path) -> bool:
    """True for a file the ONNX importer reads (by its suffix)."""
    return str(path).lower().endswith(ONNX_SUFFIXES)


def _load(path: str | Path) -> bytes | mmap.mmap:
    """The file's bytes, mapped: a model's weights are never read, only skipped over."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableSource("it is not a regular file")
        if info.st_size == 0:
            return b""
        with open(path, "rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise CompileError([unreadable(path, UnreadableSource(exc.strerror or str(exc)))]) from None
    except UnreadableSource as exc:
        raise CompileError([unreadable(path, exc)]) from None


def read_onnx(path: str | Path) -> tuple[Model, bytes | mmap.mmap]:
    """The model in an .onnx file (or ONNX text syntax in an .onnxtxt) and its bytes;
    CompileError when it cannot be read or is not one."""
    data = _load(path)
    if str(path).lower().endswith(".onnxtxt"):
        data = _from_text(path, bytes(data))
    try:
        return read_model(data), data
    except WireError as exc:
        raise CompileError(
            [
                Diagnostic(
                    "E0801",
                    f"{path}: not an ONNX model ({exc})",
                    None,
                    ("export it with torch.onnx.export or tf2onnx; dslc reads ONNX models",),
                )
            ]
        ) from None


def _from_text(path: str | Path, data: bytes) -> bytes:
    import onnx.parser  # only for the text syntax

    text = data.decode("utf-8", errors="replace")
    depth = _nesting(text)
    if depth > MAX_TEXT_NESTING:  # onnx's C++ parser recurses: 30,000 deep crashed Python
        why = f"brackets nested {depth} deep (at most {MAX_TEXT_NESTING})"
        raise CompileError([Diagnostic("E0801", f"{path}: not ONNX text syntax: {why}", None)])
    try:
        return bytes(onnx.parser.parse_model(text).SerializeToString())
    except Exception as exc:  # noqa: BLE001 - the parser raises its own error types
        why = str(exc.args[0] if exc.args else exc)
        if why in ("stoi", "stol", "stoll", "stof", "stod"):  # std::out_of_range's text
            why = "a number out of range"
        if isinstance(exc.args[0] if exc.args else None, bytes):
            why = exc.args[0].decode("utf-8", errors="replace")
        at = re.search(r"line: (\d+) column: (\d+)", why)
        expected = re.search(r"Expected .*", why)
        shown = printable(" ".join((expected.group(0) if expected else why).split()), 300)
        message = f"not ONNX text syntax: {shown}"
        shown_text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "\ufffd", text)  # no escapes
        source = SourceFile(str(path), shown_text)
        span = _span(source, int(at.group(1))) if at else None
        message = message if span else f"{path}: {message}"
        raise CompileError([Diagnostic("E0801", message, span)]) from None


def check_onnx(path: str | Path) -> None:
    """Refuse, before ONNX Runtime loads it, a model whose graph it would refuse with a
    less clear message (E0804, E0805, external data it cannot read); bytes the wire reader
    cannot take are left to it."""
    if not str(path).lower().endswith(".onnx"):
        return
    try:
        model = read_model(_load(path))
    except (WireError, CompileError):
        return
    _checked(path, model)
    folder = Path(path).parent
    for t in model.graph.initializers:
        why = external_problem(t, folder)
        if why:
            raise CompileError([_bad_tensor(path, t.name, why)])


MAX_TEXT_NESTING = 256


def _nesting(text: str) -> int:
    """How deep the text's brackets nest."""
    depth = deepest = 0
    for c in text:
        if c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth = max(depth - 1, 0)
    return deepest


def _listing(model: Model) -> tuple[list[str], int]:
    """The model one line per input and node; the first node's line number."""
    lines = [f"input {printable(vi.name)}: {_dims_text(vi)}" for vi in _inputs(model)]
    for n in model.graph.nodes:
        domain = f"{n.domain}." if n.domain not in ("", "ai.onnx") else ""
        name = n.name or (n.outputs[0] if n.outputs else "")
        lines.append(printable(f"{domain}{n.op_type} {name}", 400))
    return lines, len(lines) - len(model.graph.nodes) + 1


def _inputs(model: Model) -> list[ValueInfo]:
    inits = {t.name for t in model.graph.initializers}
    return [vi for vi in model.graph.inputs if vi.name not in inits]


def _dims_text(vi: ValueInfo) -> str:
    return " x ".join("?" if d is None else printable(str(d), 40) for d in vi.dims or ())


def _line(first: int, index: int | None) -> int:
    return 1 if index is None else first + index


def _span(source: SourceFile, line: int, lines: list[str] | None = None) -> Span:
    """Line `line` (from 1) whole; `lines` (the source's lines) spares splitting the source
    again, which made a model of many nodes take quadratic time."""
    text = lines[line - 1] if lines is not None and 0 < line <= len(lines) else source.line(line)
    return Span(source, line, 1, line, len(text) + 1)


def _containers(model: Model) -> set[str]:
    """Module paths that hold other modules (BasicBlock `layer1.0`, not `layer1.0.conv1`)."""
    paths: set[str] = set()
    for n in model.graph.nodes:
        found = module_path(n)
        if found and found[0]:
            paths.add(found[0])
        for i in n.inputs[1:2]:
            owner = weight_owner(i)
            if owner:
                paths.add(owner)
    out: set[str] = set()
    for p in paths:
        parts = p.split(".")
        out.update(".".join(parts[:k]) for k in range(1, len(parts)))
    return out


def _input_dims(vi: ValueInfo) -> tuple[Dim, ...] | None:
    if not vi.dims or len(vi.dims) < 2:
        return None
    out: list[Dim] = [sym("N")]  # the batch is symbolic, whatever the file fixed it to
    for d in vi.dims[1:]:
        if isinstance(d, int) and d > 0:
            out.append(d)
        elif isinstance(d, str) and re.fullmatch(r"[A-Za-z_]\w*", d) and d != "N":
            out.append(sym(d))
        else:
            return None
    return tuple(out)


def import_onnx(path: str | Path, limits: Limits | None = None) -> Analysis:
    """Read an ONNX model and analyse it as dslc analyses a network; CompileError when
    nothing can be analysed, else an Analysis whose warnings hold every node left opaque."""
    st, graph, shapes = _build(path)
    analysis = analyse(graph, shapes, {}, limits or Limits(), Sink())
    # E0802s ride with the warnings: the analysis of everything else is still worth showing
    return dataclasses.replace(analysis, warnings=(*st.sink.items, *analysis.warnings))


def onnx_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The model's stored weights under the names its layers have in dslc (MatMul and
    Gemm weights turned to dslc's out x in), for `dslc weights MODEL.onnx --save W`."""
    st, _, _ = _build(path)
    out: dict[str, np.ndarray] = {}
    for name, (tensor, transposed) in st.weight_names.items():
        v = st.values.get(tensor)
        if v is None and tensor in st.inits:
            try:
                v = read_tensor(st.inits[tensor], st.folder)
            except TensorError as exc:
                raise CompileError([_bad_tensor(path, tensor, str(exc))]) from None
        if isinstance(v, np.ndarray):
            out[name] = np.ascontiguousarray(v.T if transposed else v, dtype=np.float32)
    return out


def _bad_tensor(path: str | Path, name: str, why: str, span: Span | None = None) -> Diagnostic:
    return Diagnostic(
        "E0805",
        f"{'' if span else f'{path}: '}stored tensor '{printable(name)}' cannot be read: {why}",
        span,
        ("export the model again; keep an external data file in the model's folder",),
    )


def _checked(path: str | Path, model: Model) -> Model:
    """The model with its nodes in order; E0804 for a graph ONNX Runtime would not run, and
    E0805 for stored data that does not fit its dims (each at the line of the node at fault,
    or of the first node reading the tensor)."""
    lines, first = _listing(model)
    source = SourceFile(str(path), "\n".join(lines) + "\n")
    try:
        checked = sorted_model(model)
    except Malformed as exc:
        message = f"not a graph ONNX Runtime would run: {exc}"
        hint = "check it with onnx.checker.check_model(onnx.load(FILE), full_check=True)"
        raise CompileError(
            [Diagnostic("E0804", message, _span(source, _line(first, exc.index), lines), (hint,))]
        ) from None
    bad = [(t.name, why) for t in model.graph.initializers if (why := stored_problem(t))]
    if bad:
        readers: dict[str, int] = {}
        for k, n in reversed(list(enumerate(model.graph.nodes))):
            readers.update({i: k for i in n.inputs})
        raise CompileError(
            [
                _bad_tensor(path, name, why, _span(source, first + readers.get(name, 0), lines))
                for name, why in bad[:10]
            ]
        )
    return checked


def _network_only(model: Model) -> Model:
    """A model dslc compiled with its input's preprocessing in the graph (nodes named
    `INPUT.pre.*`) read as the network it declared: the input is the pipeline's last tensor,
    with the shape dslc recorded for it, under the input's name."""
    if model.producer != "dslc":
        return model
    names = {vi.name for vi in model.graph.inputs}
    pre = [
        n for n in model.graph.nodes if n.name.split(".pre.", 1)[0] in names and ".pre." in n.name
    ]
    if not pre:
        return model
    made = {o: n.name.split(".pre.", 1)[0] for n in pre for o in n.outputs}
    rest = [
        n
        for n in model.graph.nodes
        if n.name.split(".pre.", 1)[0] not in names or ".pre." not in n.name
    ]
    fed = {i: made[i] for n in rest for i in n.inputs if i in made}
    infos = {vi.name: vi for vi in model.graph.value_info}
    if len(set(fed.values())) != len(fed) or any(t not in infos for t in fed):
        return model  # not the form dslc writes: read every node as it is
    inputs = [vi for vi in model.graph.inputs if vi.name not in fed.values()]
    inputs += [dataclasses.replace(infos[t], name=name) for t, name in fed.items()]
    # the Identity that hands the pipeline's tensor to the network is the input itself
    handed = {
        n.outputs[0]: n.inputs[0] for n in rest if n.op_type == "Identity" and n.inputs[0] in fed
    }
    rest = [n for n in rest if not (n.op_type == "Identity" and n.inputs[0] in fed)]
    rename = {**fed, **{out: fed[t] for out, t in handed.items()}}
    for n in rest:
        n.inputs = [rename.get(i, i) for i in n.inputs]
    graph = dataclasses.replace(model.graph, nodes=rest, inputs=inputs)
    return dataclasses.replace(model, graph=graph)


def onnx_graph(path: str | Path) -> IRGraph:
    """The model's IR graph, as the importer builds it (for `dslc decompile`)."""
    return _build(path)[1]


def _build(path: str | Path) -> tuple[State, IRGraph, Shapes]:
    model, raw = read_onnx(path)
    model = _network_only(_checked(path, model))
    lines, first = _listing(model)
    source = SourceFile(str(path), "\n".join(lines) + "\n")
    st = State(source, Path(path).parent, Sink(), {t.name: t for t in model.graph.initializers})
    st.containers, st.raw = _containers(model), raw
    for k, vi in enumerate(_inputs(model)):
        shape = _input_dims(vi)
        span = _span(source, k + 1, lines)
        if shape is None:
            raise CompileError(
                [
                    Diagnostic(
                        "E0803",
                        f"input '{printable(vi.name)}' has no usable shape ({_dims_text(vi) or 'none'})",
                        span,
                        ("export with a fixed example input: N x C x H x W",),
                    )
                ]
            )
        node = Node("Input", "", vi.name, [], [vi.name])
        st.emit(Op.INPUT, InputAttrs(shape), [], node, span)
        st.nodes[-1] = _renamed(st.nodes[-1], vi.name)
    for k, node in enumerate(model.graph.nodes):
        span = _span(source, first + k, lines)
        try:
            _convert(st, model, node, span)
        except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError):
            opaque(st, model, node, span, "its inputs or attributes are not what the op takes")
    graph, shapes = prune(st, model, Path(path).stem)
    return st, graph, shapes


def _renamed(node: IRNode, name: str) -> IRNode:
    return dataclasses.replace(node, name=name)


def _convert(st: State, model: Model, node: Node, span: Span) -> None:
    """One ONNX node: folded when its inputs are constants, else mapped to IR layers."""
    if node.op_type == "Shape" and node.inputs[0] in st.tensors:
        shape = st.shape_of(node.inputs[0])
        start = node.attrs["start"].i if "start" in node.attrs else 0
        end = node.attrs["end"].i if "end" in node.attrs else None
        st.values[node.outputs[0]] = SymVec(tuple(shape[start:end]))
        return
    ins = [n for n in node.inputs if n]
    if node.op_type == "Identity" and ins and ins[0] in st.inits:
        st.inits[node.outputs[0]] = st.inits[ins[0]]  # an exporter's shared copy of a weight
        return
    if node.op_type == "CastLike" and st.is_const(ins[0]) and ins[1] in st.tensors:
        v = st.value(ins[0])  # a constant cast like an activation: dslc computes in float32
        if isinstance(v, np.ndarray):
            st.values[node.outputs[0]] = v.astype(np.float32)
            return
    if any(n in st.unknown for n in ins):
        opaque(st, model, node, span, "")
        return
    if node.domain in ("", "ai.onnx") and all(st.is_const(n) for n in ins):
        v = fold(node, [st.value(n) for n in node.inputs if n], st.folder)
        if v is not None:
            st.values[node.outputs[0]] = v
            return
    handler = OPS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    try:
        if handler is None:
            raise Unsupported("dslc has no layer for this op")
        handler(st, node, span)
    except Unsupported as exc:
        opaque(st, model, node, span, str(exc))
