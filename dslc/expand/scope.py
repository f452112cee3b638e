"""What the expander carries along a chain: tensors, naming scopes and block frames."""

from __future__ import annotations

from dataclasses import dataclass, field

from dslc.diagnostics import DiagnosticError
from dslc.expand.evaluate import Env
from dslc.ir.shapes import Shape
from dslc.source import Span
from dslc.syntax import ast

__all__ = ["Frame", "Scope", "Tensor", "claim"]


@dataclass(frozen=True, slots=True)
class Tensor:
    """A value flowing through a chain; shape None once an error made it unknown."""

    node: int
    shape: Shape | None


@dataclass(slots=True)
class Scope:
    """A naming scope: hierarchical prefix and per-kind counters.

    A numbered scope (a `[ ... ]` sequence) names what it holds by position instead, like
    PyTorch's nn.Sequential: every layer, block call or combinator takes the next index, and a
    labelled one keeps its label but still takes its position. Views of one scope share the
    counters and the used names, so two sequences in one scope never reuse an index.
    """

    prefix: str
    counters: dict[str, int] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    numbered: bool = False

    def auto(self, kind: str) -> str:
        """The next automatic name for `kind`: conv1, conv2, ... (0, 1, ... when numbered)."""
        while True:
            if self.numbered:
                local = str(self.next_index())
            else:
                n = self.counters.get(kind, 0) + 1
                self.counters[kind] = n
                local = f"{kind}_{n}" if kind[-1].isdigit() else f"{kind}{n}"
            if local not in self.used:
                return self.full(local)

    def next_index(self) -> int:
        n = self.counters.get("#", 0)
        self.counters["#"] = n + 1
        return n

    def full(self, local: str) -> str:
        """The hierarchical name of a local name."""
        self.used.add(local)
        return f"{self.prefix}.{local}" if self.prefix else local

    def child(self, local: str) -> Scope:
        """A nested scope."""
        return Scope(f"{self.prefix}.{local}" if self.prefix else local)

    def sequence(self) -> Scope:
        """A numbered view of this scope, for an unlabelled `[ ... ]`; inside a numbered
        scope, a nested sequence takes one position and numbers its own layers."""
        if self.numbered:
            return Scope(self.auto("sequence"), numbered=True)
        return Scope(self.prefix, self.counters, self.used, True)

    def unit(self, label: str | None, kind: str) -> Scope:
        """The scope of a block call or combinator: its label, a numbered position, or
        (for blocks) an automatic name like bottleneck1."""
        if label is not None:
            return self.child(label)
        return Scope(self.auto(kind))


@dataclass(slots=True)
class Frame:
    """One block instance (or the top level): bound names, taps, where it was expanded, and
    the chains its call passed in (`name(args)<a | b>`), each with the caller's frame."""

    env: Env
    taps: dict[str, Tensor]
    stack: tuple[str, ...] = ()
    chains: dict[str, tuple[ast.Chain, Frame]] = field(default_factory=dict)

    def bound(self, name: str | None, value: int) -> Frame:
        """This frame with `name` bound to `value` (instance i of `x * n as name`)."""
        if name is None:
            return self
        e = self.env
        env = Env({**e.names, name: value}, e.shape, e.site, e.note, e.shape_lost)
        return Frame(env, self.taps, self.stack, self.chains)


def claim(scope: Scope, label: str, span: Span) -> None:
    """Reserve a label in a scope; a name used twice in one scope is an error. In a numbered
    scope the label still takes its position."""
    if label in scope.used:
        raise DiagnosticError(
            "E0106", f"the name '{label}' is already used here", span, "give this one another label"
        )
    if scope.numbered:
        scope.next_index()
    scope.full(label)
