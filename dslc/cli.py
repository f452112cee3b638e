"""The `dslc` command line. Owns exit codes and the printing of diagnostics.

Exit codes: 0 success, 1 the input is wrong, 2 command-line usage, 3 an internal error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click

from dslc import __version__
from dslc.diagnostics import CompileError, Diagnostic
from dslc.expand.limits import Limits
from dslc.options import limit_option

F = TypeVar("F", bound=Callable[..., Any])
MAX_MODEL_BYTES = 2**31 - 2**24  # protobuf's 2 GiB limit, less room for the graph
SET_HELP = "Override a network parameter, e.g. --set classes=10 (repeatable)."


class UserError(Exception):
    """A problem with what the user asked for, reported without a traceback."""


def _print_diagnostics(diags: tuple[Diagnostic, ...]) -> None:
    for d in diags:
        click.echo(d.render() + "\n", err=True)
    errors = sum(d.severity == "error" for d in diags)
    if errors:
        click.echo(f"{errors} error{'s' if errors != 1 else ''} found", err=True)


@contextmanager
def _guard(debug: bool) -> Iterator[None]:
    """Turn every failure into a message and an exit code."""
    try:
        yield
    except CompileError as exc:
        _print_diagnostics(exc.diagnostics)
        sys.exit(1)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except MemoryError:
        click.echo(
            "error: out of memory; use smaller inputs or a smaller network (see --limit in --help)",
            err=True,
        )
        sys.exit(1)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception:  # noqa: BLE001 - the last line of defence: no raw traceback for users
        if debug:
            import traceback

            traceback.print_exc()
        else:
            kind = sys.exc_info()[0]
            click.echo(
                f"internal error ({kind.__name__ if kind else 'unknown'}): this is a bug "
                "in dslc. Rerun with --debug for the traceback and report it with the "
                "input file.",
                err=True,
            )
        sys.exit(3)


def _debug_option(f: F) -> F:
    return click.option("--debug", is_flag=True, help="Show Python tracebacks of internal errors.")(
        f
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dslc")
def main() -> None:
    """dslc compiles .xnet network descriptions to ONNX and tells you everything about them.

    \b
    Typical use:
      dslc check models/resnet50.xnet        # report every problem
      dslc summary models/resnet50.xnet      # shapes, params, MACs, receptive fields
      dslc compile models/resnet50.xnet      # write resnet50.onnx
      dslc run resnet50.onnx                 # run it on ONNX Runtime (CUDA, else CPU)
      dslc explain E0301                     # what an error code means, with an example

    \b
    Exit codes: 0 success, 1 the input is wrong, 2 command-line usage,
    3 an internal error (a bug in dslc; --debug shows the traceback).
    """


def _analyse(path: str, sets: tuple[str, ...], limits: Limits | None = None) -> Any:
    from dslc.compiler import compile_file, parse_overrides

    analysis = compile_file(path, parse_overrides(list(sets)), limits)
    for d in analysis.warnings:
        click.echo(d.render() + "\n", err=True)
    return analysis


def write_atomic(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write via a temporary file and a rename, so no partial file is ever left behind."""
    with atomic_file(path) as f:
        if callable(data):
            data(f)
        else:
            f.write(data)


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `path` that replaces it on success and vanishes on failure."""
    import tempfile  # imported here: only the commands that write files pay for it

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """An existing file keeps its mode; a new one gets 0666 less the umask (not mkstemp's 0600)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _build(
    path: str,
    sets: tuple[str, ...],
    opset: int,
    seed: int,
    init: str,
    limits: Limits | None = None,
    weights: str | None = None,
    optimize: bool = True,
    dtype: str = "float32",
    io_dtype: str | None = None,
) -> tuple[Any, Any, list[Any]]:
    """Analyse a file (limits checked before any weight is allocated); build its model.
    Pretrained weights are read and checked here, before anything is written."""
    from dslc.backend.onnx import build

    analysis = _analyse(path, sets, limits)
    loaded = None
    if weights is not None:
        from dslc.backend import weights as w

        loaded = w.match(analysis, w.read(weights), weights)
    model, arrays = build(
        analysis,
        opset=opset,
        seed=seed,
        init=init,
        weights=loaded,
        optimize=optimize,
        dtype=dtype,
        io_dtype=io_dtype,
    )
    return analysis, model, arrays


def needs_external_data(arrays: list[Any]) -> bool:
    """Whether the weights are too large for one protobuf file (ONNX's 2 GiB limit)."""
    return bool(sum(a.nbytes for _, a in arrays) >= MAX_MODEL_BYTES)


def save_model(out: Path, model: Any, arrays: list[Any]) -> Path | None:
    """Write the model atomically; past 2 GiB of weights, with its weights in OUT.data beside
    it (written first, so the model never points at a missing file). Returns the data file."""
    from dslc.backend.onnx import write, write_external

    if not needs_external_data(arrays):
        write_atomic(out, lambda f: write(model, arrays, f))
        return None
    data = out.with_name(out.name + ".data")
    with atomic_file(out) as f, atomic_file(data) as d:  # data is renamed first
        write_external(model, arrays, f, d, data.name)
    return data


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Where to write the model [default: the file's name with .onnx, in the "
    "current directory].",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@click.option(
    "--opset",
    type=click.IntRange(17, 26),
    default=21,
    show_default=True,
    help="ONNX opset (17-26); the IR version follows from it.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed for the weight initialisation; same seed, same bytes.",
)
@click.option(
    "--init",
    type=click.Choice(["pytorch", "he", "xavier"]),
    default="pytorch",
    show_default=True,
    help="Weight initialisation: PyTorch's defaults, He "
    "(Kaiming normal) or Xavier (Glorot uniform). Batch norm: gamma 1, beta 0.",
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False, exists=True),
    metavar="W",
    help="Load pretrained weights from a .safetensors or .npz file of named tensors "
    "(e.g. a torchvision state_dict; num_batches_tracked is ignored). Every tensor "
    "must match by name, shape and dtype; see 'dslc weights FILE'. Without it, "
    "weights are initialised from --seed.",
)
@click.option(
    "--optimize/--no-optimize",
    default=True,
    show_default=True,
    help="Write the inference graph: batch norm folded into the convolution before "
    "it, dropout and identities dropped (outputs equal up to float rounding). "
    "--no-optimize writes every layer as written, with its own parameters.",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16"]),
    default="float32",
    show_default=True,
    help="Type of the weights and of the computation.",
)
@click.option(
    "--io-dtype",
    type=click.Choice(["float32", "float16"]),
    default=None,
    help="Type of the model's inputs and outputs [default: --dtype]; "
    "'--dtype float16 --io-dtype float32' casts at the edges.",
)
@limit_option
@_debug_option
def compile(
    file: str,
    output: str | None,
    sets: tuple[str, ...],
    opset: int,
    seed: int,
    init: str,
    weights: str | None,
    optimize: bool,
    dtype: str,
    io_dtype: str | None,
    limits: Limits,
    debug: bool,
) -> None:
    """Compile FILE.xnet to an ONNX model with initialised (or loaded) weights.

    Past 2 GiB of weights the weights go to OUT.onnx.data beside the model (ONNX external
    data); keep the two files together.
    """
    with _guard(debug):
        out = Path(output) if output else Path(Path(file).stem + ".onnx")
        if out.resolve() == Path(file).resolve() or (
            out.with_name(out.name + ".data").resolve() == Path(file).resolve()
        ):
            raise UserError(f"refusing to write the output over the input {file}")
        if weights is not None and out.resolve() == Path(weights).resolve():
            raise UserError(f"refusing to write the output over the weights {weights}")
        analysis, model, arrays = _build(
            file, sets, opset, seed, init, limits, weights, optimize, dtype, io_dtype
        )
        data = save_model(out, model, arrays)
        from dslc.passes.cost import total

        t = total(analysis.costs)
        size = out.stat().st_size + (data.stat().st_size if data else 0)
        extra = f", weights in {data}" if data else ""
        source = f", weights from {weights}" if weights else ""
        form = ("" if optimize else ", not optimised") + (
            "" if dtype == "float32" else f", {dtype}"
        )
        click.echo(
            f"wrote {out} ({size / 2**20:.1f} MiB{extra}, {t.params:,} params, "
            f"opset {opset}{form}{source})"
        )


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@limit_option
@_debug_option
def check(files: tuple[str, ...], sets: tuple[str, ...], limits: Limits, debug: bool) -> None:
    """Check .xnet files and report every problem (exit status 1 if any error)."""
    from dslc.compiler import compile_file, parse_overrides
    from dslc.expand.imports import check_library

    failed = 0
    with _guard(debug):
        overrides = parse_overrides(list(sets))
        for f in files:
            try:
                if _is_library_file(f):
                    blocks = check_library(f)
                    click.echo(
                        f"{f}: ok (block library: {len(blocks)} block"
                        f"{'s' if len(blocks) != 1 else ''})"
                    )
                    continue
                analysis = compile_file(f, overrides, limits)
            except CompileError as exc:
                _print_diagnostics(exc.diagnostics)
                failed += 1
                continue
            for d in analysis.warnings:
                click.echo(d.render() + "\n", err=True)
            n = len(analysis.graph.nodes) - len(analysis.graph.inputs)
            click.echo(f"{f}: ok ({n} layer{'s' if n != 1 else ''})")
    if failed:
        sys.exit(1)


def _is_library_file(path: str) -> bool:
    """True for a readable file of blocks only (a library to import)."""
    from dslc.expand.imports import is_library
    from dslc.source import SourceFile
    from dslc.syntax.parser import parse

    try:
        return is_library(parse(SourceFile.read(path)))
    except (OSError, UnicodeDecodeError, CompileError):
        return False  # compile_file reports the problem


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list of {name, shape, dtype} instead of a table.",
)
@click.option(
    "--check",
    "check_file",
    type=click.Path(dir_okay=False, exists=True),
    metavar="W",
    help="Check a .safetensors/.npz file against the list, without "
    "compiling (exit status 1 on any mismatch).",
)
@click.option(
    "--save",
    type=click.Path(dir_okay=False),
    metavar="OUT",
    help="Write the initial weights (from --seed/--init) to OUT.safetensors or "
    "OUT.npz, e.g. to start training elsewhere.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --save.")
@click.option(
    "--init",
    type=click.Choice(["pytorch", "he", "xavier"]),
    default="pytorch",
    show_default=True,
    help="Initialisation for --save.",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@_debug_option
def weights(
    file: str,
    as_json: bool,
    check_file: str | None,
    save: str | None,
    seed: int,
    init: str,
    sets: tuple[str, ...],
    debug: bool,
) -> None:
    """List every tensor FILE.xnet expects from a weights file: name, shape, dtype.

    \b
    The names are the layers' hierarchical names plus .weight, .bias, .running_mean or
    .running_var; the zoo models use torchvision's state_dict keys, so
      safetensors.torch.save_file(model.state_dict(), "w.safetensors")
      dslc compile models/resnet50.xnet --weights w.safetensors
    just works.
    """
    from dslc.backend import weights as w

    with _guard(debug):
        analysis = _analyse(file, sets)
        tensors = w.expected(analysis)
        if check_file is not None:
            w.match(analysis, w.read(check_file), check_file)
            click.echo(f"{check_file}: ok ({len(tensors)} tensors match {file})")
            return
        if save is not None:
            _save_initial(analysis, Path(save), seed, init)
            click.echo(f"wrote {save} ({len(tensors)} tensors)")
            return
        if not tensors and not as_json:
            click.echo(f"{file} expects no weights: it has no layer with learned parameters")
            return
        if as_json:
            import json

            click.echo(
                json.dumps(
                    [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in tensors],
                    indent=1,
                )
            )
            return
        width = max((len(t.name) for t in tensors), default=4)
        click.echo(f"{'Name':<{width}}  {'Shape':<20} Dtype")
        for t in tensors:
            shape = "(" + ", ".join(map(str, t.shape)) + ")"
            click.echo(f"{t.name:<{width}}  {shape:<20} {t.dtype}")
        import math

        values = sum(math.prod(t.shape) for t in tensors)
        click.echo(f"{len(tensors)} tensors, {values:,} values")


def _save_initial(analysis: Any, out: Path, seed: int, init: str) -> None:
    """Write the initial weights as .safetensors or .npz, atomically."""
    import io

    import numpy as np

    from dslc.backend import weights as w
    from dslc.backend.init import draw_all

    if out.suffix.lower() not in (".safetensors", ".npz"):
        raise UserError(f"--save writes .safetensors or .npz files, not '{out.suffix or out}'")
    arrays = draw_all(analysis.graph.nodes, init, seed)
    if out.suffix.lower() == ".npz":
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        write_atomic(out, buf.getvalue())
    else:
        write_atomic(out, lambda f: w.write_safetensors(f, arrays))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON (a stable contract) instead of a table; the same as --format json.",
)
@click.option(
    "--format",
    "fmt_",
    type=click.Choice(["table", "json", "markdown", "csv"]),
    default="table",
    show_default=True,
    help="Output format; json is the contract "
    "document with every layer (--depth and --columns shape the other formats).",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Collapse blocks nested deeper than N name levels into one row with their "
    "totals [default: show every layer].",
)
@click.option(
    "--columns",
    metavar="COL,...",
    default=None,
    help="Columns to show, from: op, shape, params, macs, flops, memory, rf, jump, "
    "line, source [default: op,shape,params,macs,flops,memory,rf,line].",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "bfloat16", "float64", "int8"]),
    default="float32",
    show_default=True,
    help="Element type for the byte counts (parameters and activations).",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@limit_option
@_debug_option
def summary(
    file: str,
    as_json: bool,
    fmt_: str,
    depth: int | None,
    columns: str | None,
    dtype: str,
    sets: tuple[str, ...],
    limits: Limits,
    debug: bool,
) -> None:
    """Print every layer's shape, params, MACs, FLOPs, memory and receptive field as a tree."""
    from dslc.report.summary import summary_json
    from dslc.report.table import build_rows, parse_columns, render_csv, render_table

    try:
        cols = parse_columns(columns)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--columns") from None
    with _guard(debug):
        analysis = _analyse(file, sets, limits)
        if as_json or fmt_ == "json":
            import json

            click.echo(json.dumps(summary_json(analysis, dtype), indent=1))
            return
        rows = build_rows(analysis, depth)
        if fmt_ == "csv":
            click.echo(render_csv(analysis, rows, cols, dtype), nl=False)
        else:
            click.echo(render_table(analysis, rows, cols, dtype, fmt_ == "markdown"), nl=False)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file is not formatted."
)
@click.option("--stdout", is_flag=True, help="Print the formatted text instead of rewriting.")
@_debug_option
def fmt(files: tuple[str, ...], check_only: bool, stdout: bool, debug: bool) -> None:
    """Rewrite .xnet files in the canonical layout (comments are kept)."""
    from dslc.source import SourceFile
    from dslc.syntax.format import format_program
    from dslc.syntax.parser import parse

    unformatted = []
    with _guard(debug):
        for f in files:
            try:
                source = SourceFile.read(f)
            except OSError as exc:
                raise UserError(f"cannot read {f}: {exc.strerror}") from None
            text = format_program(parse(source))
            if stdout:
                click.echo(text, nl=False)
            elif text != source.text:
                unformatted.append(f)
                if not check_only:
                    write_atomic(Path(f), text.encode("utf-8"))
                    click.echo(f"formatted {f}")
    if check_only and unformatted:
        for f in unformatted:
            click.echo(f"would reformat {f}", err=True)
        sys.exit(1)


@main.command()
@click.argument("code", required=False)
def explain(code: str | None) -> None:
    """Explain a diagnostic code (e.g. E0301) with an example; without CODE, list them all."""
    from dslc.report.explain import explain_text, listing

    if code is None:
        click.echo(listing(), nl=False)
        return

    def check_weights(analysis: Any, path: Path) -> None:
        from dslc.backend.weights import match, read

        match(analysis, read(path), path.name)

    try:
        text = explain_text(code, check_weights)
    except LookupError as exc:
        raise click.BadParameter(str(exc), param_hint="CODE") from None
    click.echo(text, nl=False)


from dslc.bench_command import bench
from dslc.graph import graph
from dslc.rf_command import rf
from dslc.run_command import run

main.add_command(run)
main.add_command(bench)
main.add_command(rf)
main.add_command(graph)
