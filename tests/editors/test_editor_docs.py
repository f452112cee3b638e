"""editors/README.md's set-ups for Neovim and Helix start the server as the extension does
(`dslc lsp`) for *.xnet files with `#` comments, and README.md links to them."""

from __future__ import annotations

import re
import tomllib

from textmate import ROOT

DOC = (ROOT / "editors" / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, re.DOTALL)


def test_helix_languages_toml_parses_and_starts_dslc_lsp() -> None:
    [block] = _blocks("toml")
    conf = tomllib.loads(block)
    assert conf["language-server"]["dslc"] == {"command": "dslc", "args": ["lsp"]}
    [lang] = conf["language"]
    assert (lang["name"], lang["file-types"], lang["comment-token"]) == ("xnet", ["xnet"], "#")
    assert lang["language-servers"] == ["dslc"] and lang["scope"] == "source.xnet"


def test_every_neovim_setup_starts_dslc_lsp_for_xnet() -> None:
    blocks = _blocks("lua")
    assert len(blocks) == 3  # 0.11's vim.lsp.config, 0.10's vim.lsp.start, nvim-lspconfig
    for block in blocks:
        assert 'cmd = { "dslc", "lsp" }' in block and '"xnet"' in block
        assert block.count("(") == block.count(")") and block.count("{") == block.count("}")
    assert 'vim.filetype.add({ extension = { xnet = "xnet" } })' in blocks[0]


def test_readme_links_the_editor_setups() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    editors = readme[readme.index("### Editors") : readme.index("### `dslc summary --json`")]
    assert "(editors/README.md)" in editors and "editors/vscode/" in editors
