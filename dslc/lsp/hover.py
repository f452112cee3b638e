"""Hover text: what the analysis knows about the layer, block call or combinator under the
cursor (per instance), a block's signature and doc comment, a diagnostic code's explanation."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dslc.ir import dims
from dslc.ir.dims import Dim
from dslc.ir.graph import Node
from dslc.ir.shapes import show
from dslc.lsp.state import Checked, norm
from dslc.lsp.where import at, block_doc, word_at
from dslc.passes import Analysis
from dslc.passes.receptive_field import RF
from dslc.source import Span
from dslc.syntax import ast
from dslc.syntax.format import format_expr
from dslc.syntax.parser import parse

__all__ = ["MAX_SHOWN", "explain_code", "hover_text", "signature"]

MAX_SHOWN = 6  # instances listed in full; the rest are counted
CODE = re.compile(r"[EW]\d{4}")


@dataclass
class Instance:
    """One expansion of the thing under the cursor: its nodes, in graph order."""

    nodes: list[Node] = field(default_factory=list)


def hover_text(checked: Checked, path: str, line: int, char: int) -> str | None:
    """Markdown for the hover at a 0-based place of the file at `path` (the checked buffer or
    a file it imports), or None when there is nothing to say."""
    text = checked.source.text if norm(path) == checked.source.path else _read(path)
    word, _, _ = word_at(text, line, char)
    if CODE.fullmatch(word):
        return explain_code(word)
    program = checked.program if norm(path) == checked.source.path else _program(path)
    if program is None:
        return None
    found = at(program, line + 1, char + 1)
    parts: list[str] = []
    block = checked.blocks.get(word)
    on_header = found.block is not None and found.block.name == word and found.primary is None
    if found.primary is not None and checked.analysis is not None:
        parts.append(_analysis_text(checked.analysis, found.primary))
    if block is not None and (
        on_header or (isinstance(found.primary, ast.Call) and found.primary.name == word)
    ):
        parts.append(_block_text(block))
    parts = [p for p in parts if p]
    return "\n\n---\n\n".join(parts) if parts else None


def _read(path: str) -> str:
    """A file the buffer imports, read as the compiler reads sources (a FIFO never blocks the
    server; at most 1 MiB); '' when it cannot be read."""
    from dslc.source import SourceFile, UnreadableSource

    try:
        return SourceFile.read(norm(path)).text
    except (UnreadableSource, UnicodeDecodeError):
        return ""


def _program(path: str) -> ast.Program | None:
    from dslc.diagnostics import CompileError
    from dslc.source import SourceFile, UnreadableSource

    try:
        return parse(SourceFile.read(norm(path)))
    except (CompileError, UnreadableSource):
        return None


def signature(block: ast.BlockDef) -> str:
    """`block name(c, stride = 1)<a | b>` as written in canonical form."""
    params = ", ".join(
        p.name + (f" = {format_expr(p.default)}" if p.default is not None else "")
        for p in block.params
    )
    head = ("inline " if block.inline else "") + f"block {block.name}"
    head += f"({params})" if block.params else ""
    return head + (f"<{' | '.join(block.branches)}>" if block.branches else "")


def _block_text(block: ast.BlockDef) -> str:
    doc = block_doc(parse(block.span.source), block)
    where = f"{Path(block.span.source.path).name}:{block.span.line}"
    out = f"```xnet\n{signature(block)}\n```\n"
    return out + (f"\n{doc}\n" if doc else "") + f"\n*defined at {where}*"


def _within(a: Span, b: Span) -> bool:
    return (
        norm(a.source.path) == norm(b.source.path)
        and (a.line, a.col) >= (b.line, b.col)
        and (a.end_line, a.end_col) <= (b.end_line, b.end_col)
    )


def _instances(analysis: Analysis, target: Span) -> list[Instance]:
    """The expansions of the source at `target`: nodes grouped by the call sites outside it,
    and a group split where its first layer comes again (a repetition, or a block expanded
    twice from the same site)."""
    groups: dict[tuple[Any, ...], list[Instance]] = {}
    firsts: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for node in analysis.graph.nodes:
        spans = [node.span, *(site for _, site in node.span.chain())]
        inner = [i for i, s in enumerate(spans) if _within(s, target)]
        if not inner:
            continue
        key = tuple((s.source.path, s.line, s.col) for s in spans[inner[-1] + 1 :])
        mark = (node.op, *((s.line, s.col) for s in spans[: inner[-1] + 1]))
        found = groups.setdefault(key, [])
        if not found or firsts[key] == mark:
            firsts.setdefault(key, mark)
            found.append(Instance())
        found[-1].nodes.append(node)
    return [inst for g in groups.values() for inst in g]


def _prefix(names: list[str]) -> str:
    split = [n.split(".") for n in names]
    common: list[str] = []
    for parts in zip(*split):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if len(names) == 1:
        return names[0]
    return ".".join(common)


def _analysis_text(analysis: Analysis, primary: ast.Call | ast.Combinator) -> str:
    found = _instances(analysis, primary.span)
    if not found:
        return ""
    what = primary.name if isinstance(primary, ast.Call) else f"{primary.kind}<…>"
    lines = [f"**{what}**" + (f" — {len(found)} instances" if len(found) > 1 else "")]
    for inst in found[:MAX_SHOWN]:
        lines.append("")
        lines.extend(_instance_lines(analysis, inst))
    if len(found) > MAX_SHOWN:
        lines.append(f"\n… and {len(found) - MAX_SHOWN} more")
    return "\n".join(lines)


def _instance_lines(analysis: Analysis, inst: Instance) -> list[str]:
    last = inst.nodes[-1]
    name = _prefix([n.name for n in inst.nodes]) or last.name
    params = sum(analysis.costs[n.id].params for n in inst.nodes)
    macs: Dim = 0
    for n in inst.nodes:
        macs = dims.add(macs, analysis.costs[n.id].macs)
    op = f" ({last.op.value})" if len(inst.nodes) == 1 else f" ({len(inst.nodes)} layers)"
    out = [
        f"`{name}`{op}",
        f"- output: `{show(analysis.shapes[last.id])}`",
        f"- params: {params:,}" + f" · MACs: {_num(macs)}",
    ]
    rf = analysis.rfs.get(last.id)
    if rf is not None:
        out.append(f"- receptive field: {_rf(rf)}")
    return out


def _num(d: Dim) -> str:
    return f"{d:,}" if isinstance(d, int) else str(d)


def _axis(a: object, b: object) -> str:
    sa, sb = (f"{v:g}" if isinstance(v, float) else str(v) for v in (a, b))
    return sa if sa == sb else f"{sa}x{sb}"


def _rf(rf: RF) -> str:
    return f"size {_axis(rf.h.size, rf.w.size)}, jump {_axis(rf.h.jump, rf.w.jump)}"


@functools.cache
def explain_code(code: str) -> str | None:
    """`dslc explain CODE`'s text, in a code block (None for a code that does not exist)."""
    from dslc.report.explain import explain_text

    def check_weights(analysis: Analysis, path: Path) -> tuple[Any, ...]:
        from dslc.backend.weights import match, nonfinite, read

        return nonfinite(match(analysis, read(path), path.name), path.name)

    try:
        text = explain_text(code, check_weights)
    except LookupError:
        return None
    return f"```text\n{text.rstrip()}\n```"
