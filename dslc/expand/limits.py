"""Limits that protect the user's machine, checked before any weight or tensor is allocated.

Every limit has a default and can be raised from the command line (`--limit params=3G`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from dslc.ir import dims
from dslc.source import MAX_SOURCE_BYTES

__all__ = [
    "LIMIT_HELP",
    "SUFFIXES",
    "Limits",
    "option_help",
    "parse_limits",
    "raise_hint",
    "tensor_too_large",
]

SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_VALUE = re.compile(r"([0-9][0-9_]*)([kKmMgGtT]?)")


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds on what a program may ask for (see LIMIT_HELP for what each one means)."""

    layers: int = 200_000
    repeat: int = 10_000
    params: int = 1_000_000_000
    channels: int = 1 << 20
    tensor: int = 1 << 31
    source: int = MAX_SOURCE_BYTES

    def steps(self) -> int:
        """Work the expander may do: one step per chain element visited and per node of
        every expression evaluated, so exponential blow-ups (blocks calling two blocks
        calling two blocks ...) stop here even when they create no layer or pass large
        arguments. The model zoo needs at most 8.7 steps per layer."""
        return 10 * self.layers


LIMIT_HELP = {
    "layers": "layers in the expanded network",
    "repeat": "count of one repetition (x * n)",
    "params": "trainable parameters in total (each float32: 4 bytes)",
    "channels": "channels of any tensor",
    "tensor": "elements of any tensor for one sample (C x H x W)",
    "source": "bytes of an .xnet file, and of each file it imports",
}


def option_help() -> str:
    """The --limit option's help text, listing every limit and its default."""
    defaults = Limits()
    items = "; ".join(
        f"{f.name} ({LIMIT_HELP[f.name]}, default {getattr(defaults, f.name):,})"
        for f in fields(Limits)
    )
    return (
        "Raise (or lower) a safety limit, e.g. --limit params=3G (suffixes k, M, G, T; "
        f"repeatable). Limits: {items}."
    )


def parse_limits(items: list[str]) -> Limits:
    """`name=value` strings from --limit; raise ValueError with a message for the user."""
    limits = Limits()
    names = [f.name for f in fields(Limits)]
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or name not in names:
            raise ValueError(
                f"--limit takes NAME=VALUE with NAME one of {', '.join(names)}; got '{item}'"
            )
        m = _VALUE.fullmatch(text.strip())
        if m is None or len(m.group(1)) > 30:
            raise ValueError(
                f"--limit {name}: the value must be a positive whole number "
                f"(suffixes k, M, G, T allowed), got '{text}'"
            )
        value = int(m.group(1)) * SUFFIXES[m.group(2).lower()]
        if value < 1:
            raise ValueError(f"--limit {name}: the value must be at least 1")
        limits = replace(limits, **{name: value})
    return limits


def raise_hint(name: str, needed: int) -> str:
    """The hint that says how to raise a limit to what a network needs."""
    return f"if this is intended, raise the limit: --limit {name}={needed}"


def tensor_too_large(
    name: str, shape: tuple[dims.Dim, ...], limits: Limits
) -> tuple[str, str] | None:
    """The message and hint when a tensor is over the channel or size limit, else None.

    The expander asks this for every layer it adds, so no later layer (a hand-written
    kernel repeated over the channels, say) ever works on an oversized tensor.
    """
    c = _channels(shape)
    if c > limits.channels:
        return (
            f"'{name}' has {c:,} channels, over the limit of {limits.channels:,}",
            raise_hint("channels", c),
        )
    e = _elements(shape)
    if e > limits.tensor:
        return (
            (
                f"'{name}' makes a tensor of {e:,} elements per sample, over the limit of "
                f"{limits.tensor:,}"
            ),
            raise_hint("tensor", e),
        )
    return None


def _channels(shape: tuple[dims.Dim, ...] | None) -> int:
    if shape is None or len(shape) < 2 or not isinstance(shape[1], int):
        return 0
    return shape[1]


def _elements(shape: tuple[dims.Dim, ...] | None) -> int:
    """Elements per sample; a symbolic size counts as 1 (it is checked when it is run)."""
    if shape is None:
        return 0
    out = 1
    for d in shape[1:]:
        out *= d if isinstance(d, int) else 1
    return out
