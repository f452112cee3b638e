"""Tensor dimensions: ints, or polynomials in symbols (`N`, `H`, `W`) for symbolic sizes.

Symbolic sizes are assumed to be multiples of whatever the strides need, so that
floor((H + c) / s) = H/s + floor(c/s): this is what makes an FCN's map `H/32`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "Dim",
    "Monomial",
    "Number",
    "Sym",
    "add",
    "ceildiv",
    "floordiv",
    "is_known",
    "mul",
    "ratio",
    "show",
    "sub",
    "substitute",
    "sym",
    "to_json",
]

Monomial = tuple[str, ...]  # sorted symbol names; () is the constant term


@dataclass(frozen=True, slots=True)
class Sym:
    """A polynomial with rational coefficients and at least one symbolic term."""

    terms: tuple[tuple[Monomial, Fraction], ...]

    def __str__(self) -> str:
        return _text(self.terms)

    def __repr__(self) -> str:
        return f"Sym({self})"

    def const(self) -> Fraction:
        """The constant term."""
        return dict(self.terms).get((), Fraction(0))


Dim = int | Sym
Number = int | Fraction


def sym(name: str) -> Sym:
    """The symbol `name`."""
    return Sym((((name,), Fraction(1)),))


def _poly(d: Dim | Fraction) -> dict[Monomial, Fraction]:
    if isinstance(d, Sym):
        return dict(d.terms)
    return {(): Fraction(d)} if d else {}


def _make(p: dict[Monomial, Fraction]) -> Dim:
    p = {m: c for m, c in p.items() if c}
    if all(m == () for m in p):
        c = p.get((), Fraction(0))
        if c.denominator != 1:
            raise ValueError(f"non-integer size {c}")
        return int(c)
    return Sym(tuple(sorted(p.items(), key=lambda t: (-len(t[0]), t[0]))))


def add(a: Dim, b: Dim | Number) -> Dim:
    """a + b."""
    if type(a) is int and type(b) is int:  # the common case, kept off the polynomial path
        return a + b
    p = _poly(a)
    for m, c in _poly(b).items():
        p[m] = p.get(m, Fraction(0)) + c
    return _make(p)


def sub(a: Dim, b: Dim | Number) -> Dim:
    """a - b."""
    if type(a) is int and type(b) is int:
        return a - b
    return add(a, mul(b, -1))


def mul(a: Dim | Number, b: Dim | Number) -> Dim:
    """a * b."""
    if type(a) is int and type(b) is int:
        return a * b
    out: dict[Monomial, Fraction] = {}
    for ma, ca in _poly(a).items():
        for mb, cb in _poly(b).items():
            m = tuple(sorted(ma + mb))
            out[m] = out.get(m, Fraction(0)) + ca * cb
    return _make(out)


def floordiv(a: Dim, s: int) -> Dim:
    """floor(a / s), symbolic part assumed divisible."""
    if type(a) is int:
        return a // s
    p = _poly(a)
    const = p.pop((), Fraction(0))
    p = {m: c / s for m, c in p.items()}
    p[()] = Fraction(const // s) if not p else Fraction((const / s).__floor__())
    return _make(p)


def ceildiv(a: Dim, s: int) -> Dim:
    """ceil(a / s), symbolic part assumed divisible."""
    return sub(0, floordiv(mul(a, -1), s))


def ratio(a: Dim, b: Dim) -> Fraction | None:
    """a / b when that is a constant, else None."""
    pa, pb = _poly(a), _poly(b)
    if not pb or set(pa) != set(pb):
        return None
    ratios = {pa[m] / pb[m] for m in pa}
    return ratios.pop() if len(ratios) == 1 else None


def is_known(d: Dim) -> bool:
    """True for a plain integer."""
    return isinstance(d, int)


def substitute(d: Dim, values: dict[str, int]) -> Fraction:
    """Evaluate with every symbol given a value."""
    total = Fraction(0)
    for m, c in _poly(d).items():
        term = c
        for s in m:
            term *= values[s]
        total += term
    return total


def show(d: Dim | Fraction) -> str:
    """A dim as text: `224`, `H/32`, `2*H+1`."""
    if isinstance(d, Sym):
        return str(d)
    return str(d)


def to_json(d: Dim) -> int | str:
    """A dim for JSON output: an int, or its text when symbolic."""
    return d if isinstance(d, int) else str(d)


@functools.lru_cache(maxsize=256)  # every shape shows the batch `N`: once is enough
def _text(terms: tuple[tuple[Monomial, Fraction], ...]) -> str:
    return _show(dict(terms))


def _show(p: dict[Monomial, Fraction]) -> str:
    parts = []
    for m, c in sorted(p.items(), key=lambda t: (-len(t[0]), t[0])):
        parts.append(_term(m, c))
    text = "".join(parts).lstrip("+")
    return text or "0"


def _term(m: Monomial, c: Fraction) -> str:
    sign = "-" if c < 0 else "+"
    c = abs(c)
    if not m:
        return f"{sign}{c}"
    body = "*".join(m)
    if c.numerator != 1:
        body = f"{c.numerator}*{body}"
    if c.denominator != 1:
        body = f"{body}/{c.denominator}"
    return f"{sign}{body}"
