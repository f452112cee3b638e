"""AST -> IR: binds parameters, evaluates expressions, unrolls repetition, expands blocks.

Shapes are inferred node by node while expanding, because arguments may refer to the
incoming tensor's shape (C, H, W); the rules themselves live in passes/shapes.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from dslc.diagnostics import AlreadyReported, DiagnosticError, Sink, did_you_mean
from dslc.expand.args import REQUIRED, Arg, Args, Signature, bind, integer
from dslc.expand.blocks import MAX_BLOCK_DEPTH, check_depth, passed_chains
from dslc.expand.budget import Budget
from dslc.expand.combinators import COMBINATORS, combinator
from dslc.expand.evaluate import Env, Value, Word, evaluate, truth
from dslc.expand.labels import fill, has_holes
from dslc.expand.layers import Ctx, Layer, lookup
from dslc.expand.limits import Limits, tensor_too_large
from dslc.expand.scope import Frame, Scope, Tensor, claim
from dslc.ir import dims
from dslc.ir.graph import Graph, Node
from dslc.ir.ops import Attrs, InputAttrs, Op, Pair
from dslc.ir.shapes import Shape, node_shape
from dslc.source import Span
from dslc.syntax import ast

__all__ = ["MAX_BLOCK_DEPTH", "PROBES", "SHAPE_FREE", "Expander"]

# codes of argument errors that do not depend on the incoming shape, and the stand-in shapes
# a layer is built on to find them when that shape is unknown (N x C x H x W, and flat; the
# rules need whole channel counts)
SHAPE_FREE = frozenset({"E0104", "E0105", "E0107", "E0203"})
PROBES: tuple[Shape, ...] = ((dims.sym("N"), 64, 64, 64), (dims.sym("N"), 64))


def _lost(x: Tensor | None) -> bool:
    return x is not None and x.shape is None


def _env(frame: Frame, x: Tensor | None) -> Env:
    shape = x.shape if x else None
    return Env(frame.env.names, shape, frame.env.site, frame.env.note, _lost(x))


class Expander:
    """Builds the graph; reports problems to a sink and keeps going."""

    def __init__(
        self,
        sink: Sink,
        blocks: Mapping[str, ast.BlockDef],
        params: Mapping[str, Value],
        limits: Limits | None = None,
        incomplete: bool = False,
    ) -> None:
        """`incomplete`: an import failed, so a name not found may be one of its blocks (a
        consequence of that error, not reported again)."""
        self.sink, self.blocks, self.params = sink, blocks, params
        self.incomplete = incomplete
        self.limits = limits or Limits()
        self.budget = Budget(self.limits)
        self.nodes: list[Node] = []
        self.shapes: dict[int, Shape] = {}
        self.inputs: dict[str, Tensor] = {}
        self.names: dict[str, Span] = {}

    # ---- nodes ----

    def add(self, name: str, op: Op, inputs: list[Tensor], attrs: Attrs, span: Span) -> Tensor:
        """Append a node, inferring its shape; on a shape error, report it and go on unknown."""
        if len(self.nodes) >= self.limits.layers:
            raise DiagnosticError(
                "E0601",
                f"the network grows past {self.limits.layers:,} layers",
                span,
                "check the repetition counts; if this is intended, raise the "
                f"limit: --limit layers={2 * self.limits.layers}",
                fatal=True,
            )
        if name in self.names:
            raise DiagnosticError(
                "E0106",
                f"two layers are named '{name}' (the other is at {self.names[name]})",
                span,
                "give one of them another label",
            )
        node = Node(len(self.nodes), name, op, tuple(t.node for t in inputs), attrs, span)
        self.nodes.append(node)
        self.names[name] = span
        shape: Shape | None = None
        if all(t.shape is not None for t in inputs):
            try:
                shape = node_shape(node, [t.shape for t in inputs if t.shape is not None])
            except DiagnosticError as exc:
                self.sink.error(exc.code, exc.message, span, *exc.hints)
        too_large = shape and tensor_too_large(name, shape, self.limits)
        if too_large:
            self.sink.error("E0605", too_large[0], span, too_large[1])
            shape = None
        if shape is not None:
            self.shapes[node.id] = shape
        return Tensor(node.id, shape)

    def add_input(self, stmt: ast.Input, shape: Shape) -> Tensor:
        """Declare a network input."""
        t = self.add(stmt.name, Op.INPUT, [], InputAttrs(shape), stmt.span)
        self.inputs[stmt.name] = t
        return t

    # ---- chains ----

    def chain(
        self, chain: ast.Chain, x: Tensor | None, frame: Frame, scope: Scope
    ) -> Tensor | None:
        """Expand `a -> b -> c` from x."""
        for el in chain.elements:
            x = self.element(el, x, frame, scope)
        return x

    def element(
        self, el: ast.Element, x: Tensor | None, frame: Frame, scope: Scope
    ) -> Tensor | None:
        """One step: label, repetition and tap around a primary."""
        self.budget.charge(1, el.span, frame.env)
        try:
            out = self._element(el, x, frame, scope)
        except DiagnosticError as exc:
            if exc.fatal:
                raise
            self.sink.error(
                exc.code, exc.message, exc.span, *(exc.hints or self._name_hints(exc, frame))
            )
            out = None if x is None else Tensor(x.node, None)
        except AlreadyReported:
            out = None if x is None else Tensor(x.node, None)
        if el.tap is not None and out is not None:
            self._tap(el, out, frame)
        return out

    def _name_hints(self, exc: DiagnosticError, frame: Frame) -> tuple[str, ...]:
        if exc.code != "E0102" or not exc.message.startswith("unknown name '"):
            return ()
        name = exc.message.split("'")[1]
        known = [*frame.env.names, "C", "H", "W"]
        return (
            did_you_mean(name, known)
            or "names here are the parameters of the network "
            "or block, and C, H, W for the incoming tensor's shape",
        )

    def _tap(self, el: ast.Element, out: Tensor, frame: Frame) -> None:
        name = el.tap or ""
        span = frame.env.at(el.span)
        if name in frame.taps or name in self.inputs:
            self.sink.error(
                "E0106", f"the name '@{name}' is already used", span, "each @name may be given once"
            )
        elif lookup(name) is not None or name in self.blocks:
            self.sink.error(
                "E0106",
                f"'@{name}' would hide the layer or block '{name}'",
                span,
                "choose another name",
            )
        frame.taps[name] = out

    def _element(
        self, el: ast.Element, x: Tensor | None, frame: Frame, scope: Scope
    ) -> Tensor | None:
        span = frame.env.at(el.span)
        if el.count is None:
            label = el.label
            if label is not None and has_holes(label):
                label = fill(label, _env(frame, x), span, None)
            return self.primary(el.primary, x, frame, scope, label)
        n = self._count(el.count, x, frame)
        label = el.label
        if label is not None and has_holes(label):
            if "#" in label or el.index is not None:  # "block1-{#}": unit * n, one name each
                for i in range(n):
                    inst = frame.bound(el.index, i)
                    name = fill(label, _env(inst, x), span, i)
                    x = self.primary(el.primary, x, inst, scope, name)
                return x
            label = fill(label, _env(frame, x), span, None)
        outer = scope
        if label is not None:
            claim(scope, label, span)
            outer = scope.child(label)
        for i in range(n):
            inst = frame.bound(el.index, i)
            x = self.primary(el.primary, x, inst, outer, None if label is None else str(i))
        return x

    def _count(self, e: ast.Expr, x: Tensor | None, frame: Frame) -> int:
        env = _env(frame, x)
        self.budget.expr(e, frame.env)
        n = integer(Arg(evaluate(e, env), frame.env.at(e.span)), "a repetition count", 0)
        if n > self.limits.repeat:
            raise DiagnosticError(
                "E0601",
                f"repetition count {n:,} is too large (limit {self.limits.repeat:,})",
                frame.env.at(e.span),
                f"if this is intended, raise the limit: --limit repeat={n}"
                if n.bit_length() < 64
                else "",
            )
        return n

    def primary(
        self, p: ast.Primary, x: Tensor | None, frame: Frame, scope: Scope, label: str | None
    ) -> Tensor | None:
        """A call, combinator or group, named `label` when given."""
        if label is not None:
            claim(scope, label, frame.env.at(p.span))
        if isinstance(p, ast.Group):
            inner = scope if label is None else scope.child(label)
            return self.chain(p.chain, x, frame, inner.sequence() if p.numbered else inner)
        if isinstance(p, ast.Conditional):
            env = _env(frame, x)
            self.budget.expr(p.cond, frame.env)
            chosen = p.then if truth(evaluate(p.cond, env), p.cond, env) else p.orelse
            if chosen is None:
                return x  # `(if c then ...)` without else: nothing happens
            return self.chain(chosen, x, frame, scope if label is None else scope.child(label))
        if isinstance(p, ast.Combinator):
            if p.kind in self.blocks:
                return self.block(ast.Call(p.kind, p.args, p.span), x, frame, scope, label, p)
            return combinator(self, p, x, frame, scope, label)
        return self.call(p, x, frame, scope, label)

    # ---- calls ----

    def call(
        self, c: ast.Call, x: Tensor | None, frame: Frame, scope: Scope, label: str | None
    ) -> Tensor | None:
        """A tap reference, a block, or a built-in layer."""
        span = frame.env.at(c.span)
        if c.args is None and c.name in frame.chains:  # a chain the block's call passed in
            chain, home = frame.chains[c.name]
            return self.chain(chain, x, home, scope if label is None else scope.child(label))
        if c.args is None and (c.name in frame.taps or c.name in self.inputs):
            return frame.taps.get(c.name) or self.inputs[c.name]
        if c.name in self.blocks:
            return self.block(c, x, frame, scope, label)
        found = lookup(c.name)
        if found is None:
            raise self._unknown(c, frame, span)
        base, layer, sized = found
        args = self._args(c, x, frame)
        bound = bind(layer.sig, args, c.name, span)
        if x is None or x.shape is None:
            if x is not None:
                self._probe(layer, bound, span, sized, frame)
            return x
        ctx = Ctx(x.shape, span, sized, lambda w: self._tap_ref(w, frame))
        op, attrs, extra = layer.build(bound, ctx)
        name = scope.child(label).prefix if label else scope.auto(base)
        extras = [Tensor(i, self.shapes.get(i)) for i in extra]
        return self.add(name, op, [x, *extras], attrs, span)

    def _probe(
        self, layer: Layer, bound: Args, span: Span, sized: Pair | None, frame: Frame
    ) -> None:
        """After an error upstream the incoming shape is unknown. An argument that is wrong
        whatever the shape (a negative channel count, an unknown padding word) is still an
        independent error: build the layer on stand-in shapes and report only those."""
        seen: set[str] = set()
        for shape in PROBES:
            try:
                layer.build(bound, Ctx(shape, span, sized, lambda w: self._tap_ref(w, frame)))
            except DiagnosticError as exc:
                if exc.code in SHAPE_FREE and exc.message not in seen:
                    seen.add(exc.message)
                    self.sink.error(exc.code, exc.message, exc.span or span, *exc.hints)
            except AlreadyReported:
                pass

    def _args(self, c: ast.Call, x: Tensor | None, frame: Frame) -> list[tuple[str | None, Arg]]:
        env = _env(frame, x)
        for a in c.args or ():
            self.budget.expr(a.value, frame.env)
        return [
            (
                a.name,
                Arg(
                    evaluate(a.value, env),
                    frame.env.at(a.value.span),
                    frame.env.at(_key_span(a)) if a.name else None,
                ),
            )
            for a in c.args or ()
        ]

    def _tap_ref(self, w: Word, frame: Frame) -> tuple[int, Shape]:
        t = frame.taps.get(w.text) or self.inputs.get(w.text)
        passed = frame.chains.get(w.text)
        if t is None and passed is not None:  # block b<skip> = upsample(to=skip), given a tap
            (el, *rest), home = passed[0].elements, passed[1]
            if not rest and isinstance(el.primary, ast.Call) and el.primary.args is None:
                return self._tap_ref(Word(el.primary.name, w.span), home)
        if t is None:
            known = list(frame.taps) + list(self.inputs)
            raise DiagnosticError(
                "E0101",
                f"no tensor is named '{w.text}'",
                w.span,
                did_you_mean(w.text, known) or "name one with @name after a layer",
            )
        if t.shape is None:
            raise AlreadyReported
        return t.node, t.shape

    def _unknown(self, c: ast.Call, frame: Frame, span: Span) -> DiagnosticError:
        from dslc.expand.layers import all_names

        if c.name in COMBINATORS:
            return DiagnosticError(
                "E0101", f"'{c.name}' is a combinator: write {c.name}<...>", span
            )
        if c.name == "project":
            return DiagnosticError(
                "E0101",
                "'project' is only valid as a residual shortcut",
                span,
                "write residual<body | project>",
            )
        if self.incomplete:
            raise AlreadyReported
        known = all_names() + list(self.blocks) + list(frame.taps) + list(self.inputs)
        return DiagnosticError(
            "E0101", f"unknown layer or block '{c.name}'", span, did_you_mean(c.name, known)
        )

    # ---- blocks ----

    def block(
        self,
        c: ast.Call,
        x: Tensor | None,
        frame: Frame,
        scope: Scope,
        label: str | None,
        passed: ast.Combinator | None = None,
    ) -> Tensor | None:
        """Expand a block call in a fresh frame and a nested naming scope; `passed` holds the
        chains of a call written `name(args)<a | b>`."""
        d = self.blocks[c.name]
        span = frame.env.at(c.span)
        chains = passed_chains(d, passed, span)
        check_depth(c.name, frame.stack, span)
        names = self._bind_block(d, c, x, frame, span)
        env = Env(names, None, span, f"in expansion of block '{c.name}'")
        inner = Frame(env, {}, (*frame.stack, c.name), {n: (b, frame) for n, b in chains})
        if d.inline and label is None:
            return self.chain(d.body, x, inner, scope)  # named as if written here
        return self.chain(d.body, x, inner, scope.unit(label, c.name))

    def _bind_block(
        self, d: ast.BlockDef, c: ast.Call, x: Tensor | None, frame: Frame, span: Span
    ) -> dict[str, Value]:
        # A parameter with a default binds to None when not given (no evaluated value is None);
        # its default is evaluated here, where the parameters before it are bound.
        sig = Signature(
            tuple((p.name, REQUIRED if p.default is None else None) for p in d.params),
            len(d.params),
        )
        bound = bind(sig, self._args(c, x, frame), f"block '{d.name}'", span, d.name)
        names: dict[str, Value] = dict(self.params)
        for p in d.params:
            given = bound[p.name].value
            if given is None:
                assert p.default is not None
                self.budget.expr(p.default, frame.env, c.span)
                names[p.name] = evaluate(
                    p.default, Env(names, x.shape if x else None, shape_lost=_lost(x))
                )
            else:
                names[p.name] = given
        return names

    def graph(self, name: str, outputs: list[tuple[str, Tensor]], source_text: str) -> Graph:
        """The finished graph; outputs named by an `output` statement keep their names."""
        ins = tuple(t.node for t in self.inputs.values())
        names = tuple(n for n, _ in outputs if n)
        return Graph(
            name, tuple(self.nodes), ins, tuple(t.node for _, t in outputs), source_text, names
        )


def _key_span(a: ast.Arg) -> Span:
    """Where the keyword of `name=value` is written."""
    s = a.span
    return Span(s.source, s.line, s.col, s.line, s.col + len(a.name or ""))
