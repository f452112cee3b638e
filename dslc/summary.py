"""Analysis -> summary table text and JSON. Pure functions; no printing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dslc import dims
from dslc.compiler import Analysis
from dslc.ir import Node, Op
from dslc.passes.cost import total
from dslc.passes.receptive_field import RF
from dslc.passes.shapes import is_spatial


def _source(node: Node) -> str:
    s = node.span
    return f"{s.source.path}:{s.line}:{s.col}"


def top_rf(analysis: Analysis) -> RF | None:
    """The field of the last layer whose output is still an N x C x H x W map."""
    for node in reversed(analysis.graph.nodes):
        if is_spatial(analysis.shapes[node.id]) and node.op is not Op.INPUT:
            return analysis.rfs[node.id]
    return None


def layers(analysis: Analysis) -> list[Node]:
    """The nodes shown as layers (everything but the inputs)."""
    return [n for n in analysis.graph.nodes if n.op is not Op.INPUT]


def summary_json(analysis: Analysis) -> dict[str, Any]:
    """The `dslc summary --json` document."""
    g, shapes = analysis.graph, analysis.shapes
    t = total(analysis.costs)
    rf = top_rf(analysis)
    out_names = g.output_names or ("output",) * len(g.outputs)
    return {
        "network": g.name,
        "inputs": [{"name": g.node(i).name, "shape": _shape(shapes[i])} for i in g.inputs],
        "outputs": [{"name": n, "shape": _shape(shapes[i])} for n, i in zip(out_names, g.outputs)],
        "totals": {"params": t.params, "buffers": t.buffers, "macs": dims.to_json(t.macs)},
        "receptive_field": rf.as_json() if rf else None,
        "layers": [_layer(analysis, n) for n in layers(analysis)],
    }


def _shape(shape: tuple[dims.Dim, ...]) -> list[int | str]:
    return [dims.to_json(d) for d in shape]


def _layer(analysis: Analysis, node: Node) -> dict[str, Any]:
    c, rf = analysis.costs[node.id], analysis.rfs[node.id]
    return {"name": node.name, "op": node.op.value, "source": _source(node),
            "output_shape": _shape(analysis.shapes[node.id]), "params": c.params,
            "macs": dims.to_json(c.macs), "receptive_field": rf.as_json() if rf else None}


def _num(n: int) -> str:
    return f"{n:,}"


def _macs(m: dims.Dim) -> str:
    return f"{m:,}" if isinstance(m, int) else str(m)


def _rf_text(rf: RF | None) -> str:
    if rf is None:
        return "-"
    j = rf.as_json()
    size = j["size"]
    return f"{_n(size[0])}x{_n(size[1])}" if size[0] != size[1] else f"{_n(size[0])}"


def _n(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _where(node: Node, main: str) -> str:
    s = node.span
    name = "" if s.source.path == main else f"{Path(s.source.path).name}:"
    return f"{name}{s.line}"


def summary_table(analysis: Analysis) -> str:
    """A torchinfo-style table: layer, op, output shape, params, MACs, field, source line."""
    g, shapes = analysis.graph, analysis.shapes
    main = g.nodes[0].span.source.path if g.nodes else ""
    head = ("Layer", "Op", "Output shape", "Params", "MACs", "RF", "Line")
    rows = [(n.name, n.op.value, " x ".join(dims.show(d) for d in shapes[n.id]),
             _num(analysis.costs[n.id].params), _macs(analysis.costs[n.id].macs),
             _rf_text(analysis.rfs[n.id]), _where(n, main)) for n in layers(analysis)]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {3, 4}

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    rule = "=" * len(fmt(head))
    lines = [f"Network {g.name}", rule, fmt(head), "-" * len(rule), *map(fmt, rows), rule]
    return "\n".join(lines + _totals(analysis)) + "\n"


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} bytes"


def _totals(analysis: Analysis) -> list[str]:
    g, shapes = analysis.graph, analysis.shapes
    t = total(analysis.costs)
    rf = top_rf(analysis)
    ins = ", ".join(f"{g.node(i).name}: {' x '.join(dims.show(d) for d in shapes[i])}"
                    for i in g.inputs)
    outs = ", ".join(" x ".join(dims.show(d) for d in shapes[i]) for i in g.outputs)
    macs = t.macs
    giga = f" ({macs / 1e9:.3f} G)" if isinstance(macs, int) and macs >= 10**7 else ""
    lines = [
        f"Inputs:            {ins}",
        f"Outputs:           {outs}",
        f"Trainable params:  {_num(t.params)} ({_bytes(t.params * 4)} as float32)",
        f"Buffers:           {_num(t.buffers)} (batch-norm running statistics)",
        f"MACs per sample:   {_macs(macs)}{giga}  (conv and dense multiply-accumulates)",
    ]
    if rf is not None:
        j = rf.as_json()
        lines.append(f"Receptive field:   {_rf_text(rf)} (jump {_n(j['jump'][0])}"
                     f"x{_n(j['jump'][1])}, start {_n(j['start'][0])},{_n(j['start'][1])})")
    return lines
