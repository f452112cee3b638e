"""Layer arguments: binding calls to signatures, and checking each value's kind."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeAlias

from dslc.diagnostics import DiagnosticError, did_you_mean
from dslc.expand.evaluate import Value, Word, describe
from dslc.ir.dims import Dim, Sym
from dslc.ir.ops import Pads, Pair
from dslc.source import Span

__all__ = [
    "REQUIRED",
    "Arg",
    "Args",
    "Default",
    "Shape",
    "Signature",
    "bind",
    "channels",
    "flag",
    "integer",
    "number",
    "pads",
    "pair",
    "word",
]


class Required(Enum):
    """The default of a parameter that has none: it must be given."""

    REQUIRED = "required"


REQUIRED: Final = Required.REQUIRED
# a parameter's default: a value, None (not given: the layer works it out, or a block evaluates
# its default expression), or REQUIRED
Default: TypeAlias = "Value | Required | None"


@dataclass(frozen=True, slots=True)
class Arg:
    """An evaluated argument and where it was written."""

    value: Value | None  # None: not given, for a parameter whose default is None
    span: Span
    whole: Span | None = None  # `name=value` for a keyword argument


Args = dict[str, Arg]
Shape = tuple[Dim, ...]


@dataclass(frozen=True, slots=True)
class Signature:
    """Parameter names in positional order, with defaults (REQUIRED when none)."""

    params: tuple[tuple[str, Default], ...]
    positional: int  # how many may be given positionally

    def names(self) -> list[str]:
        """All parameter names."""
        return [p for p, _ in self.params]


def bind(
    sig: Signature,
    given: list[tuple[str | None, Arg]],
    what: str,
    span: Span,
    call: str | None = None,
) -> Args:
    """Match positional and keyword arguments to a signature (`call` is the name to call)."""
    names = sig.names()
    out: Args = {}
    positional = [a for n, a in given if n is None]
    if len(positional) > sig.positional:
        extra = positional[sig.positional]
        takes = f"at most {sig.positional}" if sig.positional else "no"
        raise DiagnosticError(
            "E0104",
            f"{what} takes {takes} positional argument"
            f"{'s' if sig.positional != 1 else ''}, got {len(positional)}",
            extra.span,
            f"its parameters are: {', '.join(names)}" if names else "",
        )
    for name, arg in zip(names, positional):
        out[name] = arg
    for name, arg in ((n, a) for n, a in given if n is not None):
        if name not in names:
            raise DiagnosticError(
                "E0103",
                f"{what} has no parameter '{name}'",
                arg.whole or arg.span,
                did_you_mean(name, names)
                or (
                    f"its parameters are: {', '.join(names)}"
                    if names
                    else f"{what} takes no arguments"
                ),
            )
        if name in out:
            raise DiagnosticError("E0107", f"'{name}' is given twice", arg.whole or arg.span)
        out[name] = arg
    for name, default in sig.params:
        if name not in out:
            if default is REQUIRED:
                raise DiagnosticError(
                    "E0104",
                    f"{what} needs a value for '{name}'",
                    span,
                    f"e.g. {call or what}({name}=...)",
                )
            out[name] = Arg(default, span)
    return out


# ---- value checks ----


def integer(a: Arg, what: str, low: int = 1) -> int:
    """An int >= low."""
    v = a.value
    if isinstance(v, Word):
        raise DiagnosticError("E0102", f"unknown name '{v.text}'", v.span or a.span)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, Sym):
        raise DiagnosticError(
            "E0105",
            f"{what} must be a number, but {v} depends on the input size",
            a.span,
            "give the network's input a fixed size, or avoid H and W here",
        )
    if isinstance(v, bool) or not isinstance(v, int):
        raise DiagnosticError("E0105", f"{what} must be a whole number, got {describe(v)}", a.span)
    if v < low:
        raise DiagnosticError("E0203", f"{what} must be at least {low}, got {v}", a.span)
    return v


def number(a: Arg, what: str) -> float:
    """A float."""
    v = a.value
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise DiagnosticError("E0105", f"{what} must be a number, got {describe(v)}", a.span)
    try:
        return float(v)
    except OverflowError:
        raise DiagnosticError("E0105", f"{what} is too large", a.span) from None


def flag(a: Arg, what: str) -> bool:
    """true or false."""
    if not isinstance(a.value, bool):
        raise DiagnosticError(
            "E0105", f"{what} must be true or false, got {describe(a.value)}", a.span
        )
    return a.value


def pair(a: Arg, what: str, low: int = 1) -> Pair:
    """An int or an (h, w) pair."""
    v = a.value
    if isinstance(v, tuple):
        if len(v) != 2:
            raise DiagnosticError(
                "E0105", f"{what} takes one number or a pair (h, w), got {len(v)} values", a.span
            )
        return integer(Arg(v[0], a.span), what, low), integer(Arg(v[1], a.span), what, low)
    n = integer(a, what, low)
    return n, n


def word(a: Arg, what: str, choices: tuple[str, ...]) -> str:
    """One of a few words."""
    v = a.value
    if isinstance(v, Word) and v.text in choices:
        return v.text
    text = v.text if isinstance(v, Word) else describe(v)
    raise DiagnosticError(
        "E0105",
        f"{what} must be one of {', '.join(choices)}; got {text}",
        a.span,
        did_you_mean(text, choices) if isinstance(v, Word) else "",
    )


def pads(a: Arg, kernel: Pair, dilation: Pair, stride: Pair, size: Shape) -> Pads:
    """Padding: int, (h, w), (top, left, bottom, right), `same`, `valid`, or None = half."""
    v = a.value
    if v is None:
        h, w = (dilation[i] * (kernel[i] - 1) // 2 for i in (0, 1))
        return h, w, h, w
    if isinstance(v, Word):
        mode = word(a, "pad", ("same", "valid"))
        return (0, 0, 0, 0) if mode == "valid" else _same(a, kernel, dilation, stride, size)
    if isinstance(v, tuple) and len(v) == 4:
        t, l, b, r = (integer(Arg(x, a.span), "pad", 0) for x in v)
        return t, l, b, r
    if isinstance(v, tuple) and len(v) != 2:
        raise DiagnosticError(
            "E0105",
            "pad takes a number, (h, w), (top, left, bottom, right), "
            f"same or valid; got {len(v)} values",
            a.span,
        )
    h, w = pair(a, "pad", 0)
    return h, w, h, w


def _same(a: Arg, kernel: Pair, dilation: Pair, stride: Pair, size: Shape) -> Pads:
    out = []
    for i in (0, 1):
        span = dilation[i] * (kernel[i] - 1) + 1
        n = size[2 + i] if len(size) == 4 else None
        if stride[i] == 1:
            total = span - 1
        elif isinstance(n, int):
            total = max((-(-n // stride[i]) - 1) * stride[i] + span - n, 0)
        else:
            raise DiagnosticError(
                "E0105",
                "pad=same with a stride needs a fixed input size",
                a.span,
                "write the padding as a number",
            )
        out.append((total // 2, total - total // 2))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def channels(shape: Shape, what: str, span: Span) -> int:
    """The incoming channel count."""
    if len(shape) < 2 or not isinstance(shape[1], int):
        raise DiagnosticError("E0307", f"{what} needs an input with channels", span)
    return int(shape[1])
