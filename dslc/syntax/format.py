"""The canonical .xnet formatter behind `dslc fmt`: AST in, text out.

Layout: one statement per line, 4-space indent, target width 88. A statement that does
not fit is broken only where the parser lets a line continue: before a top-level `->`,
after a block's `=`, or inside brackets `( ) [ ] < >`. Comments are kept: in a multi-line
chain or block each stays beside the element it followed (which keeps that chain broken).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from dslc.syntax import ast
from dslc.syntax.format_comments import Comments, lift_head_comments, within
from dslc.syntax.format_expr import format_expr, label_text

__all__ = ["INDENT", "WIDTH", "Comments", "format_expr", "format_program"]

WIDTH = 88
INDENT = 4

# ---- chains, flat ----


def _args(args: tuple[ast.Arg, ...] | None) -> str:
    """Render a call's argument list; None (no parentheses) renders as nothing."""
    if args is None:
        return ""
    return "(" + ", ".join(_arg(a) for a in args) + ")"


def _arg(a: ast.Arg) -> str:
    """Render one argument, `k=v` without spaces."""
    value = format_expr(a.value)
    return value if a.name is None else f"{a.name}={value}"


def _count(count: ast.Expr) -> str:
    """Render a repetition count: bare when an integer or a name, else parenthesised."""
    if isinstance(count, ast.Name):
        return count.id
    if isinstance(count, ast.Num) and isinstance(count.value, int) and count.value >= 0:
        return str(count.value)
    return f"({format_expr(count)})"


def _head(e: ast.Element) -> str:
    """The label prefix of an element, e.g. `layer1: `."""
    return "" if e.label is None else f"{label_text(e.label)}: "


def _tail(e: ast.Element) -> str:
    """The count and tap suffix of an element, e.g. ` * 3 @pool3`."""
    text = "" if e.count is None else f" * {_count(e.count)}"
    text += "" if e.index is None else f" as {e.index}"
    return text if e.tap is None else f"{text} @{e.tap}"


def _flat_primary(p: ast.Primary) -> str:
    """Render a call, combinator or group on one line."""
    if isinstance(p, ast.Call):
        return p.name + _args(p.args)
    if isinstance(p, ast.Combinator):
        left, right = _brackets(p)
        return f"{p.kind}{_args(p.args)}{left}" + " | ".join(map(_flat_chain, p.branches)) + right
    if isinstance(p, ast.Conditional):
        orelse = "" if p.orelse is None else f" else {_flat_chain(p.orelse)}"
        return f"(if {format_expr(p.cond)} then {_flat_chain(p.then)}{orelse})"
    left, right = _brackets(p)
    return f"{left}{_flat_chain(p.chain)}{right}"


def _brackets(g: ast.Group | ast.Combinator) -> tuple[str, str]:
    """`[` `]` for a numbered sequence or numbered branches; `(` `)` for a plain group,
    `<` `>` for a combinator's branches."""
    if g.numbered:
        return ("[", "]")
    return ("<", ">") if isinstance(g, ast.Combinator) else ("(", ")")


def _flat_element(e: ast.Element) -> str:
    """Render an element on one line."""
    return _head(e) + _flat_primary(e.primary) + _tail(e)


def _flat_chain(c: ast.Chain) -> str:
    """Render a chain on one line."""
    return " -> ".join(_flat_element(e) for e in c.elements)


# ---- chains, broken ----
# Each function returns lines: the first continues the current line at column `col`,
# the rest are whole lines; `ind` is the indentation of the line the text starts on.
# `cm` holds the statement's comments by source line; a layout takes the comments that
# stood inside what it lays out, so each comment stays beside the element it annotated.


def _trailing(cm: Comments, first: int, last: int) -> str:
    """Take the end-of-line comments in first..last as trailing text (`  # a  # b`)."""
    lines = [line for line in within(cm, first, last) if not cm[line].own_line]
    return "".join("  " + cm.pop(line).text.rstrip() for line in lines)


def _fits_with(
    cm: Comments, first: int, last: int, col: int, flat: str, end: int | None = None
) -> bool:
    """True when `flat` fits on one line without losing a comment's place: comments in
    first..last stand at the end of line `end` (default `last`) or on own lines after it."""
    end = last if end is None else end
    for line in within(cm, first, last):
        if (line <= end) if cm[line].own_line else (line != end):
            return False
    return col + len(flat) <= WIDTH


def _own_lines(cm: Comments, first: int, before: int, col: int) -> list[str]:
    """Own-line comments between first and before, as lines at column `col`."""
    out = []
    for line in within(cm, first, before - 1):
        if cm[line].own_line:
            out.append(" " * col + cm.pop(line).text.rstrip())
    return out


def _chain(c: ast.Chain, col: int, ind: int, cont: int, cm: Comments) -> list[str]:
    """Lay out a chain; if it must break, keep the source's grouping of elements on lines
    where they still fit, else one element per line, later lines led by `-> ` at `cont`.

    A comment belongs to the last element that starts on or before its line.
    """
    flat = _flat_chain(c)
    if _fits_with(cm, c.span.line, c.span.end_line, col, flat):
        return [flat + _trailing(cm, c.span.line, c.span.end_line)]
    els = c.elements
    ends = [max(nxt.span.line - 1, e.span.line) for e, nxt in itertools.pairwise(els)]
    ends.append(c.span.end_line)
    lines: list[str] = []
    for idxs in _source_lines(els):
        head = els[idxs[0]]
        first = not lines
        at = col if first else cont + 3
        if not first:
            lines += _own_lines(cm, c.span.line, head.span.line, cont)
        text = " -> ".join(_flat_element(els[i]) for i in idxs)
        last = ends[idxs[-1]]
        tail = els[idxs[-1]].span.end_line
        if len(idxs) > 1 and _fits_with(cm, head.span.line, last, at, text, tail):
            text += _trailing(cm, head.span.line, last)
            lines.append(text if first else " " * cont + "-> " + text)
            continue
        for i in idxs:
            if not lines:
                lines += _element(els[i], col, ind, cm, ends[i])
            else:
                sub = _element(els[i], cont + 3, cont, cm, ends[i])
                lines += [" " * cont + "-> " + sub[0], *sub[1:]]
    return lines


def _source_lines(els: tuple[ast.Element, ...]) -> list[list[int]]:
    """Indices of elements grouped as they stood on source lines."""
    groups: list[list[int]] = []
    for i, e in enumerate(els):
        if groups and e.span.line == els[groups[-1][-1]].span.end_line:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _element(e: ast.Element, col: int, ind: int, cm: Comments, last: int) -> list[str]:
    """Lay out an element, opening its brackets when it is too wide or holds comments.

    It takes the comments on its source lines up to `last`.
    """
    flat = _flat_element(e)
    p = e.primary
    if _fits_with(cm, e.span.line, last, col, flat, e.span.end_line):
        lines = [flat]
    elif isinstance(p, ast.Combinator):
        lines = _combinator(p, _head(e), _tail(e), ind, cm)
    elif isinstance(p, ast.Group):
        lines = _group(p, _head(e), _tail(e), ind, cm)
    elif isinstance(p, ast.Conditional):
        lines = _conditional(p, _head(e), _tail(e), ind, cm)
    elif p.args and col + len(flat) > WIDTH:
        lines = _call(p, _head(e), _tail(e), ind)
    else:
        lines = [flat]
    lines[-1] += _trailing(cm, e.span.line, last)
    return lines


def _combinator(c: ast.Combinator, head: str, tail: str, ind: int, cm: Comments) -> list[str]:
    """Branches on their own lines, later ones led by `| ` so the branch texts align."""
    col = ind + 2 * INDENT
    left, right = _brackets(c)
    lines = [f"{head}{c.kind}{_args(c.args)}{left}"]
    start = c.span.line
    for i, branch in enumerate(c.branches):
        lines += _own_lines(cm, start, branch.span.line, col)
        sub = _chain(branch, col, col, col, cm)
        lead = " " * col if i == 0 else " " * (col - 2) + "| "
        lines += [lead + sub[0], *sub[1:]]
        start = branch.span.end_line + 1
    return [*lines, " " * (ind + INDENT) + right + tail]


def _conditional(c: ast.Conditional, head: str, tail: str, ind: int, cm: Comments) -> list[str]:
    """`(if cond then`, the chain indented, `else`, the chain indented, `)`."""
    col = ind + INDENT
    sub = _chain(c.then, col, col, col, cm)
    lines = [f"{head}(if {format_expr(c.cond)} then", " " * col + sub[0], *sub[1:]]
    if c.orelse is not None:
        sub = _chain(c.orelse, col, col, col, cm)
        lines += [" " * ind + "else", " " * col + sub[0], *sub[1:]]
    return [*lines, " " * ind + ")" + tail]


def _group(g: ast.Group, head: str, tail: str, ind: int, cm: Comments) -> list[str]:
    """The chain indented one level inside its brackets."""
    col = ind + INDENT
    sub = _chain(g.chain, col, col, col, cm)
    left, right = _brackets(g)
    return [head + left, " " * col + sub[0], *sub[1:], " " * ind + right + tail]


def _call(c: ast.Call, head: str, tail: str, ind: int) -> list[str]:
    """One argument per line, each with a trailing comma."""
    pad = " " * (ind + INDENT)
    args = [pad + _arg(a) + "," for a in c.args or ()]
    return [f"{head}{c.name}(", *args, " " * ind + ")" + tail]


# ---- statements ----


def _params(params: tuple[ast.Param, ...]) -> str:
    """Render a parameter list, `name = default`; empty renders as nothing."""
    if not params:
        return ""
    return "(" + ", ".join(_param(p) for p in params) + ")"


def _param(p: ast.Param) -> str:
    """`name` or `name = default`."""
    return p.name if p.default is None else f"{p.name} = {format_expr(p.default)}"


def _block(b: ast.BlockDef, cm: Comments) -> str:
    """`block name(params) = body`, the body moved to the next lines if too wide."""
    keyword = f"{'inline ' if b.inline else ''}block {b.name}"
    chains = f"<{' | '.join(b.branches)}>" if b.branches else ""
    head = f"{keyword}{_params(b.params)}{chains} ="
    if len(head) > WIDTH:  # one parameter per line, each with a trailing comma
        pad = " " * INDENT
        lines = [pad + _param(p) + "," for p in b.params]
        body = _chain(b.body, INDENT, INDENT, INDENT, cm)
        return "\n".join([f"{keyword}(", *lines, f"){chains} =", pad + body[0], *body[1:]])
    flat = _flat_chain(b.body)
    if _fits_with(cm, b.body.span.line, b.body.span.end_line, len(head) + 1, flat):
        return f"{head} {flat}" + _trailing(cm, b.body.span.line, b.body.span.end_line)
    body = _chain(b.body, INDENT, INDENT, INDENT, cm)
    return "\n".join([head, " " * INDENT + body[0], *body[1:]])


def _statement(s: ast.Statement, cm: Comments) -> str:
    """Render one statement, possibly over several lines."""
    if isinstance(s, ast.Import):
        return f'import "{s.path}"'
    if isinstance(s, ast.Network):
        flat = f"network {s.name}{_params(s.params)}"
        if len(flat) <= WIDTH:
            return flat
        lines = [" " * INDENT + _param(p) + "," for p in s.params]  # one per line
        return "\n".join([f"network {s.name}(", *lines, ")"])
    if isinstance(s, ast.Input):
        return f"input {s.name}: " + " x ".join(format_expr(d) for d in s.dims)
    if isinstance(s, ast.Output):
        return "output " + ", ".join(s.names)
    if isinstance(s, ast.Labels):
        return f'labels "{s.path}"' + (f" if {format_expr(s.when)}" if s.when else "")
    if isinstance(s, ast.Preprocess):
        lines = _chain(s.chain, len(head := f"preprocess {s.name}: "), 0, INDENT, cm)
        return "\n".join([head + lines[0], *lines[1:]])
    if isinstance(s, ast.BlockDef):
        return _block(s, cm)
    return "\n".join(_chain(s.chain, 0, 0, INDENT, cm))


# ---- the program, with comments and blank lines ----


@dataclass
class _Writer:
    """Collects output lines, keeping one blank line where the source had a gap."""

    lines: list[str] = field(default_factory=list)
    last: int | None = None  # the last source line written so far

    def add(self, first: int, last: int, text: str) -> None:
        """Write text that stood on source lines first..last."""
        if self.last is not None and first > self.last + 1:
            self.lines.append("")
        self.lines.append(text)
        self.last = max(last, self.last or 0)


def format_program(program: ast.Program) -> str:
    """Render a whole program in canonical layout."""
    comments = sorted(program.comments, key=lambda c: c.line)
    out = _Writer()
    for stmt in program.statements:
        first, last = stmt.span.line, stmt.span.end_line
        while comments and comments[0].line < first:
            comment = comments.pop(0)
            out.add(comment.line, comment.line, comment.text.rstrip())
        inside = []
        while comments and comments[0].line <= last:
            inside.append(comments.pop(0))
        if isinstance(stmt, ast.BlockDef | ast.ChainStmt | ast.Preprocess) and first != last:
            cm = {c.line: c for c in inside}
            chain = stmt.body if isinstance(stmt, ast.BlockDef) else stmt.chain
            above = lift_head_comments(chain, cm)
            text = _statement(stmt, cm)
            # what no element took goes above
            inside = sorted([*above, *cm.values()], key=lambda c: c.line)
        else:
            text = _statement(stmt, {})
        out.add(first, last, _with_comments(text, inside, first == last))
    for comment in comments:
        out.add(comment.line, comment.line, comment.text.rstrip())
    return "\n".join(out.lines) + "\n" if out.lines else ""


def _with_comments(text: str, inside: list[ast.Comment], one_line: bool) -> str:
    """Keep a lone end-of-line comment trailing, else put the comments above the text."""
    if len(inside) == 1 and not inside[0].own_line and one_line and "\n" not in text:
        return f"{text}  {inside[0].text.rstrip()}"
    return "\n".join([*(c.text.rstrip() for c in inside), text])
