"""Latency and throughput of a model on ONNX Runtime, with inputs and outputs bound on the
device (IO binding) so that no host copy is timed; optional CUDA graphs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]

from .errors import RunError, short_reason
from .machine import device_name, session_options
from .providers import CUDA
from .session import Model, ModelArg
from .specs import TensorSpec

__all__ = [
    "CUDA_GRAPH_WARMUP",
    "DEFAULT_SECONDS",
    "DEFAULT_WARMUP",
    "MIN_RUNS",
    "PERCENTILES",
    "SHOWN_CUDA_OPTIONS",
    "BatchResult",
    "Bound",
    "Progress",
    "ProgressFn",
    "Report",
    "Settings",
    "bench",
    "bench_batch",
    "check_settings",
    "input_sizes",
]

DEFAULT_WARMUP = 5
DEFAULT_SECONDS = 3.0
MIN_RUNS = 10  # with a time budget, at least this many timed runs
CUDA_GRAPH_WARMUP = 3  # ORT runs twice before it captures the graph on the third run
PERCENTILES = (50, 90, 99)
# Session settings worth reporting (the CUDA provider's full option list is in the JSON).
SHOWN_CUDA_OPTIONS = (
    "device_id",
    "prefer_nhwc",
    "enable_cuda_graph",
    "cudnn_conv_algo_search",
    "cudnn_conv_use_max_workspace",
    "use_tf32",
)


@dataclass(frozen=True)
class Settings:
    """What to measure: batch sizes, warm-up and how long to time each batch."""

    batches: tuple[int, ...] = (1,)
    warmup: int = DEFAULT_WARMUP
    iterations: int | None = None  # exactly this many timed runs, or else...
    seconds: float = DEFAULT_SECONDS  # ...run for this long (and at least MIN_RUNS times)
    cuda_graph: bool = False
    prefer_nhwc: bool = False
    threads: int | None = None
    sizes: Mapping[str, int] = field(default_factory=dict)  # symbolic input sizes (H, W)
    default_size: int | None = None  # for symbolic sizes not in `sizes` (else an error)
    seed: int = 0

    def cuda_options(self) -> dict[str, str]:
        """CUDA provider options for these settings."""
        options = {"prefer_nhwc": "1"} if self.prefer_nhwc else {}
        if self.cuda_graph:
            options["enable_cuda_graph"] = "1"
        return options


@dataclass(frozen=True)
class Progress:
    """Where a benchmark stands, for a progress display."""

    batch: int
    phase: str  # "warm-up" or "timed"
    done: int
    total: int | None  # runs planned, or None when timed by seconds
    elapsed: float  # seconds since the phase began
    seconds: float | None  # the time budget of a timed phase


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class BatchResult:
    """Timed runs of one batch size."""

    batch: int
    warmup: int
    latencies_ms: tuple[float, ...]
    outputs_finite: bool

    @property
    def runs(self) -> int:
        """Number of timed runs."""
        return len(self.latencies_ms)

    def percentile(self, q: float) -> float:
        """Latency percentile in ms (linear interpolation between runs)."""
        return float(np.percentile(self.latencies_ms, q))

    @property
    def mean_ms(self) -> float:
        """Mean latency in ms."""
        return float(np.mean(self.latencies_ms))

    @property
    def throughput(self) -> float:
        """Images (samples) per second: batch / mean latency."""
        return self.batch * 1e3 / self.mean_ms

    def to_json(self) -> dict[str, Any]:
        """The JSON record of this batch size."""
        latency = {f"p{q}": round(self.percentile(q), 4) for q in PERCENTILES}
        latency |= {
            "mean": round(self.mean_ms, 4),
            "min": round(min(self.latencies_ms), 4),
            "max": round(max(self.latencies_ms), 4),
        }
        return {
            "batch": self.batch,
            "warmup": self.warmup,
            "runs": self.runs,
            "seconds": round(sum(self.latencies_ms) / 1e3, 4),
            "latency_ms": latency,
            "throughput": round(self.throughput, 2),
            "outputs_finite": self.outputs_finite,
        }


@dataclass(frozen=True)
class Report:
    """A whole benchmark: what ran where, with which options, and the figures."""

    provider: str  # "cuda" or "cpu": what really ran
    provider_note: str
    device: str | None  # GPU or CPU name, where known
    binding: str  # where inputs and outputs live: "cpu" or "cuda:0"
    session_options: dict[str, Any]
    provider_options: dict[str, str]
    inputs: tuple[TensorSpec, ...]
    settings: Settings
    results: tuple[BatchResult, ...]

    def to_json(self) -> dict[str, Any]:
        """The machine-readable report (schema in the README)."""
        s = self.settings
        return {
            "onnxruntime": ort.__version__,
            "provider": {
                "used": self.provider,
                "note": self.provider_note,
                "device": self.device,
                "options": self.provider_options,
            },
            "session": self.session_options
            | {
                "io_binding": self.binding,
                "cuda_graph": s.cuda_graph,
                "prefer_nhwc": s.prefer_nhwc,
            },
            "inputs": [
                {"name": i.name, "shape": list(i.shape), "dtype": str(i.dtype)} for i in self.inputs
            ],
            "sizes": input_sizes(self.inputs, s),
            "timing": {
                "warmup": s.warmup,
                "iterations": s.iterations,
                "seconds": None if s.iterations is not None else s.seconds,
                "min_runs": None if s.iterations is not None else MIN_RUNS,
                "seed": s.seed,
            },
            "results": [r.to_json() for r in self.results],
        }


class Bound:
    """A session with its inputs and outputs bound to fixed buffers on one device."""

    def __init__(
        self, model: Model, feeds: Mapping[str, np.ndarray[Any, Any]], device: str, device_id: int
    ) -> None:
        """Copy `feeds` to the device once and bind them; outputs are bound by `probe`."""
        self.session = model.session
        self.device, self.device_id = device, device_id
        self.binding = self.session.io_binding()
        self.values = {
            n: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(a), device, device_id)
            for n, a in feeds.items()
        }
        for name, value in self.values.items():
            self.binding.bind_ortvalue_input(name, value)
        self.outputs: list[Any] = []
        self.output_specs = model.outputs

    def probe(self) -> None:
        """One run with outputs allocated by ONNX Runtime, to learn their shapes; then bind
        fixed output buffers of those shapes (CUDA graphs need fixed addresses)."""
        for spec in self.output_specs:
            self.binding.bind_output(spec.name, self.device, self.device_id)
        self.run()
        shapes = [tuple(v.shape()) for v in self.binding.get_outputs()]
        self.binding.clear_binding_outputs()
        self.outputs = [
            ort.OrtValue.ortvalue_from_shape_and_type(
                shape, spec.dtype, self.device, self.device_id
            )
            for spec, shape in zip(self.output_specs, shapes, strict=True)
        ]
        for spec, value in zip(self.output_specs, self.outputs, strict=True):
            self.binding.bind_ortvalue_output(spec.name, value)

    def run(self) -> None:
        """One inference on the bound buffers (synchronous: returns when the device is done)."""
        self.session.run_with_iobinding(self.binding)

    def output_arrays(self) -> list[np.ndarray[Any, Any]]:
        """The bound outputs copied to host memory."""
        return [np.asarray(v.numpy()) for v in self.outputs]


def _device(model: Model) -> tuple[str, int]:
    """The device type and id where a model's session runs."""
    if model.provider != "cuda":
        return "cpu", 0
    options = model.session.get_provider_options().get(CUDA, {})
    return "cuda", int(options.get("device_id", "0"))


def _warm(bound: Bound, batch: int, runs: int, progress: ProgressFn | None) -> None:
    """The probe run plus warm-up runs (untimed)."""
    start = time.perf_counter()
    bound.probe()
    for done in range(1, runs):
        if progress:
            progress(Progress(batch, "warm-up", done, runs, time.perf_counter() - start, None))
        bound.run()


def _timed(bound: Bound, batch: int, s: Settings, progress: ProgressFn | None) -> list[float]:
    """Latencies in ms of runs until the iteration count or time budget is reached."""
    latencies: list[float] = []
    start = time.perf_counter()
    budget = None if s.iterations is not None else s.seconds
    while True:
        t0 = time.perf_counter_ns()
        bound.run()
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
        elapsed = time.perf_counter() - start
        if s.iterations is not None:
            if len(latencies) >= s.iterations:
                return latencies
        elif elapsed >= s.seconds and len(latencies) >= MIN_RUNS:
            return latencies
        if progress:
            progress(Progress(batch, "timed", len(latencies), s.iterations, elapsed, budget))


def input_sizes(inputs: Sequence[TensorSpec], s: Settings) -> dict[str, int]:
    """Sizes of the inputs' symbolic dims past the batch axis: given, else the default."""
    sizes = dict(s.sizes)
    for spec in inputs:
        for dim in spec.shape[1:]:
            if isinstance(dim, str) and dim not in sizes and s.default_size is not None:
                sizes[dim] = s.default_size
    return sizes


def bench_batch(
    model: Model, batch: int, s: Settings, progress: ProgressFn | None = None
) -> BatchResult:
    """Warm up and time one batch size on `model`'s provider, IO bound on its device."""
    device, device_id = _device(model)
    sizes = input_sizes(model.inputs, s)
    feeds = model.random_inputs(batch=batch, seed=s.seed, sizes=sizes)
    model.validate(feeds)
    warmup = max(s.warmup, CUDA_GRAPH_WARMUP) if s.cuda_graph else s.warmup
    try:
        bound = Bound(model, feeds, device, device_id)
        _warm(bound, batch, max(warmup, 1), progress)
        latencies = _timed(bound, batch, s, progress)
        finite = all(bool(np.isfinite(a).all()) for a in bound.output_arrays())
    except RunError:
        raise
    except Exception as exc:  # noqa: BLE001 - ORT errors share no base
        raise RunError(
            f"benchmark of {model.label} at batch {batch} failed: {short_reason(exc)}"
        ) from None
    return BatchResult(batch, max(warmup, 1), tuple(latencies), finite)


def check_settings(s: Settings, provider: str) -> None:
    """Raise RunError for settings that cannot be measured."""
    if not s.batches or any(isinstance(b, bool) or b < 1 for b in s.batches):
        raise RunError(f"batch sizes must be positive integers, got {list(s.batches)}")
    if s.warmup < 0:
        raise RunError(f"warm-up runs must be 0 or more, got {s.warmup}")
    if s.iterations is not None and s.iterations < 1:
        raise RunError(f"iterations must be at least 1, got {s.iterations}")
    if not s.seconds > 0:
        raise RunError(f"seconds must be positive, got {s.seconds}")
    if provider == "cpu" and s.cuda_options():
        raise RunError(f"{_cuda_only(s)}, not provider 'cpu'")


def _cuda_only(s: Settings) -> str:
    """The CUDA provider options in use, with a verb: 'prefer_nhwc needs the CUDA provider'."""
    names = sorted(s.cuda_options())
    verb = "needs" if len(names) == 1 else "need"
    return (
        f"the CUDA provider option{'s' if len(names) > 1 else ''} {' and '.join(names)} "
        f"{verb} the CUDA provider"
    )


def _open(source: ModelArg, provider: str, s: Settings) -> Model:
    """A model whose session really runs where the CUDA-only settings need it."""
    model = Model(
        source, provider=provider, threads=s.threads, cuda_options=s.cuda_options() or None
    )
    if model.provider != "cuda" and s.cuda_options():
        raise RunError(f"{_cuda_only(s)}, but the session runs on {model.provider_note}")
    return model


def _report(model: Model, s: Settings, results: Sequence[BatchResult]) -> Report:
    """Assemble the report from the last session opened."""
    device, device_id = _device(model)
    active = model.session.get_providers()[0]
    options = model.session.get_provider_options().get(active, {})
    return Report(
        provider=model.provider,
        provider_note=model.provider_note,
        device=device_name(model.provider, device_id),
        binding=f"{device}:{device_id}" if device == "cuda" else "cpu",
        session_options=session_options(model.session),
        provider_options={str(k): str(v) for k, v in options.items()},
        inputs=model.inputs,
        settings=s,
        results=tuple(results),
    )


def bench(
    source: ModelArg,
    provider: str = "auto",
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
) -> Report:
    """Measure `source` (an .onnx path or bytes) at each batch size of `settings`.

    With CUDA graphs each batch size gets its own session, since a captured graph is tied to
    its shapes and buffers; otherwise one session serves every batch size.
    """
    s = settings or Settings()
    check_settings(s, provider.strip().lower())
    model = _open(source, provider, s)
    results = []
    for i, batch in enumerate(s.batches):
        if s.cuda_graph and i > 0:
            model = _open(source, provider, s)
        results.append(bench_batch(model, batch, s, progress))
    return _report(model, s, results)
