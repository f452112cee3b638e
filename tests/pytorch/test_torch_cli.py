"""`dslc torch`: the file it writes, what it prints, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--isolated", "--no-cache"],
        check=False,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("model", ["googlenet", "deeplabv3_resnet50", "convnext_tiny"])
def test_zoo_modules_are_ruff_clean_and_formatted(model: str, tmp_path: Path) -> None:
    out = tmp_path / f"{model}.py"
    result = CliRunner().invoke(main, ["torch", str(ROOT / f"models/{model}.xnet"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    lint = _ruff("check", str(out))
    assert lint.returncode == 0, lint.stdout
    layout = _ruff("format", "--diff", str(out))
    assert layout.returncode == 0, layout.stdout


def test_writes_a_module_that_torch_runs(tmp_path: Path) -> None:
    out = tmp_path / "model.py"
    result = CliRunner().invoke(main, ["torch", str(ROOT / "models/resnet18.xnet"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out} (class Resnet18,")
    text = out.read_text()
    assert "class Resnet18(nn.Module):" in text
    assert "out = self.bn2(out) + self.downsample(x)" in text  # reads like the residual
    torch = pytest.importorskip("torch")
    space: dict[str, object] = {}
    exec(compile(text, str(out), "exec"), space)  # noqa: S102 - the file under test
    net = space["Resnet18"]().eval()  # type: ignore[operator]
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


def test_dash_prints_the_module_and_set_changes_it() -> None:
    result = CliRunner().invoke(
        main, ["torch", str(ROOT / "models/lenet5.xnet"), "-o", "-", "--set", "classes=7"]
    )
    assert result.exit_code == 0, result.output
    assert "nn.Linear(84, 7)" in result.output


def test_a_wrong_file_is_a_located_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xnet"
    bad.write_text("network bad\ninput x: 3 x 8 x 8\nconv3x3(4) -> dense(10)\n")
    result = CliRunner().invoke(main, ["torch", str(bad), "-o", str(tmp_path / "m.py")])
    assert result.exit_code == 1
    assert f"{bad}:3:" in result.output and "error[E" in result.output
    assert not (tmp_path / "m.py").exists()


def test_without_torch_it_says_what_to_install(tmp_path: Path) -> None:
    # a python in which torch is not installed: None in sys.modules makes it unfindable
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from dslc.cli import main\n"
        "main(['torch', sys.argv[1], '-o', sys.argv[2]])\n"
    )
    out = tmp_path / "m.py"
    run = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "models/lenet5.xnet"), str(out)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr
    assert "torch is not installed" in run.stderr and "pip install" in run.stderr
    assert not out.exists()


def test_check_and_compile_never_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from dslc.cli import main\n"
        "for args in (['check', sys.argv[1]], ['compile', sys.argv[1], '-o', sys.argv[2]]):\n"
        "    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
        "print('torch' in sys.modules)\n"
    )
    lenet = str(ROOT / "models/lenet5.xnet")
    run = subprocess.run(
        [sys.executable, "-c", code, lenet, str(tmp_path / "m.onnx")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
