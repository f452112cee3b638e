"""The `dslc summary` report: a tree of blocks as rows, rendered as a table, markdown or CSV.

Rows at `depth` collapse every deeper layer into their block's row, with the block's totals;
blocks above that depth are header rows without numbers, so the numeric rows always add up
to the totals. Pure functions; no printing.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from dslc.ir import dims
from dslc.ir.dims import Dim
from dslc.ir.graph import Node
from dslc.passes import Analysis
from dslc.passes.cost import total
from dslc.passes.receptive_field import RF
from dslc.passes.sizes import describe as describe_sizes
from dslc.report.summary import activation_total, dtype_bytes, layers, source_of, top_node

__all__ = [
    "BY_KEY",
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "NAME_HEAD",
    "TABLE",
    "Cell",
    "Column",
    "Row",
    "build_rows",
    "cells",
    "line_of",
    "parse_columns",
    "render_csv",
    "render_table",
    "totals_lines",
]

DEFAULT_COLUMNS = ("op", "shape", "params", "macs", "flops", "memory", "rf", "line")
NAME_HEAD = "Layer"  # the first column, always there


@dataclass(slots=True)
class Row:
    """One line of the report: a layer, a collapsed block, or a block header (no numbers)."""

    name: str
    depth: int
    kind: str  # "layer" | "block" | "header"
    node: Node  # the layer, or the block's first layer
    last: Node | None = None  # the block's last layer
    params: int = 0
    macs: Dim = 0
    flops: Dim = 0
    out_elems: Dim = 0
    members: list[int] = field(default_factory=list)


def _block_site(node: Node, depth: int) -> str:
    """The call site of the block at name depth `depth` that holds `node` (else node's own)."""
    chain = node.span.chain()
    if 1 <= depth <= len(chain):
        site = chain[len(chain) - depth][1]
        return f"{site.source.path}:{site.line}:{site.col}"
    return source_of(node)


def _block_kind(node: Node, depth: int) -> str:
    chain = node.span.chain()
    if 1 <= depth <= len(chain):
        note = chain[len(chain) - depth][0]
        return note.split("'")[1] if note.count("'") >= 2 else "block"
    return "block"


def build_rows(analysis: Analysis, depth: int | None = None) -> list[Row]:
    """The report's rows, in graph order, blocks collapsed below `depth` (None: no collapse)."""
    mem = analysis.memory
    rows: list[Row] = []
    groups: dict[str, Row] = {}
    for node in layers(analysis):
        parts = node.name.split(".")
        keep = len(parts) if depth is None else min(len(parts), depth)
        for k in range(1, keep):
            prefix = ".".join(parts[:k])
            if prefix not in groups:
                groups[prefix] = Row(prefix, k - 1, "header", node)
                rows.append(groups[prefix])
        if keep == len(parts):
            row = Row(node.name, keep - 1, "layer", node)
            rows.append(row)
        else:
            prefix = ".".join(parts[:keep])
            if prefix not in groups:
                groups[prefix] = Row(prefix, keep - 1, "block", node)
                rows.append(groups[prefix])
            row = groups[prefix]
        c = analysis.costs[node.id]
        row.params += c.params
        row.macs = dims.add(row.macs, c.macs)
        row.flops = dims.add(row.flops, c.flops)
        row.out_elems = dims.add(row.out_elems, mem.outputs[node.id])
        row.last = node
        row.members.append(node.id)
    return rows


def _num(d: Dim, sep: bool) -> str:
    if isinstance(d, int):
        return f"{d:,}" if sep else str(d)
    return str(d)


def _rf_text(rf: RF | None, key: str) -> str:
    if rf is None:
        return "-"
    vals = rf.as_json()[key]
    a, b = (str(v) if isinstance(v, int) else f"{v:g}" for v in vals)
    return a if a == b else f"{a}x{b}"


def line_of(node: Node, site: str, main: str) -> str:
    """`line` in the main file, `file.xnet:line` in an imported one."""
    path, line, _ = site.rsplit(":", 2)
    return line if path == main else f"{os.path.basename(path)}:{line}"


@dataclass(frozen=True, slots=True)
class Cell:
    """What one row's cells are computed from."""

    analysis: Analysis
    row: Row
    dtype: str
    sep: bool  # thousands separators in numbers
    site: str  # the layer's, or the block's call site
    main: str  # the main file's path
    last: Node  # the layer, or the block's last layer
    rf: RF | None  # the receptive field at `last`


def _op(c: Cell) -> str:
    r = c.row
    return r.node.op.value if r.kind == "layer" else _block_kind(r.node, r.depth + 1)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the report: its key (--columns), heading, text, and layout."""

    key: str
    head: str
    text: Callable[[Cell], str]
    right: bool = False  # right-aligned: a number
    blank_in_headers: bool = False  # a block header row (no numbers) leaves it empty


TABLE = (
    Column("op", "Op", _op),
    Column(
        "shape",
        "Output shape",
        lambda c: " x ".join(dims.show(d) for d in c.analysis.shapes[c.last.id]),
        blank_in_headers=True,
    ),
    Column(
        "params", "Params", lambda c: _num(c.row.params, c.sep), right=True, blank_in_headers=True
    ),
    Column("macs", "MACs", lambda c: _num(c.row.macs, c.sep), right=True, blank_in_headers=True),
    Column("flops", "FLOPs", lambda c: _num(c.row.flops, c.sep), right=True, blank_in_headers=True),
    Column(
        "memory",
        "Output bytes",
        lambda c: _num(dims.mul(c.row.out_elems, dtype_bytes(c.dtype)), c.sep),
        right=True,
        blank_in_headers=True,
    ),
    Column("rf", "RF", lambda c: _rf_text(c.rf, "size"), blank_in_headers=True),
    Column("jump", "Jump", lambda c: _rf_text(c.rf, "jump"), blank_in_headers=True),
    Column("line", "Line", lambda c: line_of(c.row.node, c.site, c.main)),
    Column("source", "Source", lambda c: c.site),
)
BY_KEY = {c.key: c for c in TABLE}
COLUMNS = tuple(BY_KEY)


def cells(
    analysis: Analysis, row: Row, columns: tuple[str, ...], dtype: str, sep: bool = True
) -> list[str]:
    """The row's text in each column (blank numbers on header rows)."""
    main = analysis.graph.nodes[0].span.source.path
    site = source_of(row.node) if row.kind == "layer" else _block_site(row.node, row.depth + 1)
    last = row.last or row.node
    cell = Cell(analysis, row, dtype, sep, site, main, last, analysis.rfs[last.id])
    header = row.kind == "header"
    return [
        "" if header and BY_KEY[key].blank_in_headers else BY_KEY[key].text(cell) for key in columns
    ]


def _display_name(row: Row) -> str:
    return "  " * row.depth + row.name.split(".")[-1] if row.depth else row.name


def render_table(
    analysis: Analysis,
    rows: list[Row],
    columns: tuple[str, ...],
    dtype: str,
    markdown: bool = False,
) -> str:
    """Rows as an aligned text table (or a markdown table), then the totals."""
    head = [NAME_HEAD, *(BY_KEY[c].head for c in columns)]
    body = [[_display_name(r), *cells(analysis, r, columns, dtype)] for r in rows]
    right = {i + 1 for i, c in enumerate(columns) if BY_KEY[c].right}
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        ]
        return ("| " + " | ".join(parts) + " |") if markdown else "  ".join(parts).rstrip()

    name = analysis.graph.name
    if markdown:
        rule = (
            "|"
            + "|".join(
                ("-" * (w + 1) + ":") if i in right else "-" * (w + 2) for i, w in enumerate(widths)
            )
            + "|"
        )
        lines = [f"**Network {name}**", "", fmt(head), rule, *map(fmt, body), ""]
        return "\n".join(lines + [f"- {t}" for t in totals_lines(analysis, dtype)]) + "\n"
    rule_len = len(fmt(head))
    lines = [
        f"Network {name}",
        "=" * rule_len,
        fmt(head),
        "-" * rule_len,
        *map(fmt, body),
        "=" * rule_len,
    ]
    return "\n".join(lines + totals_lines(analysis, dtype)) + "\n"


def render_csv(analysis: Analysis, rows: list[Row], columns: tuple[str, ...], dtype: str) -> str:
    """Rows as CSV with plain numbers; the name column holds the full hierarchical name."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "kind", "depth", *columns])
    for r in rows:
        w.writerow([r.name, r.kind, r.depth, *cells(analysis, r, columns, dtype, sep=False)])
    return buf.getvalue()


def _bytes(n: Dim) -> str:
    if not isinstance(n, int):
        return f"{n} bytes"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} bytes"


def _given(analysis: Analysis) -> str:
    return ", ".join(f"{name}={value}" for name, value in analysis.given)


def _giga(n: Dim) -> str:
    return f" ({n / 1e9:.3f} G)" if isinstance(n, int) and n >= 10**7 else ""


def totals_lines(analysis: Analysis, dtype: str) -> list[str]:
    """The totals under the table: shapes, params, MACs, FLOPs, memory, receptive field."""
    g, shapes = analysis.graph, analysis.shapes
    t = total(analysis.costs)
    b = dtype_bytes(dtype)
    mem = analysis.memory
    acts = activation_total(analysis)
    ins = ", ".join(
        f"{g.node(i).name}: {' x '.join(dims.show(d) for d in shapes[i])}" for i in g.inputs
    )
    outs = ", ".join(" x ".join(dims.show(d) for d in shapes[i]) for i in g.outputs)
    peak_at = f" while '{g.node(mem.peak_node).name}' runs" if mem.peak_node is not None else ""
    lines = [
        f"Inputs:            {ins}",
        *(f"Preprocess:        {p.input}: {p.describe()}" for p in g.preprocess),
        *([f"Labels:            {_labels(g.labels)}"] if g.labels else []),
        *([f"Sizes given:       {_given(analysis)} (--size)"] if analysis.given else []),
        f"Outputs:           {outs}",
        f"Trainable params:  {_num(t.params, True)} ({_bytes(t.params * b)} as {dtype})",
        f"Buffers:           {_num(t.buffers, True)} (batch-norm running statistics)",
        *(
            [f"Constants:         {_num(t.constants, True)} (hand-written kernels, not trained)"]
            if t.constants
            else []
        ),
        (
            f"MACs per sample:   {_num(t.macs, True)}{_giga(t.macs)}  (conv and dense "
            "multiply-accumulates)"
        ),
        (
            f"FLOPs per sample:  {_num(t.flops, True)}{_giga(t.flops)}  (2 per MAC + 1 per element "
            "of every other computing op)"
        ),
        (
            f"Activations:       {_bytes(dims.mul(acts, b))} (every layer's output at batch 1, "
            f"{dtype})"
        ),
        (
            f"Peak activations:  {_bytes(dims.mul(mem.peak, b))}{peak_at} (tensors freed after "
            "last use)"
        ),
    ]
    top = top_node(analysis)
    rf = analysis.rfs[top.id] if top else None
    if top is not None and rf is not None:
        lines.append(
            f"Receptive field:   {_rf_text(rf, 'size')} (jump {_rf_text(rf, 'jump')}, "
            f"start {_pair(rf, 'start')}; at '{top.name}')"
        )
    valid = describe_sizes(analysis.sizes)
    if valid:
        lines.append(f"Valid sizes:       {valid} (other sizes fail; dslc run refuses them)")
    inexact: dict[int, list[str]] = {}
    for r in analysis.sizes:  # sizes that work but that the formulas shown do not fit
        if r.exact > 1 and (r.period, r.residues) != (r.exact, (0,)):
            inexact.setdefault(r.exact, []).append(r.symbol)
    if inexact:
        lines.append(
            "Exact shapes:      for "
            + "; ".join(f"{', '.join(names)} multiples of {m}" for m, names in inexact.items())
            + " (other sizes round down in each strided layer)"
        )
    return lines


def _labels(labels: tuple[str, ...]) -> str:
    shown = ", ".join(labels[:3]) + (", ..." if len(labels) > 3 else "")
    return f"{len(labels)} classes ({shown})"


def _pair(rf: RF, key: str) -> str:
    return ",".join(str(v) if isinstance(v, int) else f"{v:g}" for v in rf.as_json()[key])


def parse_columns(text: str | None) -> tuple[str, ...]:
    """`--columns op,params,rf` -> a tuple of column keys; ValueError naming a bad one."""
    if text is None:
        return DEFAULT_COLUMNS
    cols = tuple(c.strip() for c in text.split(",") if c.strip())
    for c in cols:
        if c not in COLUMNS:
            raise ValueError(f"unknown column '{c}'; choose from {', '.join(COLUMNS)}")
    if not cols:
        raise ValueError(f"no columns given; choose from {', '.join(COLUMNS)}")
    return cols
