"""`dslc bench`: latency and throughput on ONNX Runtime, per batch size, as a table or JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from dslc.backend.settings import DTYPES
from dslc.cli.common import (
    DEFAULT_SIZE,
    UserError,
    check_model_file,
    guard,
    load_runtime,
    model_source_options,
    size_option,
)
from dslc.cli.output import compile_in_memory
from dslc.expand.limits import Limits

__all__ = ["ProgressLine", "bench", "render"]


_PROGRESS_EVERY = 0.2  # seconds between progress redraws


class _BenchCommand(click.Command):
    """Lets `--batch 1 8 64` list several sizes after one flag (click takes one value)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Join the integers that follow --batch into one comma-separated value."""
        joined: list[str] = []
        i = 0
        while i < len(args):
            joined.append(args[i])
            if args[i] == "--batch":
                values = []
                while i + 1 < len(args) and args[i + 1].replace(",", "").isdigit():
                    values.append(args[i + 1])
                    i += 1
                joined += [",".join(values)] if values else []
            elif args[i] == "--":
                joined += args[i + 1 :]
                break
            i += 1
        return super().parse_args(ctx, joined)


def _batches(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> tuple[int, ...]:
    """--batch values, each a positive integer or a comma-separated list of them."""
    out: list[int] = []
    for item in items:
        for part in item.split(","):
            if not part.strip().isdigit() or int(part) < 1:
                raise click.BadParameter(
                    f"'{item}': batch sizes are positive integers, e.g. --batch 1 8 64", ctx, param
                )
            if int(part) not in out:
                out.append(int(part))
    return tuple(out) or (1,)


def _compile(
    path: str,
    sets: tuple[str, ...],
    seed: int,
    limits: Limits,
    dtype: str | None,
    io_dtype: str | None,
    optimize: bool,
    scratch: Path,
) -> tuple[bytes | str, str]:
    """An .xnet compiled in memory (a scratch file past 2 GiB of weights); an .onnx as is."""
    if Path(path).suffix != ".xnet":
        if dtype is not None or io_dtype is not None:
            flag = "--dtype" if dtype is not None else "--io-dtype"
            raise UserError(
                f"{flag} applies when compiling an .xnet; {path} runs in the "
                "types it was compiled with"
            )
        if Path(path).exists():
            check_model_file(path)
        return path, path
    dtype = dtype or "float32"
    model = compile_in_memory(  # the network's latency: its declared preprocessing left out
        path,
        sets,
        seed,
        limits,
        scratch,
        optimize=optimize,
        dtype=dtype,
        io_dtype=io_dtype,
        preprocess=False,
    )
    what = dtype + (f" ({io_dtype} inputs and outputs)" if io_dtype not in (None, dtype) else "")
    what += ", optimized" if optimize else ", not optimized"
    if isinstance(model, Path):
        return str(model), f"{path} (compiled, {what})"
    return model, f"{path} (compiled in memory, {what})"


class ProgressLine:
    """A one-line progress display on stderr, redrawn at most five times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = 0.0
        self.width = 0

    def __call__(self, p: Any) -> None:
        """Redraw the line for a dslc_runtime.bench.Progress."""
        now = time.monotonic()
        if not self.enabled or now - self.last < _PROGRESS_EVERY:
            return
        self.last = now
        if p.total is not None:
            where = f"{p.done}/{p.total} runs"
        else:
            where = f"{p.done} run{'s' if p.done != 1 else ''}, {p.elapsed:.1f}/{p.seconds:g} s"
        self._show(f"batch {p.batch}: {p.phase} {where}")

    def _show(self, text: str) -> None:
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()
        self.width = len(text)

    def close(self) -> None:
        """Erase the line."""
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def _rate(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _session_line(data: dict[str, Any]) -> str:
    s = data["session"]
    threads = s["intra_op_num_threads"] or "default"
    return (
        f"onnxruntime {data['onnxruntime']}, {s['graph_optimization_level']}, "
        f"{s['execution_mode']}, intra-op threads {threads}; inputs and outputs bound on "
        f"{s['io_binding']} (IO binding)"
    )


def _cuda_line(data: dict[str, Any]) -> str:
    from dslc_runtime.bench import SHOWN_CUDA_OPTIONS

    options = data["provider"]["options"]
    return " ".join(f"{k}={options[k]}" for k in SHOWN_CUDA_OPTIONS if k in options)


def _timing_line(t: dict[str, Any]) -> str:
    runs = (
        f"{t['iterations']} timed runs"
        if t["iterations"] is not None
        else f"timed runs for {t['seconds']:g} s (at least {t['min_runs']})"
    )
    return f"{t['warmup']} warm-up runs, then {runs} per batch size"


def render(data: dict[str, Any]) -> str:
    """The human-readable report of a `dslc bench --json` record."""
    lines = [f"model:    {data['model']['label']}", f"provider: {data['provider']['note']}"]
    if data["provider"]["device"]:
        lines.append(f"device:   {data['provider']['device']}")
    lines.append(f"session:  {_session_line(data)}")
    if data["provider"]["used"] == "cuda":
        lines.append(f"cuda:     {_cuda_line(data)}")
    for spec in data["inputs"]:
        shape = "(" + ", ".join(map(str, spec["shape"])) + ")"
        lines.append(
            f"input:    '{spec['name']}' {shape} {spec['dtype']}, "
            f"{'random uint8 pixels 0-255' if spec['dtype'] == 'uint8' else 'random normal'} "
            f"(seed {data['timing']['seed']})"
        )
    lines += [f"timing:   {_timing_line(data['timing'])}", ""]
    head = ("batch", "runs", "p50 ms", "p90 ms", "p99 ms", "mean ms", "images/s")
    rows = [head] + [
        (
            str(r["batch"]),
            str(r["runs"]),
            _ms(r["latency_ms"]["p50"]),
            _ms(r["latency_ms"]["p90"]),
            _ms(r["latency_ms"]["p99"]),
            _ms(r["latency_ms"]["mean"]),
            _rate(r["throughput"]),
        )
        for r in data["results"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append("latency: one run of the whole batch; images/s = batch / mean latency")
    return "\n".join(lines)


@click.command(cls=_BenchCommand)
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--provider",
    type=click.Choice(["auto", "cuda", "cpu"]),
    default="auto",
    show_default=True,
    help="Execution provider: CUDA when present and working, "
    "else CPU; the one really used is reported.",
)
@click.option(
    "--batch",
    "batches",
    multiple=True,
    metavar="N...",
    callback=_batches,
    help="Batch sizes to measure, e.g. --batch 1 8 64  [default: 1]",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default=None,
    help="For an .xnet: compile with float32 or float16 weights, activations, inputs "
    "and outputs  [default: float32]. An .onnx runs in the types it was compiled with.",
)
@click.option(
    "--io-dtype",
    type=click.Choice(DTYPES),
    default=None,
    help="For an .xnet: the type of the inputs and outputs [default: --dtype]; "
    "'--dtype float16 --io-dtype float32' casts at the edges, inside the timed run.",
)
@click.option(
    "--optimize/--no-optimize",
    default=True,
    show_default=True,
    help="For an .xnet: compile the inference graph (batch norm folded into the "
    "convolutions, dropout and identities dropped), as `dslc compile --optimize`.",
)
@click.option(
    "--cuda-graph",
    is_flag=True,
    help="CUDA only: capture each run as a CUDA graph and replay it (one session per "
    "batch size; every node must run on the GPU).",
)
@click.option(
    "--prefer-nhwc",
    is_flag=True,
    help="CUDA only: set the CUDA provider option prefer_nhwc (channels-last "
    "convolutions, which the GPU's tensor cores prefer).",
)
@click.option(
    "--warmup",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Untimed runs per batch size before timing (with --cuda-graph at least 3: "
    "ONNX Runtime captures the graph on the third run).",
)
@click.option(
    "--iterations",
    type=click.IntRange(1),
    default=None,
    help="Timed runs per batch size (instead of --seconds).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Time each batch size for S seconds, with at least 10 runs  [default: 3]",
)
@click.option(
    "--threads",
    type=click.IntRange(1),
    default=None,
    help="ONNX Runtime's intra-op threads  [default: its own, one per physical core]",
)
@size_option(
    "Values for the inputs' symbolic sizes, for random inputs, e.g. --size H=224,W=224 "
    f"(or --size H=224 --size W=224) [default: {DEFAULT_SIZE}]; sizes the model is not "
    "valid for are refused."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as JSON (schema in the README)."
)
@model_source_options
def bench(
    model: str,
    provider: str,
    batches: tuple[int, ...],
    dtype: str | None,
    io_dtype: str | None,
    optimize: bool,
    cuda_graph: bool,
    prefer_nhwc: bool,
    warmup: int,
    iterations: int | None,
    seconds: float | None,
    threads: int | None,
    sizes: dict[str, int],
    as_json: bool,
    sets: tuple[str, ...],
    seed: int,
    limits: Limits,
    debug: bool,
) -> None:
    """Measure MODEL's latency (p50/p90/p99) and throughput on ONNX Runtime.

    MODEL is an .onnx or an .xnet (compiled in memory). Inputs are random; they and the
    outputs are bound on the device (IO binding), so no copy between host and GPU is timed.
    A progress line is shown on stderr when it is a terminal.

    \b
    Examples:
      dslc bench models/resnet50.xnet --provider cpu --batch 1 8
      dslc bench models/resnet50.xnet --batch 1 64 --dtype float16 --cuda-graph --json
    """
    import tempfile

    if iterations is not None and seconds is not None:
        raise click.UsageError("give either --iterations or --seconds, not both")
    if provider == "cpu" and (cuda_graph or prefer_nhwc):
        flag = "--cuda-graph" if cuda_graph else "--prefer-nhwc"
        raise click.UsageError(
            f"{flag} applies to the CUDA provider only; drop it or use --provider cuda"
        )
    with guard(debug):
        load_runtime()
    from dslc_runtime.bench import DEFAULT_SECONDS, Settings

    settings = Settings(
        batches=batches,
        warmup=warmup,
        iterations=iterations,
        seconds=seconds or DEFAULT_SECONDS,
        cuda_graph=cuda_graph,
        prefer_nhwc=prefer_nhwc,
        threads=threads,
        seed=seed,
        default_size=DEFAULT_SIZE,
    )
    with guard(debug), tempfile.TemporaryDirectory(prefix="dslc-bench-") as scratch:
        given = dict(sizes)
        source, label = _compile(
            model, sets, seed, limits, dtype, io_dtype, optimize, Path(scratch)
        )
        data = _measure(source, provider, settings, given)
        data = {
            "schema": 1,
            "model": {"path": model, "label": label, "compiled": Path(model).suffix == ".xnet"},
        } | data
        click.echo(json.dumps(data, indent=1) if as_json else render(data))
        _warn(data, set(given))


def _measure(
    source: bytes | str, provider: str, settings: Any, sizes: dict[str, int]
) -> dict[str, Any]:
    """Run the benchmark with a progress line; return its JSON record."""
    import dataclasses

    rt = load_runtime()
    from dslc_runtime.bench import bench as run_bench

    settings = dataclasses.replace(settings, sizes=sizes)
    progress = ProgressLine(sys.stderr.isatty())
    try:
        report = run_bench(source, provider, settings, progress)
    except rt.RunError as exc:
        raise UserError(str(exc)) from None
    finally:
        progress.close()
    record: dict[str, Any] = report.to_json()
    return record


def _warn(data: dict[str, Any], given: set[str]) -> None:
    """Notes and warnings the figures alone would not show."""
    for name, value in data["sizes"].items():
        if name not in given:
            click.echo(
                f"note: size {name} not given; used {value} (set it with --size {name}=...)",
                err=True,
            )
    for r in data["results"]:
        if not r["outputs_finite"]:
            click.echo(
                f"warning: batch {r['batch']}: the outputs hold inf or NaN (with float16 "
                "random inputs, an overflow?); the timings are still valid",
                err=True,
            )
