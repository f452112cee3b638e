"""`dslc run MODEL --input F` fed what an attacker or an unlucky user would feed it: archives
posing as .npy, pickles, truncated files, FIFOs and devices, wrong shapes and dtypes, NaN,
a huge shape declared in a tiny header. Every case ends quickly in exit status 1 with a clear
message (never 3, never an ONNX Runtime dump), or, where the input is only in a convertible
type, runs with a note.

Decisions tested here: bool, integer and other float inputs are converted to float32 with a
note; complex, string, object and structured arrays are refused; NaN or infinite values (also
values beyond float32's range) are refused; an empty array is refused; only regular files are
read, so a FIFO or a device never blocks."""

from __future__ import annotations

import os
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from dslc.cli import main

NET = "network n\ninput x: 3 x 8 x 8\nconv3x3(4) -> relu\n"


@pytest.fixture
def net(tmp_path: Path) -> Path:
    path = tmp_path / "n.xnet"
    path.write_text(NET, encoding="utf-8")
    return path


def _run(net: Path, given: Path | str, *extra: str) -> Result:
    args = ["run", str(net), "--provider", "cpu", "--input", str(given), *extra]
    return CliRunner().invoke(main, args)


def _refused(result: Result, *words: str) -> None:
    """Exit 1, a one-line error naming the problem, no traceback, no ORT dump."""
    assert result.exit_code == 1, result.output
    assert "error:" in result.stderr, result.stderr
    for word in words:
        assert word.lower() in result.stderr.lower(), result.stderr
    assert "Traceback" not in result.output
    assert "internal error" not in result.stderr
    assert "ONNXRuntimeError" not in result.stderr
    assert "output x" not in result.stdout  # nothing ran


def _header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    """A version 1.0 .npy header declaring `shape`."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * (63 - (10 + len(text)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


# ---- files that are not what their name says ----


def test_npz_passed_as_npy(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    with given.open("wb") as f:
        np.savez(f, x=np.ones((1, 3, 8, 8), np.float32))
    _refused(_run(net, given), str(given), ".npz")


def test_zip_passed_as_npy(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    with zipfile.ZipFile(given, "w") as z:
        z.writestr("readme.txt", "hello")
    _refused(_run(net, given), str(given))


class _Evil:
    """Unpickling this makes a folder: the proof that something was unpickled."""

    marker = ""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


def test_object_array_is_refused_never_unpickled(net: Path, tmp_path: Path) -> None:
    evil = _Evil()
    evil.marker = str(tmp_path / "pwned")
    given = tmp_path / "x.npy"
    np.save(given, np.array([evil], dtype=object), allow_pickle=True)
    _refused(_run(net, given), "pickle")
    assert not (tmp_path / "pwned").exists()


def test_raw_pickle_named_npy(net: Path, tmp_path: Path) -> None:
    import pickle

    evil = _Evil()
    evil.marker = str(tmp_path / "pwned")
    given = tmp_path / "x.npy"
    given.write_bytes(pickle.dumps(evil))
    _refused(_run(net, given), str(given))
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("keep", [0, 5, 40, 128 + 100])
def test_truncated_npy(keep: int, net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    np.save(given, np.ones((1, 3, 8, 8), np.float32))
    given.write_bytes(given.read_bytes()[:keep])
    _refused(_run(net, given), str(given))


@pytest.mark.parametrize(
    "shape", [(10**5, 10**5, 10**5), (2**62,), (2**40, 2**40, 2**40), (1, 3, 8, 10**12)]
)
def test_huge_shape_in_a_tiny_header(shape: tuple[int, ...], net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    given.write_bytes(_header(shape) + b"\0" * 16)
    _refused(_run(net, given), str(given))


def test_garbage_header(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    given.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b"{'descr'")
    _refused(_run(net, given), str(given))


# ---- things that are not regular files ----


def test_fifo_input_never_blocks(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    os.mkfifo(given)
    _refused(_run(net, given), str(given), "not a regular file")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_device_input(device: str, net: Path) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    _refused(_run(net, device), device)


def test_device_input_named_npy(net: Path, tmp_path: Path) -> None:
    link = tmp_path / "x.npy"
    link.symlink_to("/dev/zero")
    _refused(_run(net, link), str(link), "not a regular file")


def test_directory_input(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    given.mkdir()
    _refused(_run(net, given), str(given))


def test_missing_input(net: Path, tmp_path: Path) -> None:
    _refused(_run(net, tmp_path / "nope.npy"), "nope.npy")


@pytest.mark.parametrize("command", ["run", "bench"])
def test_fifo_as_the_model(tmp_path: Path, command: str) -> None:
    """bench handed the path to ONNX Runtime, which opened the FIFO and waited for a writer."""
    import subprocess
    import sys

    model = tmp_path / "m.onnx"
    os.mkfifo(model)
    done = subprocess.run(  # a child: a blocked open() in ONNX Runtime ignores SIGALRM
        [sys.executable, "-m", "dslc", command, str(model), "--provider", "cpu"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"cannot read model {model}: not a regular file" in done.stderr
    assert "Traceback" not in done.stderr


# ---- shapes ----


@pytest.mark.parametrize(
    ("shape", "got"),
    [
        ((1, 3, 9, 9), "(1, 3, 9, 9)"),
        ((3, 8, 9), "(1, 3, 8, 9)"),
        ((1, 1, 3, 8, 8), "(1, 1, 3, 8, 8)"),
        ((2, 4, 8, 8), "(2, 4, 8, 8)"),
        ((), "(1, 1, 1, 1)"),
    ],
)
def test_wrong_shapes_name_expected_and_got(
    shape: tuple[int, ...], got: str, net: Path, tmp_path: Path
) -> None:
    given = tmp_path / "x.npy"
    np.save(given, np.ones(shape, np.float32))
    _refused(_run(net, given), "3, 8, 8", got)


def test_empty_array(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    np.save(given, np.ones((0, 3, 8, 8), np.float32))
    _refused(_run(net, given), "no values")


def test_text_input_of_the_wrong_shape(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.csv"
    given.write_text("1,2\n3,4\n", encoding="utf-8")
    _refused(_run(net, given), "3, 8, 8")


def test_text_input_that_is_not_numbers(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.txt"
    given.write_text("hello world\n", encoding="utf-8")
    _refused(_run(net, given), str(given))


# ---- dtypes and values ----


@pytest.mark.parametrize(
    "dtype", [np.complex64, np.complex128, "U3", "S3", [("a", "<f4"), ("b", "<i4")]]
)
def test_unconvertible_dtypes_are_refused(dtype: object, net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    np.save(given, np.zeros((1, 3, 8, 8), dtype))  # type: ignore[call-overload]
    _refused(_run(net, given), "float32")


@pytest.mark.parametrize(
    "dtype", [np.bool_, np.float64, np.float16, np.int64, np.uint8, ">f4", ">f8"]
)
def test_convertible_dtypes_run_with_a_note(dtype: object, net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    np.save(given, np.ones((1, 3, 8, 8), dtype))  # type: ignore[call-overload]
    result = _run(net, given)
    assert result.exit_code == 0, result.output
    assert "output x" in result.stdout or "output " in result.stdout


def test_fortran_order_runs(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    np.save(given, np.asfortranarray(np.ones((1, 3, 8, 8), np.float32)))
    assert _run(net, given).exit_code == 0


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(value: float, net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    array = np.ones((1, 3, 8, 8), np.float32)
    array[0, 1, 2, 3] = value
    np.save(given, array)
    _refused(_run(net, given), "1 value", "finite")


def test_float64_beyond_float32_range_is_refused(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.npy"
    np.save(given, np.full((1, 3, 8, 8), 1e300))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning on the way to the refusal
        _refused(_run(net, given), "float32")


def test_unknown_input_suffix(net: Path, tmp_path: Path) -> None:
    given = tmp_path / "x.png"
    given.write_bytes(b"\x89PNG\r\n")
    _refused(_run(net, given), ".npy")


@pytest.mark.parametrize("command", ["run", "bench"])
@pytest.mark.parametrize("size", ["H=99999999999999999999,W=8", "H=100000,W=100000"])
def test_absurd_sizes_for_random_inputs_are_refused(
    tmp_path: Path, command: str, size: str
) -> None:
    """numpy's ValueError (past its dimension limit) was an internal error; 100000 x 100000
    tried to allocate 120 GB before failing."""
    net = tmp_path / "sym.xnet"
    net.write_text("network s\ninput x: 3 x H x W\nconv3x3(4) -> relu\n", encoding="utf-8")
    result = CliRunner().invoke(main, [command, str(net), "--size", size, "--provider", "cpu"])
    _refused(result, "elements per sample, over the limit of 2,147,483,647")
