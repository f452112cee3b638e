"""Hostile weights files, each made here in tmp_path, given to the real CLI:
`python -m dslc compile models/lenet5.xnet --weights BAD -o out.onnx` must exit 1 (a diagnostic,
never 3, an internal error), say what is wrong in words a user understands, write no output,
finish at once and stay small in memory. Valid files (torch-like state dicts) still load.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "models" / "lenet5.xnet"
SHAPES = {
    "conv1.weight": (6, 1, 5, 5),
    "conv1.bias": (6,),
    "conv2.weight": (16, 6, 5, 5),
    "conv2.bias": (16,),
    "dense1.weight": (120, 400),
    "dense1.bias": (120,),
    "dense2.weight": (84, 120),
    "dense2.bias": (84,),
    "dense3.weight": (10, 84),
    "dense3.bias": (10,),
}
SECONDS = 10.0  # per case, the interpreter's start included (the check itself is instant)
MAX_RSS = 600 * 2**20  # the child's peak resident memory
GIB = 2**30


def _fits(seed: int = 0) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    return {k: g.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}


class Run:
    """A finished child: exit status, output, wall time and its own peak resident memory."""

    def __init__(self, returncode: int, stdout: str, stderr: str, seconds: float, rss: int):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.seconds, self.rss = seconds, rss


# The child is forked from a small launcher, not from pytest: a child forked from pytest starts
# its peak-RSS high-water mark at pytest's size (fork copies it; exec keeps the maximum).
LAUNCHER = """
import os, sys, threading
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "dslc", *sys.argv[1:]])
timer = threading.Timer(60, os.kill, (pid, 9))  # a blocked child fails the case, not the run
timer.start()
_, status, usage = os.wait4(pid, 0)
timer.cancel()
sys.stderr.write(f"\\npeak-rss-kib={usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _dslc(*args: str | Path, cwd: Path) -> Run:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'runtime'}"}
    start = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    seconds = time.monotonic() - start
    err, _, report = r.stderr.rpartition("\npeak-rss-kib=")
    assert report, r.stderr
    return Run(r.returncode, r.stdout, err, seconds, int(report) * 1024)


def _compile(weights: Path, tmp: Path) -> Run:
    return _dslc("compile", LENET, "--weights", weights, "-o", tmp / "out.onnx", cwd=tmp)


# ---- safetensors by hand: a header of any shape, then bytes ----


def _st(header: object, body: bytes = b"", length: int | None = None) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + body


def _st_file(tensors: dict[str, np.ndarray]) -> bytes:
    header: dict[str, object] = {}
    body = b""
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes()
        kind = {"float32": "F32", "float64": "F64", "int64": "I64", "float16": "F16"}[str(a.dtype)]
        header[name] = {
            "dtype": kind,
            "shape": list(a.shape),
            "data_offsets": [len(body), len(body) + len(raw)],
        }
        body += raw
    return _st(header, body)


def _entry(dtype: object = "F32", shape: object = (2,), offsets: object = (0, 8)) -> object:
    return {"dtype": dtype, "shape": list(shape) if isinstance(shape, tuple) else shape,
            "data_offsets": list(offsets) if isinstance(offsets, tuple) else offsets}  # fmt: skip


def _npz(members: dict[str, bytes], compress: bool = False) -> bytes:
    import io

    buf = io.BytesIO()
    how = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", how) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


class _Opens:
    """An object whose unpickling creates a marker file: proof that nothing was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (open, (str(self.marker), "w"))


# ---- the cases: each writes its file(s) into a folder and returns the path to give ----

Make = Callable[[Path], Path]


def _write(name: str, data: bytes) -> Make:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return make


def _sparse(name: str, head: bytes, size: int) -> Make:
    def make(tmp: Path) -> Path:
        with open(tmp / name, "wb") as f:
            f.write(head)
            f.truncate(size)
        return tmp / name

    return make


def _truncated_safetensors(tmp: Path) -> Path:
    data = _st_file(_fits())
    (tmp / "w.safetensors").write_bytes(data[: len(data) // 2])
    return tmp / "w.safetensors"


def _truncated_npz(tmp: Path) -> Path:
    np.savez(tmp / "w.npz", **_fits())  # type: ignore[arg-type]
    data = (tmp / "w.npz").read_bytes()
    (tmp / "w.npz").write_bytes(data[: len(data) // 2])
    return tmp / "w.npz"


def _directory(tmp: Path) -> Path:
    (tmp / "w.safetensors").mkdir()
    return tmp / "w.safetensors"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "w.safetensors")
    return tmp / "w.safetensors"


def _dev_zero(tmp: Path) -> Path:
    (tmp / "w.safetensors").symlink_to("/dev/zero")
    return tmp / "w.safetensors"


def _pickled(tmp: Path) -> Path:
    objects = np.array([_Opens(tmp / "UNPICKLED")], dtype=object)
    (tmp / "w.npz").write_bytes(_npz({"conv1.bias.npy": _npy(objects)}))
    return tmp / "w.npz"


def _zip_bomb(tmp: Path) -> Path:
    path = tmp / "w.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("conv1.weight.npy", _npy(np.zeros(16 * 2**20, np.float32)))  # 64 MiB of 0
    assert path.stat().st_size < 2**20
    return path


def _duplicates(tmp: Path) -> Path:
    path = tmp / "w.npz"
    fits = _fits()
    with zipfile.ZipFile(path, "w") as z:
        for k, a in fits.items():
            z.writestr(f"{k}.npy", _npy(a))
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr("conv1.bias.npy", _npy(np.zeros(6, np.float32)))
    return path


def _zip64_count(count: int) -> bytes:
    """The end records of a zip64 archive that claims `count` members (and holds none)."""
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, 0, 0)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, 0, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0, 0)
    return record + locator + end


def _many(n: int) -> bytes:
    header = {f"t{i}": _entry("F32", (0,), (0, 0)) for i in range(n)}
    return _st(header)


def _huge_unexpected(tmp: Path) -> Path:
    """A valid file of the lenet tensors and a 4 GiB one no layer has (sparse on disk)."""
    fits = _fits()
    header: dict[str, object] = {}
    body = b""
    for name, a in fits.items():
        header[name] = _entry("F32", a.shape, (len(body), len(body) + a.nbytes))
        body += a.tobytes()
    header["junk"] = _entry("F32", (GIB,), (len(body), len(body) + 4 * GIB))
    head = _st(header, body)
    path = tmp / "w.safetensors"
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + 4 * GIB)
    return path


def _many_bad_dtypes() -> bytes:
    header = {f"x{i}": _entry("Q99", (2,), (8 * i, 8 * i + 8)) for i in range(30)}
    return _st(header, b"\0" * 240)


def _npz_npy_header(shape: tuple[int, ...]) -> bytes:
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * (-(len(text) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


# name -> (make, words the message must contain)
CASES: dict[str, tuple[Make, tuple[str, ...]]] = {
    "empty safetensors": (_write("w.safetensors", b""), ("E0705", "empty")),
    "empty npz": (_write("w.npz", b""), ("E0705", "empty")),
    "shorter than a length": (_write("w.safetensors", b"\x01\x02"), ("E0705", "too short")),
    "truncated safetensors": (_truncated_safetensors, ("E0705",)),
    "header not JSON": (_write("w.safetensors", _st(b"{not json!")), ("E0705", "JSON")),
    "header not UTF-8": (_write("w.safetensors", _st(b"{\xff\xfe}")), ("E0705", "JSON")),
    "header a JSON list": (_write("w.safetensors", _st([1, 2])), ("E0705", "object")),
    "header length past the end": (
        _write("w.safetensors", _st({}, length=2**63)),
        ("E0705", "header"),
    ),
    "header length absurd in a sparse 3 GiB file": (
        _sparse("w.safetensors", struct.pack("<Q", 2 * GIB) + b"{", 3 * GIB),
        ("E0705", "header"),
    ),
    "deeply nested JSON": (
        _write("w.safetensors", _st(b"[" * 200_000 + b"]" * 200_000)),
        ("E0705", "nested"),
    ),
    "duplicate keys in the header": (
        _write("w.safetensors", _st(b'{"a":{},"a":{}}')),
        ("E0705", "twice"),
    ),
    "offsets past the end": (
        _write("w.safetensors", _st({"conv1.bias": _entry("F32", (6,), (0, 10**12))})),
        ("E0705", "conv1.bias"),
    ),
    "offsets negative": (
        _write("w.safetensors", _st({"conv1.bias": _entry("F32", (6,), (-8, 16))}, b"\0" * 24)),
        ("E0705", "conv1.bias"),
    ),
    "offsets overlapping": (
        _write(
            "w.safetensors",
            _st({"a": _entry("F32", (2,), (0, 8)), "b": _entry("F32", (2,), (4, 12))}, b"\0" * 12),
        ),
        ("E0705", "overlap"),
    ),
    "offsets not numbers": (
        _write("w.safetensors", _st({"a": _entry("F32", (2,), ["0", "8"])}, b"\0" * 8)),
        ("E0705", "'a'"),
    ),
    "size disagrees with the shape": (
        _write("w.safetensors", _st({"a": _entry("F32", (3,), (0, 8))}, b"\0" * 8)),
        ("E0705", "'a'"),
    ),
    "unknown dtype": (
        _write("w.safetensors", _st({"a": _entry("Q99", (2,), (0, 8))}, b"\0" * 8)),
        ("E0705", "Q99"),
    ),
    "negative shape": (
        _write("w.safetensors", _st({"a": _entry("F32", (-2,), (0, 8))}, b"\0" * 8)),
        ("E0705", "shape"),
    ),
    "shape of strings": (
        _write("w.safetensors", _st({"a": _entry("F32", ["x"], (0, 8))}, b"\0" * 8)),
        ("E0705", "shape"),
    ),
    "shape overflowing 64 bits": (
        _write("w.safetensors", _st({"a": _entry("F32", (2**40, 2**40), (0, 8))}, b"\0" * 8)),
        ("E0705", "'a'"),
    ),
    "metadata not strings": (
        _write("w.safetensors", _st({"__metadata__": {"a": [1]}})),
        ("E0705", "metadata"),
    ),
    "200,000 entries": (_write("w.safetensors", _many(200_000)), ("E0705", "200,000")),
    "30 bad dtypes, listed once and capped": (
        _write("w.safetensors", _many_bad_dtypes()),
        ("E0705", "x0", "Q99", "more"),
    ),
    "a directory": (_directory, ("E0705", "directory")),
    "a FIFO": (_fifo, ("E0705", "not a regular file")),
    "a link to /dev/zero": (_dev_zero, ("E0705", "not a regular file")),
    "/dev/zero itself": (lambda tmp: Path("/dev/zero"), ("E0705",)),
    "no such file": (lambda tmp: tmp / "absent.safetensors", ("E0705", "no such file")),
    "npz not a zip": (_write("w.npz", b"PK\x03\x04" + b"\xff" * 100), ("E0705", "zip")),
    "npz truncated": (_truncated_npz, ("E0705",)),
    "npz member not .npy": (
        _write("w.npz", _npz({"conv1.bias.txt": b"hello"})),
        ("E0705", "conv1.bias.txt", ".npy"),
    ),
    "npz member garbage .npy": (
        _write("w.npz", _npz({"conv1.bias.npy": b"\x93NUMPY garbage"})),
        ("E0705", "conv1.bias"),
    ),
    "npz member's shape larger than its data": (
        _write("w.npz", _npz({"conv1.bias.npy": _npz_npy_header((10**12,))})),
        ("E0705", "conv1.bias"),
    ),
    "npz object arrays": (_pickled, ("E0705", "pickle")),
    "npz zip bomb": (_zip_bomb, ("E0705", "conv1.weight", "inflate")),
    "npz duplicate names": (_duplicates, ("E0705", "conv1.bias", "twice")),
    "npz claiming 5,000,000 members": (
        _write("w.npz", _zip64_count(5_000_000)),
        ("E0705", "5,000,000"),
    ),
    "a 4 GiB tensor no layer has (sparse)": (_huge_unexpected, ("E0702", "junk")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_weights_file_is_a_clear_error(case: str, tmp_path: Path) -> None:
    make, words = CASES[case]
    bad = make(tmp_path)
    result = _compile(bad, tmp_path)
    err = result.stderr
    assert result.returncode == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert "error[" in err, err
    for word in words:
        assert word in err, err
    assert len(err.splitlines()) <= 40, err  # long lists capped
    assert not (tmp_path / "out.onnx").exists()
    assert not (tmp_path / "UNPICKLED").exists()
    assert result.seconds < SECONDS, f"{case} took {result.seconds:.1f} s"
    assert result.rss < MAX_RSS, f"{case} took {result.rss / 2**20:.0f} MiB"


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_a_warning_naming_the_tensors(tmp_path: Path, value: float) -> None:
    fits = _fits()
    for name in ("conv1.weight", "dense2.bias"):
        fits[name].flat[3] = value
    (tmp_path / "w.safetensors").write_bytes(_st_file(fits))
    result = _compile(tmp_path / "w.safetensors", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning[W0706]" in result.stderr
    assert "'conv1.weight', 'dense2.bias'" in result.stderr
    assert (tmp_path / "out.onnx").exists()


def test_many_non_finite_tensors_are_listed_capped(tmp_path: Path) -> None:
    fits = {k: np.full(a.shape, np.nan, np.float32) for k, a in _fits().items()}
    np.savez(tmp_path / "w.npz", **fits)  # type: ignore[arg-type]
    result = _compile(tmp_path / "w.npz", tmp_path)
    assert result.returncode == 0 and "warning[W0706]" in result.stderr
    assert "and 2 more" in result.stderr


# ---- valid files still load ----


def _state_dict() -> dict[str, np.ndarray]:
    """What torch's state_dict() of lenet would hold, batch-norm counters and all."""
    return {**_fits(3), "conv1.num_batches_tracked": np.array(7, np.int64)}


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_a_torch_like_state_dict_loads(tmp_path: Path, suffix: str) -> None:
    import onnx
    from onnx import numpy_helper

    path = tmp_path / f"w{suffix}"
    sd = _state_dict()
    if suffix == ".npz":
        np.savez(path, **sd)  # type: ignore[arg-type]
    else:
        from safetensors.numpy import save_file

        save_file(sd, str(path), metadata={"format": "pt"})
    result = _compile(path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    model = onnx.load(str(tmp_path / "out.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for name, shape in SHAPES.items():
        assert inits[name].shape == shape and inits[name].dtype == np.float32, name
        assert np.array_equal(inits[name], sd[name]), name


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_save_then_compile_round_trip(tmp_path: Path, suffix: str) -> None:
    saved = tmp_path / f"init{suffix}"
    result = _dslc("weights", LENET, "--save", saved, "--seed", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    if suffix == ".safetensors":  # the package reads what dslc writes
        from safetensors import safe_open

        with safe_open(str(saved), framework="numpy") as f:
            assert set(f.keys()) == set(SHAPES)
            assert f.get_tensor("dense1.weight").shape == (120, 400)
    a = _dslc("compile", LENET, "-o", tmp_path / "a.onnx", "--seed", "4", cwd=tmp_path)
    b = _dslc("compile", LENET, "-o", tmp_path / "out.onnx", "--weights", saved, "--seed", "4",
              cwd=tmp_path)  # fmt: skip
    assert a.returncode == 0 and b.returncode == 0, b.stderr
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "out.onnx").read_bytes()
    check = _dslc("weights", LENET, "--check", saved, cwd=tmp_path)
    assert check.returncode == 0 and "ok (10 tensors" in check.stdout
