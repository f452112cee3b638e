"""The graph as Graphviz dot text: one cluster per block, edges labelled with shapes."""

from __future__ import annotations

from dslc.ir import dims
from dslc.ir.graph import Node
from dslc.passes import Analysis

__all__ = ["to_dot"]


def _q(text: str) -> str:
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'


def _label(analysis: Analysis, node: Node) -> str:
    c = analysis.costs[node.id]
    extra = f"\n{c.params:,} params" if c.params else ""
    return f"{node.name.split('.')[-1]}\n{node.op.value}{extra}"


def _parent(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def to_dot(analysis: Analysis) -> str:
    """The graph in Graphviz's language: one cluster per block (by hierarchical name)."""
    g = analysis.graph
    lines = [
        f"digraph {_q(g.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    tree: dict[str, list[Node]] = {}
    for n in g.nodes:
        prefix = n.name.rsplit(".", 1)[0] if "." in n.name else ""
        tree.setdefault(prefix, []).append(n)
    prefixes = sorted(
        {".".join(n.name.split(".")[:k]) for n in g.nodes for k in range(1, n.name.count(".") + 1)}
    )

    def emit(prefix: str, indent: str) -> None:
        for n in tree.get(prefix, []):
            lines.append(
                f"{indent}{_q(n.name)} [label={_q(_label(analysis, n))}"
                + (", shape=ellipse" if not n.inputs else "")
                + "];"
            )
        for child in (p for p in prefixes if _parent(p) == prefix):
            lines.append(f"{indent}subgraph {_q('cluster_' + child)} {{")
            lines.append(f'{indent}  label={_q(child)}; style="rounded"; color="#8aa4cc";')
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit("", "  ")
    for n in g.nodes:
        for i in n.inputs:
            shape = " x ".join(dims.show(d) for d in analysis.shapes[i][1:])
            lines.append(f"  {_q(g.node(i).name)} -> {_q(n.name)} [label={_q(shape)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
