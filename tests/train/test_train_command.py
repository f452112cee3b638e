"""`dslc train` end to end: a short run on digits, its files, the weights compiled by `dslc
compile --weights` and run by `dslc run` (ONNX Runtime) predicting what PyTorch predicts."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

from dslc.cli import main
from dslc.pytorch import build_module
from dslc.pytorch.data import load, split

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "models" / "lenet5.xnet")


def dslc(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """One epoch of LeNet-5 on digits (validation: 30 %, seed 7)."""
    out = tmp_path_factory.mktemp("train") / "lenet.safetensors"
    before = torch.get_num_threads()
    result = dslc("train", LENET, "--data", "digits", "-o", str(out), "--epochs", "2",
                  "--val-fraction", "0.3", "--seed", "7", "--threads", "1", "--grad-norms")  # fmt: skip
    torch.set_num_threads(before)
    return out, result


def test_a_short_run_writes_weights_metrics_and_curves(trained: tuple[Path, Result]) -> None:
    out, result = trained
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "lenet.json",
        "lenet.png",
        "lenet.safetensors",
    ]
    assert "1258 training and 539 validation images from digits" in result.stdout
    assert "resized bilinearly from 8x8 to 32x32" in result.stdout
    assert "epoch 2/2  train loss" in result.stdout
    doc = json.loads(out.with_suffix(".json").read_text())
    assert [e["epoch"] for e in doc["epochs"]] == [1, 2]
    assert doc["best_epoch"] in (1, 2) and doc["settings"]["seed"] == 7
    assert doc["data"] == {
        "source": "digits", "train": 1258, "val": 539, "val_fraction": 0.3,
        "input": [1, 32, 32], "classes": 10,
        "class_names": [str(i) for i in range(10)], "preprocessing": "resized bilinearly from 8x8 to 32x32",
    }  # fmt: skip
    assert list(doc["epochs"][0]["grad_norms"]) == ["conv1", "conv2", "dense1", "dense2", "dense3"]
    assert doc["best_val_accuracy"] > 0.5  # two epochs: far above chance (0.1)
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")


def test_the_weights_have_dslc_names_and_compile(
    trained: tuple[Path, Result], tmp_path: Path
) -> None:
    out, result = trained
    assert dslc("weights", LENET, "--check", str(out)).exit_code == 0
    command = result.stdout.split("compile it with:\n")[1].strip()
    args = shlex.split(command)
    assert args[:5] == ["dslc", "compile", LENET, "--weights", str(out)]
    onnx = tmp_path / "lenet.onnx"
    compiled = dslc(*args[1:-1], str(onnx))
    assert compiled.exit_code == 0, compiled.output


def test_onnx_runtime_predicts_what_pytorch_predicts(
    trained: tuple[Path, Result], tmp_path: Path
) -> None:
    """Every validation image: the same class from `dslc run` on the compiled model as from
    the PyTorch module holding the saved weights."""
    from safetensors.numpy import load_file

    out, _ = trained
    _, val = split(load("digits", (1, 32, 32)), 0.3, seed=7)
    np.save(tmp_path / "val.npy", val.x)
    onnx, logits = tmp_path / "m.onnx", tmp_path / "logits.npy"
    assert dslc("compile", LENET, "--weights", str(out), "-o", str(onnx)).exit_code == 0
    ran = dslc("run", str(onnx), "--input", str(tmp_path / "val.npy"), "--provider", "cpu",
               "--output", str(logits))  # fmt: skip
    assert ran.exit_code == 0, ran.output
    module = build_module(Path(LENET)).eval()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(out).items()})
    with torch.no_grad():
        expected = module(torch.from_numpy(val.x)).numpy()
    got = np.load(logits)
    assert got.shape == (539, 10)
    assert np.array_equal(got.argmax(1), expected.argmax(1))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def _one_line_error(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "mnist"], "--data mnist: not a data source; use digits"),
        (["--data", "folder:/nonexistent"], "--data folder:/nonexistent: no such folder"),
        (["--data", "npz:{tmp}/x_only.npz"], "no array y (it has x)"),
        (["--data", "npz:{tmp}/labels.npz"], "labels run from 0 to 12, but the network has 10"),
        (["--data", "digits", "--set", "classes=5"], "the network has 5 output classes"),
        (["--data", "digits", "-o", "{tmp}/w.npz"], "written as a .safetensors file"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    np.savez(tmp_path / "x_only.npz", x=np.zeros((3, 32, 32), np.float32))
    np.savez(tmp_path / "labels.npz", x=np.zeros((3, 32, 32), np.float32), y=np.array([0, 1, 12]))
    args = [a.format(tmp=tmp_path) for a in args]
    _one_line_error(dslc("train", LENET, *args), message)
    assert not list(Path.cwd().glob("lenet5.*"))


def test_a_network_that_is_not_a_classifier_is_refused() -> None:
    result = dslc("train", str(ROOT / "models" / "unet.xnet"), "--data", "digits")
    _one_line_error(result, "dslc train trains classifiers")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path: Path) -> None:
    out = str(tmp_path / "w.safetensors")
    result = dslc("train", LENET, "--data", "digits", "--device", "cuda", "-o", out)
    _one_line_error(result, "--device cuda: this PyTorch")


def test_without_torch_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    result = dslc("train", LENET, "--data", "digits")
    _one_line_error(result, "dslc train needs PyTorch: pip install 'dslc[train]'")


def test_torchrun_two_processes_write_one_weights_file(
    trained: tuple[Path, Result], tmp_path: Path
) -> None:
    """The same command under torchrun with 2 CPU processes (gloo): one set of files, from
    rank 0, and an accuracy in the band of the one-process run."""
    one = json.loads(trained[0].with_suffix(".json").read_text())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "runtime")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "-m", "dslc", "train", LENET, "--data", "digits", "-o", "w.safetensors",
           "--epochs", "2", "--val-fraction", "0.3", "--seed", "7"]  # fmt: skip
    done = subprocess.run(
        cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json", "w.png", "w.safetensors"]
    assert done.stdout.count("wrote w.safetensors") == 1 and "; 2 processes" in done.stdout
    two = json.loads((tmp_path / "w.json").read_text())
    assert two["processes"] == 2 and len(two["epochs"]) == 2
    assert abs(two["best_val_accuracy"] - one["best_val_accuracy"]) < 0.1


def test_an_image_folder_trains(tmp_path: Path) -> None:
    """folder:PATH end to end: class names from the sub-folders, RGB images made grey and
    resized to the network's 8 x 8, two classes a small network tells apart."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(("dark", "light")):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(12):
            value = rng.integers(0, 100) + 155 * label
            image = Image.new("RGB", (12, 10), (int(value), int(value), int(value)))
            image.save(tmp_path / "imgs" / name / f"{i}.png")
    out = tmp_path / "w.safetensors"
    net = str(ROOT / "docs" / "training" / "deep_mlp.xnet")
    result = dslc("train", net, "--set", "depth=1", "--set", "sigmoid=0", "--set", "classes=2",
                  "--data", f"folder:{tmp_path / 'imgs'}", "-o", str(out), "--epochs", "30",
                  "--lr", "0.01", "--val-fraction", "0.25", "--threads", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "18 training and 6 validation images" in result.stdout
    assert "converted to L and resized bilinearly to 8x8" in result.stdout
    assert json.loads(out.with_suffix(".json").read_text())["best_val_accuracy"] == 1.0


def test_an_image_folder_with_a_fifo_and_a_16_bit_image(tmp_path: Path) -> None:
    """The folder's images are read as `dslc run --image` reads them: a FIFO named like an
    image is refused (never opened, so nothing blocks), a 16-bit PNG is scaled, not clipped."""
    from PIL import Image

    from dslc.pytorch.data import DataError, load

    (tmp_path / "a").mkdir()
    deep = np.full((10, 12), 30000, np.uint16)  # 30000 / 65535 of white: grey 117, not 255
    Image.fromarray(deep).save(tmp_path / "a" / "deep.png")
    data = load(f"folder:{tmp_path}", (1, 8, 8))
    assert data.x.shape == (1, 1, 8, 8)
    assert abs(float(data.x.max()) - 117 / 255) < 1e-6
    os.mkfifo(tmp_path / "a" / "pipe.png")
    with pytest.raises(DataError, match="pipe.png.*not a regular file"):
        load(f"folder:{tmp_path}", (1, 8, 8))
