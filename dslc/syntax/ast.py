"""The .xnet abstract syntax tree: frozen dataclasses, each with a span.

Spans are excluded from equality, so `parse(format(ast)) == ast` compares programs, not layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dslc.source import Span

__all__ = [
    "Arg",
    "BinOp",
    "BlockDef",
    "Bool",
    "Call",
    "Chain",
    "ChainStmt",
    "Combinator",
    "Comment",
    "Conditional",
    "Element",
    "Expr",
    "Func",
    "Group",
    "IfExpr",
    "Import",
    "Input",
    "Labels",
    "ListLit",
    "Name",
    "Neg",
    "Network",
    "Not",
    "Num",
    "Output",
    "Param",
    "Preprocess",
    "Primary",
    "Program",
    "Statement",
    "TupleLit",
]

# ---- expressions ----


@dataclass(frozen=True, slots=True)
class Num:
    """An integer or float literal."""

    value: int | float
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Bool:
    """`true` or `false`."""

    value: bool
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Name:
    """A name in an expression: a parameter, a shape symbol, a tap or a word like `same`."""

    id: str
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BinOp:
    """`left op right` with op one of + - * / // %, a comparison (== != < <= > >=), `and`
    or `or`."""

    op: str
    left: Expr
    right: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Neg:
    """Unary minus."""

    operand: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TupleLit:
    """`(a, b, ...)`."""

    items: tuple[Expr, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListLit:
    """`[a, b, ...]`, e.g. a hand-written kernel."""

    items: tuple[Expr, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    """`not operand`."""

    operand: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IfExpr:
    """`if cond then a else b`."""

    cond: Expr
    then: Expr
    orelse: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Func:
    """A function of numbers: `min(a, b)`, `make_divisible(32 * w, 8)`."""

    name: str
    args: tuple[Expr, ...]
    span: Span = field(compare=False, repr=False)


Expr = Num | Bool | Name | BinOp | Neg | Not | IfExpr | Func | TupleLit | ListLit

# ---- chains ----


@dataclass(frozen=True, slots=True)
class Arg:
    """A call argument; name is None for a positional one."""

    name: str | None
    value: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A layer, block or tap reference: `conv3x3(64, stride=2)`, `relu`, `pool4`."""

    name: str
    args: tuple[Arg, ...] | None
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Combinator:
    """`residual<...>`, `concat<a | b>`, `add<a | b>`, `mul<a | b>`, `gate<...>`,
    `dense<...>`, or a block with branch parameters `name(args)<a | b>`. With `numbered`
    (`concat[a | b]`) the branches are named 0, 1, ... like an nn.ModuleList, each
    numbering its own layers like an nn.Sequential."""

    kind: str
    branches: tuple[Chain, ...]
    span: Span = field(compare=False, repr=False)
    args: tuple[Arg, ...] | None = None
    numbered: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    """A parenthesised chain `( ... )`, or with `numbered` a sequence `[ ... ]` whose layers
    and blocks are named by position (0, 1, ...), like PyTorch's nn.Sequential."""

    chain: Chain
    span: Span = field(compare=False, repr=False)
    numbered: bool = False


@dataclass(frozen=True, slots=True)
class Conditional:
    """`(if cond then chain else chain)`; without `else`, nothing happens when cond is false."""

    cond: Expr
    then: Chain
    orelse: Chain | None
    span: Span = field(compare=False, repr=False)


Primary = Call | Combinator | Group | Conditional


@dataclass(frozen=True, slots=True)
class Element:
    """One step of a chain: `label: primary * count as index @tap`; `index` names the
    instance's position (0, 1, ...) while each instance of a repetition is expanded."""

    primary: Primary
    count: Expr | None
    label: str | None
    tap: str | None
    span: Span = field(compare=False, repr=False)
    index: str | None = None


@dataclass(frozen=True, slots=True)
class Chain:
    """`a -> b -> c`."""

    elements: tuple[Element, ...]
    span: Span = field(compare=False, repr=False)


# ---- statements ----


@dataclass(frozen=True, slots=True)
class Param:
    """A network or block parameter with an optional default."""

    name: str
    default: Expr | None
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Import:
    """`import "path.xnet"`."""

    path: str
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Network:
    """`network name(params)`."""

    name: str
    params: tuple[Param, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Input:
    """`input name: 3 x H x W`; dims are Num or Name."""

    name: str
    dims: tuple[Num | Name, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Output:
    """`output a, b`: the taps that are the network's outputs."""

    names: tuple[str, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BlockDef:
    """`[inline] block name(params)<branches> = chain`; an inline block adds no naming
    level; `branches` name the chains a call passes in `name(args)<a | b>`."""

    name: str
    params: tuple[Param, ...]
    body: Chain
    span: Span = field(compare=False, repr=False)
    inline: bool = False
    branches: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChainStmt:
    """A chain at the top level: part of the network's body."""

    chain: Chain
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Preprocess:
    """`preprocess image: resize(256) -> center_crop(224) -> normalize(...)`: the input's
    pipeline, compiled into the model; the steps are calls written as a chain."""

    name: str
    chain: Chain
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Labels:
    """`labels "classes.txt" if classes == 1000`: the class names, one a line, in a file
    beside the .xnet; with a condition, only where it holds."""

    path: str
    span: Span = field(compare=False, repr=False)
    when: Expr | None = None


Statement = Import | Network | Input | Output | Preprocess | Labels | BlockDef | ChainStmt


@dataclass(frozen=True, slots=True)
class Comment:
    """A `#` comment, kept for the formatter."""

    text: str
    line: int
    own_line: bool


@dataclass(frozen=True, slots=True)
class Program:
    """A whole .xnet file."""

    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)
