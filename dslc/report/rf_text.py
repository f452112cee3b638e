"""Receptive-field reports without the CLI: the target layer, its path, the growth table."""

from __future__ import annotations

from typing import Any

from dslc.diagnostics import did_you_mean
from dslc.ir import dims
from dslc.ir.graph import Node
from dslc.passes import Analysis
from dslc.report.table import line_of

__all__ = ["LookupFailed", "axis_pair", "growth_table", "path_to", "target"]


class LookupFailed(Exception):
    """No such layer, or one without a field."""


def target(analysis: Analysis, layer: str | None) -> Node:
    """The layer asked for, or the network's (see summary.top_node)."""
    from dslc.report.summary import top_node

    g = analysis.graph
    if layer is None:
        node: Node | None = top_node(analysis)
        if node is None:
            raise LookupFailed("the network has no layer with a spatial receptive field")
        return node
    found = [n for n in g.nodes if n.name == layer]
    if not found:  # a block's name: its last layer
        found = [n for n in g.nodes if n.name.startswith(layer + ".")][-1:]
    if not found:
        hint = did_you_mean(layer, [n.name for n in g.nodes])
        raise LookupFailed(
            f"no layer named '{layer}'"
            + (f"; {hint}" if hint else " (dslc summary lists the names)")
        )
    if analysis.rfs[found[0].id] is None:
        raise LookupFailed(
            f"'{layer}' has no receptive field: its output is not an N x C x H x W map"
        )
    return found[0]


def path_to(analysis: Analysis, node: Node) -> list[Node]:
    """The node's ancestors (itself included) in graph order."""
    return analysis.graph.ancestors(node)


def _v(x: Any) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def axis_pair(values: list[Any]) -> str:
    a, b = (_v(v) for v in values)
    return a if a == b else f"{a}x{b}"


def growth_table(analysis: Analysis, nodes: list[Node]) -> str:
    """Layer, op, output size, field size, jump, start and source line, one row per layer."""
    head = ("Layer", "Op", "Map", "Size", "Jump", "Start", "Line")
    main = analysis.graph.nodes[0].span.source.path
    rows = []
    for n in nodes:
        rf = analysis.rfs[n.id]
        if rf is None:
            continue
        j = rf.as_json()
        hw = analysis.shapes[n.id][2:]
        rows.append(
            (
                n.name,
                n.op.value,
                " x ".join(dims.show(d) for d in hw),
                axis_pair(j["size"]),
                axis_pair(j["jump"]),
                ",".join(_v(v) for v in j["start"]),
                line_of(n, f"{n.span.source.path}:{n.span.line}:{n.span.col}", main),
            )
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {3, 4}
    lines = [
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()
        for r in [head, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines) + "\n"
