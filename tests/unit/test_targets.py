"""`--target`: each consumer's opset (README "Which opset"), the default every consumer
accepts, and --target with --opset."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner, Result

from dslc.backend.settings import DEFAULT_OPSET, TARGETS
from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "models" / "lenet5.xnet"


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _opset(path: Path) -> int:
    (version,) = [o.version for o in onnx.load(str(path)).opset_import if o.domain == ""]
    return version


@pytest.mark.parametrize("target", list(TARGETS))
def test_each_target_compiles_lenet5_at_its_opset(target: str, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    result = _invoke("compile", LENET, "-o", out, "--target", target)
    assert result.exit_code == 0, result.output
    assert f"opset {TARGETS[target]}" in result.stdout
    assert _opset(out) == TARGETS[target]
    onnx.checker.check_model(str(out), full_check=True)


def test_the_default_is_the_opset_every_consumer_accepts(tmp_path: Path) -> None:
    assert DEFAULT_OPSET == 17 == min(TARGETS.values())
    out = tmp_path / "m.onnx"
    assert _invoke("compile", LENET, "-o", out).exit_code == 0
    assert _opset(out) == DEFAULT_OPSET


def test_an_opset_that_agrees_with_the_target_is_taken(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    result = _invoke("compile", LENET, "-o", out, "--target", "tensorrt", "--opset", "17")
    assert result.exit_code == 0, result.output
    assert _opset(out) == 17


@pytest.mark.parametrize("command", ["compile", "export"])
def test_an_opset_that_differs_from_the_target_is_a_usage_error(
    command: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    where = ["-o", out / "m.onnx"] if command == "compile" else ["--triton", out]
    result = _invoke(command, LENET, *where, "--target", "onnx2torch", "--opset", "21")
    assert result.exit_code == 2
    assert "--opset 21 conflicts with --target onnx2torch (opset 17); give one" in result.stderr
    assert not out.exists()  # nothing written


def test_without_a_target_any_supported_opset_is_taken(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    assert _invoke("compile", LENET, "-o", out, "--opset", "26").exit_code == 0
    assert _opset(out) == 26


def test_export_compiles_an_xnet_for_a_target(tmp_path: Path) -> None:
    result = _invoke("export", LENET, "--triton", tmp_path / "repo", "--target", "ort")
    assert result.exit_code == 0, result.output
    assert _opset(tmp_path / "repo" / "lenet5" / "1" / "model.onnx") == TARGETS["ort"]


def test_export_refuses_a_target_for_an_onnx_model(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    assert _invoke("compile", LENET, "-o", model).exit_code == 0
    result = _invoke("export", model, "--triton", tmp_path / "repo", "--target", "tensorrt")
    assert result.exit_code == 1
    assert "--target: these compile an .xnet" in result.stderr


def test_help_lists_every_target_and_its_opset() -> None:
    for command in ("compile", "export"):
        text = " ".join(_invoke(command, "--help").stdout.split())
        assert all(f"{name} {opset}" in text for name, opset in TARGETS.items()), command
