"""`dslc quantize MODEL --calibrate npz:F` fed hostile archives: a zip bomb, a member that
declares more than it holds or more than the machine's memory, pickled objects, a FIFO; and
--percentile nan. Each ends at once in a one-line error (exit 1, or 2 for the option) and
writes nothing.

Decisions tested here: the calibration npz is read as `dslc train --data npz:` reads it
(dslc_runtime.npz): declared sizes are checked before anything is inflated."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from numpy.lib import format as npy

from dslc.cli import main

NET = "network c3\ninput x: 3 x 8 x 8\nconv3x3(4) -> relu -> flatten -> dense(2)\n"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    (folder / "c3.xnet").write_text(NET, encoding="utf-8")
    out = folder / "c3.onnx"
    result = CliRunner().invoke(main, ["compile", str(folder / "c3.xnet"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _quantize(model: Path, source: Path, *extra: str) -> Result:
    out = source.parent / "q.onnx"
    args = ["quantize", str(model), "--calibrate", f"npz:{source}", "-o", str(out), *extra]
    return CliRunner().invoke(main, args)


def _refused(result: Result, source: Path, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert result.stderr.strip().count("\n") == 0, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert not (source.parent / "q.onnx").exists()


def _archive(path: Path, shape: tuple[int, ...], data: bytes) -> Path:
    head = io.BytesIO()
    npy.write_array_header_1_0(head, {"descr": "<f4", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", head.getvalue() + data, zipfile.ZIP_DEFLATED)
    return path


def test_a_zip_bomb_is_refused_before_inflating(model: Path, tmp_path: Path) -> None:
    """Before: 800 KB inflated to 800 MB (2.6 GB peak) before its shape was checked."""
    path = _archive(tmp_path / "b.npz", (100_000, 3, 8, 8), bytes(100_000 * 3 * 8 * 8 * 4))
    assert path.stat().st_size < 200_000
    _refused(_quantize(model, path), path, "would inflate", "zip bomb")


def test_a_member_declaring_more_than_it_holds(model: Path, tmp_path: Path) -> None:
    """Before: 'out of memory; ... (see --limit in --help)', an option quantize lacks."""
    path = _archive(tmp_path / "l.npz", (10**6, 3, 1000, 1000), b"")
    _refused(_quantize(model, path), path, "declares shape (1000000, 3, 1000, 1000)", "memory")
    path = _archive(tmp_path / "s.npz", (1000, 3, 8, 8), bytes(64))
    _refused(_quantize(model, path), path, "declares shape (1000, 3, 8, 8)", "holds only")


def test_pickles_and_fifos_are_refused(model: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.npz"
    np.savez(path, x=np.array([None, 1], dtype=object))
    _refused(_quantize(model, path), path, "pickle")
    fifo = tmp_path / "f.npz"
    os.mkfifo(fifo)
    _refused(_quantize(model, fifo), fifo, "not a regular file")


def test_percentile_nan_is_refused(model: Path, tmp_path: Path) -> None:
    """Before: --percentile nan was accepted (nan passes every range comparison)."""
    path = tmp_path / "ok.npz"
    np.savez(path, x=np.zeros((2, 3, 8, 8), np.float32))
    result = _quantize(model, path, "--method", "percentile", "--percentile", "nan")
    assert result.exit_code == 2 and "'nan' is not a finite number" in result.output


def test_fewer_samples_than_asked_are_named(model: Path, tmp_path: Path) -> None:
    """Before: '4 samples' with --samples 1000, as if that were what was asked."""
    path = tmp_path / "ok.npz"
    np.savez(path, x=np.random.default_rng(0).random((4, 3, 8, 8)).astype(np.float32))
    result = _quantize(model, path, "--samples", "1000")
    assert result.exit_code == 0, result.output
    assert "4 samples (all the source has; --samples asked 1000)" in result.stdout


def test_the_output_never_replaces_the_calibration_data(model: Path, tmp_path: Path) -> None:
    path = tmp_path / "ok.npz"
    np.savez(path, x=np.zeros((2, 3, 8, 8), np.float32))
    before = path.read_bytes()
    args = ["quantize", str(model), "--calibrate", f"npz:{path}", "-o", str(path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "refusing to write the output over the input" in result.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value", "status", "words"),
    [
        ("--mean", "nan", 2, "'nan': give finite numbers"),
        ("--std", "inf", 2, "'inf': give finite numbers"),
        ("--mean", "1e39", 1, "past float32's range"),
        ("--std", "1e-45", 1, "past float32's range"),
    ],
)
def test_a_mean_or_std_that_makes_samples_non_finite(
    model: Path, tmp_path: Path, option: str, value: str, status: int, words: str
) -> None:
    """Before: internal error (AssertionError 'scale issue' inside ONNX Runtime's quantizer)."""
    out = tmp_path / "q.onnx"
    args = ["quantize", str(model), "--calibrate", "digits", option, value, "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == status, result.output
    assert words in result.output and "internal error" not in result.output
    assert not out.exists()
