"""The initial weights are pinned: same model, scheme and seed, the same bytes as ever.

The digests were taken before weights were drawn on threads; any change to how (or in which
order) they are drawn that alters a single bit fails here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from dslc.backend.init import THREADED_FROM, draw_all, initial, specs
from dslc.compiler import compile_file

ROOT = Path(__file__).resolve().parents[2]

PINNED = [
    ("resnet18.xnet", "pytorch", 0,
     "e3e3e2592b9b03faadcac096326e0e71ff0c7f5b900a5d10671adf8ed872e8ab"),
    ("resnet18.xnet", "pytorch", 7,
     "4c9561380752e4f6e9f5d906bf77e50d0ecfce8230c326925f7d8d05b9782bab"),
    ("squeezenet1_1.xnet", "he", 3,
     "cca3f82422b6be98581da92d99a6ca6535092ccd928f1fdb37669eb29116a5d9"),
    ("squeezenet1_1.xnet", "xavier", 3,
     "c0ee8005dab4eec9140c9ac17907626d2c500b82647a23e9be021255e6b8381e"),
    ("lecture/laplacian.xnet", "pytorch", 0,
     "f57de91149933cfc1ec14da9b6821c0f95edbb61c26279f6525cdf5f3337c926"),
]


def _digest(arrays: list[tuple[str, np.ndarray]]) -> str:
    h = hashlib.sha256()
    for name, array in arrays:
        h.update(name.encode())
        h.update(array.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(("model", "scheme", "seed", "digest"), PINNED,
                         ids=[f"{m}-{s}-{n}" for m, s, n, _ in PINNED])
def test_initial_weights_are_pinned(model: str, scheme: str, seed: int, digest: str) -> None:
    graph = compile_file(ROOT / "models" / model).graph
    drawn = draw_all(graph.nodes, scheme, seed)
    # the fixed (hand-written) kernels are not drawn; with them, the full list as compiled
    full = [(s.name, drawn[s.name] if s.name in drawn else initial(n, s, scheme, seed))
            for n in graph.nodes for s in specs(n)]
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
