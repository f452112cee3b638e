"""The `dslc` command line. Owns exit codes and the printing of diagnostics.

Exit codes: 0 success, 1 the input is wrong, 2 command-line usage, 3 an internal error.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click

from dslc import __version__
from dslc.diagnostics import CompileError, Diagnostic

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
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception:  # noqa: BLE001 - the last line of defence: no raw traceback for users
        if debug:
            traceback.print_exc()
        else:
            kind = sys.exc_info()[0]
            click.echo(f"internal error ({kind.__name__ if kind else 'unknown'}): this is a bug "
                       "in dslc. Rerun with --debug for the traceback and report it with the "
                       "input file.", err=True)
        sys.exit(3)


def _debug_option(f: F) -> F:
    return click.option("--debug", is_flag=True, help="Show Python tracebacks of internal "
                        "errors.")(f)


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
    """


def _analyse(path: str, sets: tuple[str, ...]) -> Any:
    from dslc.compiler import compile_file, parse_overrides
    analysis = compile_file(path, parse_overrides(list(sets)))
    for d in analysis.warnings:
        click.echo(d.render() + "\n", err=True)
    return analysis


def write_atomic(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write via a temporary file and a rename, so no partial file is ever left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
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


def _build(path: str, sets: tuple[str, ...], opset: int, seed: int, init: str
           ) -> tuple[Any, Callable[[BinaryIO], None]]:
    """Analyse a file; return the analysis and a writer of its ONNX model."""
    from dslc.backend.onnx import build, write
    from dslc.passes.cost import total
    analysis = _analyse(path, sets)
    params = total(analysis.costs)
    size = (params.params + params.buffers) * 4
    if size >= MAX_MODEL_BYTES:  # checked before any weight is allocated
        raise UserError(f"{path}: the model would hold {size / 2**30:.1f} GiB of weights "
                        f"({params.params:,} parameters); a single ONNX file holds under 2 GiB")
    model, arrays = build(analysis, opset=opset, seed=seed, init=init)
    return analysis, lambda f: write(model, arrays, f)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Where to write the model [default: the file's name with .onnx, in the "
              "current directory].")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@click.option("--opset", type=click.IntRange(17, 26), default=21, show_default=True,
              help="ONNX opset (17-26); the IR version follows from it.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the weight initialisation; same seed, same bytes.")
@click.option("--init", type=click.Choice(["pytorch", "he", "xavier"]), default="pytorch",
              show_default=True, help="Weight initialisation: PyTorch's defaults, He "
              "(Kaiming normal) or Xavier (Glorot uniform). Batch norm: gamma 1, beta 0.")
@_debug_option
def compile(file: str, output: str | None, sets: tuple[str, ...], opset: int, seed: int,
            init: str, debug: bool) -> None:
    """Compile FILE.xnet to an ONNX model with initialised weights."""
    with _guard(debug):
        out = Path(output) if output else Path(Path(file).stem + ".onnx")
        if out.resolve() == Path(file).resolve():
            raise UserError(f"refusing to write the output over the input {file}")
        analysis, writer = _build(file, sets, opset, seed, init)
        write_atomic(out, writer)
        from dslc.passes.cost import total
        t = total(analysis.costs)
        click.echo(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {t.params:,} params, "
                   f"opset {opset})")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@_debug_option
def check(files: tuple[str, ...], sets: tuple[str, ...], debug: bool) -> None:
    """Check .xnet files and report every problem (exit status 1 if any error)."""
    from dslc.compiler import compile_file, parse_overrides
    failed = 0
    with _guard(debug):
        overrides = parse_overrides(list(sets))
        for f in files:
            try:
                analysis = compile_file(f, overrides)
            except CompileError as exc:
                _print_diagnostics(exc.diagnostics)
                failed += 1
                continue
            for d in analysis.warnings:
                click.echo(d.render() + "\n", err=True)
            click.echo(f"{f}: ok ({len(analysis.graph.nodes) - len(analysis.graph.inputs)} "
                       "layers)")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a stable contract) instead "
              "of a table; the same as --format json.")
@click.option("--format", "fmt_", type=click.Choice(["table", "json", "markdown", "csv"]),
              default="table", show_default=True, help="Output format; json is the contract "
              "document with every layer (--depth and --columns shape the other formats).")
@click.option("--depth", type=click.IntRange(min=1), default=None, metavar="N",
              help="Collapse blocks nested deeper than N name levels into one row with their "
              "totals [default: show every layer].")
@click.option("--columns", metavar="COL,...", default=None,
              help="Columns to show, from: op, shape, params, macs, flops, memory, rf, jump, "
              "line, source [default: op,shape,params,macs,flops,memory,rf,line].")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16", "float64",
                                            "int8"]), default="float32", show_default=True,
              help="Element type for the byte counts (parameters and activations).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@_debug_option
def summary(file: str, as_json: bool, fmt_: str, depth: int | None, columns: str | None,
            dtype: str, sets: tuple[str, ...], debug: bool) -> None:
    """Print every layer's shape, params, MACs, FLOPs, memory and receptive field as a tree."""
    from dslc.report import build_rows, parse_columns, render_csv, render_table
    from dslc.summary import summary_json
    try:
        cols = parse_columns(columns)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--columns") from None
    with _guard(debug):
        analysis = _analyse(file, sets)
        if as_json or fmt_ == "json":
            click.echo(json.dumps(summary_json(analysis, dtype), indent=1))
            return
        rows = build_rows(analysis, depth)
        if fmt_ == "csv":
            click.echo(render_csv(analysis, rows, cols, dtype), nl=False)
        else:
            click.echo(render_table(analysis, rows, cols, dtype, fmt_ == "markdown"), nl=False)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file "
              "is not formatted.")
@click.option("--stdout", is_flag=True, help="Print the formatted text instead of rewriting.")
@_debug_option
def fmt(files: tuple[str, ...], check_only: bool, stdout: bool, debug: bool) -> None:
    """Rewrite .xnet files in the canonical layout (comments are kept)."""
    from dslc.format import format_program
    from dslc.parser import parse
    from dslc.source import SourceFile
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


from dslc.graph import graph
from dslc.rf_command import rf
from dslc.run_command import run

main.add_command(run)
main.add_command(rf)
main.add_command(graph)
