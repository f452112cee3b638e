"""The initial weights are pinned: same model, scheme and seed, the same bytes as ever.

The digests were taken before weights were drawn on threads; any change to how (or in which
order) they are drawn that alters a single bit fails here.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from dslc.backend.init import AHEAD_BYTES, THREADED_FROM, Drawn, draw_all, initial, specs
from dslc.backend.onnx import build, write
from dslc.compiler import compile_file

ROOT = Path(__file__).resolve().parents[2]

PINNED = [
    (
        "resnet18.xnet",
        "pytorch",
        0,
        "e3e3e2592b9b03faadcac096326e0e71ff0c7f5b900a5d10671adf8ed872e8ab",
    ),
    (
        "resnet18.xnet",
        "pytorch",
        7,
        "4c9561380752e4f6e9f5d906bf77e50d0ecfce8230c326925f7d8d05b9782bab",
    ),
    (
        "squeezenet1_1.xnet",
        "he",
        3,
        "cca3f82422b6be98581da92d99a6ca6535092ccd928f1fdb37669eb29116a5d9",
    ),
    (
        "squeezenet1_1.xnet",
        "xavier",
        3,
        "c0ee8005dab4eec9140c9ac17907626d2c500b82647a23e9be021255e6b8381e",
    ),
    (
        "lecture/laplacian.xnet",
        "pytorch",
        0,
        "f57de91149933cfc1ec14da9b6821c0f95edbb61c26279f6525cdf5f3337c926",
    ),
]


def _digest(arrays: list[tuple[str, np.ndarray]]) -> str:
    h = hashlib.sha256()
    for name, array in arrays:
        h.update(name.encode())
        h.update(array.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(
    ("model", "scheme", "seed", "digest"), PINNED, ids=[f"{m}-{s}-{n}" for m, s, n, _ in PINNED]
)
def test_initial_weights_are_pinned(model: str, scheme: str, seed: int, digest: str) -> None:
    graph = compile_file(ROOT / "models" / model).graph
    drawn = draw_all(graph.nodes, scheme, seed)
    # the fixed (hand-written) kernels are not drawn; with them, the full list as compiled
    full = [
        (s.name, drawn[s.name] if s.name in drawn else initial(n, s, scheme, seed))
        for n in graph.nodes
        for s in specs(n)
    ]
    assert len(full) == len(drawn) + sum(s.fixed for n in graph.nodes for s in specs(n))
    assert _digest(full) == digest


def test_large_models_are_drawn_on_threads_with_the_same_values() -> None:
    graph = compile_file(ROOT / "models" / "resnet18.xnet").graph
    jobs = [(n, s) for n in graph.nodes for s in specs(n) if not s.fixed]
    assert sum(int(np.prod(s.shape)) for _, s in jobs) > THREADED_FROM  # the threaded path
    threaded = draw_all(graph.nodes, "pytorch", 5)
    assert list(threaded) == [s.name for _, s in jobs]
    for n, s in jobs[::7]:
        assert np.array_equal(threaded[s.name], initial(n, s, "pytorch", 5))


def test_drawn_hands_out_given_tensors_and_redraws_on_a_second_request() -> None:
    graph = compile_file(ROOT / "models" / "resnet18.xnet").graph
    mine = np.full((64, 3, 7, 7), 0.5, np.float32)
    drawn = Drawn(graph.nodes, "pytorch", 2, {"conv1.weight": mine})
    assert drawn["conv1.weight"] is mine
    assert "fc.bias" in drawn and "nope" not in drawn and drawn.get("nope") is None
    node = next(n for n in graph.nodes if n.name == "layer4.1.conv2")
    spec = specs(node)[0]
    late = drawn["layer4.1.conv2.weight"]  # out of order: everything before it is started
    early = drawn["layer1.0.conv1.weight"]
    again = drawn["layer4.1.conv2.weight"]  # handed out already: drawn anew, same values
    assert late is not again and np.array_equal(late, again)
    assert np.array_equal(late, initial(node, spec, "pytorch", 2))
    assert early.shape == (64, 64, 3, 3)
    assert len(drawn) == len(list(drawn)) == sum(not s.fixed for n in graph.nodes for s in specs(n))


def test_compiling_streams_the_weights_into_the_file() -> None:
    """The weights are drawn (batch norm folded) as the file is written, tensor by tensor and
    at most AHEAD_BYTES ahead: compiling never holds them all (it held 1.25x them before)."""
    analysis = compile_file(ROOT / "models" / "resnet50.xnet")
    sink = hashlib.sha256()

    class Out:
        def write(self, data: bytes | memoryview) -> int:
            sink.update(data)
            return len(data)

    tracemalloc.start()
    try:
        model, arrays = build(analysis, optimize=True)
        write(model, arrays, Out())  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    weights = sum(a.nbytes for _, a in arrays)
    assert weights > 4 * AHEAD_BYTES
    assert peak < 0.5 * weights
    # the same bytes as a model built from the same weights drawn up front
    given = draw_all(analysis.graph.nodes, "pytorch", 0)
    model, arrays = build(analysis, optimize=True, weights=given)
    buffer = io.BytesIO()
    write(model, arrays, buffer)
    assert hashlib.sha256(buffer.getvalue()).hexdigest() == sink.hexdigest()


def test_folding_overwrites_only_weights_it_drew() -> None:
    from dslc.compiler import compile_source
    from dslc.source import SourceFile

    analysis = compile_source(
        SourceFile("t.xnet", "input x: 3 x 8 x 8\nconv3x3(4, bias=false) -> bn -> relu\n")
    )
    given = draw_all(analysis.graph.nodes, "pytorch", 1)
    given["bn1.weight"] = np.full(4, 3.0, np.float32)  # folding scales the conv weight by ~3
    kept = {k: v.copy() for k, v in given.items()}
    _, arrays = build(analysis, optimize=True, weights=given)
    assert all(np.array_equal(given[k], kept[k]) for k in kept)  # the caller's arrays
    folded = dict(arrays)["conv1.weight"]
    assert np.allclose(folded, kept["conv1.weight"] * 3.0 / np.sqrt(1.0 + 1e-5), rtol=1e-6)
    # drawn here (folded in place) or given (folded into a copy): the same bytes
    _, drawn_here = build(analysis, optimize=True, seed=1)
    _, from_given = build(
        analysis, optimize=True, seed=1, weights=draw_all(analysis.graph.nodes, "pytorch", 1)
    )
    here = [(k, np.asarray(a).tobytes()) for k, a in drawn_here]
    assert here == [(k, np.asarray(a).tobytes()) for k, a in from_given]
