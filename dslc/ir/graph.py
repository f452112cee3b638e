"""Nodes and graphs: the expanded network, pure data."""

from __future__ import annotations

from dataclasses import dataclass

from dslc.ir.ops import Attrs, Op
from dslc.ir.preprocess import Preprocess
from dslc.source import Span

__all__ = ["Graph", "Node"]


@dataclass(frozen=True, slots=True)
class Node:
    """One op; inputs are ids of earlier nodes, so node order is a topological order."""

    id: int
    name: str
    op: Op
    inputs: tuple[int, ...]
    attrs: Attrs
    span: Span


@dataclass(frozen=True, slots=True)
class Graph:
    """A network after expansion."""

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    source_text: str
    output_names: tuple[str, ...] = ()  # from an `output` statement; else the output is "output"
    preprocess: tuple[Preprocess, ...] = ()  # the inputs' image pipelines
    labels: tuple[str, ...] = ()  # the class names, from a `labels` statement

    def node(self, node_id: int) -> Node:
        """The node with this id (ids are positions)."""
        return self.nodes[node_id]

    def consumers(self) -> dict[int, list[int]]:
        """For each node id, the ids of the nodes that read it."""
        out: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                out[i].append(n.id)
        return out

    def ancestors(self, node: Node) -> list[Node]:
        """The node's ancestors (itself included) in graph order."""
        keep = {node.id}
        for n in reversed(self.nodes[: node.id + 1]):
            if n.id in keep:
                keep.update(n.inputs)
        return [n for n in self.nodes if n.id in keep]
