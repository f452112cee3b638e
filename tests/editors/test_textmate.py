"""The TextMate grammar (editors/vscode/syntaxes/xnet.tmLanguage.json) tokenises the zoo as VS
Code does (vscode-textmate with Oniguruma, in node): every token of the .lark grammar gets the
scope of its role, no text is left unscoped, and each file's scopes match a golden file
(refresh with --update-golden)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import lark
import pytest
from conftest import ROOT, Token
from zoo import xnet_files

from dslc.expand.combinators import COMBINATORS
from dslc.expand.evaluate import FUNCTIONS, SHAPE_SYMBOLS
from dslc.expand.layers import LAYERS, lookup
from dslc.lsp.complete import KERNEL_FORMS
from dslc.syntax.lexing import Newlines
from dslc.syntax.parser import grammar_text

GOLDEN = Path(__file__).parent / "golden"
ZOO = xnet_files(ROOT / "models")
Tokenize = Callable[[Sequence[Path]], dict[Path, list[Token]]]

# every word an argument may take (pad=same, mode=bilinear, ...), as the layers check them
WORDS = ("same", "valid", "nearest", "bilinear", "row", "batch", "none", "tanh")


def innermost(scopes: list[str]) -> str | None:
    """The scope that says what a token is: the innermost one that is not a region (meta.*)."""
    for s in reversed(scopes):
        if s != "source.xnet" and not s.startswith(("meta.", "source.xnet.")):
            return s.removesuffix(".xnet")
    return None


def render(tokens: list[Token]) -> str:
    """One line per source line that holds tokens: `text⟨scope⟩ ...`; comment text elided."""
    rows: dict[int, list[str]] = {}
    for line, _, text, scopes in tokens:
        if text.strip():
            scope = innermost(scopes) or "-"
            shown = "…" if scope.startswith("comment.line") else text
            rows.setdefault(line, []).append(f"{shown}⟨{scope}⟩")
    return "".join(f"{n + 1}: {' '.join(row)}\n" for n, row in sorted(rows.items()))


@pytest.fixture(scope="module")
def zoo(tokenize: Tokenize) -> dict[Path, list[Token]]:
    return tokenize(ZOO)


def test_the_zoo_has_files() -> None:
    assert len(ZOO) >= 50 and ROOT / "models" / "resnet152.xnet" in ZOO


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.relative_to(ROOT / "models").as_posix())
def test_scopes_match_golden(path: Path, zoo: dict[Path, list[Token]], update_golden: bool) -> None:
    text = render(zoo[path])
    golden = GOLDEN / path.relative_to(ROOT / "models").with_suffix(".tokens")
    if update_golden or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_no_text_is_left_unscoped(zoo: dict[Path, list[Token]]) -> None:
    bare = [
        f"{p.name}:{line + 1}:{col + 1} {text!r} {scopes}"
        for p, tokens in zoo.items()
        for line, col, text, scopes in tokens
        if text.strip() and (innermost(scopes) or "invalid").startswith("invalid")
    ]
    assert bare == []
    assert sum(len(t) for t in zoo.values()) > 10_000  # the zoo was tokenised, not skipped


# ---- every token of grammars/xnet.lark, by its role in the parse tree ----

_BY_TYPE = {
    "_IMPORT": "keyword.control.import",
    "_NETWORK": "storage.type.network",
    "_INPUT": "keyword.other.input",
    "_OUTPUT": "keyword.other.output",
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
            "punctuation.separator.colon" if rule == "input_stmt" else "punctuation.separator.label"
        )
    if t in ("_LANGLE", "_RANGLE"):
        if rule in ("less", "greater"):
            return "keyword.operator.comparison"
        return "punctuation.section.branches." + ("begin" if t == "_LANGLE" else "end")
    assert t in _BRACKETS, t
    return f"punctuation.section.{_PARENS[rule]}.{_BRACKETS[t]}"


def _parser() -> lark.Lark:
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


def _mismatches(parser: lark.Lark, path: Path, tokens: list[Token]) -> tuple[list[str], set[str]]:
    text = path.read_text(encoding="utf-8")
    roles = _roles(parser.parse(text))
    roles += [(c, "", "", "") for c in parser.lex(text, dont_ignore=True) if c.type == "COMMENT"]
    bad, seen = [], set()
    for tok, rule, above, prev in roles:
        assert tok.line is not None and tok.column is not None
        scopes = _scopes_at(tokens, tok.line - 1, tok.column - 1)
        want, got = expected(tok, rule, above, prev), innermost(scopes)
        if got != want:
            bad.append(
                f"{path.name}:{tok.line}:{tok.column} {tok.value!r} in {rule}: {got} != {want}"
            )
        seen.add(tok.type)
    return bad, seen


ALL_TOKENS = f"""\
import "lib/resnet.xnet"  # a comment
network every(a = 1, b = 2.5e-3, f = .5, g = 1e6, h = 3.)
input x: 3 x H x W
inline block twice(n)<body | other> = body -> other * n as i
block pool(k = 1) = (if a < 2 and not b >= 1 or true then relu else bn)
(if if a > 1 then b < 2 else false then residual<relu> else bn)
{" -> ".join([*LAYERS, *KERNEL_FORMS, "conv1x7", "maxpool5", "project"])}
{" -> ".join(f"{c}<relu | bn>" for c in COMBINATORS)} -> concat[relu | bn]
"stage{{i}}-{{#}}": relu * 2 as i @t -> label: relu * (a - 1) -> [relu] @u
conv(8, k = [1, 2], pad = (1, 2), groups = a // 2 % 3 + 1 - -1, bias = false)
conv1x1({", ".join(f"{f}(1)" for f in FUNCTIONS)}, {", ".join(WORDS)}, C, H, W)
conv1x1(if C > a then 1 else 2, a == 1, a != 2, a <= 3, b * 2 / 1)
output x, t
"""


def test_every_token_of_the_grammar_gets_the_scope_of_its_role(
    tokenize: Tokenize, zoo: dict[Path, list[Token]], tmp_path: Path
) -> None:
    every = tmp_path / "every.xnet"
    every.write_text(ALL_TOKENS, encoding="utf-8")
    parser = _parser()
    bad, seen = _mismatches(parser, every, tokenize([every])[every])
    for path in ZOO:
        found, kinds = _mismatches(parser, path, zoo[path])
        bad, seen = bad + found, seen | kinds
    assert bad == []
    terminals = {t.name for t in parser.terminals} - {"_NL", "WS"}
    assert seen == terminals  # every terminal of the grammar was written and checked
