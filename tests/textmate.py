"""The TextMate grammar's test tools: the extension's node scripts (editors/vscode/test/*.js,
after `npm ci` there), and the scope each token of grammars/xnet.lark should get from its role
in the parse tree, to compare with what the grammar gives it."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lark

from dslc.expand.combinators import COMBINATORS
from dslc.expand.evaluate import FUNCTIONS, SHAPE_SYMBOLS
from dslc.expand.layers import lookup
from dslc.syntax.lexing import Newlines
from dslc.syntax.parser import grammar_text

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"

# [line, column, text, [scope, ...]]: 0-based, the scopes outermost first
Token = tuple[int, int, str, list[str]]


def _words() -> tuple[str, ...]:
    """Every word an argument may take (pad=same, mode=bilinear, ...): the choices of each
    `word(arg, what, (choice, ...))` check in dslc/expand, read from the sources."""
    found: list[str] = []
    for path in sorted((ROOT / "dslc" / "expand").glob("*.py")):
        for choices in re.findall(r"\bword\([^()]*\(([^()]*)\)\)", path.read_text("utf-8")):
            found += re.findall(r'"(\w+)"', choices)
    return tuple(dict.fromkeys(found))


WORDS = _words()


def node_ready() -> str | None:
    """The node executable with the extension's packages installed (npm ci when node_modules
    is missing or older than package-lock.json, about 1 s); None where node is not installed."""
    node = shutil.which("node")
    if node is None:
        return None
    marker = VSCODE / "node_modules" / ".package-lock.json"  # written by npm ci
    lock = VSCODE / "package-lock.json"
    if not marker.is_file() or marker.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        assert npm is not None, "node is installed without npm"
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=VSCODE,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"npm ci in {VSCODE} failed:\n{done.stderr}"
    return node


def run_node(node: str, script: str, *args: str) -> Any:
    """Run one of editors/vscode/test/*.js and read the JSON it prints."""
    done = subprocess.run(
        [node, str(VSCODE / "test" / script), *args],
        cwd=VSCODE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def tokenize(node: str, paths: Sequence[Path]) -> dict[Path, list[Token]]:
    """Tokenise files with the TextMate grammar, as VS Code does, in one node process."""
    found = run_node(node, "tokenize.js", *(str(p) for p in paths))
    return {Path(k): [tuple(t) for t in v] for k, v in found.items()}


def innermost(scopes: list[str]) -> str | None:
    """The scope that says what a token is: the innermost one that is not a region (meta.*)."""
    for s in reversed(scopes):
        if s != "source.xnet" and not s.startswith(("meta.", "source.xnet.")):
            return s.removesuffix(".xnet")
    return None


# ---- the scope of every token of grammars/xnet.lark, by its role in the parse tree ----

_BY_TYPE = {
    "_IMPORT": "keyword.control.import",
    "_NETWORK": "storage.type.network",
    "_INPUT": "keyword.other.input",
    "_OUTPUT": "keyword.other.output",
    "_PREPROCESS": "keyword.other.preprocess",
    "_LABELS": "keyword.other.labels",
    "_BLOCK": "storage.type.block",
    "INLINE": "storage.modifier.inline",
    "_IF": "keyword.control.conditional",
    "_THEN": "keyword.control.conditional",
    "_ELSE": "keyword.control.conditional",
    "_AND": "keyword.operator.logical",
    "_OR": "keyword.operator.logical",
    "_NOT": "keyword.operator.logical",
    "_AS": "keyword.other.as",
    "_TRUE": "constant.language.boolean",
    "_FALSE": "constant.language.boolean",
    "FLOAT": "constant.numeric.float",
    "INT": "constant.numeric.integer",
    "_ARROW": "keyword.operator.arrow",
    "_PIPE": "keyword.operator.branch",
    "COMPARE": "keyword.operator.comparison",
    "_EQUAL": "keyword.operator.assignment",
    "_COMMA": "punctuation.separator.comma",
    "_AT": "punctuation.definition.tap",
    "_DSLASH": "keyword.operator.arithmetic",
    "_SLASH": "keyword.operator.arithmetic",
    "_PERCENT": "keyword.operator.arithmetic",
    "_PLUS": "keyword.operator.arithmetic",
    "_MINUS": "keyword.operator.arithmetic",
    "COMMENT": "punctuation.definition.comment",
}
_BRACKETS = {"_LPAR": "begin", "_RPAR": "end", "_LSQB": "begin", "_RSQB": "end"}
_PARENS = {
    "param_list": "parameters",
    "args": "arguments",
    "func": "arguments",
    "group": "parens",
    "conditional": "parens",
    "paren": "parens",
    "tuple_lit": "parens",
    "sequence": "brackets",
    "numbered": "brackets",
    "list_lit": "brackets",
}
_NAMES = {
    "network_stmt": "entity.name.type.network",
    "input_stmt": "variable.other.input",
    "preprocess_stmt": "variable.other.input",
    "shape": "keyword.operator.shape",
    "output_stmt": "variable.other.output",
    "block_def": "entity.name.function.block",
    "branch_params": "variable.parameter.branch",
    "param": "variable.parameter",
    "keyword": "variable.parameter.keyword",
}


def _name(value: str, rule: str, above: str, prev: str) -> str:
    if rule in _NAMES:
        return _NAMES[rule]
    if rule == "element":  # a label, the index after `as`, or a tap after `@`
        return {"_AS": "variable.parameter.index", "_AT": "variable.other.tap"}.get(
            prev, "entity.name.label"
        )
    if rule == "call":
        layer = lookup(value) is not None or value == "project"
        return "support.function.layer" if layer else "entity.name.function.call"
    if rule in ("combinator", "numbered"):
        known = value in COMBINATORS
        return "keyword.control.combinator" if known else "entity.name.function.call"
    if rule == "func":
        return "support.function.builtin" if value in FUNCTIONS else "entity.name.function.call"
    assert rule == "name", rule
    if above == "shape":
        return "variable.other.dimension"
    if value in SHAPE_SYMBOLS:
        return "variable.language.shape"
    return "constant.language.word" if value in WORDS else "variable.other"


def expected(tok: lark.Token, rule: str, above: str, prev: str) -> str:
    """The scope a token of the .lark grammar should get where it stands."""
    t = tok.type
    if t in _BY_TYPE:
        return _BY_TYPE[t]
    if t == "NAME":
        return _name(tok.value, rule, above, prev)
    if t == "STRING":
        return "punctuation.definition.string.begin"
    if t == "_STAR":
        return "keyword.operator.repeat" if rule == "element" else "keyword.operator.arithmetic"
    if t == "_COLON":
        return (
            "punctuation.separator.colon"
            if rule in ("input_stmt", "preprocess_stmt")
            else "punctuation.separator.label"
        )
    if t in ("_LANGLE", "_RANGLE"):
        if rule in ("less", "greater"):
            return "keyword.operator.comparison"
        return "punctuation.section.branches." + ("begin" if t == "_LANGLE" else "end")
    assert t in _BRACKETS, t
    return f"punctuation.section.{_PARENS[rule]}.{_BRACKETS[t]}"


@functools.cache
def parser() -> lark.Lark:
    return lark.Lark(
        grammar_text(),
        parser="lalr",
        lexer="basic",
        postlex=Newlines(),
        maybe_placeholders=True,
        keep_all_tokens=True,  # the brackets and keywords too, under the rule they belong to
        start="start",
    )


def _roles(tree: lark.Tree, above: str = "") -> list[tuple[lark.Token, str, str, str]]:
    out: list[tuple[lark.Token, str, str, str]] = []
    prev = ""
    for child in tree.children:
        if isinstance(child, lark.Tree):
            out += _roles(child, tree.data)
        elif isinstance(child, lark.Token):
            if child.type != "_NL":
                out.append((child, tree.data, above, prev))
            prev = child.type
    return out


def _scopes_at(tokens: list[Token], line: int, col: int) -> list[str]:
    for n, start, text, scopes in tokens:
        if n == line and start <= col < start + len(text):
            return scopes
    raise AssertionError(f"no token at {line + 1}:{col + 1}")


def mismatches(
    lark_parser: lark.Lark, name: str, text: str, tokens: list[Token]
) -> tuple[list[str], set[str]]:
    """Every token of the program whose TextMate scope is not the one of its role, and the
    terminals the program holds."""
    roles = _roles(lark_parser.parse(text))
    comments = lark_parser.lex(text, dont_ignore=True)
    roles += [(c, "", "", "") for c in comments if c.type == "COMMENT"]
    bad, seen = [], set()
    for tok, rule, above, prev in roles:
        assert tok.line is not None and tok.column is not None
        scopes = _scopes_at(tokens, tok.line - 1, tok.column - 1)
        want, got = expected(tok, rule, above, prev), innermost(scopes)
        if got != want:
            bad.append(f"{name}:{tok.line}:{tok.column} {tok.value!r} in {rule}: {got} != {want}")
        seen.add(tok.type)
    return bad, seen
