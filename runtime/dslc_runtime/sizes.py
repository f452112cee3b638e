"""The input sizes a dslc model is valid for (its `dslc.sizes` metadata), enforced before a run.

A model compiled from `input x: 3 x H x W` may work only for some H and W (a pool then an
upsample, concatenated with the unpooled map, needs even sizes); dslc records which, and
running it on other sizes is refused here with that rule instead of failing inside ONNX Runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .specs import TensorSpec

__all__ = ["SizeRule", "check_size_names", "check_sizes", "read_rules"]


@dataclass(frozen=True, slots=True)
class SizeRule:
    """`size % period in residues and size >= minimum`, and how dslc wrote it."""

    period: int
    residues: frozenset[int]
    minimum: int
    text: str

    def allows(self, n: int) -> bool:
        """Whether the model is valid for this size."""
        return n >= self.minimum and n % self.period in self.residues


def read_rules(metadata: Mapping[str, str]) -> dict[str, SizeRule]:
    """The rules of a model's metadata map (none for models dslc did not restrict)."""
    text = metadata.get("dslc.sizes")
    if not text:
        return {}
    try:
        data = json.loads(text)
        rules = {
            str(name): SizeRule(
                int(r["period"]),
                frozenset(int(x) for x in r["residues"]),
                int(r["minimum"]),
                _shown(str(r["text"])),
            )
            for name, r in data.items()
        }
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return {}  # not written by dslc (JSON nested past Python's limit too): nothing to enforce
    if any(r.period < 1 for r in rules.values()):  # a period of 0 divided by zero
        return {}
    return rules


def _shown(text: str) -> str:
    """A rule's text as a message can show it: escapes escaped, at most 100 characters."""
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:100])
    return out + ("..." if len(text) > 100 else "")


def check_sizes(
    rules: Mapping[str, SizeRule], specs: Sequence[TensorSpec], feeds: Mapping[str, Any]
) -> None:
    """Raise InputError for a feed whose symbolic size breaks the model's rule."""
    if not rules:
        return
    for spec in specs:
        shape = getattr(feeds.get(spec.name), "shape", ())
        for axis, (dim, n) in enumerate(zip(spec.shape, shape)):
            rule = rules.get(dim) if isinstance(dim, str) else None
            if rule is not None and not rule.allows(int(n)):
                raise InputError(
                    f"input '{spec.name}' has {dim} = {n} (axis {axis}), but this model is "
                    f"valid only for {dim} {rule.text}: other sizes would fail inside ONNX "
                    "Runtime"
                )


def check_size_names(specs: Sequence[TensorSpec], sizes: Mapping[str, int]) -> None:
    """Raise InputError for a size that names no symbolic dim of the inputs past the batch."""
    names = sorted({d for s in specs for d in s.shape[1:] if isinstance(d, str)})
    batch = {s.shape[0]: s for s in specs if s.shape and isinstance(s.shape[0], str)}
    for name in sizes:
        if name in names:
            continue
        if name in batch:
            raise InputError(
                f"'{name}' is the batch axis of input '{batch[name].name}' "
                f"{batch[name].shape_text}: its size is the batch size"
            )
        shapes = ", ".join(f"'{s.name}' {s.shape_text}" for s in specs)
        raise InputError(
            f"no input has a size named '{name}': "
            + (
                f"the inputs' symbolic sizes are {', '.join(names)}"
                if names
                else f"the inputs' sizes are fixed ({shapes})"
            )
        )
