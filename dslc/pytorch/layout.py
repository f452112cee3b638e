"""Black's layout for the few statement shapes model.py has, so the file reads as formatted
code (ruff format leaves it unchanged): a call too long for its line has its arguments on the
next line, or one a line with a trailing comma; a multi-line value given to add_module goes
inside the call's own brackets."""

from __future__ import annotations

__all__ = ["WIDTH", "fit", "split_top"]

WIDTH = 88
STEP = "    "


def split_top(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside brackets and strings."""
    out, depth, k, begin = [], 0, 0, 0
    while k < len(text):
        ch = text[k]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == '"':
            k = text.index('"', k + 1)
        elif depth == 0 and text.startswith(sep, k):
            out.append(text[begin:k])
            k += len(sep)
            begin = k
            continue
        k += 1
    out.append(text[begin:])
    return out


def _call_parts(code: str) -> tuple[str, str, str] | None:
    """`head(`, the arguments and `)` of a code that ends with a call's closing bracket."""
    if not code.endswith(")"):
        return None
    depth = 0
    for k in range(len(code) - 1, -1, -1):
        if code[k] == ")":
            depth += 1
        elif code[k] == "(":
            depth -= 1
            if depth == 0:
                return code[: k + 1], code[k + 1 : -1], ")"
    return None


def fit(pad: str, code: str, suffix: str = "") -> list[str]:
    """Lines for `code` at indent `pad`, then `suffix` (a trailing comma inside a list)."""
    if len(pad) + len(code) + len(suffix) <= WIDTH:
        return [pad + code + suffix]
    parts = _call_parts(code)
    if parts is None or not parts[1]:
        list_parts = _list_parts(code)
        if list_parts is None:
            return [pad + code + suffix]
        parts = list_parts
    head, args, close = parts
    inner = pad + STEP
    if len(inner) + len(args) <= WIDTH and not args.endswith(","):
        return [pad + head, inner + args, pad + close + suffix]
    lines = [pad + head]
    for arg in split_top(args, ", "):
        lines.extend(fit(inner, arg.strip(), ","))
    return [*lines, pad + close + suffix]


def _list_parts(code: str) -> tuple[str, str, str] | None:
    """A keyword argument holding a list (`weight=[...]`) split as a call is."""
    if code.endswith("]") and "[" in code:
        k = code.index("[")
        return code[: k + 1], code[k + 1 : -1], "]"
    return None
