"""Where the commands write, as an attacker and an unlucky user would choose it: FIFOs,
devices, directories, symlinks (to the input and elsewhere), missing and read-only folders,
a full disk, odd names, closed pipes. Each must end in a clear message and exit status, an
existing output untouched, no temporary file left behind, and never "wrote X" for what was not
written.

Decisions tested here (see dslc/cli/output.py): a target that exists and is not a regular file
(FIFO, device, socket, directory) is refused, never opened or replaced; a symlink is written
through (its target is replaced, the link kept), unless it resolves to an input; a missing
folder is created (as before: `compile -o build/m.onnx` works), and a path through a file is
refused; a closed stdout ends the command quietly with status 141
(128 + SIGPIPE, what a shell reports for a process killed by SIGPIPE)."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dslc.cli import main

ROOT = Path(__file__).resolve().parents[2]
NET = "network n\ninput x: 3 x 8 x 8\nconv3x3(16) -> relu\n"
ENV = {
    **os.environ,
    "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'runtime'}",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@pytest.fixture
def net(tmp_path: Path) -> Path:
    path = tmp_path / "n.xnet"
    path.write_text(NET, encoding="utf-8")
    return path


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _compile(net: Path, out: Path) -> list[str]:
    return ["compile", str(net), "-o", str(out)]


def _run(net: Path, out: Path) -> list[str]:
    return ["run", str(net), "--provider", "cpu", "--output", str(out)]


def _weights(net: Path, out: Path) -> list[str]:
    return ["weights", str(net), "--save", str(out)]


def _graph(net: Path, out: Path) -> list[str]:
    return ["graph", str(net), "-o", str(out)]


def _plot(net: Path, out: Path) -> list[str]:
    return ["rf", str(net), "--plot", str(out)]


def _picture(net: Path, out: Path) -> list[str]:
    image = net.parent / "in.png"
    if not image.exists():
        from PIL import Image

        Image.new("RGB", (8, 8), (90, 140, 200)).save(image)
    return ["rf", str(net), "--image", str(image), "--unit", "1,1", "-o", str(out)]


def _torch(net: Path, out: Path) -> list[str]:
    return ["torch", str(net), "-o", str(out)]


def _compiled(net: Path) -> Path:
    """The network compiled once, beside it (an input for the commands that read .onnx)."""
    model = net.parent / "in.onnx"
    if not model.exists():
        done = _invoke(["compile", str(net), "-o", str(model)])
        assert done.exit_code == 0, done.output
    return model


def _decompile(net: Path, out: Path) -> list[str]:
    return ["decompile", str(_compiled(net)), "-o", str(out)]


def _quantize(net: Path, out: Path) -> list[str]:
    return [
        "quantize",
        str(_compiled(net)),
        "--calibrate",
        "digits",
        "--samples",
        "4",
        "-o",
        str(out),
    ]


# every command that writes a file, with a suffix it accepts
WRITERS: dict[str, tuple[Callable[[Path, Path], list[str]], str]] = {
    "compile": (_compile, ".onnx"),
    "run": (_run, ".npy"),
    "weights": (_weights, ".npz"),
    "graph": (_graph, ".dot"),
    "rf-plot": (_plot, ".png"),
    "rf-image": (_picture, ".png"),
    "torch": (_torch, ".py"),
    "decompile": (_decompile, ".xnet"),
    "quantize": (_quantize, ".onnx"),
}
WRITER_NAMES = sorted(WRITERS)
READS_ONNX = ("decompile", "quantize")  # the others read the .xnet


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def _args(writer: str, net: Path, out: Path) -> list[str]:
    return WRITERS[writer][0](net, out)


def _name(writer: str, stem: str = "m") -> str:
    return stem + WRITERS[writer][1]


def _no_claim(result: Result) -> None:
    """Nothing claims a file was written."""
    assert "wrote" not in result.stdout and "saved" not in result.stdout, result.stdout


def _state(folder: Path) -> dict[str, object]:
    """Names, kinds and contents of a folder (symlinks by their target)."""
    found: dict[str, object] = {}
    for p in folder.iterdir():
        if p.is_symlink():
            found[p.name] = ("link", os.readlink(p))
        elif p.is_file():
            found[p.name] = p.read_bytes()
        else:
            found[p.name] = stat.S_IFMT(p.lstat().st_mode)
    return found


# ---- existing targets that are not regular files ----


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_fifo_target_is_refused_and_kept(writer: str, net: Path, out_dir: Path) -> None:
    target = out_dir / _name(writer)
    os.mkfifo(target)
    result = _invoke(_args(writer, net, target))
    assert result.exit_code == 1, result.output
    assert "not a regular file" in result.stderr and str(target) in result.stderr
    assert stat.S_ISFIFO(target.lstat().st_mode)
    assert os.listdir(out_dir) == [target.name]
    _no_claim(result)


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_device_target_is_refused_and_never_replaced(writer: str, net: Path, out_dir: Path) -> None:
    """A copy of /dev/null (never the real one: os.replace as root would replace the node)."""
    target = out_dir / _name(writer)
    try:
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    result = _invoke(_args(writer, net, target))
    assert result.exit_code == 1, result.output
    assert "not a regular file" in result.stderr
    assert stat.S_ISCHR(target.lstat().st_mode)
    assert os.listdir(out_dir) == [target.name]
    _no_claim(result)


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_directory_target_is_refused(writer: str, net: Path, out_dir: Path) -> None:
    target = out_dir / _name(writer)
    target.mkdir()
    (target / "keep").write_text("x", encoding="utf-8")
    result = _invoke(_args(writer, net, target))
    assert result.exit_code in (1, 2), result.output  # 2: click's own check of dir_okay=False
    assert "directory" in result.output
    assert os.listdir(target) == ["keep"] and os.listdir(out_dir) == [target.name]
    _no_claim(result)


# ---- symlinks ----


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_symlink_to_the_input_is_refused(writer: str, net: Path, out_dir: Path) -> None:
    given = _compiled(net) if writer in READS_ONNX else net
    before = given.read_bytes()
    link = out_dir / _name(writer)
    link.symlink_to(given)
    result = _invoke(_args(writer, net, link))
    assert result.exit_code == 1, result.output
    assert "over the input" in result.stderr
    assert given.read_bytes() == before
    assert link.is_symlink() and os.listdir(out_dir) == [link.name]
    _no_claim(result)


def test_run_output_onto_its_input_file_is_refused(net: Path, out_dir: Path) -> None:
    import numpy as np

    given = out_dir / "x.npy"
    np.save(given, np.ones((1, 3, 8, 8), np.float32))
    before = given.read_bytes()
    link = out_dir / "y.npy"
    link.symlink_to(given)
    for target in (given, link):
        args = ["run", str(net), "--input", str(given), "--output", str(target)]
        result = _invoke(args)
        assert result.exit_code == 1, result.output
        assert "over the input" in result.stderr
        assert given.read_bytes() == before
        _no_claim(result)
    assert sorted(os.listdir(out_dir)) == ["x.npy", "y.npy"]


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_symlink_elsewhere_is_written_through(writer: str, net: Path, out_dir: Path) -> None:
    real = out_dir / "real"
    real.mkdir()
    target = real / _name(writer, "target")
    target.write_bytes(b"old")
    link = out_dir / _name(writer)
    link.symlink_to(target)
    result = _invoke(_args(writer, net, link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() != b"old" and target.stat().st_size > 0
    assert sorted(os.listdir(out_dir)) == sorted(["real", link.name])
    assert os.listdir(real) == [target.name]


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_dangling_symlink_creates_its_target(writer: str, net: Path, out_dir: Path) -> None:
    target = out_dir / _name(writer, "target")
    link = out_dir / _name(writer)
    link.symlink_to(target)
    result = _invoke(_args(writer, net, link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and target.is_file() and target.stat().st_size > 0


# ---- folders ----


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_missing_folder_is_created(writer: str, net: Path, out_dir: Path) -> None:
    target = out_dir / "no" / "such" / _name(writer)
    result = _invoke(_args(writer, net, target))
    assert result.exit_code == 0, result.output
    assert os.listdir(target.parent) == [target.name]


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_a_folder_that_is_a_file_is_refused(writer: str, net: Path, out_dir: Path) -> None:
    (out_dir / "f").write_bytes(b"keep")
    target = out_dir / "f" / "sub" / _name(writer)
    result = _invoke(_args(writer, net, target))
    assert result.exit_code == 1, result.output
    assert f"cannot write {target}: " in result.stderr and "internal error" not in result.stderr
    assert os.listdir(out_dir) == ["f"] and (out_dir / "f").read_bytes() == b"keep"
    _no_claim(result)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_read_only_folder(writer: str, net: Path, out_dir: Path) -> None:
    out_dir.chmod(0o555)
    try:
        result = _invoke(_args(writer, net, out_dir / _name(writer)))
    finally:
        out_dir.chmod(0o755)
    assert result.exit_code == 1, result.output
    assert "Permission denied" in result.stderr
    assert os.listdir(out_dir) == []


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_permission_denied_when_creating_the_file(
    writer: str, net: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only folder as a non-root user sees it: os.open in the folder fails."""
    target = out_dir / _name(writer)
    target.write_bytes(b"old")
    real_open = os.open

    def refusing(path: object, *args: object, **kwargs: object) -> int:
        if str(path).startswith(str(out_dir)) and len(args) > 0:
            flags = args[0]
            if isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing)
    result = _invoke(_args(writer, net, target))
    assert result.exit_code == 1, result.output
    assert f"cannot write {target}: Permission denied" in result.stderr
    assert os.listdir(out_dir) == [target.name] and target.read_bytes() == b"old"
    _no_claim(result)


# ---- a full disk: a real EFBIG from RLIMIT_FSIZE in a child process ----


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_full_disk_is_a_user_error_and_keeps_the_old_output(
    writer: str, net: Path, out_dir: Path
) -> None:
    target = out_dir / _name(writer)
    target.write_bytes(b"old")
    limit = "import resource, signal, sys, runpy\n"
    limit += "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    size = 20 if writer == "decompile" else 200  # under what each writes (decompile: 64 bytes)
    limit += f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size}, {size}))\n"
    limit += "sys.argv = ['dslc', *sys.argv[1:]]\n"
    limit += "runpy.run_module('dslc', run_name='__main__')\n"
    done = subprocess.run(
        [sys.executable, "-c", limit, *_args(writer, net, target)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # quantize fails earlier, on ONNX Runtime's scratch models (in TMPDIR)
    scratch = "cannot write the quantizer's scratch models in "
    assert (scratch if writer == "quantize" else f"cannot write {target}: ") in done.stderr
    assert "File too large" in done.stderr or "disk full" in done.stderr  # numpy's own text
    assert "internal error" not in done.stderr
    assert os.listdir(out_dir) == [target.name] and target.read_bytes() == b"old"
    assert "wrote" not in done.stdout and "saved" not in done.stdout


# ---- odd names ----

ODD = [
    "with space",
    "new\nline",
    "ünïcødé-名前",
    "-dash",
    "quote'\"",
    "x" * 200,
    "$(touch pwned)",
]


@pytest.mark.parametrize("writer", WRITER_NAMES)
@pytest.mark.parametrize("stem", ODD, ids=range(len(ODD)))
def test_odd_names_are_written_exactly(writer: str, stem: str, net: Path, out_dir: Path) -> None:
    target = out_dir / _name(writer, stem)
    result = _invoke(_args(writer, net, target))
    assert result.exit_code == 0, result.output
    assert os.listdir(out_dir) == [target.name]
    assert target.stat().st_size > 0


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_the_longest_name_the_folder_allows(writer: str, net: Path, out_dir: Path) -> None:
    """255 bytes is a valid name: the temporary file beside it must still fit."""
    suffix = WRITERS[writer][1]
    target = out_dir / ("y" * (255 - len(suffix)) + suffix)
    result = _invoke(_args(writer, net, target))
    assert result.exit_code == 0, result.output
    assert os.listdir(out_dir) == [target.name]


@pytest.mark.parametrize("writer", WRITER_NAMES)
def test_a_name_too_long(writer: str, net: Path, out_dir: Path) -> None:
    suffix = WRITERS[writer][1]
    target = out_dir / ("y" * 300 + suffix)
    result = _invoke(_args(writer, net, target))
    assert result.exit_code == 1, result.output
    assert "File name too long" in result.stderr
    assert os.listdir(out_dir) == []
    _no_claim(result)


# ---- dslc run --output ----


@pytest.mark.parametrize("name", ["lap.png", "out", "out.npy.txt", "m.onnx"])
def test_run_refuses_an_unknown_suffix_before_running(name: str, net: Path, out_dir: Path) -> None:
    result = _invoke(_run(net, out_dir / name))
    assert result.exit_code == 1, result.output
    assert ".npy" in result.stderr and ".npz" in result.stderr
    assert "output x" not in result.stdout  # refused before running
    assert os.listdir(out_dir) == []
    _no_claim(result)


@pytest.mark.parametrize("name", ["y.npy", "y.npz", "Y.NPY"])
def test_run_writes_exactly_the_named_file(name: str, net: Path, out_dir: Path) -> None:
    import numpy as np

    target = out_dir / name
    result = _invoke(_run(net, target))
    assert result.exit_code == 0, result.output
    assert os.listdir(out_dir) == [name]
    assert f"saved {target}" in result.stdout
    loaded = np.load(target, allow_pickle=False)
    value = loaded if isinstance(loaded, np.ndarray) else next(iter(loaded.values()))
    assert value.shape == (1, 16, 8, 8)


def test_run_of_two_outputs_to_npy_is_refused(tmp_path: Path, out_dir: Path) -> None:
    net = tmp_path / "two.xnet"
    net.write_text(
        "network two\ninput x: 3 x 8 x 8\nconv3x3(4) @a -> relu @b\noutput a, b\n",
        encoding="utf-8",
    )
    result = _invoke(_run(net, out_dir / "y.npy"))
    assert result.exit_code == 1, result.output
    assert ".npz" in result.stderr
    assert os.listdir(out_dir) == []
    result = _invoke(_run(net, out_dir / "y.npz"))
    assert result.exit_code == 0, result.output
    assert os.listdir(out_dir) == ["y.npz"]


# ---- a closed stdout (dslc ... | head -1) ----

PRINTERS = [
    ["weights", "models/resnet50.xnet"],
    ["summary", "models/resnet50.xnet"],
    ["check", "models/resnet50.xnet"],
    ["fmt", "--stdout", "models/resnet50.xnet"],
    ["rf", "models/resnet50.xnet"],
    ["explain"],
    ["explain", "E0301"],
]


@pytest.mark.parametrize("args", PRINTERS, ids=lambda a: " ".join(a))
def test_a_closed_pipe_ends_quietly(args: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dslc", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


def test_a_closed_pipe_during_help_is_quiet() -> None:
    """--help is printed by click itself, which exits 1 on a closed pipe: quiet, never 3."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dslc", "--help"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode in (1, 141) and done.stderr == ""


def test_head_of_a_long_listing() -> None:
    """The case from the issue, through a real shell pipeline."""
    done = subprocess.run(
        f"set -o pipefail; {sys.executable} -m dslc weights models/resnet50.xnet | head -1",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.stdout.startswith("Name")
    assert done.stderr == ""
    assert done.returncode in (0, 141)
