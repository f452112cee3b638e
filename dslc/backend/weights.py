"""Pretrained weights: matching the tensors of a .safetensors or .npz file (read by
dslc.backend.weight_files) against the tensors a network expects (its layers' hierarchical
names, which the zoo models choose to equal torchvision's state_dict keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dslc.backend.weight_files import (
    MAX_HEADER,
    read,
    safetensors_bytes,
    save_safetensors,
    write_safetensors,
)
from dslc.diagnostics import CompileError, Diagnostic, did_you_mean

__all__ = [
    "MAX_HEADER",
    "Expected",
    "expected",
    "match",
    "nonfinite",
    "read",
    "safetensors_bytes",
    "save_safetensors",
    "wanted",
    "write_safetensors",
]

if TYPE_CHECKING:
    import numpy as np

    from dslc.passes import Analysis

_IGNORED = ("num_batches_tracked",)  # PyTorch's BN step counter: no place in inference


@dataclass(frozen=True, slots=True)
class Expected:
    """One tensor a network expects from a weights file."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


def expected(analysis: Analysis) -> list[Expected]:
    """Every loadable tensor of the network, in graph order (hand-written kernels excluded)."""
    from dslc.backend.init import specs

    return [
        Expected(s.name, s.shape)
        for node in analysis.graph.nodes
        for s in specs(node)
        if not s.fixed
    ]


def wanted(analysis: Analysis) -> dict[str, tuple[int, ...]]:
    """What read() should read for the network: its tensors' names and shapes."""
    return {e.name: e.shape for e in expected(analysis)}


def match(
    analysis: Analysis, tensors: dict[str, np.ndarray], source: str | Path
) -> dict[str, np.ndarray]:
    """Check a weights file against the network; every problem is reported at once.

    Returns the tensors by name, as float32, ready for the backend.
    """
    import numpy as np

    want = {e.name: e for e in expected(analysis)}
    given = {k: v for k, v in tensors.items() if not k.endswith(_IGNORED)}
    errors: list[Diagnostic] = []
    missing = [n for n in want if n not in given]
    unexpected = [n for n in given if n not in want]
    if missing:
        errors.append(
            Diagnostic(
                "E0701",
                f"{source} lacks {len(missing)} tensor{'s' * (len(missing) != 1)} the "
                f"network needs: {_listing(missing)}",
                None,
                ("list what the network expects with 'dslc weights FILE.xnet'",),
            )
        )
    for name in unexpected:
        # a misnamed tensor most likely stands for one that is missing
        hint = (
            did_you_mean(name, missing)
            or did_you_mean(name, list(want))
            or ("the network has no layer of that name; 'dslc weights FILE.xnet' lists its tensors")
        )
        errors.append(
            Diagnostic(
                "E0702",
                f"{source} has a tensor the network does not "
                f"expect: '{name}' {_shape(given[name].shape)}",
                None,
                (hint,),
            )
        )
    for name, e in want.items():
        if name not in given:
            continue
        array = given[name]
        if tuple(array.shape) != e.shape:
            errors.append(
                Diagnostic(
                    "E0703",
                    f"'{name}' has shape {_shape(array.shape)} in "
                    f"{source}, the network expects {_shape(e.shape)}",
                    None,
                )
            )
        elif array.dtype != np.float32:
            errors.append(
                Diagnostic(
                    "E0704",
                    f"'{name}' is {array.dtype} in {source}, the network expects {e.dtype}",
                    None,
                    ("save the weights as float32",),
                )
            )
    if errors:
        raise CompileError(errors)
    return {name: np.ascontiguousarray(given[name], np.float32) for name in want}


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _listing(names: list[str], most: int = 8) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def nonfinite(tensors: dict[str, np.ndarray], source: str | Path) -> tuple[Diagnostic, ...]:
    """A warning (W0706) naming the tensors that hold NaN or an infinity, if any do."""
    import numpy as np

    bad = [n for n, a in tensors.items() if a.dtype.kind in "fc" and not np.isfinite(a).all()]
    if not bad:
        return ()
    return (
        Diagnostic(
            "W0706",
            f"{source} has NaN or infinite values in {len(bad)} "
            f"tensor{'s' * (len(bad) != 1)}: {_listing(bad)}",
            None,
            ("the model's outputs will be NaN or infinite; was the training run diverging?",),
        ),
    )
