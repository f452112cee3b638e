"""Hypothesis strategies that draw valid .xnet programs, and mutants of them.

`programs()` writes a program as text while tracking the tensor's shape (channels, height,
width; or features once flattened), choosing at every step only layers that are valid for
that shape. Sizes stay tiny (channels <= 16, H and W <= 32) so that every example compiles
and runs in ONNX Runtime in milliseconds. The shape tracked here is computed independently of
the compiler (PyTorch's rules written out again), so it is a fourth oracle next to the
compiler, ONNX shape inference and ONNX Runtime.

Pooling windows always fit in the padded input. With ceil=true the strategy does draw the
corner where PyTorch drops a last window that would start in the padding: ONNX's shape
inference does not drop it (ONNX Runtime does), so that corner checks that dslc emits pools
every oracle agrees on.

`mutants()` draws a valid program and breaks it a little (tokens deleted, duplicated or
swapped, numbers set to 0 or huge, names replaced, lines dropped or repeated, ...): input for
the "the compiler only fails with a located diagnostic" property.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

MAX_C = 16
MAX_HW = 32

Draw = Callable[..., Any]


@dataclass(frozen=True)
class Spatial:
    """An N x C x H x W tensor."""

    c: int
    h: int
    w: int

    def dims(self) -> tuple[int, ...]:
        """The shape without the batch."""
        return (self.c, self.h, self.w)


@dataclass(frozen=True)
class Flat:
    """An N x F tensor."""

    f: int

    def dims(self) -> tuple[int, ...]:
        """The shape without the batch."""
        return (self.f,)


State = Spatial | Flat


@dataclass(frozen=True)
class Program:
    """A drawn program: its text and the output shape (without the batch) it must have."""

    text: str
    shape: tuple[int, ...]
    input_shape: tuple[int, ...]

    def __str__(self) -> str:
        return self.text


@dataclass
class _BlockSpec:
    """A block definition and how to call it."""

    name: str
    text: str
    call: Callable[[Draw, Spatial], tuple[str, Spatial] | None]


@dataclass
class _Ctx:
    """What the generator knows while writing: network parameters, blocks, taps, labels."""

    params: dict[str, int] = field(default_factory=dict)
    blocks: list[_BlockSpec] = field(default_factory=list)
    taps: dict[str, Spatial] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def fresh(self, prefix: str) -> str:
        """A name no automatic layer name can take (l1, t2, ...)."""
        return f"{prefix}{next(self.counter)}"


# ---- shape arithmetic (PyTorch's rules, written independently of dslc) ----


def conv_out(n: int, k: int, s: int, d: int, pb: int, pe: int) -> int:
    """Output size of a convolution along one axis."""
    return (n + pb + pe - d * (k - 1) - 1) // s + 1


def pool_out(n: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> int | None:
    """Output size of a pooling window along one axis; None where the window does not fit."""
    room = n + pb + pe - d * (k - 1) - 1
    if room < 0:
        return None
    out = (-(-room // s) if ceil else room // s) + 1
    if ceil and (out - 1) * s >= n + pb:
        out -= 1  # PyTorch drops a last window that would start in the padding
    return out


def windows_touch_input(n: int, k: int, s: int, d: int, pb: int, out: int) -> bool:
    """Whether every window has a tap on the input, not only on padding. A dilated max-pool
    window whose taps all land in the padding gives -inf (in PyTorch as in ONNX Runtime), and
    the next layer may turn that into NaN; the strategy keeps clear of it."""
    return all(any(0 <= i * s - pb + j * d < n for j in range(k)) for i in range(out))


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b)."""
    return -(-a // b)


# ---- small pieces ----


def _channels_expr(draw: Draw, cout: int, cin: int, ctx: _Ctx) -> str:
    """The channel count as a literal, or as C / C * 2 / C // 2 / a network parameter."""
    options = [str(cout)]
    if cout == cin:
        options.append("C")
    if cout == 2 * cin:
        options.append("C * 2")
    if cin % 2 == 0 and cout == cin // 2:
        options.append("C // 2")
    options += [name for name, v in ctx.params.items() if v == cout]
    options += [f"{name} * 2" for name, v in ctx.params.items() if 2 * v == cout]
    # functions and conditional expressions of the same value
    options += [f"max({cout}, 1)", f"min({cout + 3}, {cout}, 99)", f"abs(-{cout})"]
    options += [f"if C == {cin} then {cout} else {cout + 1}", f"if C > {cin} then 1 else {cout}"]
    if cout % 2 == 0:
        options.append(f"make_divisible({cout} - 0.5, 2)")
    options.append(f"round({cout}.25) + 0 * floor(0.5) + 0 * ceil(0.5)")
    return str(draw(st.sampled_from(options)))


def _condition(draw: Draw, s: Spatial, want: bool) -> str:
    """A condition over numbers and the incoming shape that is `want`."""
    a, b = draw(st.integers(0, 9)), draw(st.integers(0, 9))
    table = [
        (f"{a} < {b}", a < b),
        (f"{a} >= {b}", a >= b),
        (f"C == {s.c}", True),
        (f"H != {s.h}", False),
        (f"not W > {s.w}", True),
        (f"{a} == {b} or C <= {s.c}", True),
        (f"{a} > {b} and {a} < {b}", False),
        (f"min({a}, {b}) <= max({a}, {b})", True),
    ]
    return str(draw(st.sampled_from([text for text, value in table if value == want])))


def conditional(draw: Draw, s: Spatial, ctx: _Ctx) -> str:
    """`(if cond then chain [else chain])` that keeps the shape, either branch taken."""
    taken = draw(st.booleans())
    body = keep_chain(draw, s, ctx, s.c, 0)
    other = keep_chain(draw, s, ctx, s.c, 0)
    cond = _condition(draw, s, taken)
    if draw(st.booleans()):
        return f"(if {cond} then {body} else {other})"
    return f"(if {cond} then {body})" if taken else f"(if {cond} then {other})"


def _pair_text(a: int, b: int, draw: Draw) -> str:
    """An (h, w) argument: a single number when both agree (sometimes), else a tuple."""
    if a == b and draw(st.booleans()):
        return str(a)
    return f"({a}, {b})"


def _activation(draw: Draw) -> str:
    return str(
        draw(
            st.sampled_from(
                [
                    "relu",
                    "sigmoid",
                    "tanh",
                    "leakyrelu(0.1)",
                    "leakyrelu(alpha=0.2)",
                    "relu6",
                    "elu",
                    "elu(0.5)",
                    "identity",
                    "dropout(0.1)",
                ]
            )
        )
    )


def _label(draw: Draw, ctx: _Ctx, text: str) -> str:
    """Sometimes prefix an element with a fresh label."""
    if text.startswith('"'):
        return text  # already labelled
    roll = draw(st.integers(0, 19))
    if roll < 2:
        return f"{ctx.fresh('l')}: {text}"
    if roll == 2:  # a quoted label: a keyword or a name with '-', as torchvision's names
        return f'"{draw(st.sampled_from(["block", "if", "layer-"]))}{next(ctx.counter)}": {text}'
    if roll == 3:  # a label with a hole, filled in with its value
        return f'"h{{{next(ctx.counter)} + 0}}-x": {text}'
    return text


# ---- layers ----


def conv(
    draw: Draw, s: Spatial, ctx: _Ctx, keep: bool = False, cout: int | None = None
) -> tuple[str, Spatial]:
    """A convolution; with keep=True it keeps H x W."""
    kh, kw = draw(st.sampled_from([(1, 1), (3, 3), (5, 5), (1, 3), (3, 1)]))
    if cout is None:
        cout = draw(st.integers(1, MAX_C))
    divisors = [g for g in range(1, min(s.c, cout) + 1) if s.c % g == 0 and cout % g == 0]
    groups = draw(st.sampled_from(divisors)) if draw(st.integers(0, 3)) == 0 else 1
    if keep:
        sh = sw = 1
    else:
        sh, sw = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (2, 2), (1, 2), (2, 1)]))
    dh, dw = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 2)]))
    default = (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
    pad_kind = draw(
        st.sampled_from(
            ["default", "same", "explicit"]
            if keep
            else ["default", "same", "valid", "int", "pair", "four"]
        )
    )
    pad_text: str | None = None
    if pad_kind == "default":
        pads = (default[0], default[1], default[0], default[1])
    elif pad_kind == "explicit":
        pads = (default[0], default[1], default[0], default[1])
        pad_text = _pair_text(default[0], default[1], draw)
    elif pad_kind == "same":
        pad_text = "same"
        pads = (-1, -1, -1, -1)  # computed below
    elif pad_kind == "valid":
        pad_text, pads = "valid", (0, 0, 0, 0)
    elif pad_kind == "int":
        p = draw(st.integers(0, 2))
        pad_text, pads = str(p), (p, p, p, p)
    elif pad_kind == "pair":
        ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        pad_text, pads = f"({ph}, {pw})", (ph, pw, ph, pw)
    else:
        t, l, b, r = (draw(st.integers(0, 2)) for _ in range(4))
        pad_text, pads = f"({t}, {l}, {b}, {r})", (t, l, b, r)
    if pad_text == "same":
        h, w = ceil_div(s.h, sh), ceil_div(s.w, sw)
    else:
        h = conv_out(s.h, kh, sh, dh, pads[0], pads[2])
        w = conv_out(s.w, kw, sw, dw, pads[1], pads[3])
        if h < 1 or w < 1:  # too small for this window: fall back to the default padding
            pad_text = None
            h = conv_out(s.h, kh, sh, dh, default[0], default[0])
            w = conv_out(s.w, kw, sw, dw, default[1], default[1])
    # the name: conv3x3, conv3 (square), or the generic conv(c, k=...)
    style = draw(st.sampled_from(["sized", "sized", "short", "generic"]))
    args: list[str] = []
    if style == "generic":
        name = "conv"
    elif style == "short" and kh == kw:
        name = f"conv{kh}"
    else:
        name = f"conv{kh}x{kw}"
    cexpr = _channels_expr(draw, cout, s.c, ctx)
    args.append(cexpr if draw(st.integers(0, 4)) else f"c={cexpr}")
    if name == "conv":
        args.append(f"k={_pair_text(kh, kw, draw)}")
    if (sh, sw) != (1, 1) or draw(st.integers(0, 5)) == 0:
        args.append(f"stride={_pair_text(sh, sw, draw)}")
    if pad_text is not None:
        args.append(f"pad={pad_text}")
    if (dh, dw) != (1, 1) or draw(st.integers(0, 5)) == 0:
        args.append(f"dilation={_pair_text(dh, dw, draw)}")
    if groups != 1:
        args.append(f"groups={'C' if groups == s.c and draw(st.booleans()) else groups}")
    bias = draw(st.sampled_from([None, None, True, False]))
    if bias is not None:
        args.append(f"bias={str(bias).lower()}")
    head, rest = args[0], args[1:]
    rest = list(draw(st.permutations(rest)))
    return f"{name}({', '.join([head, *rest])})", Spatial(cout, h, w)


def deconv(draw: Draw, s: Spatial, ctx: _Ctx) -> tuple[str, Spatial] | None:
    """A transposed convolution that at most doubles H and W."""
    if s.h * 2 > MAX_HW or s.w * 2 > MAX_HW:
        return None
    k = draw(st.sampled_from([2, 3, 4]))
    stride = draw(st.sampled_from([1, 2]))
    dil = draw(st.sampled_from([1, 1, 2]))
    pad = draw(st.integers(0, (k - 1) // 2))
    out_pad = draw(st.integers(0, stride - 1))  # ONNX Runtime's limit (PyTorch: max(s, d))
    cout = draw(st.integers(1, MAX_C))
    h = (s.h - 1) * stride + dil * (k - 1) + 1 + out_pad - 2 * pad
    w = (s.w - 1) * stride + dil * (k - 1) + 1 + out_pad - 2 * pad
    if min(h, w) < 1 or max(h, w) > MAX_HW:
        return None
    args = [str(cout)]
    if stride != 1:
        args.append(f"stride={stride}")
    if pad:
        args.append(f"pad={pad}")
    if dil != 1:
        args.append(f"dilation={dil}")
    if out_pad:
        args.append(f"output_pad={out_pad}")
    if draw(st.integers(0, 3)) == 0:
        args.append("bias=false")
    return f"deconv{k}x{k}({', '.join(args)})", Spatial(cout, h, w)


def pool(draw: Draw, s: Spatial, keep: bool = False) -> tuple[str, Spatial] | None:
    """Max or average pooling; None if no valid window was drawn for this size."""
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    if keep:
        ceil = draw(st.booleans())
        text = f"{kind}3(stride=1, pad=1{', ceil=true' if ceil else ''})"
        return text, s
    kh, kw = draw(st.sampled_from([(2, 2), (3, 3), (2, 2), (3, 3), (2, 3), (3, 2)]))
    explicit_stride = draw(st.booleans())
    stride = (draw(st.integers(1, 2)),) * 2 if explicit_stride else (kh, kw)
    pad = draw(st.integers(0, max(kh, kw) // 2))
    ceil = draw(st.booleans())
    dil = 2 if kind == "maxpool" and draw(st.integers(0, 5)) == 0 else 1
    h = pool_out(s.h, kh, stride[0], dil, pad, pad, ceil)
    w = pool_out(s.w, kw, stride[1], dil, pad, pad, ceil)
    if h is None or w is None or h < 1 or w < 1:
        return None
    if not (
        windows_touch_input(s.h, kh, stride[0], dil, pad, h)
        and windows_touch_input(s.w, kw, stride[1], dil, pad, w)
    ):
        return None
    name = f"{kind}{kh}" if kh == kw else f"{kind}{kh}x{kw}"
    args = []
    if explicit_stride:
        args.append(f"stride={stride[0]}")
    if pad or draw(st.integers(0, 4)) == 0:
        args.append(f"pad={pad}")
    if ceil or draw(st.integers(0, 4)) == 0:
        args.append(f"ceil={str(ceil).lower()}")
    if dil != 1:
        args.append(f"dilation={dil}")
    if kind == "avgpool" and draw(st.integers(0, 4)) == 0:
        args.append("count_include_pad=false")
    return (f"{name}({', '.join(args)})" if args else name), Spatial(s.c, h, w)


def upsample(draw: Draw, s: Spatial, ctx: _Ctx) -> tuple[str, Spatial] | None:
    """Upsampling by 2 (or (2, 1) / (1, 2)), or to the size of an earlier tap."""
    taps = [(n, t) for n, t in ctx.taps.items() if t.h <= MAX_HW and t.w <= MAX_HW]
    if taps and draw(st.integers(0, 2)) == 0:
        name, t = draw(st.sampled_from(taps))
        mode = draw(st.sampled_from(["", ", mode=bilinear"]))
        return f"upsample(to={name}{mode})", Spatial(s.c, t.h, t.w)
    if draw(st.integers(0, 3)) == 0:  # a fractional factor: PyTorch's floor(H * factor)
        fh, fw = (draw(st.sampled_from([0.5, 0.7, 1.4, 1.5, 2.5, 1, 2])) for _ in range(2))
        h, w = int(s.h * fh), int(s.w * fw)
        if min(h, w) < 1 or max(h, w) > MAX_HW:
            return None
        factor = str(fh) if fh == fw and draw(st.booleans()) else f"({fh}, {fw})"
    else:
        fh, fw = draw(st.sampled_from([(2, 2), (2, 2), (2, 2), (2, 1), (1, 2)]))
        h, w = s.h * fh, s.w * fw
        if max(h, w) > MAX_HW:
            return None
        factor = "2" if (fh, fw) == (2, 2) and draw(st.booleans()) else f"({fh}, {fw})"
    mode = draw(
        st.sampled_from(
            ["", "", ", mode=bilinear", ", mode=bilinear, align_corners=true", ", mode=nearest"]
        )
    )
    arg = factor if draw(st.booleans()) else f"factor={factor}"
    return f"upsample({arg}{mode})", Spatial(s.c, h, w)


def fixed_conv(draw: Draw, s: Spatial) -> tuple[str, Spatial]:
    """A hand-written kernel: a 2-D one (per channel) or a full 4-D [out][in][h][w] one."""
    kh, kw = draw(st.sampled_from([(1, 1), (3, 3), (1, 3), (3, 1)]))
    value = st.integers(-2, 2).map(str) | st.sampled_from(["0.5", "-0.25", "1.0"])
    bias = draw(st.sampled_from(["false", "0", "0.5", "-1"]))
    if draw(st.booleans()):
        rows = [f"[{', '.join(draw(value) for _ in range(kw))}]" for _ in range(kh)]
        return f"conv(kernel=[{', '.join(rows)}], bias={bias})", s
    divisors = [d for d in range(1, s.c + 1) if s.c % d == 0]
    per = draw(st.sampled_from(divisors))  # input channels per filter; groups = C / per
    groups = s.c // per
    cout = groups * draw(st.integers(1, max(1, MAX_C // groups)))

    def matrix() -> str:
        rows = [f"[{', '.join(draw(value) for _ in range(kw))}]" for _ in range(kh)]
        return f"[{', '.join(rows)}]"

    filters = [f"[{', '.join(matrix() for _ in range(per))}]" for _ in range(cout)]
    return f"conv(kernel=[{', '.join(filters)}], bias={bias})", Spatial(cout, s.h, s.w)


def channel_op(draw: Draw, s: Spatial) -> tuple[str, Spatial] | None:
    """chunk, channels, shuffle, space_to_depth, depth_to_space or pad_channels (None where
    the drawn one does not fit the shape)."""
    c = s.c
    divisors = [d for d in range(1, c + 1) if c % d == 0]
    kind = draw(st.sampled_from(["chunk", "channels", "shuffle", "s2d", "d2s", "pad"]))
    if kind == "chunk":
        n = draw(st.sampled_from(divisors))
        i = draw(st.integers(-n, n - 1))
        return f"chunk({n}, {i})", Spatial(c // n, s.h, s.w)
    if kind == "channels":
        lo = draw(st.integers(0, c - 1))
        hi = draw(st.integers(lo + 1, c))
        a = str(lo - c) if draw(st.booleans()) else str(lo)
        if hi == c and draw(st.booleans()):
            return f"channels({a})", Spatial(hi - lo, s.h, s.w)
        b = str(hi - c) if hi < c and draw(st.booleans()) else str(hi)
        return f"channels({a}, {b})", Spatial(hi - lo, s.h, s.w)
    if kind == "shuffle":
        return f"shuffle({draw(st.sampled_from(divisors))})", s
    if kind == "s2d":
        b = draw(st.sampled_from([2, 2, 3]))
        if s.h % b or s.w % b:
            return None
        if c * b * b <= MAX_C:
            return f"space_to_depth({b})", Spatial(c * b * b, s.h // b, s.w // b)
        k = MAX_C // (b * b)  # too many channels: keep the first k
        return f"(channels(0, {k}) -> space_to_depth({b}))", Spatial(k * b * b, s.h // b, s.w // b)
    if kind == "d2s":
        b = draw(st.sampled_from([2, 2, 3]))
        if max(s.h, s.w) * b > MAX_HW:
            return None
        if c % (b * b) == 0:
            return f"depth_to_space({b})", Spatial(c // (b * b), s.h * b, s.w * b)
        m = draw(st.integers(1, MAX_C // (b * b)))  # channels that do not divide: make some
        text = f"(conv1x1({m * b * b}) -> depth_to_space({b}))"
        return text, Spatial(m, s.h * b, s.w * b)
    before = draw(st.integers(0, 3))
    after = draw(st.integers(0, 3))
    if c + before + after > MAX_C:
        return None
    if after == before and draw(st.booleans()):
        return f"pad_channels({before})", Spatial(c + 2 * before, s.h, s.w)
    return f"pad_channels({before}, {after})", Spatial(c + before + after, s.h, s.w)


# ---- shape-preserving chains (bodies of combinators) ----


def keep_chain(draw: Draw, s: Spatial, ctx: _Ctx, target: int, depth: int) -> str:
    """A chain that keeps H x W and ends with `target` channels."""
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        choice = draw(
            st.sampled_from(
                ["conv", "conv", "bn", "act", "pool", "group", "if", "seq"]
                + (["residual"] if depth > 0 else [])
            )
        )
        if choice == "conv":
            text, s = conv(draw, s, ctx, keep=True)
        elif choice == "bn":
            text = "bn" if draw(st.integers(0, 3)) else "bn(eps=0.001)"
        elif choice == "act":
            text = _activation(draw)
        elif choice == "pool":
            got = pool(draw, s, keep=True)
            assert got is not None
            text, s = got
        elif choice == "group":
            inner = keep_chain(draw, s, ctx, s.c, 0)
            text = f"({inner})"
        elif choice == "if":
            text = conditional(draw, s, ctx)
        elif choice == "seq":  # a nested sequence numbers its own layers
            text = f"[{keep_chain(draw, s, ctx, s.c, 0)}]"
        else:
            text, s = residual(draw, s, ctx, depth - 1, keep=True)
        parts.append(text)
    if s.c != target:
        text, s = conv(draw, s, ctx, keep=True, cout=target)
        parts.append(text)
    return " -> ".join(parts)


def residual(
    draw: Draw, s: Spatial, ctx: _Ctx, depth: int, keep: bool = False
) -> tuple[str, Spatial]:
    """residual<body>, residual<body | shortcut> or residual<body | project>."""
    mode = "keep" if keep else draw(st.sampled_from(["keep", "project", "explicit"]))
    if mode == "keep":
        body = keep_chain(draw, s, ctx, s.c, depth)
        shortcut = draw(st.sampled_from(["", "", " | identity", " | project"]))
        return f"residual<{body}{shortcut}>", s
    c2 = draw(st.integers(1, MAX_C))
    stride = draw(st.integers(1, 2))
    k = draw(st.sampled_from([1, 3]))
    out = Spatial(c2, ceil_div(s.h, stride), ceil_div(s.w, stride))
    first = f"conv{k}x{k}({c2}{f', stride={stride}' if stride > 1 else ''})"
    body = first
    if draw(st.booleans()):
        body += " -> " + keep_chain(draw, out, ctx, c2, depth)
    if mode == "project":
        return f"residual<{body} | project>", out
    short = f"conv1x1({c2}{f', stride={stride}' if stride > 1 else ''}, bias=false)"
    if draw(st.booleans()):
        short += " -> bn"
    return f"residual<{body} | {short}>", out


def concat(draw: Draw, s: Spatial, ctx: _Ctx, depth: int) -> tuple[str, Spatial] | None:
    """concat<a | b (| c)> of branches that keep H x W."""
    n = draw(st.integers(2, 3))
    if n > MAX_C:
        return None
    budget = MAX_C
    branches = []
    total = 0
    for i in range(n):
        most = budget - (n - 1 - i)
        if s.c <= most and draw(st.booleans()):
            target = s.c
        else:
            target = draw(st.integers(1, most))
        if target == s.c and draw(st.integers(0, 2)) == 0:
            branches.append(draw(st.sampled_from(["identity", "relu", "bn"])))
        else:
            branches.append(keep_chain(draw, s, ctx, target, depth))
        budget -= target
        total += target
    left, right = draw(st.sampled_from(["<>", "[]"]))  # [] numbers the branches
    return f"concat{left}{' | '.join(branches)}{right}", Spatial(total, s.h, s.w)


def add(draw: Draw, s: Spatial, ctx: _Ctx, depth: int) -> tuple[str, Spatial]:
    """add<a | b (| c)> of branches with one shape."""
    target = draw(st.sampled_from([s.c, draw(st.integers(1, MAX_C))]))
    branches = [keep_chain(draw, s, ctx, target, depth) for _ in range(draw(st.integers(2, 3)))]
    left, right = draw(st.sampled_from(["<>", "[]"]))  # [] numbers the branches
    return f"add{left}{' | '.join(branches)}{right}", Spatial(target, s.h, s.w)


def dense_comb(draw: Draw, s: Spatial, ctx: _Ctx, depth: int) -> tuple[str, Spatial] | None:
    """dense<body>: the input concatenated with the body's output."""
    if s.c >= MAX_C:
        return None
    k = draw(st.integers(1, MAX_C - s.c))
    return f"dense<{keep_chain(draw, s, ctx, k, depth)}>", Spatial(s.c + k, s.h, s.w)


def repetition(draw: Draw, s: Spatial, ctx: _Ctx) -> tuple[str, Spatial]:
    """A shape-preserving group repeated 0-2 times."""
    n = draw(st.integers(0, 2))
    counts = [str(n), str(n), f"({n} + 0)", f"({n} * 1)"]
    counts += [name for name, v in ctx.params.items() if v == n and name == "depth"]
    count = draw(st.sampled_from(counts))
    c = draw(st.sampled_from(["C", str(s.c)]))
    k = draw(st.sampled_from([1, 3]))
    body = draw(
        st.sampled_from(
            [
                f"(conv{k}x{k}({c}) -> relu)",
                f"(conv{k}x{k}({c}) -> bn -> relu)",
                "relu",
                f"conv3x3({c})",
                f"residual<conv3x3({c}) -> bn>",
                # the instance's index in an argument: channels unchanged all the same
                f"conv{k}x{k}(if i >= 0 then {c} else 1) -> dropout(0.1 * i)",
            ]
        )
    )
    index = " as i" if "i >= 0" in body or draw(st.integers(0, 3)) == 0 else ""
    if draw(st.integers(0, 3)) == 0:  # instances named by a label with holes: r3-0, r3-1
        hole = draw(st.sampled_from(["{# + 0}", "{i}"])) if index else "{#}"
        return f'"r{next(ctx.counter)}-{hole}": ({body}) * {count}{index}', s
    return f"({body}) * {count}{index}", s


# ---- blocks ----


def _block_specs(draw: Draw, name: str) -> _BlockSpec:
    act = _activation(draw)
    kind = draw(st.sampled_from(["unit", "res", "rep", "cat", "chains"]))
    if kind == "chains":  # a block that takes a chain: block name(c)<body> = ...

        def call_chains(draw: Draw, s: Spatial) -> tuple[str, Spatial]:
            c = draw(st.integers(1, MAX_C))
            body = draw(st.sampled_from(["relu", "bn -> relu", "identity", "sigmoid -> bn"]))
            return f"{name}({c})<{body}>", Spatial(c, s.h, s.w)

        return _BlockSpec(
            name,
            f"block {name}(c)<body> = conv1x1(c) -> body -> "
            f"(if c > 4 then conv3x3(c) -> body else {act})",
            call_chains,
        )
    if kind == "unit":

        def call_unit(draw: Draw, s: Spatial) -> tuple[str, Spatial]:
            c, stride = draw(st.integers(1, MAX_C)), draw(st.integers(1, 2))
            style = draw(st.sampled_from(["pos", "kw", "default"]))
            if style == "default" and stride == 1:
                text = f"{name}({c})"
            elif style == "kw":
                text = f"{name}({c}, s={stride})"
            else:
                text = f"{name}({c}, {stride})"
            return text, Spatial(c, ceil_div(s.h, stride), ceil_div(s.w, stride))

        return _BlockSpec(
            name, f"block {name}(c, s = 1) = conv3x3(c, stride=s) -> bn -> {act}", call_unit
        )
    if kind == "res":
        k = draw(st.sampled_from([1, 3]))

        def call_res(draw: Draw, s: Spatial) -> tuple[str, Spatial]:
            c = draw(st.integers(1, MAX_C))
            return f"{name}({c})", Spatial(c, s.h, s.w)

        return _BlockSpec(
            name,
            f"block {name}(c) = residual<conv{k}x{k}(c) -> bn -> {act} -> "
            f"conv{k}x{k}(c) | project>",
            call_res,
        )
    if kind == "rep":

        def call_rep(draw: Draw, s: Spatial) -> tuple[str, Spatial]:
            c, n = draw(st.integers(1, MAX_C)), draw(st.integers(0, 2))
            text = f"{name}({c}, n={n})" if n != 1 or draw(st.booleans()) else f"{name}({c})"
            return text, (Spatial(c, s.h, s.w) if n else s)

        return _BlockSpec(name, f"block {name}(c, n = 1) = (conv3x3(c) -> {act}) * n", call_rep)

    def call_cat(draw: Draw, s: Spatial) -> tuple[str, Spatial]:
        a = draw(st.integers(1, MAX_C - 1))
        b = draw(st.integers(1, MAX_C - a))
        return f"{name}({a}, {b})", Spatial(a + b, s.h, s.w)

    return _BlockSpec(
        name, f"block {name}(a, b) = concat<conv1x1(a) | conv3x3(b) -> {act}>", call_cat
    )


# ---- the layers and combinators of issue 12 ----

MODERN_ACTIVATIONS = [
    "silu",
    "hardswish",
    "hardsigmoid",
    "gelu",
    "gelu(approximate=tanh)",
    "prelu",
    "prelu(shared=true)",
    "stochastic_depth(0.1)",
    "stochastic_depth(0.2, mode=batch)",
]


def gate(draw: Draw, s: Spatial, ctx: _Ctx) -> tuple[str, Spatial]:
    """gate<body>: squeeze-and-excitation (gap, two 1x1 convs), or a spatial gate."""
    squash = draw(st.sampled_from(["sigmoid", "hardsigmoid"]))
    if draw(st.integers(0, 3)) == 0:
        return f"gate<{keep_chain(draw, s, ctx, s.c, 0)} -> {squash}>", s
    r = draw(st.integers(1, MAX_C))
    act = draw(st.sampled_from(["relu", "silu", "hardswish", "prelu"]))
    pool = draw(st.sampled_from(["gap", "gap", "gmp"]))  # (C inside the body is r, not s.c)
    return f"gate<{pool} -> conv1x1({r}) -> {act} -> conv1x1({s.c}) -> {squash}>", s


def mul(draw: Draw, s: Spatial, ctx: _Ctx, depth: int) -> tuple[str, Spatial]:
    """mul<a | b (| c)>: maps of one shape, and sometimes a broadcast N x C x 1 x 1 factor."""
    target = draw(st.sampled_from([s.c, draw(st.integers(1, MAX_C))]))
    branches = [keep_chain(draw, s, ctx, target, depth) for _ in range(draw(st.integers(1, 2)))]
    if len(branches) == 1 or draw(st.booleans()):
        factor = "gap" if target == s.c and draw(st.booleans()) else f"gap -> conv1x1({target})"
        branches.insert(draw(st.integers(0, len(branches))), f"{factor} -> sigmoid")
    return f"mul<{' | '.join(branches)}>", Spatial(target, s.h, s.w)


def modern(draw: Draw, s: Spatial, ctx: _Ctx) -> tuple[str, Spatial]:
    """One of the layers of issue 12 on a map."""
    kind = draw(st.sampled_from(["act", "act", "layernorm", "linear", "scale", "gate", "mul"]))
    if kind == "act":
        return str(draw(st.sampled_from(MODERN_ACTIVATIONS))), s
    if kind == "layernorm":
        return draw(st.sampled_from(["layernorm", "layernorm(1e-5)", "layernorm(eps=0.001)"])), s
    if kind == "linear":
        n = draw(st.integers(1, MAX_C))
        return f"linear({n}{draw(st.sampled_from(['', ', bias=false']))})", Spatial(n, s.h, s.w)
    if kind == "scale":
        return f"scale({draw(st.sampled_from(['0.5', '1e-6', 'init=2']))})", s
    if kind == "gate":
        return gate(draw, s, ctx)
    return mul(draw, s, ctx, depth=1)


def modern_flat(draw: Draw, f: int) -> tuple[list[str], int]:
    """Layers of issue 12 on a flat N x F tensor."""
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["layernorm", "linear", "prelu", "scale", "act"]))
        if kind == "linear":
            f = draw(st.integers(1, MAX_C))
            parts.append(f"linear({f})")
        elif kind == "act":
            parts.append(str(draw(st.sampled_from(MODERN_ACTIVATIONS))))
        else:
            parts.append({"layernorm": "layernorm", "prelu": "prelu", "scale": "scale(0.5)"}[kind])
    return parts, f


# ---- the top-level chain ----


def element(draw: Draw, s: Spatial, ctx: _Ctx) -> tuple[str, Spatial]:
    """One top-level element for a spatial tensor."""
    while True:
        kind = draw(
            st.sampled_from(
                [
                    "conv",
                    "conv",
                    "conv",
                    "pool",
                    "pool",
                    "bn",
                    "act",
                    "act",
                    "residual",
                    "concat",
                    "add",
                    "dense",
                    "repeat",
                    "upsample",
                    "deconv",
                    "block",
                    "tapref",
                    "group",
                    "fixed",
                    "lrn",
                    "channel_op",
                    "modern",
                    "modern",
                ]
            )
        )
        got: tuple[str, Spatial] | None
        if kind == "conv":
            got = conv(draw, s, ctx)
        elif kind == "pool":
            got = pool(draw, s)
        elif kind == "bn":
            got = ("bn", s)
        elif kind == "act":
            got = (_activation(draw), s)
        elif kind == "residual":
            got = residual(draw, s, ctx, depth=1)
        elif kind == "concat":
            got = concat(draw, s, ctx, depth=1)
        elif kind == "add":
            got = add(draw, s, ctx, depth=1)
        elif kind == "dense":
            got = dense_comb(draw, s, ctx, depth=1)
        elif kind == "repeat":
            got = repetition(draw, s, ctx)
        elif kind == "upsample":
            got = upsample(draw, s, ctx)
        elif kind == "deconv":
            got = deconv(draw, s, ctx) if draw(st.integers(0, 2)) == 0 else None
        elif kind == "fixed":
            got = fixed_conv(draw, s) if draw(st.integers(0, 2)) == 0 else None
        elif kind == "lrn":
            got = (draw(st.sampled_from(["lrn", "lrn(3)", "lrn(size=5, alpha=0.001)"])), s)
        elif kind == "group":
            got = (f"({keep_chain(draw, s, ctx, s.c, 1)})", s)
        elif kind == "block":
            got = None
            if ctx.blocks:
                spec = draw(st.sampled_from(ctx.blocks))
                got = spec.call(draw, s)
        elif kind == "channel_op":
            got = channel_op(draw, s)
        elif kind == "modern":
            got = modern(draw, s, ctx)
        else:  # jump back to an earlier tap
            got = None
            if ctx.taps and draw(st.integers(0, 2)) == 0:
                name = draw(st.sampled_from(sorted(ctx.taps)))
                got = (name, ctx.taps[name])
        if got is not None:
            return got


def _finish(draw: Draw, s: Spatial) -> tuple[list[str], State]:
    kind = draw(st.sampled_from(["none", "gap", "gap", "gmp", "flatten", "adaptive"]))
    if kind == "none":
        return [], s
    k = draw(st.integers(1, 10))
    bias = ", bias=false" if draw(st.integers(0, 3)) == 0 else ""
    if kind == "flatten":
        if s.c * s.h * s.w > 2048:
            return [], s
        parts = ["flatten"]
    elif kind == "adaptive":
        parts = [f"adaptive_avgpool({draw(st.integers(1, 3))})", "flatten"]
    else:
        parts = [kind, "flatten"]
        if draw(st.integers(0, 3)) == 0:  # the channel ops work on N x F too
            got = channel_op(draw, Spatial(s.c, 1, 1))
            if got is not None and got[0].startswith(("chunk", "channels", "shuffle", "pad")):
                parts.append(got[0])
    parts.append(f"dense({k}{bias})")
    if draw(st.integers(0, 3)) == 0:
        parts.append("softmax")
    if draw(st.integers(0, 4)) == 0:
        k = draw(st.integers(1, 5))
        parts += ["relu", f"dense({k})"]
    if draw(st.integers(0, 3)) == 0:
        extra, k = modern_flat(draw, k)
        parts += extra
    return parts, Flat(k)


def _join(draw: Draw, parts: list[str]) -> str:
    """Join chain elements with ' -> ', sometimes breaking the line before an arrow."""
    text = parts[0]
    for p in parts[1:]:
        text += draw(st.sampled_from([" -> ", " -> ", " -> ", "\n    -> "])) + p
    return text


def _comment(draw: Draw) -> str:
    return "# " + str(draw(st.sampled_from(["stem", "body", "a note", "TODO: wider", "x -> y"])))


@st.composite
def programs(draw: Draw, max_elements: int = 8) -> Program:
    """A valid .xnet program and its output shape (without the batch)."""
    ctx = _Ctx()
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(_comment(draw))
    name = draw(st.sampled_from(["net", "tiny", "prop_net", "Model2"]))
    if draw(st.booleans()):
        width = draw(st.integers(1, MAX_C // 2))
        ctx.params["width"] = width
        if draw(st.booleans()):
            ctx.params["depth"] = 2
            lines.append(f"network {name}(width = {width}, depth = 2)")
        else:
            lines.append(f"network {name}(width = {width})")
    else:
        lines.append(f"network {name}")
    for i in range(draw(st.integers(0, 2))):
        spec = _block_specs(draw, draw(st.sampled_from(["unit", "stage", "cell", "body"])) + str(i))
        ctx.blocks.append(spec)
        lines.append(spec.text)
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(8, 32)), draw(st.integers(8, 32))
    in_name = draw(st.sampled_from(["x", "image", "inp"]))
    lines.append(f"input {in_name}: {c} x {h} x {w}")
    s = Spatial(c, h, w)
    ctx.taps[in_name] = s
    parts: list[str] = []
    n = draw(st.integers(1, max_elements))
    for _ in range(n):
        text, s = element(draw, s, ctx)
        text = _label(draw, ctx, text)
        if draw(st.integers(0, 7)) == 0:
            tap = ctx.fresh("t")
            text += f" @{tap}"
            ctx.taps[tap] = s
        parts.append(text)
    tail, final = _finish(draw, s)
    parts += tail

    # split the chain into one or more statements; each continues from the last
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(parts) - 1)), max_size=2))))
    cuts = [k for k in cuts if 0 < k < len(parts)]
    for a, b in zip([0, *cuts], [*cuts, len(parts)]):
        stmt = _join(draw, parts[a:b])
        if draw(st.integers(0, 5)) == 0:
            stmt += "  " + _comment(draw)
        if draw(st.integers(0, 5)) == 0:
            lines.append("")
        lines.append(stmt)
    return Program("\n".join(lines) + "\n", final.dims(), (c, h, w))


# ---- mutants ----

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+\.\d*|\d+|->|//|#[^\n]*|\n|\S")
_NUMBER = re.compile(r"\d+(\.\d*)?")
_NAMES = [
    "conv3x3",
    "conv0x3",
    "conv3x0",
    "maxpool0",
    "maxpool2",
    "avgpool9",
    "deconv2x2",
    "relu",
    "bn",
    "dense",
    "flatten",
    "gap",
    "upsample",
    "residual",
    "concat",
    "add",
    "project",
    "identity",
    "softmax",
    "C",
    "H",
    "W",
    "N",
    "x",
    "same",
    "valid",
    "bilinear",
    "true",
    "false",
    "network",
    "input",
    "output",
    "block",
    "import",
    "stride",
    "pad",
    "k",
    "c",
    "groups",
    "dilation",
    "ceil",
    "kernel",
    "to",
    "factor",
    "size",
    "adaptive_avgpool",
    "unit0",
    "cell1",
    "width",
    "depth",
    "t1",
    "l1",
    "undefined_name",
    "chunk",
    "channels",
    "shuffle",
    "space_to_depth",
    "depth_to_space",
    "pad_channels",
    "gate",
    "mul",
    "layernorm",
    "linear",
    "scale",
    "prelu",
    "gelu",
    "stochastic_depth",
]
_NUMBERS = [
    "0",
    "1",
    "2",
    "7",
    "-1",
    "0.5",
    "1e999",
    "1000",
    "10001",
    "99999",
    "1000000000000",
    "1" + "0" * 40,
    "1" + "0" * 400,
    "H",
    "W",
    "C",
    "(1, 2)",
    "true",
]
_INSERTS = [
    ",",
    "(",
    ")",
    "<",
    ">",
    "|",
    "->",
    "*",
    "@",
    ":",
    "=",
    " x ",
    "-",
    "/",
    "//",
    "%",
    "0",
    "\n",
    "[",
    "]",
    "[[1, 0], [0, 1]]",
    ".5",
    '"missing.xnet"',
    "#",
    "\t",
    "×",
    "é",
    "'",
    "\r",
    "\\",
    "$",
]


def _tokens(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN.finditer(text)]


def _mutate_once(draw: Draw, text: str) -> str:
    toks = _tokens(text)
    kind = draw(
        st.sampled_from(
            [
                "delete",
                "duplicate",
                "swap",
                "number",
                "number",
                "name",
                "insert",
                "line_delete",
                "line_duplicate",
                "line_swap",
                "truncate",
                "element_duplicate",
                "element_delete",
            ]
        )
    )
    if not toks:
        return text + str(draw(st.sampled_from(_INSERTS)))
    i = draw(st.integers(0, len(toks) - 1))
    a, b = toks[i]
    if kind == "delete":
        return text[:a] + text[b:]
    if kind == "duplicate":
        return text[:b] + " " + text[a:b] + text[b:]
    if kind == "swap" and i + 1 < len(toks):
        c, d = toks[i + 1]
        return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
    if kind == "number":
        nums = [m.span() for m in _NUMBER.finditer(text)]
        if nums:
            a, b = draw(st.sampled_from(nums))
        return text[:a] + str(draw(st.sampled_from(_NUMBERS))) + text[b:]
    if kind == "name":
        names = [(x, y) for x, y in toks if text[x].isalpha() or text[x] == "_"]
        if names:
            a, b = draw(st.sampled_from(names))
        return text[:a] + str(draw(st.sampled_from(_NAMES))) + text[b:]
    if kind in ("element_duplicate", "element_delete"):
        arrows = [m.start() for m in re.finditer(r"->", text)]
        if arrows:
            start = draw(st.sampled_from(arrows))
            nxt = [p for p in (text.find("->", start + 2), text.find("\n", start)) if p >= 0]
            end = min(nxt) if nxt else len(text)
            piece = text[start:end].rstrip()
            if kind == "element_delete":
                return text[:start] + text[start + len(piece) :]
            return text[:start] + piece + " " + text[start:]
    if kind == "insert":
        return text[:a] + str(draw(st.sampled_from(_INSERTS))) + text[a:]
    lines = text.split("\n")
    j = draw(st.integers(0, len(lines) - 1))
    if kind == "line_delete":
        return "\n".join(lines[:j] + lines[j + 1 :])
    if kind == "line_duplicate":
        return "\n".join(lines[: j + 1] + lines[j:])
    if kind == "line_swap" and j + 1 < len(lines):
        lines[j], lines[j + 1] = lines[j + 1], lines[j]
        return "\n".join(lines)
    return text[: draw(st.integers(0, len(text)))]


@st.composite
def mutants(draw: Draw) -> str:
    """A valid program with one to three random edits: usually invalid, sometimes not."""
    text: str = draw(programs(max_elements=5)).text
    for _ in range(draw(st.integers(1, 3))):
        text = _mutate_once(draw, text)
    return text
