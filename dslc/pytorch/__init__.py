"""The PyTorch bridge: a checked .xnet as a readable, self-contained PyTorch module.

`module_source` writes the model.py text (it needs no torch); `build_module` runs it and loads
the weights the compiler draws for the same --init and --seed, so its outputs are the ONNX
model's. torch is imported only by build_module: the compiler never needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dslc.backend.settings import SCHEMES

if TYPE_CHECKING:
    from dslc.passes import Analysis

__all__ = [
    "TORCH_HINT",
    "analysis_source",
    "build_module",
    "module_of",
    "module_source",
    "torch_or_error",
]

TORCH_HINT = "pip install 'dslc[train]' (or: pip install torch)"


def _analyse(path: Path, sets: Mapping[str, str] | None) -> Analysis:
    from dslc.compiler import compile_file, parse_overrides

    pairs = [f"{k}={v}" for k, v in (sets or {}).items()]
    return compile_file(path, parse_overrides(pairs))


def _scheme(init: str | None) -> str:
    scheme = init or SCHEMES[0]
    if scheme not in SCHEMES:
        raise ValueError(f"init must be one of {', '.join(SCHEMES)}, not {scheme!r}")
    return scheme


def analysis_source(analysis: Analysis, source: str, init: str | None = None) -> str:
    """The model.py text of an analysed network."""
    from dslc.pytorch.source import model_text

    return model_text(analysis, source, _scheme(init))


def module_source(
    path: Path,
    sets: Mapping[str, str] | None = None,
    *,
    init: str | None = None,
    seed: int | None = None,
) -> str:
    """The model.py text for an .xnet file; CompileError (dslc.diagnostics) listing every
    problem if the file does not check.
    `seed` does not change the text (the file initialises itself); it is accepted so both
    calls take the same arguments."""
    del seed
    return analysis_source(_analyse(Path(path), sets), str(path), init)


def torch_or_error() -> Any:
    """The torch module; ImportError saying what to install when it is missing."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"the PyTorch bridge needs torch ({exc}): {TORCH_HINT}") from None
    return torch


def build_module(
    path: Path,
    sets: Mapping[str, str] | None = None,
    *,
    init: str | None = None,
    seed: int | None = None,
) -> Any:
    """The network as a torch.nn.Module (eval mode off: a fresh module is in training mode,
    as PyTorch's are) holding the weights `dslc compile` draws for the same init and seed."""
    analysis = _analyse(Path(path), sets)
    return module_of(analysis, str(path), init, seed)


def module_of(analysis: Analysis, source: str, init: str | None, seed: int | None) -> Any:
    """build_module for an analysed network."""
    import types

    import numpy as np

    from dslc.backend.init import draw_all
    from dslc.pytorch.source import top_class

    torch = torch_or_error()
    scheme = _scheme(init)
    text = analysis_source(analysis, source, scheme)
    module = types.ModuleType(f"dslc_model_{analysis.graph.name}")
    module.__file__ = f"<dslc torch {source}>"
    exec(compile(text, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own text
    net = getattr(module, top_class(analysis))()
    weights = draw_all(analysis.graph.nodes, scheme, 0 if seed is None else seed)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
    net.load_state_dict(state, strict=True)
    return net
