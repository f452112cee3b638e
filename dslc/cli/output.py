"""Writing what the commands make: atomic files, models past protobuf's 2 GiB limit, and
models compiled in memory for run and bench."""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import click

from dslc.backend.settings import DEFAULT_OPSET, SCHEMES
from dslc.cli.common import UserError, analyse_file, progress
from dslc.diagnostics import CompileError
from dslc.expand.limits import Limits

__all__ = [
    "MAX_MODEL_BYTES",
    "atomic_dir",
    "atomic_file",
    "build_model",
    "check_output",
    "compile_in_memory",
    "default_opset",
    "model_opset",
    "needs_external_data",
    "save_model",
    "writable_target",
    "write_atomic",
]


MAX_MODEL_BYTES = 2**31 - 2**24  # protobuf's 2 GiB limit, less room for the graph


def write_atomic(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write via a temporary file and a rename, so no partial file is ever left behind."""
    with atomic_file(path) as f:
        if callable(data):
            data(f)
        else:
            f.write(data)


def _cannot(path: Path, exc: OSError) -> UserError:
    reason = exc.strerror or f"{exc} (is the disk full?)"  # numpy's short writes: no errno
    return UserError(f"cannot write {path}: {reason}")


def writable_target(path: Path) -> Path:
    """The file that writing `path` replaces: a symlink is followed (the link is kept and its
    target written). Refused: an existing directory, FIFO, device or socket (never opened,
    never replaced: os.replace onto /dev/null as root would replace the device node). A
    missing folder is no error here: atomic_file creates it."""
    real = Path(os.path.realpath(path))
    try:
        st: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _cannot(path, exc) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UserError(f"cannot write {path}: it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UserError(
            f"cannot write {path}: it exists and is not a regular file ({_kind(st.st_mode)}); "
            "dslc neither writes into nor replaces it"
        )
    return real


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a file")


def check_output(path: Path, inputs: Iterable[str | Path | None]) -> None:
    """Refuse, before any work, an output that cannot be written or that is one of the
    inputs (also through a symlink or a hard link)."""
    for given in inputs:
        if given is not None and _same_file(path, Path(given)):
            raise UserError(f"refusing to write the output over the input {given}")
    writable_target(path)


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `path` (beside a symlink's target) that replaces it on success
    and vanishes on failure. An OSError (no space, no permission) is a UserError."""
    import tempfile  # imported here: only the commands that write files pay for it

    real = writable_target(path)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)  # as compile -o build/m.onnx expects
    except OSError as exc:
        raise _cannot(path, exc) from None
    prefix = f".{real.name[:64]}."  # short: the longest allowed name must still get a temp
    tmp: str | None = None
    try:
        with _signals_held():  # Ctrl-C or SIGTERM: never a temporary file without its name
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=real.parent)
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, _mode_for(real))
        os.replace(tmp, real)
    except OSError as exc:
        _remove(tmp)
        raise _cannot(path, exc) from None
    except BaseException:  # an error, Ctrl-C (KeyboardInterrupt) or SIGTERM (Terminated)
        _remove(tmp)
        raise


@contextmanager
def atomic_dir(path: Path, force: bool) -> Iterator[Path]:
    """A hidden folder beside `path` to fill; on success it becomes `path` (an existing folder
    there is replaced only with `force`), on failure it vanishes. Never replaced: a file, a
    symlink, a FIFO or a device at `path`."""
    import shutil
    import tempfile

    _check_dir_target(path, force)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{path.name[:64]}.", dir=path.parent))
    except OSError as exc:
        raise _cannot(path, exc) from None
    try:
        yield stage
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o777 & ~_umask()
        os.chmod(stage, mode)  # mkdtemp's 0700 would hide the model from the server's user
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name[:64]}.old.", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(stage, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise _cannot(path, exc) from None
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _check_dir_target(path: Path, force: bool) -> None:
    if path.parent.is_symlink() and not path.parent.exists():
        target = os.readlink(path.parent)
        raise UserError(
            f"cannot write {path}: {path.parent} is a broken symbolic link (to {target})"
        )
    parent = Path(os.path.realpath(path.parent))
    if parent.exists() and not parent.is_dir():
        raise UserError(f"cannot write {path}: {path.parent} is not a directory")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _cannot(path, exc) from None
    if not stat.S_ISDIR(st.st_mode):
        what = "a symlink" if stat.S_ISLNK(st.st_mode) else _kind(st.st_mode)
        what = "a file" if stat.S_ISREG(st.st_mode) else what
        raise UserError(f"cannot write {path}: it exists and is {what}; dslc does not replace it")
    if not force:
        raise UserError(f"{path} exists; pass --force to replace it (the whole folder)")


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _remove(tmp: str | None) -> None:
    if tmp is not None:
        with _signals_held():  # a second signal must not leave the file half cleaned up
            Path(tmp).unlink(missing_ok=True)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block is done (they arrive after it)."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _mode_for(path: Path) -> int:
    """An existing file keeps its mode; a new one gets 0666 less the umask (not mkstemp's 0600)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def default_opset(analysis: Any, preprocess: bool) -> int:
    """The opset when none is asked for: DEFAULT_OPSET, or the first opset with an antialiased
    Resize when the file declares preprocessing to compile into the graph."""
    from dslc.backend.preprocess import IN_GRAPH_OPSET

    declared = preprocess and bool(analysis.graph.preprocess)
    return max(DEFAULT_OPSET, IN_GRAPH_OPSET) if declared else DEFAULT_OPSET


def model_opset(analysis: Any, opset: int | None, preprocess: bool) -> int:
    """The opset asked for, else default_opset(); a note on stderr where the choice depends on
    the declared preprocessing (an opset below 18 keeps it in the metadata only)."""
    from dslc.backend.preprocess import IN_GRAPH_OPSET

    chosen = default_opset(analysis, preprocess) if opset is None else opset
    declared = preprocess and bool(analysis.graph.preprocess)
    if opset is None and chosen != DEFAULT_OPSET:
        click.echo(
            f"note: opset {chosen}, not {DEFAULT_OPSET}: the declared preprocessing needs "
            f"Resize's antialiasing (opset {IN_GRAPH_OPSET}); --no-preprocess keeps opset "
            f"{DEFAULT_OPSET} with the pipeline in the metadata only",
            err=True,
        )
    elif declared and chosen < IN_GRAPH_OPSET:
        click.echo(
            f"note: opset {chosen} has no antialiased Resize: the declared preprocessing is "
            "recorded in the metadata only (dslc run --image applies it); "
            f"--opset {IN_GRAPH_OPSET} or later compiles it into the graph",
            err=True,
        )
    return chosen


def build_model(
    path: str,
    sets: tuple[str, ...],
    opset: int | None,
    seed: int,
    init: str,
    limits: Limits | None = None,
    weights: str | None = None,
    optimize: bool = True,
    dtype: str = "float32",
    io_dtype: str | None = None,
    preprocess: bool = True,
) -> tuple[Any, Any, list[Any]]:
    """Analyse a file (limits checked before any weight is allocated); build its model (with
    a progress bar on a terminal when it takes a while). Pretrained weights are read and
    checked here, before anything is written."""
    from dslc.backend.onnx import build

    analysis = analyse_file(path, sets, limits, quiet_errors=True)
    errors = [d for d in analysis.warnings if d.severity == "error"]
    if errors:  # an imported ONNX op dslc has no layer for (E0802): nothing to write it as
        raise CompileError(errors)
    loaded = None
    if weights is not None:
        from dslc.backend import weights as w

        loaded = w.match(analysis, w.read(weights, w.wanted(analysis)), weights)
        for d in w.nonfinite(loaded, weights):
            click.echo(d.render() + "\n", err=True)
    opset = model_opset(analysis, opset, preprocess)
    with progress("building the model") as tick:
        model, arrays = build(
            analysis,
            opset=opset,
            seed=seed,
            init=init,
            weights=loaded,
            optimize=optimize,
            dtype=dtype,
            io_dtype=io_dtype,
            preprocess=preprocess,
            progress=tick,
        )
    return analysis, model, arrays


def needs_external_data(arrays: list[Any]) -> bool:
    """Whether the weights are too large for one protobuf file (ONNX's 2 GiB limit)."""
    return bool(sum(a.nbytes for _, a in arrays) >= MAX_MODEL_BYTES)


def save_model(out: Path, model: Any, arrays: list[Any]) -> Path | None:
    """Write the model atomically; past 2 GiB of weights, with its weights in OUT.data beside
    it (written first, so the model never points at a missing file). Returns the data file."""
    from dslc.backend.serialize import write, write_external

    if not needs_external_data(arrays):
        with progress(f"writing {out.name}") as tick:
            write_atomic(out, lambda f: write(model, arrays, f, tick))
        return None
    data = out.with_name(out.name + ".data")
    with atomic_file(out) as f, atomic_file(data) as d:  # data is renamed first
        write_external(model, arrays, f, d, data.name)
    return data


def compile_in_memory(
    path: str,
    sets: tuple[str, ...],
    seed: int,
    limits: Limits,
    scratch: Path,
    *,
    optimize: bool = True,
    dtype: str = "float32",
    io_dtype: str | None = None,
    preprocess: bool = True,
) -> bytes | Path:
    """An .xnet compiled with the default opset and initialisation: the model's bytes, or past
    2 GiB of weights a model file (with its data file) in the scratch folder."""
    import io

    from dslc.backend.serialize import write

    _, model, arrays = build_model(
        path,
        sets,
        None,
        seed,
        SCHEMES[0],
        limits,
        optimize=optimize,
        dtype=dtype,
        io_dtype=io_dtype,
        preprocess=preprocess,
    )
    if needs_external_data(arrays):  # too large for bytes in memory: a scratch file
        out = scratch / (Path(path).stem + ".onnx")
        save_model(out, model, arrays)
        return out
    buffer = io.BytesIO()
    write(model, arrays, buffer)
    return buffer.getvalue()
