"""Tests for the command line: compile, check, summary, run, help texts and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner, Result
from nets import TINY_NET
from zoo import xnet_files

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
LECTURE = ROOT / "models" / "lecture"

NET = TINY_NET
# conv 4*9+4 = 40, bn 8 (+8 buffers), dense 64*10+10 = 650
TINY_PARAMS = 40 + 8 + 650


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


# ---- compile ----


def test_compile_writes_a_valid_model_and_prints_params(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "m.onnx"
    result = _invoke("compile", tiny, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert f"{TINY_PARAMS} params" in result.stdout
    assert "opset 17" in result.stdout
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert {t.name for t in model.graph.initializer} >= {"conv1.weight", "fc.weight"}


def test_compile_leaves_no_temporary_files(tiny: Path, tmp_path: Path) -> None:
    before = set(os.listdir(tmp_path))
    assert _invoke("compile", tiny, "-o", tmp_path / "m.onnx").exit_code == 0
    assert set(os.listdir(tmp_path)) - before == {"m.onnx"}


def test_failed_compile_keeps_the_old_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xnet"
    bad.write_text("input x: 1 x 8 x 8\nconv3x3(4) -> bogus\n", encoding="utf-8")
    out = tmp_path / "bad.onnx"
    out.write_bytes(b"previous")
    result = _invoke("compile", bad, "-o", out)
    assert result.exit_code == 1
    assert out.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["bad.onnx", "bad.xnet"]


def test_compiled_file_gets_normal_permissions(tiny: Path, tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        out = tmp_path / "m.onnx"
        assert _invoke("compile", tiny, "-o", out).exit_code == 0
        assert out.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


def test_default_output_is_the_stem_in_the_current_directory(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    result = _invoke("compile", tiny)
    assert result.exit_code == 0, result.stderr
    assert (cwd / "tiny.onnx").is_file()
    assert not (tiny.parent / "tiny.onnx").exists()
    assert "wrote tiny.onnx" in result.stdout


def test_compile_refuses_to_overwrite_its_input(tiny: Path) -> None:
    result = _invoke("compile", tiny, "-o", tiny)
    assert result.exit_code == 1
    assert "refusing to write the output over the input" in result.stderr
    assert tiny.read_text(encoding="utf-8") == NET
    _no_traceback(result)


def test_compile_options(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    result = _invoke(
        "compile",
        tiny,
        "-o",
        out,
        "--opset",
        "26",
        "--seed",
        "5",
        "--init",
        "he",
        "--set",
        "classes=3",
    )
    assert result.exit_code == 0, result.stderr
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 26
    props = {p.key: p.value for p in model.metadata_props}
    assert (props["dslc.seed"], props["dslc.init"]) == ("5", "he")
    dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims[1:] == [3]


def test_compile_twice_gives_identical_files(tiny: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    assert _invoke("compile", tiny, "-o", a).exit_code == 0
    assert _invoke("compile", tiny, "-o", b).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("opset", ["16", "27"])
def test_unsupported_opset_is_a_usage_error(tiny: Path, opset: str) -> None:
    result = _invoke("compile", tiny, "--opset", opset)
    assert result.exit_code == 2
    assert "--opset" in result.stderr


def test_unknown_init_is_a_usage_error(tiny: Path) -> None:
    result = _invoke("compile", tiny, "--init", "zeros")
    assert result.exit_code == 2


def test_set_of_an_unknown_name(tiny: Path, tmp_path: Path) -> None:
    result = _invoke("compile", tiny, "-o", tmp_path / "m.onnx", "--set", "clases=3")
    assert result.exit_code == 1
    assert "error[E0502]" in result.stderr
    assert "did you mean 'classes'?" in result.stderr
    assert not (tmp_path / "m.onnx").exists()
    _no_traceback(result)


def test_set_without_equals(tiny: Path) -> None:
    result = _invoke("check", tiny, "--set", "classes")
    assert result.exit_code == 1
    assert "NAME=VALUE" in result.stderr


@pytest.mark.parametrize("command", ["compile", "check", "summary", "run"])
def test_missing_file_is_an_error_not_a_traceback(command: str, tmp_path: Path) -> None:
    result = _invoke(command, tmp_path / "nope.xnet")
    assert result.exit_code == 1
    assert "nope.xnet" in result.stderr
    assert "no such file" in result.stderr.lower() or "not found" in result.stderr
    _no_traceback(result)


def test_run_of_a_missing_onnx_file(tmp_path: Path) -> None:
    result = _invoke("run", tmp_path / "nope.onnx")
    assert result.exit_code == 1
    assert "nope.onnx" in result.stderr
    _no_traceback(result)


# ---- check ----


def test_check_ok(tiny: Path) -> None:
    result = _invoke("check", tiny)
    assert result.exit_code == 0
    assert result.stdout == f"{tiny}: ok (6 layers)\n"
    assert result.stderr == ""


def test_check_reports_every_error_with_location_and_carets(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xnet"
    bad.write_text(
        "input x: 1 x 8 x 8\nconv3x3(4) -> bogus -> conv3x3(4, strid=2)\n", encoding="utf-8"
    )
    result = _invoke("check", bad)
    assert result.exit_code == 1
    err = result.stderr
    assert f"{bad}:2:15: error[E0101]: unknown layer or block 'bogus'" in err
    assert "2 | conv3x3(4) -> bogus -> conv3x3(4, strid=2)" in err
    assert "  |               ^^^^^\n" in err
    assert f"{bad}:2:" in err and "error[E0103]: conv3x3 has no parameter 'strid'" in err
    assert "help: did you mean 'stride'?" in err
    assert err.rstrip().endswith("2 errors found")
    assert result.stdout == ""


def test_check_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xnet"
    bad.write_text("input x: 1 x 8 x 8\nconv3x3(4) relu\n", encoding="utf-8")
    result = _invoke("check", bad)
    assert result.exit_code == 1
    assert f"{bad}:2:12: error[E0001]: unexpected 'relu'" in result.stderr
    assert "expected '->'" in result.stderr
    assert "ARROW" not in result.stderr


def test_check_several_files(tiny: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xnet"
    bad.write_text("input x: 1 x 8 x 8\nbogus\n", encoding="utf-8")
    result = _invoke("check", bad, tiny)
    assert result.exit_code == 1
    assert f"{tiny}: ok" in result.stdout
    assert "E0101" in result.stderr


def test_check_whole_zoo() -> None:
    files = sorted(str(p) for p in xnet_files(ROOT / "models"))
    result = _invoke("check", *files)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count(": ok (") == len(files)


# ---- summary ----


def test_summary_table(tiny: Path) -> None:
    result = _invoke("summary", tiny)
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("Network tiny\n")
    assert "Layer" in out and "Output shape" in out
    assert "conv1" in out and "N x 4 x 8 x 8" in out and "fc" in out
    assert f"Trainable params:  {TINY_PARAMS} " in out
    assert "Buffers:           8 " in out
    assert "MACs per sample:   " in out
    assert "Receptive field:   4 " in out


def test_summary_json_contract(tiny: Path) -> None:
    result = _invoke("summary", "--json", tiny)
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert list(doc) == [
        "network",
        "inputs",
        "outputs",
        "totals",
        "receptive_field",
        "valid_sizes",
        "layers",
        "receptive_field_layer",
    ]
    assert doc["network"] == "tiny"
    assert doc["inputs"] == [{"name": "x", "shape": ["N", 1, 8, 8]}]
    assert doc["outputs"] == [{"name": "output", "shape": ["N", 10]}]
    assert list(doc["totals"]) == [
        "params",
        "buffers",
        "macs",
        "flops",
        "param_bytes",
        "buffer_bytes",
        "activation_bytes",
        "peak_activation_bytes",
        "dtype",
    ]
    assert doc["totals"]["params"] == TINY_PARAMS
    assert doc["totals"]["buffers"] == 8
    assert doc["totals"]["macs"] == 4 * 64 * 9 + 640
    assert doc["receptive_field"] == {"size": [4, 4], "jump": [2, 2], "start": [0.5, 0.5]}
    layers = doc["layers"]
    assert [layer["name"] for layer in layers] == [
        "conv1",
        "bn1",
        "relu1",
        "maxpool1",
        "flatten1",
        "fc",
    ]
    for layer in layers:
        assert list(layer) == [
            "name",
            "op",
            "source",
            "output_shape",
            "params",
            "macs",
            "receptive_field",
            "flops",
            "output_bytes",
        ]
    conv = layers[0]
    assert conv["op"] == "conv"
    assert conv["source"] == f"{tiny}:3:1"
    assert conv["output_shape"] == ["N", 4, 8, 8]
    assert (conv["params"], conv["macs"]) == (40, 4 * 64 * 9)
    assert conv["receptive_field"] == {"size": [3, 3], "jump": [1, 1], "start": [0, 0]}
    assert layers[-1]["receptive_field"] is None
    assert layers[-1]["op"] == "dense"
    assert sum(layer["params"] for layer in layers) == doc["totals"]["params"]


def test_summary_json_symbolic_sizes(tmp_path: Path) -> None:
    fcn = tmp_path / "fcn.xnet"
    fcn.write_text("input x: 3 x H x W\nconv3x3(8, stride=2) -> maxpool2\n", encoding="utf-8")
    doc = json.loads(_invoke("summary", "--json", fcn).stdout)
    assert doc["inputs"][0]["shape"] == ["N", 3, "H", "W"]
    assert doc["outputs"][0]["shape"] == ["N", 8, "H/4", "W/4"]
    assert doc["totals"]["macs"] == "54*H*W"


def test_summary_with_set(tiny: Path) -> None:
    doc = json.loads(_invoke("summary", "--json", tiny, "--set", "classes=2").stdout)
    assert doc["outputs"][0]["shape"] == ["N", 2]


# ---- run ----


def test_run_an_xnet_file(tiny: Path) -> None:
    result = _invoke("run", tiny)
    assert result.exit_code == 0, result.stderr
    assert "provider: CPUExecutionProvider" in result.stdout
    assert "output output: shape (1, 10) float32" in result.stdout
    assert "compiled in memory" in result.stdout


def test_run_an_onnx_file_with_a_batch(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny.onnx"
    assert _invoke("compile", tiny, "-o", out).exit_code == 0
    result = _invoke("run", out, "--batch", "3")
    assert result.exit_code == 0, result.stderr
    assert "provider: CPUExecutionProvider" in result.stdout
    assert "shape (3, 10)" in result.stdout


def test_run_xnet_and_onnx_agree(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny.onnx"
    assert _invoke("compile", tiny, "-o", out).exit_code == 0
    a = [ln for ln in _invoke("run", tiny).stdout.splitlines() if ln.startswith("output")]
    b = [ln for ln in _invoke("run", out).stdout.splitlines() if ln.startswith("output")]
    assert a == b


def test_run_with_a_npy_input_and_save_the_output(tmp_path: Path) -> None:
    x = np.arange(24, dtype=np.float32).reshape(1, 1, 4, 6)
    np.save(tmp_path / "x.npy", x)
    saved = tmp_path / "y.npy"
    result = _invoke(
        "run", LECTURE / "maxpool_4x6.xnet", "--input", tmp_path / "x.npy", "--output", saved
    )
    assert result.exit_code == 0, result.stderr
    assert "shape (1, 1, 2, 3)" in result.stdout
    np.testing.assert_array_equal(np.load(saved)[0, 0], [[7, 9, 11], [19, 21, 23]])


def test_run_with_the_lecture_matrix_prints_the_pooled_values() -> None:
    result = _invoke(
        "run", LECTURE / "maxpool_4x6.xnet", "--input", LECTURE / "matrix_4x6.txt", "--print"
    )
    assert result.exit_code == 0, result.stderr
    assert "shape (1, 1, 2, 3)" in result.stdout
    assert "[[[[3. 3. 3.]\n   [1. 1. 1.]]]]" in result.stdout


def test_run_with_a_wrong_input_shape(tiny: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 7, 8), np.float32))
    result = _invoke("run", tiny, "--input", tmp_path / "x.npy")
    assert result.exit_code == 1
    assert "error: input 'x' expects shape (N, 1, 8, 8)" in result.stderr
    assert "dimension 2 is 7, expected 8" in result.stderr
    _no_traceback(result)


def test_run_with_an_unreadable_input(tiny: Path, tmp_path: Path) -> None:
    result = _invoke("run", tiny, "--input", tmp_path / "missing.npy")
    assert result.exit_code == 1
    assert "missing.npy" in result.stderr
    _no_traceback(result)


def test_run_with_an_unknown_set(tiny: Path) -> None:
    result = _invoke("run", tiny, "--set", "clases=3")
    assert result.exit_code == 1
    assert "did you mean 'classes'?" in result.stderr


def test_run_with_a_symbolic_size(tmp_path: Path) -> None:
    fcn = tmp_path / "fcn.xnet"
    fcn.write_text("input x: 3 x H x W\nconv3x3(2, stride=2)\n", encoding="utf-8")
    result = _invoke("run", fcn, "--size", "H=16", "--size", "W=8")
    assert result.exit_code == 0, result.stderr
    assert "shape (1, 2, 8, 4)" in result.stdout


# ---- help ----


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["compile", "--help"],
        ["check", "--help"],
        ["summary", "--help"],
        ["run", "--help"],
        ["fmt", "--help"],
    ],
)
def test_every_help_works(args: list[str]) -> None:
    result = _invoke(*args)
    assert result.exit_code == 0
    assert "Usage: " in result.stdout


def test_main_help_lists_every_command() -> None:
    out = _invoke("--help").stdout
    for command in ("compile", "check", "summary", "run", "fmt"):
        assert command in out


def test_version() -> None:
    import dslc

    result = _invoke("--version")
    assert result.exit_code == 0
    assert dslc.__version__ in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    assert _invoke("compiel").exit_code == 2


def test_python_dash_m_dslc_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dslc", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert "Usage: " in proc.stdout
    assert "compile" in proc.stdout
