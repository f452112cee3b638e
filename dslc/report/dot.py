"""The graph as Graphviz dot text (`dslc graph`): blocks as clusters, edges labelled with the
shapes they carry, nodes labelled with kernel, stride, channels and params.

`depth` collapses blocks nested deeper than that into one node with their totals (the rows of
`summary --depth`); `block` draws one block, with the tensors entering and leaving it as input
and output nodes. Clusters and nodes are written in source order, and every concat's branches stand
left to right as written (their first nodes on one rank, joined by invisible edges).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from dslc.diagnostics import did_you_mean
from dslc.ir import dims
from dslc.ir.graph import Node
from dslc.ir.ops import ConvAttrs, DeconvAttrs, DenseAttrs, InputAttrs, Op, PoolAttrs
from dslc.passes import Analysis
from dslc.report.summary import layers
from dslc.report.table import Row, build_rows, cells

__all__ = [
    "MAX_NODES",
    "RANKDIRS",
    "DotError",
    "DotOptions",
    "default_depth",
    "node_label",
    "to_dot",
]

MAX_NODES = 80  # more nodes than this and the default draws the network collapsed
RANKDIRS = ("TB", "LR", "BT", "RL")
Anchors = dict[str, list[str]]  # invisible nodes by the cluster they sit in


class DotError(Exception):
    """A block that does not exist (the message says what there is)."""


@dataclass(frozen=True, slots=True)
class DotOptions:
    depth: int | None = None  # collapse blocks nested deeper than this many name levels
    block: str | None = None  # draw only this block
    rankdir: str = "TB"


@dataclass(slots=True)
class _Group:
    """One drawn node: a layer, or a collapsed block (a row of summary --depth)."""

    key: str
    label: str
    parent: str  # the cluster it sits in ("" at the top)
    members: list[int] = field(default_factory=list)


def _q(text: str) -> str:
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'


def _shape(analysis: Analysis, node_id: int) -> str:
    return " x ".join(dims.show(d) for d in analysis.shapes[node_id][1:])


def _pair(p: tuple[int, int], sep: str = "×") -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}{sep}{p[1]}"


def node_label(analysis: Analysis, node: Node) -> str:
    """`conv1 · 5×5 /1 · 6 ch · 156 params`: name, kernel and stride, channels, params."""
    a = node.attrs
    shape = analysis.shapes[node.id]
    parts = [node.name.split(".")[-1]]
    match a:
        case ConvAttrs() | DeconvAttrs():
            k = f"{a.kernel[0]}×{a.kernel[1]} /{_pair(a.stride, ',')}"
            k += f" d{_pair(a.dilation, ',')}" if max(a.dilation) > 1 else ""
            k += f" g{a.groups}" if a.groups > 1 else ""
            k += " transposed" if isinstance(a, DeconvAttrs) else ""
            parts += [k, f"{a.out_channels} ch"]
        case PoolAttrs():
            kind = "max" if node.op is Op.MAXPOOL else "avg"
            parts.append(f"{kind} {a.kernel[0]}×{a.kernel[1]} /{_pair(a.stride, ',')}")
        case DenseAttrs():
            parts.append(f"dense → {dims.show(shape[-1])}")
        case InputAttrs():
            parts.append(f"input {' × '.join(dims.show(d) for d in shape[1:])}")
        case _:
            parts.append(node.op.value)
            if node.op is Op.CONCAT and len(shape) > 1:
                parts.append(f"{dims.show(shape[1])} ch")
    params = analysis.costs[node.id].params
    if params:
        parts.append(f"{params:,} params")
    return " · ".join(parts)


def _block_label(analysis: Analysis, row: Row) -> str:
    """`layer1 · basic_stage · 6 layers · 147,968 params · 0.46 G MACs`: a block's totals."""
    kind = cells(analysis, row, ("op",), "float32")[0]
    macs = row.macs
    mac_text = f"{macs / 1e9:.3g} G MACs" if isinstance(macs, int) else f"{dims.show(macs)} MACs"
    if isinstance(macs, int) and macs < 10**7:
        mac_text = f"{macs:,} MACs"
    return " · ".join(
        [
            row.name.split(".")[-1],
            kind,
            f"{len(row.members)} layers",
            f"{row.params:,} params",
            mac_text,
        ]
    )


def _parent(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def _inside(name: str, block: str | None) -> bool:
    return block is None or name == block or name.startswith(block + ".")


def _groups(analysis: Analysis, opts: DotOptions) -> dict[int, _Group]:
    """Each drawn node's group, by node id (nodes outside --block have none)."""
    by_id: dict[int, _Group] = {}
    for n in analysis.graph.nodes:
        if n.op is Op.INPUT and _inside(n.name, opts.block):
            by_id[n.id] = _Group(n.name, node_label(analysis, n), "", [n.id])
    for row in build_rows(analysis, opts.depth):
        if row.kind == "header" or not _inside(row.name, opts.block):
            continue
        if row.kind == "layer":
            g = _Group(row.name, node_label(analysis, row.node), _parent(row.name))
        else:
            g = _Group(row.name, _block_label(analysis, row), _parent(row.name))
        for i in row.members:
            g.members.append(i)
            by_id[i] = g
    return by_id


def _check_block(analysis: Analysis, block: str) -> None:
    names = [n.name for n in analysis.graph.nodes]
    if any(_inside(n, block) for n in names):
        return
    blocks = sorted({p for n in names for p in _prefixes(n)})
    hint = did_you_mean(block, blocks + names)
    raise DotError(
        f"no block or layer named '{block}'"
        + (f"; {hint}" if hint else f" (blocks: {', '.join(blocks[:12]) or 'none'})")
    )


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def _edges(analysis: Analysis, by_id: dict[int, _Group]) -> tuple[list[str], list[str]]:
    """Edges between drawn nodes in graph order (each concat's inputs in branch order), and
    the input and output nodes for tensors crossing the drawing's border."""
    g = analysis.graph
    lines: list[str] = []
    ends: list[str] = []
    seen: set[tuple[str, str]] = set()
    outside: set[str] = set()
    for n in g.nodes:
        dst = by_id.get(n.id)
        for i in n.inputs:
            src = by_id.get(i)
            if dst is None or src is dst:
                continue
            if src is None:  # entering --block
                key = f"in:{g.node(i).name}"
                if key not in outside:
                    outside.add(key)
                    label = f"{g.node(i).name} · {_shape(analysis, i)}"
                    ends.append(f"  {_q(key)} [label={_q(label)}, shape=oval, fillcolor=white];")
                src_key = key
            else:
                src_key = src.key
            if (src_key, dst.key) not in seen:
                seen.add((src_key, dst.key))
                lines.append(f"  {_q(src_key)} -> {_q(dst.key)} [label={_q(_shape(analysis, i))}];")
    consumers = g.consumers()
    names = g.output_names or tuple("output" for _ in g.outputs)
    leaving = [(o, f"output:{name}", name) for o, name in zip(g.outputs, names)]
    if len(by_id) < len(g.nodes):  # --block: every tensor read outside it
        leaving = [
            (i, f"out:{g.node(i).name}", g.node(i).name)
            for i in sorted(by_id)
            if any(c not in by_id for c in consumers[i]) or i in g.outputs
        ]
    for i, key, name in leaving:
        if i in by_id:
            label = f"{name} · {_shape(analysis, i)}"
            ends.append(f"  {_q(key)} [label={_q(label)}, shape=oval, fillcolor=white];")
            lines.append(f"  {_q(by_id[i].key)} -> {_q(key)} [label={_q(_shape(analysis, i))}];")
    return lines, ends


def _branch_heads(analysis: Analysis, by_id: dict[int, _Group]) -> tuple[list[str], Anchors]:
    """For each concat, its branches' first nodes on one rank, left to right as written, and
    the anchors that keep them so.

    The first nodes are joined by invisible edges on one rank; that orders plain nodes, but
    Graphviz swaps whole sibling clusters freely when crossings tie (Inception v3's nested
    concats drew their 1x3 branch right of the 3x1). So each concat also gets a row of
    invisible anchors, one per branch, in the branches' common cluster: ordered among
    themselves (plain nodes, joined by an invisible edge), each with an invisible edge to its
    branch's first node, so the written order is the one without crossings."""
    g = analysis.graph
    lines: list[str] = []
    anchors: Anchors = {}
    for n in g.nodes:
        if n.op is not Op.CONCAT or len(n.inputs) < 2 or n.id not in by_id:
            continue
        sets = [{a.id for a in g.ancestors(g.node(i))} for i in n.inputs]
        common = set.intersection(*sets)
        firsts = [min(s - common) for s in sets if s - common]
        heads = [by_id.get(i) for i in firsts]
        keys = list(dict.fromkeys(h.key for h in heads if h is not None))
        if len(keys) > 1 and len(keys) == len(heads):
            chain = " -> ".join(_q(k) for k in keys)
            lines.append(f"  {{rank=same; {chain} [style=invis];}}")
            cluster = _common_prefix([h.parent for h in heads if h is not None])
            forks = [by_id.get(i) for f in firsts for i in g.node(f).inputs if i in common]
            if not cluster or not all(f is not None and _inside(f.key, cluster) for f in forks):
                continue  # branches fed from outside their cluster: anchors above them would
                # stretch it up a rank (and upset DeepLab's ASPP); their order holds there
            row = [f"order:{by_id[n.id].key}:{k}" for k in range(len(keys))]
            anchors.setdefault(cluster, []).extend(
                f'{_q(a)} [shape=point, width=0, height=0, style=invis, label=""];' for a in row
            )
            lines.append(f"  {{rank=same; {' -> '.join(_q(a) for a in row)} [style=invis];}}")
            lines += [f"  {_q(a)} -> {_q(k)} [style=invis];" for a, k in zip(row, keys)]
    return lines, anchors


def _common_prefix(names: list[str]) -> str:
    """The innermost cluster around all of `names` ("" for the top)."""
    parts = [name.split(".") if name else [] for name in names]
    common: list[str] = []
    for level in zip(*parts):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return ".".join(common)


def _style(analysis: Analysis, grp: _Group) -> str:
    if analysis.graph.node(grp.members[0]).op is Op.INPUT:
        return ", shape=oval, fillcolor=white"
    return ', fillcolor="#fdf1dc"' if len(grp.members) > 1 else ""


def to_dot(analysis: Analysis, opts: DotOptions | None = None) -> str:
    """The graph in Graphviz's language."""
    opts = opts or DotOptions()
    if opts.block is not None:
        _check_block(analysis, opts.block)
    by_id = _groups(analysis, opts)
    groups = list({id(g): g for g in by_id.values()}.values())  # in graph order
    lines = [
        f"digraph {_q(analysis.graph.name)} {{",
        f"  rankdir={opts.rankdir}; newrank=true;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    children: dict[str, list[_Group | str]] = {}  # nodes and clusters, in source order
    for grp in groups:
        chain = ["", *_prefixes(grp.key)] if grp.parent else [""]
        for outer, inner in pairwise(chain):
            kids = children.setdefault(outer, [])
            if inner not in kids:
                kids.append(inner)
        children.setdefault(chain[-1], []).append(grp)

    order, anchors = _branch_heads(analysis, by_id)

    def emit(prefix: str, indent: str) -> None:
        lines.extend(indent + a for a in anchors.get(prefix, []))
        for child in children.get(prefix, []):
            if isinstance(child, _Group):
                lines.append(
                    f"{indent}{_q(child.key)} [label={_q(child.label)}{_style(analysis, child)}];"
                )
                continue
            lines.append(f"{indent}subgraph {_q('cluster_' + child)} {{")
            lines.append(f'{indent}  label={_q(child)}; style="rounded"; color="#8aa4cc";')
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit("", "  ")
    edges, ends = _edges(analysis, by_id)
    lines += ends + edges + order + ["}"]
    return "\n".join(lines) + "\n"


def default_depth(analysis: Analysis) -> int | None:
    """None when every layer fits in MAX_NODES nodes (or collapsing would not help: a network
    without blocks), else the deepest collapse that fits, or 1."""
    names = [n.name for n in layers(analysis)]
    if len(names) <= MAX_NODES:
        return None
    deepest = max(n.count(".") + 1 for n in names)
    for depth in range(deepest, 0, -1):
        if len({".".join(n.split(".")[:depth]) for n in names}) <= MAX_NODES:
            return depth
    return 1 if len({n.split(".")[0] for n in names}) < len(names) else None
