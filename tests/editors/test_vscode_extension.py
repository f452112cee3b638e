"""The VS Code extension (editors/vscode) as far as it can be checked without VS Code: its
manifest names files that exist, language-configuration.json's regular expressions compile and
indent as intended, and activating it starts `dslc lsp` over stdio, which answers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textmate import VSCODE, run_node

from dslc.syntax.parser import grammar_text


@pytest.fixture(scope="module")
def report(node: str) -> Any:
    return run_node(node, "check.js")


def test_the_manifest_contributes_the_language_and_its_grammar(report: Any) -> None:
    pkg = report["package"]
    assert [(lang["id"], lang["extensions"]) for lang in pkg["languages"]] == [("xnet", [".xnet"])]
    assert [(g["language"], g["scopeName"]) for g in pkg["grammars"]] == [("xnet", "source.xnet")]
    assert report["grammarScope"] == "source.xnet"
    assert pkg["activationEvents"] == ["onLanguage:xnet"]
    assert "xnet.server.path" in pkg["settings"]
    # the files it names: the entry point, the language configuration, the grammar
    assert [(f["path"], f["exists"]) for f in report["files"]] == [
        ("./extension.js", True),
        ("./language-configuration.json", True),
        ("./syntaxes/xnet.tmLanguage.json", True),
    ]
    # the arrow's and the comparisons' `>` and `<` are no brackets to colour or match
    assert set(pkg["grammars"][0]["unbalancedBracketScopes"]) == {
        "keyword.operator.arrow.xnet",
        "keyword.operator.comparison.xnet",
    }


def test_the_lock_file_pins_the_packages_the_manifest_names() -> None:
    pkg = json.loads((VSCODE / "package.json").read_text())
    lock = json.loads((VSCODE / "package-lock.json").read_text())
    named = {**pkg["dependencies"], **pkg["devDependencies"]}
    assert set(named) == {"vscode-languageclient", "vscode-textmate", "vscode-oniguruma"}
    for name, version in named.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_comments_and_brackets_are_the_grammars() -> None:
    conf = json.loads((VSCODE / "language-configuration.json").read_text())
    comment = re.search(r"^COMMENT: /(.)", grammar_text(), re.MULTILINE)
    assert comment is not None and conf["comments"] == {"lineComment": comment.group(1)}
    pairs = {tuple(p) for p in conf["brackets"]}
    assert pairs == {("(", ")"), ("[", "]"), ("<", ">")}
    closing = {(p["open"], p["close"]) for p in conf["autoClosingPairs"]}
    assert pairs <= closing and ('"', '"') in closing


def test_the_configurations_regexes_compile_and_indent_after_an_arrow(report: Any) -> None:
    assert [(r["where"], r["error"]) for r in report["regexes"] if r["error"]] == []
    conf = json.loads((VSCODE / "language-configuration.json").read_text())
    more, less = (
        re.compile(conf["indentationRules"][k])
        for k in ("increaseIndentPattern", "decreaseIndentPattern")
    )
    assert more.match("block bottleneck(c, stride = 1) =")
    assert more.match("    residual<  # the body")
    assert not more.match("conv3x3(64) -> bn -> relu")
    assert less.match("    > -> relu") and less.match("]") and not less.match("-> relu")

    def on_enter(line: str, previous: str) -> str:
        for rule in conf["onEnterRules"]:
            if re.search(rule["beforeText"], line) and re.search(
                rule.get("previousLineText", ""), previous
            ):
                return str(rule["action"]["indent"])
        return "keep"

    assert on_enter("conv7x7(64, stride=2) ->", "input image: 3 x 224 x 224") == "indent"
    assert on_enter("conv7x7(64) ->  # the stem", "") == "indent"
    assert on_enter("    bn ->", "conv7x7(64) ->") == "none"  # a chain indents once, not per line
    assert on_enter("conv7x7(64) -> bn", "") == "keep"


def test_activation_starts_dslc_lsp_over_stdio(report: Any, node: str) -> None:
    clients = report["activation"]["clients"]
    assert [(c["id"], c["selector"], c["started"]) for c in clients] == [
        ("xnet", [{"language": "xnet"}], True)
    ]
    # no `transport`: with TransportKind.stdio the client would add `--stdio`, which dslc refuses
    assert clients[0]["server"]["run"] == {"command": "dslc", "args": ["lsp"]}
    assert report["activation"]["commands"] == ["xnet.server.restart"]
    custom = run_node(node, "check.js", "/opt/dslc/bin/dslc")["activation"]["clients"]
    assert custom[0]["server"]["run"] == {"command": "/opt/dslc/bin/dslc", "args": ["lsp"]}


def _message(body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(data), data)


def _replies(out: bytes) -> list[dict[str, Any]]:
    found = []
    while out:
        head, _, rest = out.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        found.append(json.loads(rest[:length]))
        out = rest[length:]
    return found


def test_the_extensions_server_command_answers_an_lsp_client(node: str, tmp_path: Path) -> None:
    pytest.importorskip("pygls")
    dslc = tmp_path / "dslc"  # what xnet.server.path names: here, this checkout's dslc
    dslc.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dslc "$@"\n')
    dslc.chmod(0o755)
    run = run_node(node, "check.js", str(dslc))["activation"]["clients"][0]["server"]["run"]
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "id": 2, "method": "shutdown"},
        {"jsonrpc": "2.0", "method": "exit"},
    ]
    done = subprocess.run(
        [run["command"], *run["args"]],
        input=b"".join(_message(m) for m in messages),
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr.decode()
    replies = {r["id"]: r for r in _replies(done.stdout) if "id" in r}
    capabilities = replies[1]["result"]["capabilities"]
    assert capabilities["hoverProvider"] and capabilities["definitionProvider"]
    assert "completionProvider" in capabilities and replies[2]["result"] is None
