"""One class per block: classes whose text differs only in numbers (channels, strides, ...)
become one class taking the numbers that vary as arguments, `Bottleneck(256, 64, 2)`; those
that hold the same value in every call stay literal. Leaf classes merge first, so their calls
are numbers in their parents' text, which may then merge too."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dslc.pytorch.layout import fit

__all__ = ["MOST_PARAMS", "merge_classes"]

MOST_PARAMS = 8  # numbers a merged class may take (GoogLeNet's inception: 7)

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.])")
_STRING = re.compile(r'"[^"]*"')
_CALL = re.compile(r"([A-Za-z_][\w.]*)\($")
_KEYWORD = re.compile(r"(\w+)=$")
_ATTR = re.compile(r"self\.(\w+) = ")

# the positional parameters of the constructors model.py calls
_POSITIONAL = {
    "nn.Conv2d": ("in_channels", "out_channels", "kernel_size"),
    "nn.ConvTranspose2d": ("in_channels", "out_channels", "kernel_size"),
    "PadConv2d": ("in_channels", "out_channels", "kernel_size"),
    "PadConvTranspose2d": ("in_channels", "out_channels", "kernel_size"),
    "FixedConv2d": ("in_channels", "out_channels", "kernel_size"),
    "nn.Linear": ("in_features", "out_features"),
    "ChannelLinear": ("in_features", "out_features"),
    "BatchNorm2d": ("num_features",),
    "BatchNorm1d": ("num_features",),
    "nn.LayerNorm": ("channels",),
    "LayerNorm2d": ("channels",),
    "nn.PReLU": ("num_parameters",),
    "nn.MaxPool2d": ("kernel_size",),
    "nn.AvgPool2d": ("kernel_size",),
    "PadMaxPool2d": ("kernel_size",),
    "PadAvgPool2d": ("kernel_size",),
    "nn.AdaptiveAvgPool2d": ("output_size",),
    "nn.Dropout": ("p",),
    "StochasticDepth": ("p",),
    "Channels": ("start", "stop"),
    "ChannelShuffle": ("groups",),
    "PadChannels": ("before", "after"),
    "nn.LocalResponseNorm": ("size",),
    "nn.LeakyReLU": ("negative_slope",),
    "nn.ELU": ("alpha",),
    "nn.PixelShuffle": ("factor",),
    "nn.PixelUnshuffle": ("factor",),
}


@dataclass(frozen=True, slots=True)
class _Hole:
    """A number in a class's text: where it is and what it sets."""

    start: int
    end: int
    name: str  # the argument it is (out_channels), for a parameter's name
    attr: str  # the attribute it belongs to (conv1), to tell equal names apart


def _holes(text: str, params: dict[str, tuple[str, ...]]) -> list[_Hole]:
    """The numbers of a class's code (comments and strings left alone)."""
    out: list[_Hole] = []
    offset = 0
    attr = ""
    for line in text.splitlines(keepends=True):
        code = line if not line.lstrip().startswith("#") else ""
        masked = _STRING.sub(lambda m: "_" * len(m.group()), code)
        found = _ATTR.search(masked)
        attr = found.group(1) if found else attr
        for m in _NUMBER.finditer(masked):
            out.append(
                _Hole(offset + m.start(), offset + m.end(), _arg(masked[: m.start()], params), attr)
            )
        offset += len(line)
    return out


def _arg(before: str, params: dict[str, tuple[str, ...]]) -> str:
    """The argument a number at the end of `before` gives: its keyword, or its position's
    name in the call it is in."""
    keyword = _KEYWORD.search(before)
    if keyword:
        return keyword.group(1)
    depth, commas = 0, 0
    for k in range(len(before) - 1, -1, -1):
        ch = before[k]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                call = _CALL.search(before[: k + 1]) if ch == "(" else None
                if call is None:
                    return "size"
                names = params.get(call.group(1)) or _POSITIONAL.get(call.group(1), ())
                return names[commas] if commas < len(names) else f"arg{commas}"
            depth -= 1
        elif ch == "," and depth == 0:
            commas += 1
    return "value"


def _refs(text: str, names: list[str]) -> set[str]:
    return {n for n in names if re.search(rf"\b{n}\(", text.split("\n", 1)[1])}


def _heights(texts: dict[str, str]) -> dict[str, int]:
    """0 for a class that calls no other class of the file, else 1 + its callees' most."""
    names = list(texts)
    calls = {n: _refs(texts[n], names) - {n} for n in names}
    out: dict[str, int] = {}

    def height(n: str) -> int:
        if n not in out:
            out[n] = 1 + max((height(m) for m in calls[n]), default=-1)
        return out[n]

    for n in names:
        height(n)
    return out


def _template(text: str) -> str:
    """A class's text without its name and with every number masked."""
    return "".join(_masked_numbers(text.split("\n", 1)[1]))


def _masked_numbers(body: str) -> list[str]:
    out = []
    for line in body.splitlines(keepends=True):
        if line.lstrip().startswith("#"):
            out.append(line)
            continue
        strings = _STRING.findall(line)
        masked = _NUMBER.sub("#", _STRING.sub('""', line))
        out.append(masked + "|".join(strings))
    return out


def merge_classes(texts: dict[str, str], keep: str) -> dict[str, str]:
    """The classes, those differing only in numbers merged (`keep`, the network's own class,
    only has its calls rewritten)."""
    texts = dict(texts)
    params: dict[str, tuple[str, ...]] = {}
    heights = _heights(texts)
    for level in sorted(set(heights.values())):
        groups: dict[str, list[str]] = {}
        for name in [n for n in texts if heights.get(n) == level and n != keep]:
            groups.setdefault(_template(texts[name]), []).append(name)
        for group in groups.values():
            if len(group) > 1:
                _merge(group, texts, params)
    return {n: _refit(t) for n, t in texts.items()}


def _merge(group: list[str], texts: dict[str, str], params: dict[str, tuple[str, ...]]) -> None:
    """Replace the classes of `group` by the first's name taking the varying numbers."""
    name = group[0]
    holes = _holes(texts[name], params)
    every = [_holes(texts[m], params) for m in group]  # numbers differ in length
    values = [
        [texts[m][hs[k].start : hs[k].end] for m, hs in zip(group, every, strict=True)]
        for k in range(len(holes))
    ]
    chosen: dict[tuple[str, ...], str] = {}  # a vector of values -> its parameter
    used: set[str] = {"self"}
    of_hole: list[str | None] = []
    for h, vals in zip(holes, values, strict=True):
        key = tuple(vals)
        if len(set(key)) == 1:
            of_hole.append(None)
            continue
        if key not in chosen:
            chosen[key] = _fresh(h, used)
        of_hole.append(chosen[key])
    names = list(dict.fromkeys(p for p in of_hole if p is not None))
    if len(names) > MOST_PARAMS:
        return  # a class taking that many numbers reads worse than the classes apart
    text = texts[name]
    for h, p in reversed(list(zip(holes, of_hole, strict=True))):
        if p is not None:
            text = text[: h.start] + p + text[h.end :]
    kind = {p: _kind([v for key, q in chosen.items() if q == p for v in key]) for p in names}
    text = text.replace("    def __init__(self) -> None:\n", _signature(names, kind), 1)
    texts[name] = text
    params[name] = tuple(names)
    for k, member in enumerate(group):
        call = f"{name}({', '.join(_args_of(k, chosen, names))})"
        for other in list(texts):
            texts[other] = re.sub(rf"\b{member}\(\)", call, texts[other])
        if member != name:
            del texts[member]


def _args_of(k: int, chosen: dict[tuple[str, ...], str], names: list[str]) -> list[str]:
    """The arguments of the k-th member's call: positional for up to three, else named."""
    by_name = {p: key[k] for key, p in chosen.items()}
    if len(names) <= 3:
        return [by_name[p] for p in names]
    return [f"{p}={by_name[p]}" for p in names]


def _fresh(h: _Hole, used: set[str]) -> str:
    for candidate in (h.name, f"{h.attr}_{h.name}"):
        if candidate and candidate not in used:
            used.add(candidate)
            return candidate
    k = 2
    while f"{h.attr}_{h.name}_{k}" in used:
        k += 1
    used.add(f"{h.attr}_{h.name}_{k}")
    return f"{h.attr}_{h.name}_{k}"


def _is_int(text: str) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None


def _kind(values: list[str]) -> str:
    return "int" if all(_is_int(v) for v in values) else "float"


def _refit(text: str) -> str:
    """Lines grown past the width by a merge, laid out again."""
    out: list[str] = []
    for line in text.splitlines():
        code = line.strip()
        pad = line[: len(line) - len(code)]
        if len(line) <= 88 or code.startswith("#") or code.count("(") != code.count(")"):
            out.append(line)
        elif code.endswith(","):
            out.extend(fit(pad, code[:-1], ","))
        else:
            out.extend(fit(pad, code))
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _signature(names: list[str], kind: dict[str, str]) -> str:
    """`    def __init__(self, a: int, ...) -> None:` laid out as black lays it out."""
    args = ", ".join(["self", *(f"{p}: {kind[p]}" for p in names)])
    line = f"    def __init__({args}) -> None:"
    if len(line) <= 88:
        return line + "\n"
    if len(args) + 8 <= 88:
        return f"    def __init__(\n        {args}\n    ) -> None:\n"
    each = "".join(f"        {a},\n" for a in ["self", *(f"{p}: {kind[p]}" for p in names)])
    return f"    def __init__(\n{each}    ) -> None:\n"
