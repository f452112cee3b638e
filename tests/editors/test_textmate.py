"""The TextMate grammar (editors/vscode/syntaxes/xnet.tmLanguage.json) tokenises the zoo as VS
Code does (vscode-textmate with Oniguruma, in node): every token of the .lark grammar gets the
scope of its role, no text is left unscoped, and each file's scopes match a golden file
(refresh with --update-golden)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from textmate import ROOT, VSCODE, WORDS, Token, innermost, mismatches, parser
from zoo import xnet_files

from dslc.expand.combinators import COMBINATORS
from dslc.expand.evaluate import FUNCTIONS
from dslc.expand.layers import LAYERS
from dslc.lsp.complete import KERNEL_FORMS

GOLDEN = Path(__file__).parent / "golden"
ZOO = xnet_files(ROOT / "models")
Tokenize = Callable[[Sequence[Path]], dict[Path, list[Token]]]


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


ALL_TOKENS = f"""\
import "lib/resnet.xnet"  # a comment
network every(a = 1, b = 2.5e-3, f = .5, g = 1e6, h = 3.)
input x: 3 x H x W
inline block twice(n)<body | other> = body -> other * n as i
block pool(k = 1) = (if a < 2 and not b >= 1 or true then relu else bn)
(if if a > 1 then b < 2 else false then residual<relu> else bn)
(if not (a > 1) then relu else (bn -> relu)) -> (if a then [relu] else concat<bn>)
{" -> ".join([*LAYERS, *KERNEL_FORMS, "conv1x7", "maxpool5", "project"])}
{" -> ".join(f"{c}<relu | bn>" for c in COMBINATORS)} -> concat[relu | bn]
"stage{{i}}-{{#}}": relu * 2 as i @t -> label: relu * (a - 1) -> [relu] @u
conv(8, k = [1, 2], pad = (1, 2), groups = a // 2 % 3 + 1 - -1, bias = false)
conv1x1({", ".join(f"{f}(1)" for f in FUNCTIONS)}, {", ".join(WORDS)}, C, H, W)
conv1x1(if C > a then 1 else 2, a == 1, a != 2, a <= 3, b * 2 / 1)
output x, t
preprocess x: image(uint8, hwc) -> resize(36, mode=bilinear) -> center_crop(32) -> bgr
    -> normalize(mean=(0.5, 0.5, 0.5), std=0.25)  # torchvision's
labels "classes.txt" if a == 1
"""


def test_every_token_of_the_grammar_gets_the_scope_of_its_role(
    tokenize: Tokenize, zoo: dict[Path, list[Token]], tmp_path: Path
) -> None:
    every = tmp_path / "every.xnet"
    every.write_text(ALL_TOKENS, encoding="utf-8")
    lark_parser = parser()
    bad, seen = mismatches(lark_parser, every.name, ALL_TOKENS, tokenize([every])[every])
    for path in ZOO:
        found, kinds = mismatches(lark_parser, path.name, path.read_text("utf-8"), zoo[path])
        bad, seen = bad + found, seen | kinds
    assert bad == []
    terminals = {t.name for t in lark_parser.terminals} - {"_NL", "WS"}
    assert seen == terminals  # every terminal of the grammar was written and checked


def test_every_include_names_a_rule_and_every_rule_is_used() -> None:
    grammar = json.loads((VSCODE / "syntaxes" / "xnet.tmLanguage.json").read_text("utf-8"))
    included = set(re.findall(r'"include": "#([\w-]+)"', json.dumps(grammar)))
    assert included == set(grammar["repository"])
