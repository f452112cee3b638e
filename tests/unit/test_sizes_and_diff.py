"""`--size H=224,W=224` in every command that takes a size, and `dslc diff`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
UNET = MODELS / "unet.xnet"
STACKED = MODELS / "lecture" / "stacked_3x3.xnet"
SINGLE = MODELS / "lecture" / "single_5x5.xnet"
POOLED = "network pooled\ninput x: 3 x H x W\nconv3x3(4) -> maxpool2 -> conv3x3(8)\n"
EVEN = (  # valid for even sizes only: the pooled-then-upsampled map meets the unpooled one
    "network even\ninput x: 3 x H x W\n"
    "conv3x3(8) @a -> maxpool2 -> conv3x3(8) -> upsample(2) -> concat<identity | a>\n"
)


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _json(*args: str | Path) -> Any:
    result = _invoke(*args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def pooled(tmp_path: Path) -> Path:
    path = tmp_path / "pooled.xnet"
    path.write_text(POOLED)
    return path


# ---- the shared parser: one syntax, repeatable, usage errors ----


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (["H=0"], "H=0: a size is a positive integer"),
        (["H=-4"], "H=-4: a size is a positive integer"),
        (["H=x"], "H=x: a size is a positive integer"),
        (["H"], "'H' is not NAME=VALUE; e.g. --size H=224,W=224"),
        (["H=32,W=32,"], "'' is not NAME=VALUE"),
        (["H=32", "H=64"], "H is given twice, as 32 and 64"),
    ],
)
@pytest.mark.parametrize("command", ["summary", "check", "rf", "diff", "run", "bench"])
def test_bad_sizes_are_usage_errors(
    pooled: Path, command: str, sizes: list[str], message: str
) -> None:
    files = [pooled, pooled] if command == "diff" else [pooled]
    if command == "rf" and sizes == ["H"]:
        return  # rf takes a bare pair (H,W) as before; "H" is not a number there
    args = [a for s in sizes for a in ("--size", s)]
    result = _invoke(command, *files, *args)
    assert result.exit_code == 2
    assert f"Invalid value for '--size': {message}" in result.stderr


# ---- summary ----


def test_summary_size_gives_numbers_instead_of_formulas() -> None:
    symbolic = _json("summary", UNET, "--json")
    fixed = _json("summary", UNET, "--json", "--size", "H=96,W=128")
    assert symbolic["totals"]["macs"] == "733888*H*W"
    assert fixed["totals"]["macs"] == 733888 * 96 * 128 == 9_018_015_744
    assert fixed["totals"]["params"] == symbolic["totals"]["params"] == 31_030_658
    assert fixed["outputs"] == [{"name": "output", "shape": ["N", 2, 96, 128]}]
    assert fixed["inputs"][0]["shape"] == ["N", 1, 96, 128]
    assert fixed["sizes_given"] == {"H": 96, "W": 128}
    assert "sizes_given" not in symbolic
    layer = {x["name"]: x for x in fixed["layers"]}["enc4.2"]
    assert layer["output_shape"] == ["N", 512, 12, 16]
    assert _json("summary", UNET, "--json", "--size", "H=96", "--size", "W=128") == fixed


@pytest.mark.parametrize("model", ["fcn_resnet50", "deeplabv3_resnet50", "fcn8s"])
def test_summary_size_equals_the_formulas_evaluated(model: str) -> None:
    symbolic = _json("summary", MODELS / f"{model}.xnet", "--json")["totals"]
    fixed = _json("summary", MODELS / f"{model}.xnet", "--json", "--size", "H=512,W=512")
    for key in ("macs", "flops", "activation_bytes"):
        formula = symbolic[key].replace("H", "512").replace("W", "512")
        assert fixed["totals"][key] == eval(formula), key


def test_summary_size_in_every_format() -> None:
    args = ("summary", UNET, "--depth", "1", "--size", "H=96,W=128")
    table = _invoke(*args).stdout
    assert "Sizes given:       H=96, W=128 (--size)" in table
    assert "MACs per sample:   9,018,015,744 (9.018 G)" in table
    assert "enc1       double    N x 64 x 96 x 128       37,568    460,062,720" in table
    markdown = _invoke(*args, "--format", "markdown").stdout
    enc1 = next(line for line in markdown.splitlines() if line.startswith("| enc1 "))
    assert [c.strip() for c in enc1.split("|")[1:6]] == [
        "enc1",
        "double",
        "N x 64 x 96 x 128",
        "37,568",
        "460,062,720",
    ]
    csv_text = _invoke(*args, "--format", "csv").stdout
    assert "enc1,block,0,double,N x 64 x 96 x 128,37568,460062720," in csv_text
    assert "*H" not in table + markdown + csv_text


def test_summary_refuses_sizes_the_network_is_not_valid_for() -> None:
    result = _invoke("summary", UNET, "--size", "H=100,W=128")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --size H=100: unet is valid only for H multiples of 16 (the nearest: 96 or "
        "112); other sizes fail in its layers' shapes\n"
    )
    result = _invoke("summary", UNET, "--size", "H=8,W=8")
    assert result.exit_code == 1 and "the nearest: 16)" in result.stderr


def test_summary_refuses_unknown_size_names(pooled: Path) -> None:
    result = _invoke("summary", pooled, "--size", "h=32,X=4")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --size h=32: pooled has no symbolic size 'h' (did you mean H?); its symbolic "
        "sizes are H, W\n"
        "error: --size X=4: pooled has no symbolic size 'X'; its symbolic sizes are H, W\n"
    )
    result = _invoke("summary", pooled, "--size", "N=4")
    assert "N is the batch, chosen when the model runs (dslc run --batch)" in result.stderr
    result = _invoke("summary", STACKED, "--size", "H=64,W=64")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: --size H=64,W=64: stacked_3x3's input sizes are fixed; --size gives values to "
        "symbolic sizes"
    )


def test_summary_size_checks_the_tensor_limit() -> None:
    result = _invoke("summary", UNET, "--size", "H=65536,W=65536")
    assert result.exit_code == 1
    assert "unet.xnet:6:1: error[E0605]: 'image' makes a tensor of 4,294,967,296 elements" in (
        result.stderr
    )
    result = _invoke("summary", UNET, "--size", "H=16384,W=16384")
    assert "error[E0605]: 'enc1.0' makes a tensor of 17,179,869,184 elements" in result.stderr


def test_summary_partial_sizes_leave_the_other_formula(pooled: Path) -> None:
    data = _json("summary", pooled, "--json", "--size", "H=32")
    assert data["outputs"][0]["shape"] == ["N", 8, 16, "W/2"]


# ---- check ----


def test_check_at_given_sizes(pooled: Path) -> None:
    result = _invoke("check", pooled, "--size", "H=32,W=48")
    assert result.exit_code == 0
    assert result.stdout == f"{pooled}: ok (3 layers; at H=32, W=48)\n"
    result = _invoke("check", UNET, pooled, "--size", "H=40,W=48")
    assert result.exit_code == 1
    assert result.stdout == f"{pooled}: ok (3 layers; at H=40, W=48)\n"
    assert result.stderr == (
        f"{UNET}: error: --size H=40: unet is valid only for H multiples of 16 (the nearest: "
        "32 or 48); other sizes fail in its layers' shapes\n"
    )


# ---- rf ----


def test_rf_size_for_a_symbolic_network(tmp_path: Path) -> None:
    f = tmp_path / "fcn.xnet"
    f.write_text("input x: 1 x H x W\nconv3x3(2, stride=2) -> conv3x3(2)\n")
    for size in (["H=64,W=48"], ["H=64", "W=48"]):
        result = _invoke("rf", f, "--measure", *(a for s in size for a in ("--size", s)))
        assert result.exit_code == 0, result.stderr
        assert "at input 64x48" in result.stdout
    table = _invoke("rf", f, "--size", "H=64,W=48").stdout
    assert "32 x 24" in table  # the map's size at conv2, a number instead of H/2 x W/2
    result = _invoke("rf", UNET, "--size", "H=60,W=64")
    assert result.exit_code == 1 and "valid only for H multiples of 16" in result.stderr


def test_rf_size_for_a_network_of_fixed_size() -> None:
    result = _invoke("rf", STACKED, "--measure", "--size", "H=40")
    assert result.exit_code == 0, result.stderr
    assert "at input 40x32" in result.stdout  # W: the model's own
    assert "at input 40x48" in _invoke("rf", STACKED, "--measure", "--size", "40,48").stdout
    result = _invoke("rf", STACKED, "--size", "H=40")
    assert result.exit_code == 1
    assert (
        "input is fixed at 32 x 32; for such a network --size sets only the input size of "
        "--measure" in result.stderr
    )
    result = _invoke("rf", STACKED, "--measure", "--size", "S=40")
    assert result.exit_code == 1 and "--size names its height H and width W" in result.stderr


# ---- run and bench ----


def test_run_size_syntax_and_errors(pooled: Path) -> None:
    result = _invoke("run", pooled, "--size", "H=16,W=8")
    assert result.exit_code == 0, result.stderr
    assert "shape (1, 8, 8, 4)" in result.stdout
    result = _invoke("run", pooled, "--size", "H=16,X=8")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: --size: no input has a size named 'X': the inputs' symbolic sizes are H, W\n",
    )
    result = _invoke("run", pooled, "--size", "N=2")
    assert "'N' is the batch axis of input 'x' (N, 3, H, W)" in result.stderr
    even = pooled.with_name("even.xnet")
    even.write_text(EVEN)
    result = _invoke("run", even, "--size", "H=15,W=8")
    assert result.exit_code == 1
    assert "input 'x' has H = 15 (axis 2), but this model is valid only for H even" in result.stderr
    assert _invoke("summary", even, "--size", "H=15,W=8").stderr == (
        "error: --size H=15: even is valid only for H even (the nearest: 14 or 16); other sizes "
        "fail in its layers' shapes\n"
    )


def test_bench_takes_the_same_syntax(pooled: Path) -> None:
    args = ("bench", pooled, "--provider", "cpu", "--iterations", "1", "--json")
    data = json.loads(_invoke(*args, "--size", "H=16,W=8").stdout)
    assert data["sizes"] == {"H": 16, "W": 8}
    result = _invoke(*args, "--size", "H=16,Q=8")
    assert result.exit_code == 1
    assert "no input has a size named 'Q': the inputs' symbolic sizes are H, W" in result.stderr


# ---- diff ----


def test_diff_stacked_3x3_against_single_5x5() -> None:
    data = _json("diff", STACKED, SINGLE, "--json")
    a, b = data["a"], data["b"]
    assert (a["network"], b["network"]) == ("stacked_3x3", "single_5x5")
    assert (a["params"], b["params"], data["difference"]["params"]) == (20, 26, 6)
    assert (a["macs"], b["macs"]) == (2 * 9 * 32 * 32, 25 * 32 * 32)
    assert (a["flops"], b["flops"]) == (2 * a["macs"], 2 * b["macs"])
    assert (a["activation_bytes"], b["activation_bytes"]) == (2 * 4096, 4096)
    assert a["receptive_field"]["size"] == b["receptive_field"]["size"] == [5, 5]
    assert a["outputs"][0]["shape"] == b["outputs"][0]["shape"] == ["N", 1, 32, 32]
    stages = [
        (
            s["a"] and (s["a"]["name"], s["a"]["params"], s["a"]["receptive_field"]["size"][0]),
            s["b"] and (s["b"]["name"], s["b"]["params"], s["b"]["receptive_field"]["size"][0]),
        )
        for s in data["stages"]
    ]
    assert stages == [(("conv1", 10, 3), ("conv1", 26, 5)), (("conv2", 10, 5), None)]


def test_diff_table() -> None:
    result = _invoke("diff", STACKED, SINGLE)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["A:", "stacked_3x3", "B:", "single_5x5", "B", "-", "A"]
    rows = {line[:18].strip(): line[18:].split() for line in lines[1:11]}
    assert rows["params"] == ["20", "26", "+6", "(+30.0%)"]
    assert rows["MACs"] == ["18,432", "25,600", "+7,168", "(+38.9%)"]
    assert rows["receptive field"] == ["5", "(jump", "1)", "5", "(jump", "1)", "same"]
    assert rows["output"][-1] == "same"
    assert "conv1        10        26   9,216  25,600     3     5" in result.stdout
    assert "conv2        10         -   9,216       -     5     -" in result.stdout


def test_diff_per_stage_of_resnets_with_set() -> None:
    data = _json(
        "diff", MODELS / "resnet18.xnet", MODELS / "resnet34.xnet", "--json", "--set", "classes=10"
    )
    assert data["a"]["outputs"][0]["shape"] == data["b"]["outputs"][0]["shape"] == ["N", 10]
    assert data["difference"]["params"] == 21_797_672 - 11_689_512
    layer3 = next(s for s in data["stages"] if (s["a"] or {}).get("name") == "layer3")
    assert (layer3["a"]["params"], layer3["b"]["params"]) == (2_099_712, 6_822_400)
    assert layer3["a"]["receptive_field"]["size"] == [211, 211]
    assert layer3["b"]["receptive_field"]["size"] == [547, 547]
    assert [s["a"]["name"] for s in data["stages"]] == [s["b"]["name"] for s in data["stages"]]
    stage_sum = sum(s["b"]["macs"] for s in data["stages"])
    assert stage_sum == data["b"]["macs"]


def test_diff_sizes_apply_to_the_symbolic_network(pooled: Path) -> None:
    result = _invoke("diff", UNET, STACKED, "--json", "--size", "H=32,W=32")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["a"]["macs"] == 733888 * 32 * 32 and data["a"]["sizes_given"] == {"H": 32, "W": 32}
    assert data["difference"]["macs"] == 18432 - 733888 * 32 * 32
    assert result.stderr == f"note: {STACKED}: input sizes fixed; --size does not apply\n"
    symbolic = _json("diff", UNET, pooled, "--json")
    assert symbolic["difference"]["params"] == 4 * 28 + 8 * 37 - 31_030_658
    assert isinstance(symbolic["difference"]["macs"], str)  # a formula in H and W
    result = _invoke("diff", STACKED, SINGLE, "--size", "H=64")
    assert result.exit_code == 1 and "input sizes are fixed" in result.stderr
    result = _invoke("diff", UNET, pooled, "--size", "H=40,W=32")
    assert result.exit_code == 1 and "valid only for H multiples of 16" in result.stderr
