"""Completion: keyword arguments inside a call's brackets; elsewhere layer names (with their
kernel-size forms), combinators, blocks in scope, taps and parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dslc.expand.combinators import COMBINATORS
from dslc.expand.layers import LAYERS, lookup
from dslc.lsp.state import Checked
from dslc.lsp.where import elements
from dslc.syntax import ast

__all__ = ["KERNEL_FORMS", "Item", "complete", "open_call"]

# the sized forms people write most; any NxM works for the layers that take a kernel size
KERNEL_FORMS = (
    "conv1x1", "conv3x3", "conv5x5", "conv7x7", "deconv2x2", "deconv4x4",
    "maxpool2", "maxpool3", "avgpool2", "avgpool3",
)  # fmt: skip
CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\($")


@dataclass(frozen=True, slots=True)
class Item:
    """One completion: the text, what it is (layer, block, combinator, argument, tap,
    parameter) and a one-line detail."""

    label: str
    kind: str
    detail: str
    insert: str | None = None  # text to insert when it differs from the label


def open_call(text: str, line: int, char: int) -> str | None:
    """The name of the call whose brackets are open at a 0-based place, if any."""
    lines = text.split("\n")
    before = "\n".join([*lines[:line], lines[line][:char] if line < len(lines) else ""])
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        c = before[i]
        if c == ")":
            depth += 1
        elif c == "(":
            if depth == 0:
                m = CALL.search(before[: i + 1])
                return m.group(1) if m else None
            depth -= 1
        elif c in "<>|" and depth == 0 and before[i - 1 : i + 1] != "->":
            return None
    return None


def complete(checked: Checked | None, text: str, line: int, char: int) -> list[Item]:
    """What may be written at a 0-based place of `text` (`checked`: the last version that
    parsed, for its blocks, taps and parameters)."""
    call = open_call(text, line, char)
    if call is not None:
        return _arguments(checked, call)
    items = [Item(n, "layer", _layer_detail(n)) for n in [*LAYERS, *KERNEL_FORMS]]
    items += [Item(c, "combinator", f"{c}<…>", f"{c}<") for c in COMBINATORS]
    items.append(Item("project", "layer", "residual's projection shortcut"))
    if checked is not None:
        items += _in_scope(checked, line + 1)
    return items


def _layer_detail(name: str) -> str:
    found = lookup(name)
    if found is None:
        return "layer"
    layer = found[1]
    names = ", ".join(layer.sig.names())
    return f"{name}({names})" if names else name


def _arguments(checked: Checked | None, call: str) -> list[Item]:
    found = lookup(call)
    if found is not None:
        return [Item(f"{p}=", "argument", f"{call}: {p}", f"{p}=") for p in found[1].sig.names()]
    block = checked.blocks.get(call) if checked is not None else None
    if block is None:
        return []
    return [Item(f"{p.name}=", "argument", f"{call}: {p.name}", f"{p.name}=") for p in block.params]


def _in_scope(checked: Checked, line: int) -> list[Item]:
    from dslc.lsp.hover import signature

    items = [Item(name, "block", signature(b)) for name, b in checked.blocks.items()]
    program = checked.program
    if program is None:
        return items
    where = None
    for s in program.statements:
        if isinstance(s, ast.Network):
            items += [Item(p.name, "parameter", f"network parameter of {s.name}") for p in s.params]
        elif isinstance(s, ast.BlockDef) and s.span.line <= line <= s.span.end_line:
            where = s
            items += [Item(p.name, "parameter", f"parameter of block {s.name}") for p in s.params]
            items += [Item(b, "parameter", f"branch of block {s.name}") for b in s.branches]
        elif isinstance(s, ast.Input):
            items.append(Item(s.name, "tap", "network input"))
    taps = {e.tap for e, b in elements(program) if e.tap is not None and b is where}
    items += [Item(t, "tap", "tap") for t in sorted(taps)]
    return items
