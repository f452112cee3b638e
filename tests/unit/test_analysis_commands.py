"""Tests for `dslc rf`, `dslc graph` and the summary's tree, columns and formats."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
RESNET18 = ROOT / "models" / "resnet18.xnet"
RF_POOL = ROOT / "models" / "lecture" / "rf_pool.xnet"


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# ---- summary ----


@pytest.mark.parametrize("depth", [1, 2, 3, None])
def test_summary_rows_sum_to_the_totals_at_every_depth(depth: int | None) -> None:
    args = ["summary", RESNET18, "--format", "csv", "--columns", "params,macs,flops,memory"]
    rows = list(
        csv.DictReader(
            io.StringIO(_invoke(*args, *(["--depth", str(depth)] if depth else [])).stdout)
        )
    )
    totals = json.loads(_invoke("summary", RESNET18, "--json").stdout)["totals"]
    numeric = [r for r in rows if r["kind"] != "header"]
    for col, key in (
        ("params", "params"),
        ("macs", "macs"),
        ("flops", "flops"),
        ("memory", "activation_bytes"),
    ):
        assert sum(int(r[col]) for r in numeric) == totals[key]
    if depth == 1:
        assert [r["name"] for r in rows if r["kind"] == "block"] == [
            "layer1",
            "layer2",
            "layer3",
            "layer4",
        ]


def test_summary_depth_collapses_blocks_with_their_call_site() -> None:
    out = _invoke("summary", RESNET18, "--depth", "1", "--columns", "op,params,source").stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("layer2 "))
    assert line.split() == ["layer2", "basic_stage", "525,568", f"{RESNET18}:11:46"]


def test_summary_markdown_and_unknown_column() -> None:
    out = _invoke("summary", RF_POOL, "--format", "markdown", "--columns", "params,rf").stdout
    assert "| Layer    | Params | RF |" in out
    assert "| conv2    |     10 | 8  |" in out
    bad = _invoke("summary", RF_POOL, "--columns", "params,colour")
    assert bad.exit_code == 2
    assert "unknown column 'colour'" in bad.stderr


def test_summary_float16_halves_the_bytes() -> None:
    t32 = json.loads(_invoke("summary", RESNET18, "--json").stdout)["totals"]
    t16 = json.loads(_invoke("summary", RESNET18, "--json", "--dtype", "float16").stdout)["totals"]
    assert t32["param_bytes"] == 11_689_512 * 4 == 2 * t16["param_bytes"]
    assert t32["peak_activation_bytes"] == 2 * t16["peak_activation_bytes"]


def test_summary_text_states_the_conventions() -> None:
    out = _invoke("summary", RESNET18).stdout
    assert "FLOPs per sample:  3,635,522,560 (3.636 G)  (2 per MAC + 1 per element" in out
    assert "Receptive field:   435 (jump 32, start 0,0; at 'layer4.1.relu2')" in out


# ---- rf ----


def test_rf_growth_and_measurement_agree() -> None:
    result = _invoke("rf", RF_POOL, "--measure")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Receptive field of 'conv2' in network rf_pool"
    assert lines[-4].split() == ["conv2", "conv", "16", "x", "16", "8", "2", "0.5,0.5", "5"]
    assert "'conv2' field 8x8 over" in result.stdout
    assert lines[-1] == "analysis agrees: size 8, jump 2"


def test_rf_layer_by_block_name_and_unknown_layer() -> None:
    out = _invoke("rf", RESNET18, "--layer", "layer1").stdout
    assert out.splitlines()[0] == "Receptive field of 'layer1.1.relu2' in network resnet18"
    bad = _invoke("rf", RESNET18, "--layer", "layr1.0.conv1")
    assert bad.exit_code == 1
    assert "no layer named 'layr1.0.conv1'; did you mean 'layer1.0.conv1'" in bad.stderr


def test_rf_measure_needs_a_size_for_symbolic_inputs(tmp_path: Path) -> None:
    f = tmp_path / "fcn.xnet"
    f.write_text("input x: 1 x H x W\nconv3x3(2, stride=2) -> conv3x3(2)\n")
    result = _invoke("rf", f, "--measure", "--size", "64,64")
    assert result.exit_code == 0, result.stderr
    assert "at input 64x64" in result.stdout and "analysis agrees: size 7, jump 2" in result.stdout


# ---- graph ----


def test_graph_dot_has_clusters_and_shapes(tmp_path: Path) -> None:
    out = tmp_path / "r18.dot"
    assert _invoke("graph", RESNET18, "-o", out).exit_code == 0
    text = out.read_text()
    assert 'subgraph "cluster_layer1.0" {' in text
    assert '"maxpool" -> "layer1.0.conv1" [label="64 x 56 x 56"];' in text


def test_graph_svg_falls_back_to_dot_without_graphviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = _invoke("graph", RF_POOL, "-o", tmp_path / "g.svg")
    assert result.exit_code == 0
    assert "Graphviz's 'dot' is not installed" in result.stdout
    assert (tmp_path / "g.dot").exists() and not (tmp_path / "g.svg").exists()


def test_rf_names_the_file_of_layers_from_an_imported_library() -> None:
    lines = _invoke("rf", RESNET18).stdout.splitlines()
    conv1 = next(ln for ln in lines if ln.startswith("conv1 "))
    assert conv1.split()[-1] == "resnet.xnet:6"  # models/lib/resnet.xnet, not resnet18.xnet
    image = next(ln for ln in lines if ln.startswith("image "))
    assert image.split()[-1] == "3"


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_graph_renders_svg_and_png_with_graphviz(tmp_path: Path) -> None:
    assert _invoke("graph", RESNET18, "-o", tmp_path / "r.svg").exit_code == 0
    svg = (tmp_path / "r.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "cluster_layer1.0" in svg
    assert _invoke("graph", RF_POOL, "-o", tmp_path / "g.png").exit_code == 0
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
