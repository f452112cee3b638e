"""An imported model written back as .xnet: `dslc decompile model.onnx`.

The IR graph is walked in order; a tensor read by several layers opens a combinator that
closes at the layer where its branches meet again (its post-dominator): `residual<…>` when
one branch is the input itself and the branches add, else `add<… | …>`, `concat<… | …>` or
`mul<… | …>`. Layers are labelled with the last part of their hierarchical name and nested
in labelled groups for the rest (`layer1: ("0": (conv1: conv3x3(64) -> …))`), so the
program's weight names are the imported ones. The text goes through `dslc fmt`.

Where the branches do not close (torchvision's DenseNet concatenates every earlier output,
`cat(x0, x1, x2)`), the layers are written one after another in graph order instead: a
tensor read again later gets a tap `@t5`, a layer reading an earlier tensor starts from its
tap (`t5 -> conv1: …`), a merge names its inputs in order (`concat<t2 | t5 | identity>`),
and a one-input concat is its input.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from dslc.importer.fold import Folder, template
from dslc.importer.layer_text import Inexpressible, layer_call
from dslc.ir import dims
from dslc.ir.graph import Graph, Node
from dslc.ir.ops import AxisAttrs, InputAttrs, Op, UpsampleAttrs
from dslc.source import SourceFile
from dslc.syntax.format import format_program
from dslc.syntax.format_expr import label_text
from dslc.syntax.parser import parse

__all__ = ["Inexpressible", "decompile"]

_MERGES = {Op.ADD: "add", Op.CONCAT: "concat", Op.MUL: "mul"}


@dataclass
class _Layer:
    node: Node
    src: str | None = None  # the tap it reads, when not the previous layer's output
    refs: tuple[str | None, ...] = ()  # a merge's inputs: taps, None the previous layer's

    def path(self) -> tuple[str, ...] | None:
        return tuple(self.node.name.split("."))[:-1]


@dataclass
class _Comb:
    kind: str
    branches: list[list[_Layer | _Comb]]
    layers: list[Node] = field(default_factory=list)

    def path(self) -> tuple[str, ...] | None:
        paths = [tuple(n.name.split("."))[:-1] for n in self.layers]
        if not paths:
            return None
        common = paths[0]
        for p in paths[1:]:
            k = 0
            while k < min(len(common), len(p)) and common[k] == p[k]:
                k += 1
            common = common[:k]
        return common


_Item = _Layer | _Comb


class _Walk:
    def __init__(self, graph: Graph) -> None:
        self.g = graph
        # an upsample's `to=` names a tensor for its size: read by name, not a branch
        self.consumers: dict[int, list[int]] = {n.id: [] for n in graph.nodes}
        for n in graph.nodes:
            for i in _data(n):
                self.consumers[i].append(n.id)
        self.outputs = set(graph.outputs)
        self.taps: dict[int, str] = {}
        self.read: set[str] = set()  # the taps read by name (a scope reading one stays put)

    def tap(self, node_id: int) -> str:
        n = self.g.node(node_id)
        if n.op is Op.INPUT:
            return _ident(n.name)
        return self.taps.setdefault(node_id, f"t{node_id}")

    def ref(self, node_id: int) -> str:
        name = self.tap(node_id)
        self.read.add(name)
        return name

    def reads_tap(self, text: str) -> bool:
        return any(re.search(rf"(?<![\w@]){re.escape(t)}\b", text) for t in self.read)

    def linear(self) -> tuple[list[_Item], int]:
        """Every layer in graph order, earlier tensors read by their taps; the last tensor."""
        alias: dict[int, int] = {}
        items: list[_Item] = []
        cur = self.g.inputs[0]
        for n in self.g.nodes:
            if n.op is Op.INPUT:
                continue
            if not self.consumers[n.id] and n.id not in self.outputs:
                raise Inexpressible(n, "no layer reads it")
            ins = [alias.get(i, i) for i in _data(n)]
            if n.op is Op.CONCAT and len(ins) == 1:
                alias[n.id] = ins[0]
                continue
            if n.op is Op.CONCAT and isinstance(n.attrs, AxisAttrs) and n.attrs.axis != 1:
                raise Inexpressible(n, "a concat not along the channels")
            if n.op in _MERGES:
                refs = tuple(None if i == cur else self.ref(i) for i in ins)
                items.append(_Layer(n, refs=refs))
            elif len(ins) != 1:
                raise Inexpressible(n, "it reads several tensors")
            else:
                items.append(_Layer(n, src=None if ins[0] == cur else self.ref(ins[0])))
            cur = n.id
        last = self.g.outputs[0]
        return items, alias.get(last, last)

    def merge_of(self, fork: int) -> int | None:
        """The first node every path from `fork` goes through (None: a path ends first)."""
        pending = Counter(self.consumers[fork])
        for n in self.g.nodes[fork + 1 :]:
            if n.id not in pending:
                continue
            del pending[n.id]
            if not pending:
                return n.id
            if n.id in self.outputs:
                return None
            pending.update(self.consumers[n.id])
        return None

    def seq(self, cur: int, stop: int | None) -> tuple[list[_Item], int]:
        """The layers from tensor `cur` on, up to (not with) `stop`; and the last tensor."""
        items: list[_Item] = []
        while True:
            cons = self.consumers[cur]
            if cur in self.outputs and (cons or stop is not None):
                raise Inexpressible(self.g.node(cur), "an output also read by layers")
            if not cons or set(cons) == {stop}:
                return items, cur
            if len(cons) == 1:
                items.append(self.layer(cons[0], cur))
                cur = cons[0]
                continue
            merge = self.merge_of(cur)
            if merge is None or (stop is not None and merge >= stop):
                raise Inexpressible(self.g.node(cur), "its readers do not meet again")
            items.append(self.comb(cur, merge))
            cur = merge

    def layer(self, nid: int, cur: int) -> _Item:
        n = self.g.node(nid)
        if n.op in _MERGES or len(_data(n)) != 1:
            raise Inexpressible(n, "it reads a tensor from outside its branch")
        return _Layer(n)

    def comb(self, fork: int, merge: int) -> _Comb:
        m = self.g.node(merge)
        if m.op not in _MERGES:
            raise Inexpressible(m, "branches meet at a layer that is not add, concat or mul")
        if m.op is Op.CONCAT and isinstance(m.attrs, AxisAttrs) and m.attrs.axis != 1:
            raise Inexpressible(m, "a concat not along the channels")
        ends: dict[int, list[_Item]] = {}
        for c in dict.fromkeys(self.consumers[fork]):
            if c == merge:
                items, last = [], fork
            else:
                first = self.layer(c, fork)
                rest, last = self.seq(c, merge)
                items = [first, *rest]
            if last in ends:
                raise Inexpressible(m, "two branches end in the same tensor")
            ends[last] = items
        if sorted(ends) != sorted(m.inputs):
            raise Inexpressible(m, "its inputs are not the branches of one fork")
        branches = [ends[i] for i in m.inputs]
        kind = _MERGES[m.op]
        if m.op is Op.ADD and len(branches) == 2 and [] in branches:
            kind, branches = "residual", [b for b in branches if b]
        out = _Comb(kind, branches)
        out.layers = [n for b in branches for it in b for n in _nodes(it)]
        return out


def _data(n: Node) -> tuple[int, ...]:
    """The inputs `n` computes from (an upsample's size reference left out)."""
    if n.op is Op.UPSAMPLE and isinstance(n.attrs, UpsampleAttrs) and n.attrs.to is not None:
        return n.inputs[:1]
    return n.inputs


def _nodes(it: _Item) -> list[Node]:
    return [it.node] if isinstance(it, _Layer) else it.layers


def _ident(name: str) -> str:
    out = re.sub(r"\W", "_", name)
    return out if re.match(r"[A-Za-z_]", out) else f"x{out}"


class _Writer:
    """Writes the items as a chain; with a Folder that has counted the scopes' templates
    (a first, unfolded pass), a scope whose template repeats is written as a block call."""

    def __init__(self, walk: _Walk, folder: Folder, fold: bool) -> None:
        self.walk, self.folder, self.fold = walk, folder, fold

    def chain(self, items: list[_Item], ctx: tuple[str, ...], fold: bool = True) -> str:
        if not items:
            return "identity"
        parts: list[str] = []
        k = 0
        while k < len(items):
            key = self.key(items[k], ctx)
            if key is None:
                parts.append(self.element(items[k], ctx, fold))
                k += 1
                continue
            j = k
            while j < len(items) and self.key(items[j], ctx) == key:
                j += 1
            parts.append(f"{label_text(key)}: {self.scope(items[k:j], (*ctx, key), fold)}")
            k = j
        return " -> ".join(parts)

    def scope(self, items: list[_Item], path: tuple[str, ...], fold: bool) -> str:
        """A scope's layers: `(…)`, or the call of the block its repeated template makes."""
        flat = self.chain(items, path, fold=False)
        tmpl, values = template(flat)
        layers = sum(len(_nodes(it)) for it in items)
        if not self.fold:
            # a block cannot see the taps around it: scopes with taps stay in place
            self.folder.counts[tmpl] += (
                layers >= 2
                and "@" not in flat
                and "to=" not in flat
                and not self.walk.reads_tap(flat)
            )
        elif fold and self.folder.repeats(tmpl):
            return self.folder.call(tmpl, values, path)
        return f"({self.chain(items, path, fold) if self.fold and fold else flat})"

    @staticmethod
    def key(it: _Item, ctx: tuple[str, ...]) -> str | None:
        p = it.path()
        return p[len(ctx)] if p is not None and len(p) > len(ctx) else None

    def element(self, it: _Item, ctx: tuple[str, ...], fold: bool) -> str:
        if isinstance(it, _Layer):
            n = it.node
            if n.op in _MERGES:
                text = f"{_MERGES[n.op]}<{' | '.join(r or 'identity' for r in it.refs)}>"
            else:
                text = f"{label_text(n.name.split('.')[-1])}: {layer_call(n, self.walk.tap)}"
            return (f"{it.src} -> " if it.src else "") + text + self.tapped(n.id)
        inner = it.path()
        sub = ctx if inner is None else inner
        return f"{it.kind}<{' | '.join(self.chain(b, sub, fold) for b in it.branches)}>"

    def tapped(self, nid: int) -> str:
        return f" @{self.walk.taps[nid]}" if nid in self.walk.taps else ""


def decompile(graph: Graph, fold: bool = True) -> str:
    """The graph as canonical .xnet text, repeated scopes folded into blocks (unless not
    `fold`); Inexpressible names the first layer it cannot write."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        if not graph.outputs:  # every output was left out (an op dslc has no layer for)
            raise Inexpressible(graph.nodes[0], "no output the network computes is known")
        raise Inexpressible(graph.node(graph.outputs[0]), "only one input and one output")
    inp = graph.node(graph.inputs[0])
    assert isinstance(inp.attrs, InputAttrs)
    walk = _Walk(graph)
    try:
        items, last = walk.seq(inp.id, None)
        if last != graph.outputs[0]:
            raise Inexpressible(graph.node(last), "the walk ends before the output")
    except Inexpressible as nested:
        walk = _Walk(graph)
        try:  # the layers one after another, with taps
            items, last = walk.linear()
        except Inexpressible:
            raise nested from None
        end = items[-1] if items else None
        if not isinstance(end, _Layer) or end.node.id != last:
            raise nested from None
    # the first pass finds the taps and counts the templates
    folder = Folder()
    body = _Writer(walk, folder, False).chain(items, ())
    if not fold:  # again, with the taps found
        body = _Writer(walk, Folder(), False).chain(items, ())
    else:
        body = folder.resolve(_Writer(walk, folder, True).chain(items, ()))
    shape = " x ".join(dims.show(d) for d in inp.attrs.shape[1:])
    head = f"network {_ident(graph.name)}\ninput {_ident(inp.name)}: {shape}\n\n"
    text = head + body + "\n"
    return format_program(parse(SourceFile("<decompiled>", text)))
