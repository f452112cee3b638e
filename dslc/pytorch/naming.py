"""Python names for what the .xnet names: variables, classes after the blocks they expand."""

from __future__ import annotations

import keyword
import re
from collections.abc import Container

from dslc.ir.graph import Graph, Node
from dslc.pytorch.scopes import Scope
from dslc.source import Span

__all__ = ["block_header", "block_of", "class_name", "ident"]

_NOTE = re.compile(r"block '([A-Za-z_][A-Za-z0-9_]*)'")


def ident(name: str) -> str:
    """`name` as a Python identifier (itself when it is one)."""
    out = re.sub(r"\W", "_", name)
    if not out or out[0].isdigit():
        out = f"v{out}"
    if keyword.iskeyword(out) or keyword.issoftkeyword(out):
        out += "_"
    return out


def class_name(base: str, taken: Container[str]) -> str:
    """A CamelCase class name from a block or layer name, not yet in `taken`."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", base) if p]
    camel = "".join(p[:1].upper() + p[1:] for p in parts) or "Block"
    if camel[0].isdigit():
        camel = f"Block{camel}"
    if keyword.iskeyword(camel):  # None, True, False
        camel += "Net"
    name, k = camel, 1
    while name in taken or name in _RESERVED:
        k += 1
        name = f"{camel}{k}"
    return name


_RESERVED = {"Tensor", "Any", "F", "nn", "torch"}


def _sites(span: Span) -> list[tuple[str, str]]:
    """The expansions a span went through, outermost first: (note, site)."""
    return [(note, str(site)) for note, site in reversed(span.chain())]


def block_of(scope: Scope, parent: Scope, graph: Graph) -> str:
    """The block a scope is the expansion of ('' when it is not one call of a block): the
    innermost expansion all its layers share, when not all its parent's layers share it."""
    common = _common(scope, graph)
    if not common or (parent.path and len(_common(parent, graph)) >= len(common)):
        return ""
    match = _NOTE.search(common[-1][0])
    return match.group(1) if match else ""


def _common(scope: Scope, graph: Graph) -> list[tuple[str, str]]:
    return _shared([_sites(graph.node(i).span) for i in scope.nodes])


def _shared(chains: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    if not chains:
        return []
    out = chains[0]
    for chain in chains[1:]:
        k = 0
        while k < min(len(out), len(chain)) and out[k] == chain[k]:
            k += 1
        out = out[:k]
    return out


def block_header(node: Node, block: str, base: str) -> str | None:
    """`Block 'name' (lib/resnet.xnet:20).` for a class expanding a block defined in the file
    holding `node`'s layer; None when the definition is elsewhere."""
    source = node.span.source
    found = re.search(
        rf"^[ \t]*(?:inline[ \t]+)?block[ \t]+{re.escape(block)}\b", source.text, re.MULTILINE
    )
    if found is None:
        return None
    line = source.text.count("\n", 0, found.start()) + 1
    path = source.path[len(base) :] if base and source.path.startswith(base) else source.path
    return f"Block '{block}' ({path}:{line})."
