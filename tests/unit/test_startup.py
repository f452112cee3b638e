"""Start-up: the analysis commands never import numpy, onnx or ONNX Runtime (each costs
0.1 s or more of every `dslc summary` and `dslc check`), and `dslc compile` writes its model
without the onnx package (whose ml_dtypes took 0.6 s to import; bench/README.md has the
figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "onnx", "onnxruntime", "lark.tools")

PROBE = """
import sys
from dslc.cli import main
try:
    main({args!r})
except SystemExit as exc:
    assert not exc.code, exc.code
print("imported:", ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["summary", "models/resnet50.xnet"],
        ["summary", "models/fcn8s.xnet", "--depth", "2"],
        ["check", "models/densenet121.xnet", "models/lib/resnet.xnet"],
        ["rf", "models/vgg16.xnet"],
        ["--help"],
    ],
    ids=["summary", "summary-depth", "check", "rf", "help"],
)
def test_analysis_commands_import_no_numerics(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "imported: ", done.stdout[-300:]


@pytest.mark.parametrize("optimize", ["--optimize", "--no-optimize"])
def test_compile_writes_without_onnx(tmp_path: Path, optimize: str) -> None:
    out = tmp_path / "m.onnx"
    args = ["compile", "models/lenet5.xnet", "-o", str(out), optimize, "--dtype", "float16"]
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "imported: numpy", done.stdout[-300:]
    assert out.stat().st_size > 61_706 * 2  # the float16 weights were written
