"""`dslc graph`: the DOT text (clusters, labels, collapsed blocks, one block, branch order,
input and output nodes) without Graphviz, and Graphviz's own messages through a stand-in."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _dot(tmp_path: Path, model: str, *args: str) -> str:
    out = tmp_path / "g.dot"
    result = _invoke("graph", MODELS / model, "-o", out, *args)
    assert result.exit_code == 0, result.stderr
    return out.read_text()


def _labels(text: str) -> dict[str, str]:
    return dict(re.findall(r'^\s*"([^"]+)" \[label="([^"]*)"', text, re.MULTILINE))


def _edges(text: str) -> list[tuple[str, str]]:
    return re.findall(r'^  "([^"]+)" -> "([^"]+)"', text, re.MULTILINE)


def test_layers_are_labelled_with_kernel_stride_channels_and_params(tmp_path: Path) -> None:
    labels = _labels(_dot(tmp_path, "lenet5.xnet"))
    assert labels["conv1"] == "conv1 · 5×5 /1 · 6 ch · 156 params"
    assert labels["avgpool1"] == "avgpool1 · avg 2×2 /2"
    assert labels["dense3"] == "dense3 · dense → 10 · 850 params"
    assert labels["digit"] == "digit · input 1 × 32 × 32"
    assert labels["output:output"] == "output · 10"
    assert ("dense3", "output:output") in _edges(_dot(tmp_path, "lenet5.xnet"))


def test_every_block_is_a_cluster(tmp_path: Path) -> None:
    text = _dot(tmp_path, "resnet18.xnet", "--depth", "all")
    names = _labels(text)
    blocks = {".".join(n.split(".")[:k]) for n in names for k in range(1, n.count(".") + 1)}
    assert {"layer1", "layer1.0", "layer4.0.downsample"} <= blocks
    for block in blocks:
        assert f'subgraph "cluster_{block}" {{' in text
    layers = json.loads(_invoke("summary", MODELS / "resnet18.xnet", "--json").stdout)["layers"]
    assert len(names) == len(layers) + 2  # every layer, the input and the output


def test_depth_collapses_blocks_with_the_totals_of_summary(tmp_path: Path) -> None:
    text = _dot(tmp_path, "resnet18.xnet", "--depth", "1")
    labels = _labels(text)
    rows = csv.DictReader(
        io.StringIO(
            _invoke(
                "summary",
                MODELS / "resnet18.xnet",
                "--depth",
                "1",
                "--format",
                "csv",
                "--columns",
                "op,params",
            ).stdout
        )
    )
    blocks = [r for r in rows if r["kind"] == "block"]
    assert [r["name"] for r in blocks] == ["layer1", "layer2", "layer3", "layer4"]
    for r in blocks:
        assert f" · {int(r['params']):,} params" in labels[r["name"]]
        assert labels[r["name"]].startswith(f"{r['name']} · {r['op']} · ")
    assert labels["layer2"] == "layer2 · basic_stage · 16 layers · 525,568 params · 0.411 G MACs"
    assert ("layer1", "layer2") in _edges(text)
    assert 'label="128 x 28 x 28"' in text  # the edge from layer2 carries its shape
    assert "cluster_layer1" not in text  # collapsed: a node, not a cluster


def test_big_networks_are_drawn_collapsed_by_default(tmp_path: Path) -> None:
    out = tmp_path / "r50.dot"
    result = _invoke("graph", MODELS / "resnet50.xnet", "-o", out)
    assert result.exit_code == 0
    assert "drawn with blocks below level 2 collapsed (--depth all draws every layer)" in (
        result.stderr
    )
    labels = _labels(out.read_text())
    assert 20 <= len(labels) <= 80
    assert labels["layer3.5"].startswith("5 · bottleneck · 10 layers · 1,117,184 params")


def test_one_block_with_its_inputs_and_outputs(tmp_path: Path) -> None:
    text = _dot(tmp_path, "resnet18.xnet", "--block", "layer2.0", "--rankdir", "LR")
    assert "rankdir=LR;" in text
    labels = _labels(text)
    inside = [n for n in labels if not n.startswith(("in:", "out:"))]
    assert inside and all(n.startswith("layer2.0.") for n in inside)
    assert labels["in:layer1.1.relu2"] == "layer1.1.relu2 · 64 x 56 x 56"
    assert labels["out:layer2.0.relu2"] == "layer2.0.relu2 · 128 x 28 x 28"
    assert ("in:layer1.1.relu2", "layer2.0.conv1") in _edges(text)
    assert ("in:layer1.1.relu2", "layer2.0.downsample.0") in _edges(text)
    bad = _invoke("graph", MODELS / "resnet18.xnet", "--block", "layr2", "-o", tmp_path / "x.dot")
    assert bad.exit_code == 1
    assert "no block or layer named 'layr2'; did you mean 'layer2'" in bad.stderr


def test_branches_stay_in_source_order(tmp_path: Path) -> None:
    text = _dot(tmp_path, "googlenet.xnet", "--block", "inception3a")
    into = [src for src, dst in _edges(text) if dst == "inception3a.concat1"]
    assert [s.split(".")[1] for s in into] == ["branch1", "branch2", "branch3", "branch4"]
    heads = re.search(r"\{rank=same; (.*) \[style=invis\];\}", text)
    assert heads is not None
    assert [h.strip('"').split(".")[1] for h in heads.group(1).split(" -> ")] == [
        "branch1",
        "branch2",
        "branch3",
        "branch4",
    ]
    clusters = re.findall(r'subgraph "cluster_inception3a\.(branch\d)"', text)
    assert clusters == ["branch1", "branch2", "branch3", "branch4"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "g.jpg"], "choose a name ending in .svg, .png, .pdf or .dot"),
        (["--depth", "0"], "give a positive integer or 'all'"),
        (["--rankdir", "XY"], "'XY' is not one of"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = _invoke("graph", MODELS / "lenet5.xnet", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def _fake_dot(tmp_path: Path, script: str) -> Path:
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\ncat > /dev/null\n" + script)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


def test_graphviz_warnings_are_passed_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_dot(
        tmp_path, "echo 'Warning: node conv1, port x unrecognized' >&2\necho '<svg/>'\n"
    )
    monkeypatch.setattr(shutil, "which", lambda name: str(fake))
    result = _invoke("graph", MODELS / "lenet5.xnet", "-o", tmp_path / "g.svg")
    assert result.exit_code == 0
    assert "dot: Warning: node conv1, port x unrecognized" in result.stderr
    assert (tmp_path / "g.svg").read_text() == "<svg/>\n"


def test_graphviz_failure_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_dot(tmp_path, "echo 'Error: syntax error in line 3' >&2\nexit 1\n")
    monkeypatch.setattr(shutil, "which", lambda name: str(fake))
    result = _invoke("graph", MODELS / "lenet5.xnet", "-o", tmp_path / "g.svg")
    assert result.exit_code == 1
    assert "Graphviz's dot failed: Error: syntax error in line 3" in result.stderr
    assert not (tmp_path / "g.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_graphviz_draws_the_branches_left_to_right(tmp_path: Path) -> None:
    out = tmp_path / "inc.svg"
    assert (
        _invoke("graph", MODELS / "googlenet.xnet", "--block", "inception3a", "-o", out).exit_code
        == 0
    )
    svg = out.read_text()
    left = {}
    for title, path in re.findall(
        r'class="cluster">\s*<title>cluster_inception3a\.(branch\d)</title>\s*<path[^>]*d="([^"]*)"',
        svg,
    ):
        left[title] = min(float(x) for x in re.findall(r"([\d.-]+),[\d.-]+", path))
    assert sorted(left, key=left.__getitem__) == ["branch1", "branch2", "branch3", "branch4"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
@pytest.mark.parametrize(
    ("model", "depth"),
    [
        ("inception_v3.xnet", "all"),  # nested concats (InceptionE): 1x3 left of 3x1
        ("googlenet.xnet", "all"),
        ("deeplabv3_resnet50.xnet", "all"),  # ASPP: five branches fed from outside its block
        ("squeezenet1_1.xnet", None),
        ("shufflenet_v2_x1_0.xnet", "all"),
    ],
)
def test_graphviz_keeps_every_concats_branches_in_source_order(
    tmp_path: Path, model: str, depth: str | None
) -> None:
    """Laid out by Graphviz itself: each concat's branch heads from left to right as written."""
    import subprocess

    text = _dot(tmp_path, model, *(["--depth", depth] if depth else []))
    chains = [
        [h.strip('"') for h in chain.split(" -> ")]
        for chain in re.findall(r"\{rank=same; (.*) \[style=invis\];\}", text)
        if not chain.startswith('"order:')
    ]
    assert chains
    plain = subprocess.run(
        ["dot", "-Tplain", str(tmp_path / "g.dot")], capture_output=True, text=True, check=True
    ).stdout
    x = {
        m.group(1).strip('"'): float(m.group(2))
        for m in re.finditer(r'^node ("[^"]*"|\S+) (\S+)', plain, re.MULTILINE)
    }
    for chain in chains:
        assert [x[h] for h in chain] == sorted(x[h] for h in chain), chain
    if model == "inception_v3.xnet":
        assert ["Mixed_7b.branch3x3_2a.conv", "Mixed_7b.branch3x3_2b.conv"] in chains
        assert ["Mixed_7c.branch3x3dbl_3a.conv", "Mixed_7c.branch3x3dbl_3b.conv"] in chains
