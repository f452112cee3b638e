"""`dslc train` fed what an attacker or an unlucky user would feed it: npz archives that lie
about their size or inflate a thousandfold, pickles, labels far out of range, NaN pixels,
empty image dimensions, option values that are NaN or negative, training that diverges,
class folders that are empty or hidden. Every case ends quickly in exit status 1 (or 2 for
a bad option value) with a one-line message, and leaves no file behind.

Decisions tested here: images with NaN or infinite values (also float64 beyond float32's
range) are refused before training; training whose loss turns NaN stops at once, and when no
epoch gave finite weights nothing is written (exit 1); a class folder without images is
refused, as is a folder tree whose class count differs from the network's; hidden files in a
class folder are skipped; the metrics JSON names each label's class."""

from __future__ import annotations

import io
import json
import signal
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from numpy.lib import format as npy
from PIL import Image

from dslc.cli import main

NET = "network tiny(classes = 3)\ninput x: 1 x 4 x 4\nflatten -> dense(classes)\n"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One thread (see tests/train/conftest.py); conftest.py stops a case that blocks."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def net(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.xnet"
    path.write_text(NET, encoding="utf-8")
    return path


def _npz(path: Path, x: np.ndarray, y: np.ndarray | None = None) -> str:
    rng = np.random.default_rng(0)
    np.savez(path, x=x, y=rng.integers(0, 3, len(x)) if y is None else y)
    return f"npz:{path}"


def _train(net: Path, data: str, *extra: str) -> Result:
    out = net.parent / "w.safetensors"
    return CliRunner().invoke(main, ["train", str(net), "--data", data, "-o", str(out), *extra])


def _refused(result: Result, net: Path, *words: str, status: int = 1) -> None:
    """The exit status, a one-line error naming the problem, no traceback, no file left."""
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert result.stderr.strip().count("\n") == 0, result.stderr
    for word in words:
        assert word.lower() in result.stderr.lower(), result.stderr
    assert sorted(
        p.name for p in net.parent.iterdir() if p.suffix != ".npz" and p.name != "data"
    ) == ["tiny.xnet"]


def _member(z: zipfile.ZipFile, name: str, shape: tuple[int, ...], data: bytes) -> None:
    head = io.BytesIO()
    npy.write_array_header_1_0(head, {"descr": "<f4", "fortran_order": False, "shape": shape})
    z.writestr(name, head.getvalue() + data, zipfile.ZIP_DEFLATED)


def _labels(z: zipfile.ZipFile, n: int) -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros(n, np.int64))
    z.writestr("y.npy", buf.getvalue(), zipfile.ZIP_DEFLATED)


# ---- npz archives that are not what they say ----


def test_a_zip_bomb_is_refused_from_the_zip_directory(net: Path, tmp_path: Path) -> None:
    """~100 KB inflating to 100 MB of zeros (the ratio of a bomb, not of images)."""
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as z:
        _member(z, "x.npy", (25_000, 1, 32, 32), bytes(25_000 * 32 * 32 * 4))
        _labels(z, 25_000)
    assert path.stat().st_size < 200_000
    _refused(_train(net, f"npz:{path}"), net, "array 'x' would inflate", "zip bomb")


def test_a_shape_larger_than_memory_is_refused_before_allocating(net: Path, tmp_path: Path) -> None:
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as z:
        _member(z, "x.npy", (10**6, 1, 1000, 1000), b"")
        _labels(z, 10)
    _refused(_train(net, f"npz:{path}"), net, "declares shape (1000000, 1, 1000, 1000)", "memory")


def test_a_shape_larger_than_the_data_held_is_refused(net: Path, tmp_path: Path) -> None:
    """Before: numpy allocated 40 MB and failed with 'out of memory ... see --limit'."""
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as z:
        _member(z, "x.npy", (10_000, 1, 32, 32), bytes(100))
        _labels(z, 10_000)
    _refused(_train(net, f"npz:{path}"), net, "declares shape (10000, 1, 32, 32)", "holds only")


def test_pickled_objects_are_refused(net: Path, tmp_path: Path) -> None:
    data = _npz(tmp_path / "p.npz", np.array([None] * 6, dtype=object), np.zeros(6, np.int64))
    _refused(_train(net, data), net, "pickle")


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_only_regular_files_are_read(net: Path, tmp_path: Path, kind: str) -> None:
    import os

    path = tmp_path / "f.npz"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    _refused(_train(net, f"npz:{path}"), net, "not a regular file")


# ---- arrays of the wrong form ----


def test_labels_beyond_int64_are_refused_without_naming_each_class(
    net: Path, tmp_path: Path
) -> None:
    """Before: 2**63 + 5 as uint64 made a list of 2**63 class names (killed for memory)."""
    y = np.full(8, 2**63 + 5, np.uint64)
    data = _npz(tmp_path / "u.npz", np.zeros((8, 4, 4), np.float32), y)
    _refused(_train(net, data), net, "labels run from 9223372036854775813", "3 output classes")


@pytest.mark.parametrize(("x", "y", "words"), [
    (np.zeros((8, 0, 4), np.float32), None, "got x (8, 1, 0, 4)"),
    (np.zeros((8, 4, 4), np.float32), np.array([0, 1, 2, -1, 0, 1, 2, 0]), "labels run from -1"),
    (np.zeros((8, 4, 4), np.float32), np.zeros(8), "labels y must be integers"),
    (np.zeros((8, 4, 4), complex), None, "real numbers"),
    (np.zeros((0, 4, 4), np.float32), None, "got x (0, 1, 4, 4)"),
])  # fmt: skip
def test_arrays_of_the_wrong_form(
    net: Path, tmp_path: Path, x: np.ndarray, y: np.ndarray | None, words: str
) -> None:
    _refused(_train(net, _npz(tmp_path / "a.npz", x, y)), net, words)


@pytest.mark.parametrize(("n", "words"), [
    (1, "1 sample leaves 1 for training and 0 for validation"),
    (2, "2 samples leave 2 for training and 0 for validation"),
])  # fmt: skip
def test_too_few_samples_to_split(net: Path, tmp_path: Path, n: int, words: str) -> None:
    _refused(_train(net, _npz(tmp_path / "s.npz", np.zeros((n, 4, 4), np.float32))), net, words)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
def test_non_finite_pixels_are_refused_before_training(
    net: Path, tmp_path: Path, bad: float
) -> None:
    """Before: a NaN loss in every epoch, then 'internal error (StopIteration)'."""
    x = np.zeros((10, 4, 4))
    x[3, 1, 1] = x[7, 0, 0] = bad
    _refused(_train(net, _npz(tmp_path / "n.npz", x)), net, "2 of 10 images hold NaN or infinite")


# ---- option values ----


@pytest.mark.parametrize(("option", "value"), [
    ("--lr", "nan"), ("--lr", "inf"), ("--val-fraction", "nan"), ("--momentum", "nan"),
    ("--weight-decay", "nan"), ("--weight-decay", "inf"), ("--threads", "1000000000"),
    ("--threads", str(2**70)),
])  # fmt: skip
def test_option_values_that_are_not_numbers_training_can_use(
    net: Path, tmp_path: Path, option: str, value: str
) -> None:
    """Before: nan ended in 'internal error (ValueError)'; --momentum nan trained and wrote
    NaN into the metrics JSON (not JSON); --threads 1000000000 made libgomp try to allocate
    216 GB and exit; --threads 2**70 was an internal error."""
    data = _npz(tmp_path / "ok.npz", np.zeros((10, 4, 4), np.float32))
    result = _train(net, data, option, value, "--epochs", "1")
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output
    assert "Traceback" not in result.output


def _deep(net: Path) -> Path:
    """Three dense layers: a large step multiplies through them to inf, then NaN."""
    net.write_text(
        NET.replace("dense(classes)", "dense(16) -> relu -> dense(16) -> dense(classes)")
    )
    return net


@pytest.mark.parametrize("size", [str(2**63 - 1), str(2**80)])
def test_a_batch_larger_than_the_data_takes_all_of_it(net: Path, tmp_path: Path, size: str) -> None:
    """Before: internal error (ValueError from islice: beyond sys.maxsize)."""
    data = _npz(tmp_path / "ok.npz", np.zeros((10, 4, 4), np.float32))
    result = _train(net, data, "--batch-size", size, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "8 training and 2 validation images" in result.stdout


def test_training_that_diverges_writes_nothing(net: Path, tmp_path: Path) -> None:
    """Before: NaN losses, then 'internal error (StopIteration)'."""
    x = np.random.default_rng(1).random((20, 4, 4)).astype(np.float32)
    data = _npz(tmp_path / "ok.npz", x)
    result = _train(_deep(net), data, "--lr", "1e30", "--epochs", "20")
    _refused(result, net, "training diverged", "nothing was written", "lower --lr than 1e+30")
    assert "epoch  3/20" not in result.stdout  # stopped at the first NaN training loss


def test_training_that_diverges_later_keeps_the_best_finite_epoch(
    net: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file

    x = np.random.default_rng(1).random((20, 4, 4)).astype(np.float32)
    data = _npz(tmp_path / "ok.npz", x)
    result = _train(_deep(net), data, "--optimizer", "sgd", "--lr", "1e8", "--epochs", "20")
    assert result.exit_code == 0, result.output
    assert "warning: training diverged: the training loss was nan in epoch" in result.stderr
    assert "training stopped, the weights of epoch 1 are kept" in result.stderr
    assert "epoch 20/20" not in result.stdout
    weights = load_file(tmp_path / "w.safetensors")
    assert all(np.isfinite(w).all() for w in weights.values())

    def strict(word: str) -> None:
        raise AssertionError(f"{word} in the metrics: not JSON")

    doc = json.loads((tmp_path / "w.json").read_text(), parse_constant=strict)
    assert doc["epochs"][-1]["train_loss"] is None  # the NaN epoch: null


def test_a_learning_rate_that_overflows_the_optimiser_is_refused(net: Path, tmp_path: Path) -> None:
    """Before: Adam's step lr / (1 - beta1) overflowed float32: 'internal error'."""
    data = _npz(tmp_path / "ok.npz", np.zeros((10, 4, 4), np.float32))
    result = _train(net, data, "--lr", "1e38")
    assert result.exit_code == 2 and "1e+38 is not in the range 0<x<=1e+36" in result.output


# ---- image folders ----


def _folder(root: Path, classes: dict[str, int]) -> str:
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.new("L", (5, 5), 40 * i).save(root / name / f"{i}.png")
    return f"folder:{root}"


def test_an_empty_class_folder_is_refused(net: Path, tmp_path: Path) -> None:
    """Before: 'c' became class 2 with no images, trained as a class never right."""
    data = _folder(tmp_path / "data", {"a": 3, "b": 3, "c": 0})
    _refused(_train(net, data), net, "class folder 'c' holds no images")


def test_a_class_count_unlike_the_network_s_is_refused(net: Path, tmp_path: Path) -> None:
    data = _folder(tmp_path / "data", {"a": 3, "b": 3})
    _refused(_train(net, data), net, "2 classes (a, b), but the network has 3 output classes")


def test_hidden_files_are_skipped_and_class_names_are_saved(net: Path, tmp_path: Path) -> None:
    """macOS's ._0.png beside 0.png is no image; names with spaces and accents are kept."""
    data = _folder(tmp_path / "data", {"chat noir": 2, "été": 2, "z\u00fcge": 2})
    (tmp_path / "data" / "été" / "._0.png").write_bytes(b"\0\5\26\7 AppleDouble")
    result = _train(net, data, "--epochs", "1", "--val-fraction", "0.3")
    assert result.exit_code == 0, result.output
    assert "4 training and 2 validation images" in result.stdout
    doc = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))
    assert doc["data"]["class_names"] == ["chat noir", "z\u00fcge", "été"]  # sorted, as label i


# ---- a signal while the three files are written ----

# dslc, with the metrics JSON's temporary file slowed down: the weights are written by then
SLOW_JSON = """
import os, runpy, sys, time
_fdopen = os.fdopen
class _Slow:
    def __init__(self, f): self._f = f
    def __getattr__(self, name): return getattr(self._f, name)
    def __enter__(self): return self
    def __exit__(self, *exc): return self._f.__exit__(*exc)
    def write(self, data):
        n = self._f.write(data)
        self._f.flush()
        for _ in range(600):
            time.sleep(0.1)
        return n
def _open(fd, mode="r", *args, **kwargs):
    f = _fdopen(fd, mode, *args, **kwargs)
    slow = "w" in mode and ".w.json." in os.readlink(f"/proc/self/fd/{fd}")
    return _Slow(f) if slow else f
os.fdopen = _open
sys.argv = ["dslc", *sys.argv[1:]]
runpy.run_module("dslc", run_name="__main__")
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_writing_leaves_none_of_the_three_files(
    net: Path, tmp_path: Path, sig: int
) -> None:
    """Before: the weights were renamed into place before the metrics were written, so a
    signal then left w.safetensors without its w.json and w.png, after 'terminated'."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'runtime'}"}
    data = _npz(tmp_path / "ok.npz", np.zeros((10, 4, 4), np.float32))
    out = tmp_path / "w.safetensors"
    cmd = [sys.executable, "-c", SLOW_JSON, "train", str(net), "--data", data, "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 50
        while not any(p.name.startswith(".w.json.") for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the metrics were never written"
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and "internal error" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.npz", "tiny.xnet"]


# ---- outputs over the data ----


def test_the_metrics_never_overwrite_the_training_data(net: Path, tmp_path: Path) -> None:
    """Before: --metrics data.npz replaced the training data with the metrics JSON."""
    data = _npz(tmp_path / "data.npz", np.zeros((10, 4, 4), np.float32))
    before = (tmp_path / "data.npz").read_bytes()
    result = _train(net, data, "--metrics", str(tmp_path / "data.npz"))
    _refused(result, net, "refusing to write the output over the input")
    assert (tmp_path / "data.npz").read_bytes() == before


def test_no_output_goes_inside_the_image_folder(net: Path, tmp_path: Path) -> None:
    """Before: -o data/a/w.safetensors put w.png among class a's images: the next run
    trained on the learning curves."""
    data = _folder(tmp_path / "data", {"a": 2, "b": 2, "c": 2})
    out = tmp_path / "data" / "a" / "w.safetensors"
    result = CliRunner().invoke(main, ["train", str(net), "--data", data, "-o", str(out)])
    assert result.exit_code == 1 and "inside the training data folder" in result.stderr
    assert sorted(p.name for p in (tmp_path / "data" / "a").iterdir()) == ["0.png", "1.png"]


def test_a_folder_too_large_for_memory_is_refused_before_reading(tmp_path: Path) -> None:
    """90 tiny images, each resized to 40000 x 40000 (6.4 GB as float32): refused from the
    file count. Before: every image was resized, each taking 6.4 GB, until memory ran out."""
    net = tmp_path / "tiny.xnet"
    net.write_text("network big\ninput x: 1 x 40000 x 40000\ngap -> flatten -> dense(3)\n")
    data = _folder(tmp_path / "data", {"a": 30, "b": 30, "c": 30})
    result = CliRunner().invoke(main, ["train", str(net), "--data", data])
    assert result.exit_code == 1, result.output
    assert "90 images of 1x40000x40000 as float32 need" in result.stderr
    assert "more than this machine's" in result.stderr


def test_digits_too_large_for_memory_are_refused_before_resizing(tmp_path: Path) -> None:
    net = tmp_path / "tiny.xnet"
    net.write_text("network big\ninput x: 1 x 40000 x 40000\ngap -> flatten -> dense(10)\n")
    result = CliRunner().invoke(main, ["train", str(net), "--data", "digits"])
    assert result.exit_code == 1, result.output
    assert "--data digits: 1,797 images of 1x40000x40000 as float32 need" in result.stderr


def test_images_taken_as_given_show_their_range(net: Path, tmp_path: Path) -> None:
    """uint16 (or 0..255 float) pixels are not scaled: the first line says so with the range
    (before: nothing told the user the network trained on values up to 65535)."""
    x = np.zeros((10, 4, 4), np.uint16)
    x[0, 0, 0] = 65535
    result = _train(net, _npz(tmp_path / "u16.npz", x), "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "(uint16 values as given, 0 to 6.554e+04)" in result.stdout.splitlines()[0]


def test_an_unreadable_image_whose_name_has_a_newline_is_one_line(
    net: Path, tmp_path: Path
) -> None:
    data = _folder(tmp_path / "data", {"a": 2, "b": 2, "c": 2})
    (tmp_path / "data" / "b" / "x\ny.png").write_bytes(b"not a png")
    _refused(_train(net, data), net, "x\\ny.png: not an image format Pillow reads")
