"""A signal in the middle of a write: `kill` (SIGTERM) or Ctrl-C (SIGINT) while `compile -o`,
`run --output` or `weights --save` is writing. The temporary file must go, an existing output
must stay as it was, nothing may claim it was written, and the exit status is that of the
signal: 143 (128 + SIGTERM) or 130 (128 + SIGINT), as a shell reports for a killed process.

Real processes and real signals. One case writes a large model (vgg16, 528 MiB, about 4 s of
writing here); the others make the file object sleep after its first write, so the signal
lands while the temporary file exists, every time, in a second or two."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'runtime'}",
    "PYTHONDONTWRITEBYTECODE": "1",
}
NET = "network n\ninput x: 3 x 8 x 8\nconv3x3(16) -> relu\n"

# dslc, with files opened for writing slowed down: the first write lands on disk, then the
# process sleeps a minute, so a signal finds the temporary file there, half written
SLOW_WRITES = """
import os, runpy, sys, time
_fdopen = os.fdopen
class _Slow:
    def __init__(self, f): self._f = f
    def __getattr__(self, name): return getattr(self._f, name)
    def __enter__(self): return self
    def __exit__(self, *exc): return self._f.__exit__(*exc)
    slept = False
    def write(self, data):
        n = self._f.write(data)
        if not _Slow.slept:  # once: the clean-up after the signal may write (a zip's end)
            _Slow.slept = True
            self._f.flush()
            for _ in range(600):  # short sleeps: a signal landing between the flush and
                time.sleep(0.1)  # a long sleep's start would wait out the whole sleep
        return n
def _open(fd, mode="r", *args, **kwargs):
    f = _fdopen(fd, mode, *args, **kwargs)
    return _Slow(f) if "w" in mode else f
os.fdopen = _open
sys.argv = ["dslc", *sys.argv[1:]]
runpy.run_module("dslc", run_name="__main__")
"""


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def _signal_mid_write(cmd: list[str], folder: Path, sig: int) -> subprocess.CompletedProcess[str]:
    """Start cmd, wait until a temporary file in `folder` has bytes in it, send sig."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size for p in _temporaries(folder)):
            assert proc.poll() is None, f"finished before writing: {proc.communicate()}"
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.01)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _assert_cleanly_stopped(
    done: subprocess.CompletedProcess[str], sig: int, folder: Path, target: Path
) -> None:
    status, word = {signal.SIGTERM: (143, "terminated"), signal.SIGINT: (130, "interrupted")}[sig]
    assert done.returncode == status, done.stdout + done.stderr
    assert done.stderr.strip().endswith(word), done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "wrote" not in done.stdout and "saved" not in done.stdout
    assert os.listdir(folder) == [target.name]  # no .tmp, no .data
    assert target.read_bytes() == b"old"


def test_sigterm_while_writing_vgg16_keeps_the_old_model(tmp_path: Path) -> None:
    target = tmp_path / "vgg16.onnx"
    target.write_bytes(b"old")
    cmd = [sys.executable, "-m", "dslc", "compile", str(ROOT / "models/vgg16.xnet"), "-o"]
    done = _signal_mid_write([*cmd, str(target)], tmp_path, signal.SIGTERM)
    _assert_cleanly_stopped(done, signal.SIGTERM, tmp_path, target)


WRITES = {
    "compile -o": ("m.onnx", ["compile", "{net}", "-o", "{out}"]),
    "run --output": ("y.npy", ["run", "{net}", "--provider", "cpu", "--output", "{out}"]),
    "run --output .npz": ("y.npz", ["run", "{net}", "--provider", "cpu", "--output", "{out}"]),
    "weights --save .npz": ("w.npz", ["weights", "{net}", "--save", "{out}"]),
    "weights --save .safetensors": ("w.safetensors", ["weights", "{net}", "--save", "{out}"]),
}
CASES = [(w, signal.SIGTERM) for w in sorted(WRITES)] + [("compile -o", signal.SIGINT)]


@pytest.mark.parametrize(
    ("write", "sig"), CASES, ids=[f"{w}-{signal.Signals(s).name}" for w, s in CASES]
)
def test_a_signal_mid_write_leaves_no_temporary_file(write: str, sig: int, tmp_path: Path) -> None:
    net = tmp_path / "n.xnet"
    net.write_text(NET, encoding="utf-8")
    folder = tmp_path / "out"
    folder.mkdir()
    name, args = WRITES[write]
    target = folder / name
    target.write_bytes(b"old")
    args = [a.format(net=net, out=target) for a in args]
    done = _signal_mid_write([sys.executable, "-c", SLOW_WRITES, *args], folder, sig)
    _assert_cleanly_stopped(done, sig, folder, target)
