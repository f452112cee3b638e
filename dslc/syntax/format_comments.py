"""Comments the formatter moves before laying a chain out: those between a label and its
primary, or right after an opening bracket, where no layout could keep them in place."""

from __future__ import annotations

from collections.abc import Iterator

from dslc.syntax import ast

__all__ = ["Comments", "lift_head_comments", "within"]

Comments = dict[int, ast.Comment]


def within(cm: Comments, first: int, last: int) -> list[int]:
    """Source lines in first..last that carry a comment."""
    return sorted(line for line in cm if first <= line <= last)


def _elements(chain: ast.Chain) -> Iterator[ast.Element]:
    """Every element of a chain, nested ones included."""
    for e in chain.elements:
        yield e
        p = e.primary
        if isinstance(p, ast.Group):
            yield from _elements(p.chain)
        elif isinstance(p, ast.Combinator):
            for branch in p.branches:
                yield from _elements(branch)
        elif isinstance(p, ast.Conditional):
            yield from _elements(p.then)
            if p.orelse is not None:
                yield from _elements(p.orelse)


def lift_head_comments(chain: ast.Chain, cm: Comments) -> list[ast.Comment]:
    """Move the comments between a label and its primary (`(k  # c` newline `: [relu])`),
    where no layout can keep them, to where the formatted text will have them: an
    end-of-line one to the primary's first line, an own-line one above the statement
    (returned). Else the first layout would break for them and the second would not."""
    above: list[ast.Comment] = []
    for e in _elements(chain):
        _lift(cm, e.span.line, e.primary.span.line, above)
        inner = _opened(e.primary)
        if inner is not None:  # `(  # c` newline `relu)`: onto the first inner line
            _lift(cm, e.primary.span.line, inner.span.line, None)
    return above


def _opened(p: ast.Primary) -> ast.Chain | None:
    """The chain right after a primary's opening bracket, if it has one."""
    if isinstance(p, ast.Group):
        return p.chain
    if isinstance(p, ast.Combinator):
        return p.branches[0] if p.branches else None
    return p.then if isinstance(p, ast.Conditional) else None


def _lift(cm: Comments, first: int, start: int, above: list[ast.Comment] | None) -> None:
    """Move the comments on lines first..start-1 to line `start`: own-line ones to `above`
    (left in place when it is None), end-of-line ones to the end of line `start`."""
    for line in within(cm, first, start - 1):
        comment = cm[line]
        if comment.own_line:
            if above is not None:
                above.append(cm.pop(line))
            continue
        del cm[line]
        if start in cm:  # join the line's own comment: `# a  # b`
            text = f"{comment.text.rstrip()}  {cm[start].text}"
            cm[start] = ast.Comment(text=text, line=start, own_line=cm[start].own_line)
        else:
            cm[start] = ast.Comment(text=comment.text, line=start, own_line=False)
