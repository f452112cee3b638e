"""Option values at and past their edges, for every command that takes them: a usage error
(exit 2) that names the option, never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "models" / "lenet5.xnet")

SEEDED = {
    "compile": ["compile", LENET, "-o", "{tmp}/m.onnx"],
    "weights": ["weights", LENET],
    "run": ["run", LENET, "--provider", "cpu"],
    "bench": ["bench", LENET, "--provider", "cpu", "--seconds", "0.05"],
    "export": ["export", LENET, "--triton", "{tmp}/repo"],
    "quantize": ["quantize", "{tmp}/missing.onnx", "--calibrate", "digits"],
    "train": ["train", LENET, "--data", "digits", "--epochs", "1", "-o", "{tmp}/w.safetensors"],
}


@pytest.mark.parametrize("command", sorted(SEEDED))
@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_seeds_outside_32_bits_are_usage_errors(tmp_path: Path, command: str, seed: str) -> None:
    """A negative seed was an internal error in run, bench, quantize and train (numpy's and
    torch's generators refuse it); 2**32 drew the weights that 0 draws."""
    args = [a.format(tmp=tmp_path) for a in SEEDED[command]] + ["--seed", seed]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--seed'" in result.stderr
    assert "0<=x<=4294967295" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_largest_seed_works(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["compile", LENET, "-o", str(tmp_path / "m.onnx"), "--seed", "4294967295"]
    )
    assert result.exit_code == 0, result.output
