"""dslc_runtime.bench: IO binding, timing, CUDA-only settings (exercised on the CPU device)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

try:
    import dslc_runtime
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "runtime"))
    import dslc_runtime

from dslc_runtime import Model, RunError, available_providers
from dslc_runtime import bench as bench_mod
from dslc_runtime import providers as providers_mod
from dslc_runtime.bench import MIN_RUNS, Bound, Progress, Settings, bench, bench_batch

CUDA_AVAILABLE = "CUDAExecutionProvider" in available_providers()
assert dslc_runtime


def model_bytes(
    op: str = "Relu", elem: int = TensorProto.FLOAT, shape: list[int | str] | None = None
) -> bytes:
    """A one-node model: Relu of 'image' (N, 3, H, W), or 'image' / 0 (op='DivZero')."""
    shape = shape or ["N", 3, "H", "W"]
    inits = []
    if op == "DivZero":
        inits = [helper.make_tensor("zero", elem, [], [0.0])]
        node = helper.make_node("Div", ["image", "zero"], ["out"])
    else:
        node = helper.make_node(op, ["image"], ["out"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("image", elem, shape)],
        [helper.make_tensor_value_info("out", elem, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    return bytes(model.SerializeToString())


def test_bound_outputs_match_a_plain_run() -> None:
    model = Model(model_bytes(), provider="cpu")
    feeds = model.random_inputs(batch=3, seed=4, sizes={"H": 5, "W": 7})
    bound = Bound(model, feeds, "cpu", 0)
    bound.probe()
    first = bound.outputs[0]
    bound.run()
    (out,) = bound.output_arrays()
    assert out.shape == (3, 3, 5, 7)
    np.testing.assert_array_equal(out, np.maximum(feeds["image"], 0))
    assert bound.outputs[0] is first  # the same fixed buffer for every run


def test_iterations_give_exactly_that_many_runs_and_consistent_figures() -> None:
    model = Model(model_bytes(), provider="cpu")
    s = Settings(batches=(4,), warmup=2, iterations=25, sizes={"H": 8, "W": 8})
    r = bench_batch(model, 4, s)
    assert (r.batch, r.warmup, r.runs, r.outputs_finite) == (4, 2, 25, True)
    assert min(r.latencies_ms) <= r.percentile(50) <= r.percentile(90) <= r.percentile(99)
    assert r.percentile(99) <= max(r.latencies_ms)
    assert r.throughput == pytest.approx(4 * 1000 / np.mean(r.latencies_ms))
    record = r.to_json()
    assert set(record["latency_ms"]) == {"p50", "p90", "p99", "mean", "min", "max"}
    assert record["runs"] == 25


def test_a_time_budget_runs_long_enough_and_at_least_min_runs() -> None:
    model = Model(model_bytes(), provider="cpu")
    events: list[Progress] = []
    s = Settings(seconds=0.05, warmup=3, sizes={"H": 4, "W": 4})
    r = bench_batch(model, 1, s, events.append)
    assert r.runs >= MIN_RUNS
    timed = [e for e in events if e.phase == "timed"]
    assert timed[-1].elapsed < 0.05 or r.runs == MIN_RUNS
    assert all(e.total is None and e.seconds == 0.05 for e in timed)
    warm = [e for e in events if e.phase == "warm-up"]
    assert [e.done for e in warm] == [1, 2] and all(e.total == 3 for e in warm)


def test_bench_reports_every_batch_and_where_it_ran() -> None:
    report = bench(model_bytes(), "cpu", Settings(batches=(1, 2), iterations=3, default_size=6))
    data = report.to_json()
    assert [r["batch"] for r in data["results"]] == [1, 2]
    assert data["provider"]["used"] == "cpu"
    assert data["provider"]["note"] == "CPUExecutionProvider (requested with provider 'cpu')"
    assert data["session"]["io_binding"] == "cpu"
    assert data["session"]["graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert data["sizes"] == {"H": 6, "W": 6}
    assert data["timing"] == {
        "warmup": 5,
        "iterations": 3,
        "seconds": None,
        "min_runs": None,
        "seed": 0,
    }
    assert data["inputs"] == [{"name": "image", "shape": ["N", 3, "H", "W"], "dtype": "float32"}]


def test_threads_reach_the_session() -> None:
    report = bench(model_bytes(shape=["N", 2]), "cpu", Settings(iterations=1, threads=1))
    assert report.session_options["intra_op_num_threads"] == 1


def test_missing_symbolic_size_is_a_clear_error() -> None:
    with pytest.raises(RunError, match="symbolic dimension 'H'"):
        bench(model_bytes(), "cpu", Settings(iterations=1))


def test_float16_model_is_measured_in_float16() -> None:
    report = bench(
        model_bytes(elem=TensorProto.FLOAT16), "cpu", Settings(iterations=2, default_size=4)
    )
    assert report.inputs[0].dtype == np.float16
    assert report.results[0].outputs_finite


def test_non_finite_outputs_are_flagged() -> None:
    report = bench(model_bytes("DivZero", shape=["N", 2]), "cpu", Settings(iterations=2))
    assert report.results[0].outputs_finite is False


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(batches=()), "batch sizes must be positive integers, got []"),
        (Settings(batches=(1, 0)), "batch sizes must be positive integers, got [1, 0]"),
        (Settings(warmup=-1), "warm-up runs must be 0 or more, got -1"),
        (Settings(iterations=0), "iterations must be at least 1, got 0"),
        (Settings(seconds=0), "seconds must be positive, got 0"),
        (
            Settings(cuda_graph=True),
            "the CUDA provider option enable_cuda_graph needs the CUDA provider, not provider 'cpu'",
        ),
        (
            Settings(cuda_graph=True, prefer_nhwc=True),
            (
                "the CUDA provider options enable_cuda_graph and prefer_nhwc need the CUDA provider, "
                "not provider 'cpu'"
            ),
        ),
    ],
)
def test_settings_are_checked(settings: Settings, message: str) -> None:
    with pytest.raises(RunError) as info:
        bench(model_bytes(), "cpu", settings)
    assert str(info.value) == message


@pytest.mark.skipif(CUDA_AVAILABLE, reason="needs a CPU-only onnxruntime")
def test_cuda_settings_without_cuda_say_where_the_session_runs() -> None:
    with pytest.raises(RunError) as info:
        bench(model_bytes(), "auto", Settings(prefer_nhwc=True, iterations=1))
    assert str(info.value).startswith(
        "the CUDA provider option prefer_nhwc needs the CUDA provider, but the session runs on "
        "CPUExecutionProvider (CUDA not available: onnxruntime"
    )


def test_cuda_options_reach_the_provider_list(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[Any]] = []
    real = providers_mod._create

    def spy(source: Any, options: Any, providers: list[Any]) -> Any:
        seen.append(providers)
        return real(source, options, ["CPUExecutionProvider"])

    monkeypatch.setattr(
        providers_mod,
        "available_providers",
        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    monkeypatch.setattr(providers_mod, "_create", spy)
    with pytest.raises(RunError, match="onnxruntime fell back to CPU"):
        bench(model_bytes(), "auto", Settings(cuda_graph=True, prefer_nhwc=True))
    assert seen == [
        [
            ("CUDAExecutionProvider", {"prefer_nhwc": "1", "enable_cuda_graph": "1"}),
            "CPUExecutionProvider",
        ]
    ]
    seen.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Model(model_bytes(), provider="auto")  # no options: the plain provider name
    assert seen == [["CUDAExecutionProvider", "CPUExecutionProvider"]]


def test_cuda_graphs_get_a_session_per_batch_and_enough_warm_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[Model] = []

    def open_cpu(source: Any, provider: str, s: Settings) -> Model:
        opened.append(Model(source, provider="cpu"))
        return opened[-1]

    monkeypatch.setattr(bench_mod, "_open", open_cpu)
    report = bench(
        model_bytes(),
        "auto",
        Settings(batches=(1, 2, 3), warmup=0, iterations=2, cuda_graph=True, default_size=3),
    )
    assert len({id(m.session) for m in opened}) == 3
    assert [r.warmup for r in report.results] == [3, 3, 3]
    monkeypatch.setattr(bench_mod, "_open", lambda *a: opened[0])
    report = bench(
        model_bytes(), "cpu", Settings(batches=(1, 2), warmup=0, iterations=2, default_size=3)
    )
    assert [r.warmup for r in report.results] == [1, 1]  # the probe run always happens
