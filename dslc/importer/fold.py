"""Repeated structure folded into blocks: scopes whose layers read the same up to their
channel numbers (layer3.1 ... layer3.5, inception3a ... inception5b) become the calls of
one block, the numbers that differ its parameters (`4 * c` where one is a multiple)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from dslc.expand.layers import lookup
from dslc.syntax.format_expr import KEYWORDS

__all__ = ["Folder", "template"]

_CHANNELS = re.compile(r"\b((?:de)?conv\d+x\d+|dense|linear)\((\d+)")
_SUFFIX = re.compile(r"\d+[a-z]?$")


def template(text: str) -> tuple[str, tuple[int, ...]]:
    """The text with each layer's channel number a hole `{}`, and those numbers."""
    values = tuple(int(m.group(2)) for m in _CHANNELS.finditer(text))
    return _CHANNELS.sub(lambda m: f"{m.group(1)}({{}}", text.replace("{", "{{")), values


@dataclass
class _Family:
    name: str
    instances: list[tuple[int, ...]] = field(default_factory=list)


@dataclass
class Folder:
    """Counts the scopes' templates (first pass), then names and writes the blocks."""

    counts: Counter[str] = field(default_factory=Counter)
    families: dict[str, _Family] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    def repeats(self, tmpl: str) -> bool:
        return self.counts[tmpl] >= 2

    def call(self, tmpl: str, values: tuple[int, ...], path: tuple[str, ...]) -> str:
        """A placeholder for the call of the block `tmpl` (filled in by `resolve`)."""
        if tmpl not in self.families:
            self.families[tmpl] = _Family(self._name(path))
        family = self.families[tmpl]
        family.instances.append(values)
        self.calls.append((tmpl, len(family.instances) - 1))
        return f"\x00{len(self.calls) - 1}\x00"

    def _name(self, path: tuple[str, ...]) -> str:
        words = [p for p in path if re.fullmatch(r"[A-Za-z_]\w*", p)]
        base = _SUFFIX.sub("", words[-1]) if words else ""
        base = base or "block"
        if path and not re.fullmatch(r"[A-Za-z_]\w*", path[-1]):
            base += "_unit"
        if base in KEYWORDS or lookup(base) is not None:
            base += "_block"  # `conv` would be the layer, `conv2` a 2x2 one
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def resolve(self, text: str) -> str:
        """The block definitions, then `text` with every placeholder a call."""
        defs, args = [], {}
        for tmpl, family in self.families.items():
            if len(family.instances) == 1:  # its other uses are inside other blocks
                args[(tmpl, 0)] = f"({tmpl.format(*family.instances[0])})"
                continue
            exprs, params = _params(family.instances)
            head = (
                f"block {family.name}({', '.join(p for p, _ in params)})"
                if params
                else (f"block {family.name}")
            )
            defs.append(f"{head} =\n    {tmpl.format(*exprs)}\n")
            for i, values in enumerate(family.instances):
                shown = ", ".join(str(values[j]) for _, j in params)
                args[(tmpl, i)] = f"{family.name}({shown})" if params else family.name
        body = re.sub(r"\x00(\d+)\x00", lambda m: args[self.calls[int(m.group(1))]], text)
        return "\n".join(defs) + ("\n" if defs else "") + body


def _params(instances: list[tuple[int, ...]]) -> tuple[list[str], list[tuple[str, int]]]:
    """Each hole's expression (a number, a parameter, k * a parameter) and the parameters
    with the hole that gives each one's value."""
    columns = list(zip(*instances, strict=True))
    exprs: list[str] = []
    params: list[tuple[str, int]] = []
    for j, col in enumerate(columns):
        if len(set(col)) == 1:
            exprs.append(str(col[0]))
            continue
        for name, at in params:
            base = columns[at]
            if col == base:
                exprs.append(name)
                break
            if all(b and v % b == 0 for v, b in zip(col, base, strict=True)):
                ratios = {v // b for v, b in zip(col, base, strict=True)}
                if len(ratios) == 1:
                    exprs.append(f"{ratios.pop()} * {name}")
                    break
        else:
            name = "c" if not params else f"c{len(params) + 1}"
            params.append((name, j))
            exprs.append(name)
    return exprs, params
