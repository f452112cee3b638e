"""What every command shares: the error guard and exit codes, the printing of diagnostics,
the shared options, and the compilation of a file to a checked analysis."""

from __future__ import annotations

import math
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from dslc.backend.settings import DEFAULT_OPSET, OPSETS, TARGETS
from dslc.diagnostics import CompileError, Diagnostic
from dslc.expand.limits import Limits, option_help, parse_limits

__all__ = [
    "CLOSED_PIPE",
    "DEFAULT_SIZE",
    "SEED",
    "SET_HELP",
    "SIZE_HELP",
    "TERMINATED",
    "FiniteRange",
    "Terminated",
    "UserError",
    "analyse_file",
    "check_model_file",
    "chosen_opset",
    "debug_option",
    "guard",
    "limit_option",
    "load_runtime",
    "model_source_options",
    "opset_options",
    "parse_sizes",
    "print_diagnostics",
    "progress",
    "size_option",
    "with_sizes",
]


F = TypeVar("F", bound=Callable[..., Any])
# every --seed: 32 bits, as the weight initialiser uses them (4294967296 would draw what 0
# draws) and numpy's and torch's generators take them (a negative seed was an internal error)
SEED = click.IntRange(0, 2**32 - 1)


class FiniteRange(click.FloatRange):
    """A FloatRange that also refuses nan and inf (nan passes every comparison)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


SET_HELP = "Override a network parameter, e.g. --set classes=10 (repeatable)."
SIZE_HELP = (
    "Values for symbolic input sizes (input image: 3 x H x W), so that shapes and costs "
    "are numbers instead of formulas, e.g. --size H=224,W=224 (or --size H=224 --size W=224); "
    "sizes the network is not valid for are refused."
)

DEFAULT_SIZE = 224
CLOSED_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`
INTERRUPTED = 130  # 128 + SIGINT (Ctrl-C)
TERMINATED = 143  # 128 + SIGTERM (`kill`, a service manager, a CI timeout)


class UserError(Exception):
    """A problem with what the user asked for, reported without a traceback."""


def print_diagnostics(diags: tuple[Diagnostic, ...]) -> None:
    for d in diags:
        click.echo(d.render() + "\n", err=True)
    errors = sum(d.severity == "error" for d in diags)
    if errors:
        click.echo(f"{errors} error{'s' if errors != 1 else ''} found", err=True)


class Terminated(BaseException):
    """SIGTERM arrived. Like KeyboardInterrupt it unwinds the command, so a write in
    progress removes its temporary file and leaves an existing output as it was."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up
    raise Terminated


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While the command runs, SIGTERM raises Terminated instead of killing the process."""
    try:
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextmanager
def guard(debug: bool) -> Iterator[None]:
    """Turn every failure into a message and an exit code; a closed stdout (the reader of a
    pipe gone, as in `dslc weights ... | head -1`) ends the command quietly with 141, Ctrl-C
    with 130 and SIGTERM with 143, after any output being written is cleaned up."""
    try:
        with _sigterm_unwinds():
            yield
    except CompileError as exc:
        print_diagnostics(exc.diagnostics)
        sys.exit(1)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(INTERRUPTED)
    except Terminated:
        click.echo("terminated", err=True)
        sys.exit(TERMINATED)
    except MemoryError:
        click.echo(
            "error: out of memory; use smaller inputs or a smaller network (see --limit in --help)",
            err=True,
        )
        sys.exit(1)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except BrokenPipeError:  # the reader went away (dslc ... | head): not an error of ours
        _silence_stdout()
        sys.exit(CLOSED_PIPE)
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


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the flush at exit meets no closed pipe again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


@contextmanager
def progress(label: str, delay: float = 1.0) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr for long work, only when stderr is a terminal (None when not)
    and only once the work has taken `delay` seconds: call it with (done, total)."""
    if not sys.stderr.isatty():
        yield None
        return
    import time

    bar: Any = None
    start = time.monotonic()

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            if time.monotonic() - start < delay:
                return
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def debug_option(f: F) -> F:
    return click.option("--debug", is_flag=True, help="Show Python tracebacks of internal errors.")(
        f
    )


def _to_limits(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> Limits:
    try:
        return parse_limits(list(items))
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def limit_option(f: F) -> F:
    """The --limit NAME=VALUE option, parsed into Limits."""
    return click.option(
        "--limit",
        "limits",
        multiple=True,
        metavar="NAME=VALUE",
        callback=_to_limits,
        help=option_help(),
    )(f)


def opset_options(f: F) -> F:
    """--opset and --target, which chosen_opset() turns into one opset."""
    targets = ", ".join(f"{name} {opset}" for name, opset in TARGETS.items())
    f = click.option(
        "--target",
        type=click.Choice(tuple(TARGETS)),
        default=None,
        help=f"Compile for a consumer, at the opset it accepts ({targets}); see README "
        "'Which opset'. A --opset given as well must agree with it.",
    )(f)
    return click.option(
        "--opset",
        type=click.IntRange(OPSETS.start, OPSETS.stop - 1),
        default=None,
        help=f"ONNX opset ({OPSETS.start}-{OPSETS.stop - 1}) [default: {DEFAULT_OPSET}, which "
        "every consumer measured accepts]; the IR version follows from it.",
    )(f)


def chosen_opset(opset: int | None, target: str | None) -> int | None:
    """--opset, else --target's opset, else None (the default, which build_model picks for the
    file: DEFAULT_OPSET, or 18 for declared preprocessing); both, differing, is a usage error."""
    if target is None:
        return opset
    if opset is not None and opset != TARGETS[target]:
        raise click.UsageError(
            f"--opset {opset} conflicts with --target {target} (opset {TARGETS[target]}); "
            "give one of them"
        )
    return TARGETS[target]


def model_source_options(f: F) -> F:
    """--set, --seed, --limit and --debug of the commands that take an .onnx or an .xnet
    (run, bench): how an .xnet is compiled in memory."""
    f = debug_option(f)
    f = limit_option(f)
    f = click.option(
        "--seed",
        type=SEED,
        default=0,
        show_default=True,
        help="Seed for weights (.xnet) and random inputs.",
    )(f)
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override a network parameter (for .xnet models).",
    )(f)


def analyse_file(
    path: str,
    sets: tuple[str, ...],
    limits: Limits | None = None,
    sizes: dict[str, int] | None = None,
    quiet_errors: bool = False,
) -> Any:
    """Compile and analyse a file; `sizes` (from --size) give its symbolic sizes values. An
    imported ONNX model's E0802s are printed with the warnings (unless `quiet_errors`)."""
    from dslc.compiler import compile_file, parse_overrides

    analysis = with_sizes(compile_file(path, parse_overrides(list(sets)), limits), sizes, limits)
    for d in analysis.warnings:
        if not (quiet_errors and d.severity == "error"):
            click.echo(d.render() + "\n", err=True)
    return analysis


def with_sizes(analysis: Any, sizes: dict[str, int] | None, limits: Limits | None = None) -> Any:
    """The analysis at these values of its symbolic sizes; UserError for sizes it does not take."""
    from dslc.compiler import fix_sizes
    from dslc.passes.sizes import SizeError

    try:
        return fix_sizes(analysis, sizes or {}, limits)
    except SizeError as exc:
        raise UserError("\nerror: ".join(exc.problems)) from None


def load_runtime() -> Any:
    try:
        import dslc_runtime
    except ImportError as exc:
        raise UserError(
            "dslc run needs ONNX Runtime: pip install 'dslc[cpu]' (or 'dslc[gpu]' "
            f"on a CUDA machine; never both) ({exc})"
        ) from None
    return dslc_runtime


SIZE_EXAMPLE = "e.g. --size H=224,W=224 (or --size H=224 --size W=224)"


def parse_sizes(items: tuple[str, ...], pair: bool = False) -> dict[str, int]:
    """`H=224,W=224` items (repeatable) as {name: value}; ValueError says what is wrong. `pair`
    also takes the older `224,224` / `224x224` / `224` for H and W (dslc rf)."""
    out: dict[str, int] = {}
    for item in items:
        if pair and "=" not in item:
            parts = item.replace("x", ",").split(",")
            parts = parts * 2 if len(parts) == 1 else parts
            if len(parts) != 2:
                raise ValueError(f"'{item}': give two sizes, {SIZE_EXAMPLE}")
            item = f"H={parts[0]},W={parts[1]}"
        for part in item.split(","):
            name, eq, value = (p.strip() for p in part.partition("="))
            if not eq or not name.isidentifier():
                raise ValueError(f"'{part}' is not NAME=VALUE; {SIZE_EXAMPLE}")
            try:
                n = int(value)
            except ValueError:
                raise ValueError(f"{name}={value}: a size is a positive integer") from None
            if n < 1:
                raise ValueError(f"{name}={value}: a size is a positive integer")
            if out.get(name, n) != n:
                raise ValueError(f"{name} is given twice, as {out[name]} and {n}")
            out[name] = n
    return out


def size_option(help_text: str, pair: bool = False) -> Callable[[F], F]:
    """The --size option of every command, one syntax: H=224,W=224, repeatable; the command
    gets a dict {name: value}. `pair`: `H,W` is also taken (dslc rf, as before)."""

    def to_sizes(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> Any:
        try:
            return parse_sizes(items, pair)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None

    return click.option(
        "--size",
        "sizes",
        multiple=True,
        metavar="H=N,W=N",
        callback=to_sizes,
        help=help_text,
    )


def check_model_file(path: str | os.PathLike[str]) -> None:
    """An .onnx about to be handed to ONNX Runtime, checked as the importer checks one: what
    is not a regular file (a FIFO, a device) is refused, a graph ONNX Runtime would refuse
    (E0804) or stored data that does not fit its dims (E0805) said in dslc's words."""
    from dslc.importer.model import check_onnx

    rt = load_runtime()
    try:  # a FIFO or a device is refused, never read (ONNX Runtime would block on a FIFO)
        rt.open_regular(os.fspath(path), "model").close()
    except rt.RunError as exc:
        raise UserError(str(exc)) from None
    check_onnx(os.fspath(path))
